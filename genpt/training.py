"""Pieces every training stage shares: the accelerator, the optimizer, the precision choice."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from genpt import checkpoint as ckpt
from genpt.errors import GenptError


def multi_process_launch() -> bool:
    """True under `torchrun` / `accelerate launch` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def resolve_mixed_precision(choice: str) -> str:
    """`auto` is bf16 where the hardware computes it natively (recent GPUs, AVX-512-BF16 or
    AMX CPUs), fp16 on older GPUs, and plain fp32 elsewhere."""
    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        # Ampere (sm80) and later compute bf16; `torch.cuda.is_bf16_supported()` also says yes
        # to older GPUs that only emulate it (and makes a tensor on GPU 0 to find out).
        native = torch.version.hip is not None or torch.cuda.get_device_capability()[0] >= 8
        return "bf16" if native else "fp16"
    return "bf16" if cpu_computes_bf16() else "no"


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX-512-BF16 or AMX), so bf16 beats fp32.

    Not oneDNN's "bf16 supported": that is true on any AVX-512 CPU, where bf16 is emulated and
    a training step ran 2.5x slower than in fp32 (measured on a Xeon with AVX-512 but neither
    instruction set). PyTorch answers through private functions; where they are missing, the
    CPU's own flags say.
    """
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(probe is not None for probe in probes):
        try:
            return any(bool(probe()) for probe in probes)
        except RuntimeError:  # an operator this build does not have
            pass
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: be safe, train in fp32
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def reset_accelerate_state() -> None:
    """Forget accelerate's per-process state, so a second run in one Python session (another
    precision, say) does not inherit the first run's settings. accelerate offers this only
    privately; without it, runs in one session keep the first run's precision."""
    from accelerate.state import AcceleratorState

    reset = getattr(AcceleratorState, "_reset_state", None)
    if reset is not None:
        reset(reset_partial_state=True)


def new_accelerator(mixed_precision: str, gradient_accumulation_steps: int = 1, unused_parameters: bool = False) -> Any:
    """`unused_parameters`: the model has parameters a step may not use (a baseline's decoder,
    which a classifier never runs): DDP must look for them, or it waits for their gradients."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

    if not multi_process_launch():
        reset_accelerate_state()
    accelerator = Accelerator(
        mixed_precision=resolve_mixed_precision(mixed_precision),
        gradient_accumulation_steps=gradient_accumulation_steps,
        # A prepared loader moves each batch to the GPU: from pinned memory (`pin_memory`,
        # set by genpt's loaders on a GPU) without waiting for the steps queued before it.
        dataloader_config=DataLoaderConfiguration(non_blocking=torch.cuda.is_available()),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)] if unused_parameters else None,
        # Under torchrun / accelerate launch without GPUs, accelerate starts gloo DDP only
        # when told it runs on CPU; alone, it would train each process separately.
        cpu=multi_process_launch() and not torch.cuda.is_available(),
    )
    return accelerator


def adamw(model: torch.nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8, device: torch.device | None = None) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices only, as in the paper: no decay on
    biases and LayerNorm gains."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device is not None and device.type in ("cpu", "cuda")  # one kernel for all parameters: 3x faster on CPU
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused)


def agreed(accelerator: Any, flags: list[bool]) -> list[bool]:
    """Each flag, true if it is true on any process: every process must stop at the same
    step, or one would wait in an evaluation's collective while another trains on."""
    if accelerator.num_processes == 1:
        return flags
    votes = accelerator.reduce(torch.tensor(flags, dtype=torch.float32, device=accelerator.device), "sum")
    return [bool(vote > 0) for vote in votes]


def gather_objects(accelerator: Any, obj: Any) -> list[Any]:
    """`obj` from every process, in rank order (RNG states for checkpoints, say)."""
    if accelerator.num_processes == 1:
        return [obj]
    from accelerate.utils import gather_object

    return gather_object([obj])


@contextmanager
def stop_on_interrupt(command: str) -> Iterator[dict[str, bool]]:
    """Ctrl-C sets the flag: the loop finishes its step, saves a checkpoint, then stops.
    A second Ctrl-C aborts at once. SIGTERM (a job scheduler's notice before it kills,
    `kill PID`) stops the same way; more of them change nothing, since a scheduler may send
    one to every process of the job and `genpt compare` forwards its own to its runs."""
    flag = {"flag": False}

    def on_interrupt(signum, frame):
        if flag["flag"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not flag["flag"]:  # os.write: a buffered stream must not be re-entered from a handler
            how = "Ctrl-C again to abort" if signum == signal.SIGINT else "SIGTERM; Ctrl-C aborts"
            os.write(1, f"\n{command}: stopping after this step ({how})\n".encode())
        flag["flag"] = True

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield flag
    finally:
        for signum, handler in previous.items():  # None: a handler set outside Python
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def save_training_checkpoint(accelerator: Any, model: torch.nn.Module, optimizer: Any, scheduler: Any,
                             checkpoints_dir: Path, state: dict[str, Any], keep: int, config_yaml: str | None = None,
                             log_spaced_every: int | None = None) -> None:
    """Checkpoint a run at `state["step"]` (every process's RNG included) and keep the newest
    `keep`; every process calls it, only the main one writes."""
    rng_states = gather_objects(accelerator, ckpt.rng_state())
    weights = accelerator.get_state_dict(model)
    optimizer_state = optimizer_state_dict(accelerator, model, optimizer)  # a collective under FSDP
    scaler = getattr(accelerator, "scaler", None)  # fp16 only; the same on every process
    if accelerator.is_main_process:
        folder = checkpoints_dir / ckpt.checkpoint_name(state["step"])
        try:
            ckpt.save_checkpoint(folder, weights=weights, optimizer=optimizer_state, scheduler=scheduler,
                                 rng_states=rng_states, config_yaml=config_yaml,
                                 scaler_state=None if scaler is None else scaler.state_dict(),
                                 state={**state, "world_size": accelerator.num_processes})
        except Exception as error:  # noqa: BLE001 - a full or read-only disk: say what survives
            if not (isinstance(error, OSError) or type(error).__name__ == "SafetensorError"):
                raise
            complete = ckpt.list_checkpoints(checkpoints_dir)
            last = complete[-1].name if complete else "none yet"
            reason = (getattr(error, "strerror", None) or str(error).splitlines()[0])[:200]
            raise GenptError(f"could not write the checkpoint {folder} ({reason}); the run is intact, its last complete "
                             f"checkpoint is {last}: make room and continue with --resume auto") from None
        ckpt.prune_checkpoints(checkpoints_dir, keep, log_spaced_every)
    accelerator.wait_for_everyone()


def is_fsdp(accelerator: Any) -> bool:
    return str(accelerator.distributed_type).endswith("FSDP")


def optimizer_state_dict(accelerator: Any, model: torch.nn.Module, optimizer: Any) -> dict[str, Any]:
    """The optimizer's whole state: under FSDP each process holds a shard, gathered here into
    one full state dict keyed by parameter name (every process must call this)."""
    if not is_fsdp(accelerator):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, getattr(optimizer, "optimizer", optimizer),
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_sharded_optimizer_state(accelerator: Any, model: torch.nn.Module, optimizer: Any, state: dict[str, Any]) -> None:
    """Under FSDP, load a full optimizer state dict into the prepared (sharded) optimizer."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, getattr(optimizer, "optimizer", optimizer), optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True))

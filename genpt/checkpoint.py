"""Checkpoints shared by pretraining and fine-tuning.

A checkpoint is a folder written atomically: the weights in safetensors, the optimizer,
scheduler, RNG (and in fp16 the gradient scaler's) states in files that
`torch.load(..., weights_only=True)` reads, and the trainer state as JSON. Nothing in it
can execute code when loaded.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_file

from genpt.atomic import write_folder_atomically
from genpt.errors import GenptError

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng.pt"
SCALER_FILE = "scaler.pt"  # fp16's loss scale: without it a resumed run starts again at 65,536 and skips other steps
STATE_FILE = "trainer_state.json"
CHECKPOINT_PATTERN = re.compile(r"^step-(\d+)$")


def save_state_dict(state_dict: dict[str, torch.Tensor], path: str | Path) -> None:
    """safetensors file of a full state dict (e.g. `accelerator.get_state_dict`, which
    gathers FSDP shards); the tied output layer is stored once, as the token embedding."""
    tensors, seen = {}, set()
    for name, tensor in state_dict.items():
        # A tensor shared under several names (tied embeddings) is stored once, under its
        # first name; safetensors' load_model restores the others.
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if is_tied_output(name) or (tensor.numel() and key in seen):
            continue
        seen.add(key)
        tensors[name] = tensor.detach().contiguous()
    save_file(tensors, str(path), metadata={"format": "pt"})


def is_tied_output(name: str) -> bool:
    """The LM output layer, whether the GPT is the model (`lm_head.weight`) or inside one
    (`transformer.lm_head.weight`): it is the token embedding, never stored twice."""
    return name == "lm_head.weight" or name.endswith(".lm_head.weight")


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    path = Path(path)
    if not path.is_file():
        raise GenptError(f"{path}: weights file not found")
    try:
        load_model(model, str(path), strict=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        detail = str(error).splitlines()[0][:200]
        raise GenptError(f"{path}: not a complete safetensors checkpoint for this model ({detail})") from None


def load_torch_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GenptError(f"{path}: missing from the checkpoint") from None
    except Exception as error:  # a truncated or foreign file raises many kinds of errors
        raise GenptError(f"{path}: corrupted or truncated ({type(error).__name__}: {str(error)[:120]})") from None


def rng_state() -> dict[str, Any]:
    """This process's RNG states: the CPU's and, on a GPU, its own device's only (a resumed
    run may see fewer devices: a one-GPU run resumed under CUDA_VISIBLE_DEVICES=0)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()  # the current device: accelerate sets each process's
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is None or not torch.cuda.is_available():
        return
    if isinstance(cuda, list):  # checkpoints before 2026-12-07: every visible device's
        device = torch.cuda.current_device()
        cuda = cuda[device] if device < len(cuda) else None
    if cuda is not None:
        torch.cuda.set_rng_state(cuda)


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def save_checkpoint(
    folder: str | Path,
    *,
    weights: dict[str, torch.Tensor],
    state: dict[str, Any],
    optimizer: torch.optim.Optimizer | dict[str, Any] | None = None,  # or its state dict
    scheduler: Any = None,
    rng_states: list[dict[str, Any]] | None = None,
    scaler_state: dict[str, Any] | None = None,
    config_yaml: str | None = None,
) -> Path:
    """Write a checkpoint folder atomically; `rng_states` holds one entry per process."""

    def fill(staging: Path) -> None:
        save_state_dict(weights, staging / MODEL_FILE)
        if optimizer is not None:
            torch.save(optimizer if isinstance(optimizer, dict) else optimizer.state_dict(), staging / OPTIMIZER_FILE)
        if scheduler is not None:
            torch.save(scheduler.state_dict(), staging / SCHEDULER_FILE)
        if rng_states is not None:
            torch.save(rng_states, staging / RNG_FILE)
        if scaler_state is not None:
            torch.save(scaler_state, staging / SCALER_FILE)
        if config_yaml is not None:
            (staging / "config.yaml").write_text(config_yaml)
        (staging / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    return write_folder_atomically(folder, fill)


def read_state(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GenptError(f"{folder}: not a checkpoint ({STATE_FILE} missing)") from None
    except json.JSONDecodeError as error:
        raise GenptError(f"{path}: corrupted ({error})") from None


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint folders `step-N` under `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))]
    return [path for _, path in sorted(found)]


def prune_checkpoints(folder: str | Path, keep_last: int, log_spaced_every: int | None = None) -> None:
    """Keep the newest `keep_last` checkpoints; with `log_spaced_every` (save_steps), also
    those at log-spaced steps: save_steps x 1, 2, 4, 8, ..."""
    for path in list_checkpoints(folder)[:-keep_last] if keep_last > 0 else []:
        step = int(CHECKPOINT_PATTERN.match(path.name).group(1))
        if log_spaced_every and step % log_spaced_every == 0 and _power_of_two(step // log_spaced_every):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def find_resume_checkpoint(output_dir: str | Path, resume: str | None, own_only: bool = False) -> Path | None:
    """`--resume`: a checkpoint folder, or "auto" for the newest under `output_dir/checkpoints`
    (None when there is none yet: the run starts afresh). `own_only`: only a checkpoint of the
    run in `output_dir` (a fine-tune's folder holds what it made before the checkpoint, its
    kept epoch's weights among them, that a new folder would lack)."""
    if resume is None:
        return None
    if resume == "auto":
        found = list_checkpoints(Path(output_dir) / "checkpoints")
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise GenptError(f"--resume {path}: not a checkpoint folder (no {STATE_FILE})")
    own = (Path(output_dir) / "checkpoints").resolve()
    if own_only and path.resolve().parent != own:
        raise GenptError(f"--resume {path}: a checkpoint of another run folder; a run continues in its own folder "
                         f"(--output_dir {path.resolve().parent.parent})")
    return path


def restore_training_state(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                           accelerator: Any) -> dict[str, Any]:
    """Load a checkpoint's weights, optimizer, scheduler, this process's RNG state and fp16's
    loss scale into a run about to continue (before `accelerator.prepare`); returns the
    checkpoint's trainer state.

    Under FSDP the optimizer state is loaded after `prepare`, into the sharded optimizer
    (`genpt.training.load_sharded_optimizer_state`; the training engine does it).
    """
    state = read_state(folder)
    if state.get("world_size", 1) != accelerator.num_processes:
        raise GenptError(f"--resume {folder}: saved by {state.get('world_size')} processes, resumed by {accelerator.num_processes}")
    load_weights(model, folder / MODEL_FILE)
    if not str(accelerator.distributed_type).endswith("FSDP"):
        optimizer.load_state_dict(load_torch_file(folder / OPTIMIZER_FILE))
    scheduler.load_state_dict(load_torch_file(folder / SCHEDULER_FILE))
    restore_rng_state(load_torch_file(folder / RNG_FILE)[accelerator.process_index])
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and (folder / SCALER_FILE).is_file():  # checkpoints before 2026-12-07 have none
        scaler.load_state_dict(load_torch_file(folder / SCALER_FILE))
    return state

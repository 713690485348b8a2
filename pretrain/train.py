"""Generative pretraining (GPT-1, section 3.1): maximise the likelihood of the next token.

The loop follows `transformers`' run_*_no_trainer examples on `accelerate`, so the same
code runs on one CPU, one GPU, or many under `accelerate launch` / `torchrun` (DDP, FSDP):

    for step in range(start, max_steps):
        for micro in range(gradient_accumulation_steps):     # accelerator.accumulate
            loss = model(windows(step, micro), labels=...)   # random contiguous windows
            accelerator.backward(loss)
        clip to 1.0; AdamW step; warm-up + cosine schedule step

Batches are a pure function of (seed, rank, step), and checkpoints hold the optimizer,
scheduler and RNG states, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genpt import checkpoint as ckpt
from genpt.atomic import write_file_atomically, write_folder_atomically
from genpt.config import GPTConfig
from genpt.errors import GenptError
from genpt.models.gpt import GPT, training_flops_per_token
from genpt.perf import matmul_peak_flops
from genpt.plots import plot_loss_curves
from genpt.pretrain.config import TRAINING_PRESETS, TRAJECTORY_KEYS, DataConfig, RunConfig, TrainingConfig
from genpt.pretrain.data import (
    PreparedCorpus,
    prepare_corpus,
    train_batch,
    validation_batches,
)
from genpt.tokenization import load_tokenizer, tokenizer_sha256
from genpt.training import (
    adamw,
    agreed,
    gather_objects,
    new_accelerator,
    save_training_checkpoint,
    stop_on_interrupt,
)

# ---- the loop ---------------------------------------------------------------------------


def pretrain(run: RunConfig, output_dir: str | Path, resume: str | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Pretrain a GPT as `run` says, writing the run folder `output_dir`; returns a summary.

    `resume` is a checkpoint folder, or "auto" for the newest one in `output_dir`.
    """
    from accelerate.utils import set_seed

    output_dir = Path(output_dir)
    # Every check comes before anything is written: a refused command leaves no trace.
    resume_from = ckpt.find_resume_checkpoint(output_dir, resume)
    if resume_from is None:
        _check_fresh_output_dir(output_dir)
    init_model = None
    if run.training.init and resume_from is None:
        run, init_model = _from_init(run, output_dir)
    run = _resolve(run)
    t = run.training
    if resume_from is not None:
        _check_resumable(resume_from, run)

    accelerator = new_accelerator(t.mixed_precision, t.gradient_accumulation_steps)
    set_seed(t.seed, device_specific=True)  # different dropout masks on each process

    with accelerator.main_process_first():  # one process prepares, the others reuse
        corpus = prepare_corpus(
            run.data.inputs, run.data.tokenizer, run.data.cache_dir or output_dir / "data",
            validation_fraction=run.data.validation_fraction, validation_inputs=run.data.validation_inputs,
            strip_gutenberg=run.data.strip_gutenberg, text_column=run.data.text_column,
            dataset_config=run.data.dataset_config, split=run.data.split, seed=t.seed,
            show_progress=show_progress and accelerator.is_main_process,
        )
    if accelerator.is_main_process:
        _write_run_folder(run, output_dir)

    model = GPT(run.model)
    if init_model is not None:
        model.load_state_dict(init_model.state_dict())
    optimizer = adamw(model, lr=t.learning_rate, weight_decay=t.weight_decay, betas=(t.adam_beta1, t.adam_beta2),
                      eps=t.adam_epsilon, device=accelerator.device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, t))
    state = {"step": 0, "tokens_seen": 0, "best_val_loss": None, "elapsed_seconds": 0.0}
    if resume_from is not None:
        state = _restore(resume_from, model, optimizer, scheduler, accelerator)
    if t.torch_compile:
        model = torch.compile(model)
    # The scheduler is stepped by hand once per optimizer step, so it is not prepared
    # (accelerate's wrapper would step it once per process).
    model, optimizer = accelerator.prepare(model, optimizer)

    logger = MetricsLogger(output_dir, accelerator.is_main_process, resume_step=state["step"])
    loop = _Loop(run, corpus, accelerator, model, optimizer, scheduler, state, logger, output_dir)
    with stop_on_interrupt("genpt pretrain") as interrupted:
        summary = loop.run(interrupted, show_progress and accelerator.is_main_process)
    accelerator.end_training()
    return summary


@dataclass
class _Loop:
    config: RunConfig
    corpus: PreparedCorpus
    accelerator: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    state: dict[str, Any]
    logger: MetricsLogger
    output_dir: Path

    def run(self, interrupted: dict[str, bool], show_progress: bool) -> dict[str, Any]:
        t, acc = self.config.training, self.accelerator
        seq_len = t.seq_len
        tokens_per_step = t.batch_size * seq_len * t.gradient_accumulation_steps * acc.num_processes
        flops_per_token = training_flops_per_token(self.config.model, seq_len)
        peak = matmul_peak_flops(acc.device, torch.bfloat16 if acc.mixed_precision == "bf16" else torch.float32, repeats=3)
        train_tokens = self.corpus.train_tokens()
        data_hash = torch.zeros((), dtype=torch.float64)  # of the windows this process saw
        start_step, stop_reason = self.state["step"], "max_steps"
        started = time.perf_counter() - self.state["elapsed_seconds"]
        window_seconds, window_tokens = 0.0, 0  # training time only: evaluations and saves excluded
        bar = tqdm(total=t.max_steps, initial=start_step, desc="pretraining", unit="step", disable=not show_progress, dynamic_ncols=True)
        self.model.train()
        for step in range(start_step, t.max_steps):
            step_started = time.perf_counter()
            loss_sum = torch.zeros((), device=acc.device)
            for micro in range(t.gradient_accumulation_steps):
                batch = train_batch(train_tokens, step * t.gradient_accumulation_steps + micro, seed=t.seed,
                                     rank=acc.process_index, batch_size=t.batch_size, seq_len=seq_len)
                data_hash += _fingerprint(batch)
                batch = batch.to(acc.device)
                with acc.accumulate(self.model):
                    loss = self.model(batch, labels=batch, return_logits=False).loss
                    acc.backward(loss)
                    if acc.sync_gradients:
                        grad_norm = acc.clip_grad_norm_(self.model.parameters(), t.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                loss_sum += loss.detach()
            self.scheduler.step()
            self.state["step"] = step + 1
            self.state["tokens_seen"] += tokens_per_step
            window_tokens += tokens_per_step
            window_seconds += time.perf_counter() - step_started
            self.state["elapsed_seconds"] = time.perf_counter() - started

            if (step + 1) % t.logging_steps == 0 or step + 1 == t.max_steps:
                mean_loss = acc.reduce(loss_sum / t.gradient_accumulation_steps, reduction="mean").item()
                if not math.isfinite(mean_loss):
                    raise GenptError(f"loss became {mean_loss} at step {step + 1}; lower --learning_rate or check the data")
                tokens_per_s = window_tokens / window_seconds
                record = {
                    "step": step + 1, "loss": round(mean_loss, 5), "lr": self.scheduler.get_last_lr()[0],
                    "grad_norm": round(float(grad_norm), 4), "tokens_per_s": round(tokens_per_s, 1),
                    "mfu": round(tokens_per_s / acc.num_processes * flops_per_token / peak, 4),
                    "tokens_seen": self.state["tokens_seen"], "elapsed_s": round(self.state["elapsed_seconds"], 1),
                }
                self.logger.log(record)
                bar.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{record['lr']:.2e}", tok_s=f"{tokens_per_s:,.0f}")
                window_seconds, window_tokens = 0.0, 0
            bar.update(1)

            last = step + 1 == t.max_steps
            over_time, stop_asked = agreed(acc, [
                t.max_time_minutes is not None and self.state["elapsed_seconds"] > 60 * t.max_time_minutes,
                interrupted["flag"],
            ])
            stopping = last or over_time or stop_asked
            if (step + 1) % t.eval_steps == 0 or stopping:
                self.evaluate()
            if (step + 1) % t.save_steps == 0 or stopping:
                self.save_checkpoint()
            if stopping:
                stop_reason = "max_steps" if last else ("max_time_minutes" if over_time else "interrupted")
                break
        bar.close()
        return self.finish(stop_reason, data_hash)

    def evaluate(self) -> None:
        t, acc = self.config.training, self.accelerator
        model = acc.unwrap_model(self.model)
        model.eval()
        total, count = torch.zeros((), dtype=torch.float64, device=acc.device), 0
        batches = validation_batches(self.corpus.validation_tokens(), batch_size=t.batch_size, seq_len=t.seq_len, max_tokens=t.eval_tokens)
        with torch.no_grad(), acc.autocast():
            for index, batch in enumerate(batches):
                if index % acc.num_processes != acc.process_index:  # each process its share
                    continue
                batch = batch.to(acc.device)
                total += model(batch, labels=batch, return_logits=False).loss.double() * batch.size(0)
                count += batch.size(0)
        totals = acc.reduce(torch.stack([total, torch.tensor(float(count), dtype=torch.float64, device=acc.device)]), "sum")
        val_loss = (totals[0] / totals[1]).item()
        model.train()
        best = self.state["best_val_loss"]
        improved = best is None or val_loss < best  # the same on every process: val_loss is reduced
        if improved:
            self.state["best_val_loss"] = val_loss
        self.logger.log({"step": self.state["step"], "val_loss": round(val_loss, 5), "val_perplexity": round(math.exp(min(val_loss, 50)), 3)})
        weights = acc.get_state_dict(self.model) if improved else None  # a collective under FSDP
        if acc.is_main_process:
            if improved:
                ckpt.save_checkpoint(self.output_dir / "best", weights=weights, state={**self.state, "kind": "best"},
                                     config_yaml=self.config.to_yaml())
            plot_loss_curves(self.logger.records(), self.output_dir / "loss_curve.png", title=f"genpt pretrain: {self.config.model.name}")

    def save_checkpoint(self) -> None:
        save_training_checkpoint(self.accelerator, self.model, self.optimizer, self.scheduler, self.output_dir / "checkpoints",
                                 self.state, self.config.training.save_total_limit, config_yaml=self.config.to_yaml())

    def finish(self, stop_reason: str, data_hash: torch.Tensor) -> dict[str, Any]:
        acc = self.accelerator
        model = acc.unwrap_model(self.model)
        # What each process saw and ended with: ranks must end in sync and see different data.
        checksum = sum(p.detach().double().sum().item() * (i + 1) for i, p in enumerate(model.parameters()))
        per_process = gather_objects(acc, {"weights_checksum": checksum, "data_hash": data_hash.item()})
        summary = {
            **self.state, "stop_reason": stop_reason, "world_size": acc.num_processes,
            "processes": per_process, "output_dir": str(self.output_dir),
        }
        weights = acc.get_state_dict(self.model)
        if acc.is_main_process:  # the curve is already drawn: the loop evaluates at the step it stops on
            write_file_atomically(self.output_dir / ckpt.MODEL_FILE, lambda p: ckpt.save_state_dict(weights, p))
            write_file_atomically(self.output_dir / ckpt.STATE_FILE, lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
        acc.wait_for_everyone()
        return {**summary, "is_main_process": acc.is_main_process}


# ---- pieces -----------------------------------------------------------------------------


def lr_multiplier(step: int, t: TrainingConfig) -> float:
    """Linear warm-up over `warmup_steps`, then cosine annealing to `min_lr_ratio`."""
    if step < t.warmup_steps:
        return (step + 1) / t.warmup_steps
    progress = min(1.0, (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps))
    return t.min_lr_ratio + (1 - t.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _from_init(run: RunConfig, output_dir: Path) -> tuple[RunConfig, GPT]:
    """`--init`: the architecture and weights come from a published or earlier model, and its
    tokenizer unless --tokenizer names one (a Hugging Face tokenizer gets GPT-1's special
    tokens added and is saved into the run folder)."""
    from genpt.pretrained import load_pretrained

    pretrained = load_pretrained(run.training.init, tokenizer=run.data.tokenizer or None)
    tokenizer = run.data.tokenizer or (str(pretrained.tokenizer_dir) if pretrained.tokenizer_dir else "")
    if not tokenizer:
        folder = output_dir / "tokenizer"
        write_folder_atomically(folder, lambda p: pretrained.tokenizer.save_pretrained(str(p)))
        tokenizer = str(folder)
    model = dataclasses.replace(pretrained.model.config, name="custom")  # the init's shape, whatever the preset said
    return RunConfig(model, run.training, dataclasses.replace(run.data, tokenizer=tokenizer)), pretrained.model


def _resolve(run: RunConfig) -> RunConfig:
    """Fill in what the tokenizer decides, and check the parts against each other."""
    if not run.data.inputs:
        raise GenptError("--input: no corpus given")
    tokenizer = load_tokenizer(run.data.tokenizer)
    data = dataclasses.replace(_absolute_paths(run.data), tokenizer_sha256=tokenizer_sha256(tokenizer))
    vocab_size = len(tokenizer)
    model = run.model
    if model.vocab_size != vocab_size:
        if model.name in TRAINING_PRESETS or model.name == "custom":
            model = GPTConfig(**{**model.to_dict(), "vocab_size": vocab_size})  # presets follow the tokenizer
        else:
            raise GenptError(
                f"--tokenizer {run.data.tokenizer} has {vocab_size} tokens but the model config has vocab_size "
                f"{model.vocab_size}; use the tokenizer the model was built for"
            )
    init = run.training.init
    if init and Path(init).expanduser().exists():
        init = str(Path(init).expanduser().resolve())
    training = dataclasses.replace(run.training, seq_len=run.training.seq_len or model.n_positions, init=init)
    if training.seq_len > model.n_positions:
        raise GenptError(f"--seq_len {training.seq_len} is longer than the model's context (n_positions {model.n_positions})")
    for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "logging_steps", "eval_steps", "save_steps", "seq_len"):
        if getattr(training, name) < 1:
            raise GenptError(f"--{name} must be at least 1, got {getattr(training, name)}")
    if training.warmup_steps < 0 or training.learning_rate <= 0:
        raise GenptError("--warmup_steps must be >= 0 and --learning_rate > 0")
    return RunConfig(model, training, data)


def _absolute_paths(data: DataConfig) -> DataConfig:
    """Local paths made absolute, so the run's config.yaml works from any folder; dataset
    names (anything that is not an existing path) stay as they are."""

    def absolute(item: str) -> str:
        path = Path(item).expanduser()
        return str(path.resolve()) if path.exists() else item

    return dataclasses.replace(
        data, inputs=[absolute(i) for i in data.inputs], tokenizer=absolute(data.tokenizer),
        validation_inputs=None if data.validation_inputs is None else [absolute(i) for i in data.validation_inputs],
        cache_dir=None if data.cache_dir is None else str(Path(data.cache_dir).expanduser().resolve()))


def _check_fresh_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise GenptError(f"--output_dir {output_dir}: exists and is not a folder; choose another path")
    if ckpt.list_checkpoints(output_dir / "checkpoints") or (output_dir / ckpt.MODEL_FILE).exists():
        raise GenptError(f"--output_dir {output_dir} already holds a run; pass --resume auto to continue it, or choose another folder")


def _check_resumable(folder: Path, run: RunConfig) -> None:
    """Refuse to continue the checkpoint's run with another model, trajectory or tokenizer."""
    saved = RunConfig.from_yaml(folder / "config.yaml")
    if saved.model != run.model:
        changed = [k for k, v in run.model.to_dict().items() if saved.model.to_dict()[k] != v]
        raise GenptError(f"--resume {folder}: the model config differs from the checkpoint's in {changed}")
    for key in TRAJECTORY_KEYS:
        old, new = getattr(saved.training, key), getattr(run.training, key)
        if old != new:
            raise GenptError(f"--resume {folder}: {key} was {old!r} in the interrupted run, now {new!r}; resume with the same setting")
    if saved.data.tokenizer_sha256 not in (None, run.data.tokenizer_sha256):
        raise GenptError(f"--tokenizer {run.data.tokenizer}: not the tokenizer of the run being resumed "
                         f"({saved.data.tokenizer}): their vocabularies or merges differ; resume with that tokenizer")


def _restore(folder: Path, model: GPT, optimizer, scheduler, accelerator) -> dict[str, Any]:
    state = ckpt.restore_training_state(folder, model, optimizer, scheduler, accelerator)
    return {k: state[k] for k in ("step", "tokens_seen", "best_val_loss", "elapsed_seconds")}


def _write_run_folder(run: RunConfig, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    write_file_atomically(output_dir / "config.yaml", lambda p: p.write_text(run.to_yaml()))
    tokenizer_copy = output_dir / "tokenizer"
    if Path(run.data.tokenizer).resolve() != tokenizer_copy.resolve():
        write_folder_atomically(tokenizer_copy, lambda p: shutil.copytree(run.data.tokenizer, p, dirs_exist_ok=True))


def _fingerprint(batch: torch.Tensor) -> torch.Tensor:
    """A number that differs when the windows differ (positions weight the tokens)."""
    weights = torch.arange(1, batch.numel() + 1, dtype=torch.float64).view_as(batch)
    return (batch.double() * weights).sum() / batch.numel()


class MetricsLogger:
    """metrics.jsonl (one JSON object per line) and, when installed, TensorBoard."""

    def __init__(self, output_dir: Path, active: bool, resume_step: int):
        self.path = output_dir / "metrics.jsonl"
        self.active = active
        self._records: list[dict[str, Any]] = []
        self._tensorboard = None
        if not active:
            return
        if self.path.exists():  # a resumed run drops what came after its checkpoint
            kept = [r for r in map(json.loads, self.path.read_text().splitlines()) if r["step"] <= resume_step]
            self._records = kept
            write_file_atomically(self.path, lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in kept)))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(output_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)
        except ImportError:  # TensorBoard is optional: pip install "genpt[tensorboard]"
            pass

    def log(self, record: dict[str, Any]) -> None:
        if not self.active:
            return
        self._records.append(record)
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        if self._tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tensorboard.add_scalar(f"pretrain/{key}", value, record["step"])
            self._tensorboard.flush()

    def records(self) -> list[dict[str, Any]]:
        return list(self._records)

"""Generative pretraining (GPT-1, section 3.1): maximise the likelihood of the next token.

The loop is the core engine (`genpt.engine`), so the same code runs on one CPU, one GPU,
or many under `accelerate launch` / `torchrun`. This stage supplies what is its own:

    batches     random contiguous windows of the corpus, a pure function of (seed, rank, index)
    loss        next-token cross-entropy (the fused output-layer kernel)
    schedule    linear warm-up, then cosine annealing; AdamW, weight decay on matrices only
    evaluation  validation loss on fixed windows; the best weights kept in best/

so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genpt import checkpoint as ckpt
from genpt.atomic import write_file_atomically, write_folder_atomically
from genpt.config import GPTConfig, check_training_arguments
from genpt.data.corpus import refuse_output_among_inputs
from genpt.engine import (
    Engine,
    MetricsLog,
    Schedule,
    StepLoss,
    TrainState,
    Window,
    check_resumable,
    check_run_folder,
    claim_run_folder,
    clean_run_folder,
    restore,
    resumes_in,
    saved_config,
)
from genpt.errors import GenptError
from genpt.models.gpt import GPT, training_flops_per_token
from genpt.options import require_counts
from genpt.perf import matmul_peak_flops
from genpt.plots import plot_loss_curves
from genpt.pretrain.config import TRAINING_PRESETS, TRAJECTORY_KEYS, DataConfig, RunConfig, TrainingConfig
from genpt.pretrain.data import PreparedCorpus, prepare_corpus, process_share, train_batch, validation_batches
from genpt.tokenization import load_tokenizer, save_tokenizer, tokenizer_sha256
from genpt.training import adamw, gather_objects, new_accelerator, stop_on_interrupt

RESUME_KEYS = ("model", "tokenizer_sha256", *TRAJECTORY_KEYS)  # what a resumed run must share with the one it continues


def pretrain(run: RunConfig, output_dir: str | Path, resume: str | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Pretrain a GPT as `run` says, writing the run folder `output_dir`; returns a summary.

    `resume` is a checkpoint folder, or "auto" for the newest one in `output_dir`.
    """
    output_dir = Path(output_dir)
    # Every check comes before anything is written: a refused command leaves no trace.
    resume_from = ckpt.find_resume_checkpoint(output_dir, resume)
    check_run_folder(output_dir, resume_from=resume_from, overwrite=False, holds="a run",
                     finished_file=ckpt.MODEL_FILE, overwrite_option=None)
    cache_dir = Path(run.data.cache_dir) if run.data.cache_dir else output_dir / "data"
    inputs = [*(run.data.inputs or []), *(run.data.validation_inputs or [])]
    refuse_output_among_inputs(output_dir, inputs)
    refuse_output_among_inputs(cache_dir, inputs, option="--data_cache_dir")
    if resume_from is not None:
        _check_time_left(resume_from, run.training.max_time_minutes)
    # (an --init's tokenizer is written into the run folder before the last checks)
    new_folders = [folder for folder in (output_dir, output_dir / "tokenizer", cache_dir) if not folder.exists()]
    new_parents = sorted({p for folder in new_folders for p in folder.absolute().parents if not p.exists()},
                         key=lambda p: len(p.parts), reverse=True)  # innermost first, each once
    try:  # the corpus is checked as it is read, and the checkpoint as it is restored, into folders this
        # command may have made: refused (or stopped with Ctrl-C before a step was trained), they go
        run, init_model, corpus, config, accelerator = _prepare(run, output_dir, cache_dir, resume_from, show_progress)
        t = run.training
        model = GPT(run.model)
        if init_model is not None:
            model.load_state_dict(init_model.state_dict())
        optimizer = adamw(model, lr=t.learning_rate, weight_decay=t.weight_decay, betas=(t.adam_beta1, t.adam_beta2),
                          eps=t.adam_epsilon, device=accelerator.device)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, t))
        state = TrainState()
        if resume_from is not None:
            state = restore(resume_from, (model, optimizer, scheduler), accelerator)
            state.epoch, state.batches_done = 0, state.step * t.gradient_accumulation_steps  # one endless epoch
    except (GenptError, KeyboardInterrupt):
        for folder in new_folders:
            shutil.rmtree(folder, ignore_errors=True)
        for parent in new_parents:  # only while empty: another command may have written beside the run since
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise
    if accelerator.is_main_process:
        clean_run_folder(output_dir)
        if not resumes_in(output_dir, resume_from):  # a new run here
            claim_run_folder(output_dir)
        _write_run_folder(run, output_dir)
    if t.torch_compile:
        model.compile()  # in place: torch.compile(model) would save every weight as "_orig_mod.NAME"
    model, optimizer = accelerator.prepare(model, optimizer)

    schedule = Schedule(total_steps=t.max_steps, gradient_accumulation_steps=t.gradient_accumulation_steps,
                        max_grad_norm=t.max_grad_norm, logging_steps=t.logging_steps, eval_steps=t.eval_steps,
                        eval_on_stop=True, save_steps=t.save_steps, save_total_limit=t.save_total_limit,
                        keep_log_spaced=t.keep_checkpoints == "log",
                        max_time_minutes=t.max_time_minutes)
    log = MetricsLog(output_dir, accelerator.is_main_process, resume_step=state.step if resume_from else None, tag="pretrain")
    engine = Engine(accelerator, model, optimizer, scheduler, schedule, state, log, output_dir, config, run.to_yaml(),
                    resumed_from=resume_from)
    stage = PretrainStage(run, corpus, accelerator, output_dir)
    with stop_on_interrupt("genpt pretrain") as interrupted:
        stop_reason = engine.run(stage, interrupted, show_progress and accelerator.is_main_process)
    summary = stage.finish(engine, "max_steps" if stop_reason == "finished" else stop_reason)
    accelerator.end_training()
    return summary


def flat_config(run: RunConfig) -> dict[str, Any]:
    """The run's options in one mapping, as checkpoints save them for the resume check."""
    return {"model": run.model.to_dict(), **dataclasses.asdict(run.training), **dataclasses.asdict(run.data)}


@dataclass
class PretrainStage:
    """What pretraining adds to the engine: windows of the corpus, the LM loss, its log line and evaluation."""

    config: RunConfig
    corpus: PreparedCorpus
    accelerator: Any
    output_dir: Path
    name: str = "genpt pretrain"

    def __post_init__(self) -> None:
        acc, t = self.accelerator, self.config.training
        self.train_tokens = self.corpus.train_tokens()
        self.data_hash = torch.zeros((), dtype=torch.float64, device="cpu")  # of the windows this process saw
        self.flops_per_token = training_flops_per_token(self.config.model, t.seq_len)
        precision = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(acc.mixed_precision, torch.float32)  # the matmuls' own
        self.peak = matmul_peak_flops(acc.device, precision, repeats=3)

    def batches(self, epoch: int, skip: int) -> Iterator[torch.Tensor]:
        """Micro-batch `index` of the run is a pure function of (seed, rank, index): skipping is free."""
        t = self.config.training
        for index in itertools.count(skip):
            batch = train_batch(self.train_tokens, index, seed=t.seed, rank=self.accelerator.process_index,
                                batch_size=t.batch_size, seq_len=t.seq_len)
            self.data_hash += _fingerprint(batch)
            yield batch

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> StepLoss:
        loss = model(batch, labels=batch, return_logits=False).loss
        return StepLoss(loss, examples=batch.size(0), tokens=batch.numel())

    def record(self, window: Window, state: TrainState, lr: float) -> dict[str, Any]:
        acc = self.accelerator
        tokens_per_s = int(window.tokens) * acc.num_processes / max(window.seconds, 1e-9)
        return {
            "step": state.step, "loss": round(window.means["loss"], 5), "lr": lr,
            "grad_norm": round(float(window.grad_norm), 4), "tokens_per_s": round(tokens_per_s, 1),
            "mfu": round(tokens_per_s / acc.num_processes * self.flops_per_token / self.peak, 4),
            "tokens_seen": state.tokens_seen, "elapsed_s": round(state.elapsed_seconds, 1),
            "train_s": round(state.train_seconds, 2),  # training steps only: evaluations and checkpoints excluded
        }

    def evaluate(self, engine: Engine) -> None:
        """Validation loss on the same windows every time; the best weights go to best/."""
        t, acc, state = self.config.training, self.accelerator, engine.state
        model = acc.unwrap_model(engine.model)
        model.eval()
        total = torch.zeros((), dtype=torch.float64, device=acc.device)
        count = torch.zeros((), dtype=torch.float64, device=acc.device)
        batches = validation_batches(self.corpus.validation_tokens(), batch_size=t.batch_size, seq_len=t.seq_len,
                                     max_tokens=t.eval_tokens)
        with torch.no_grad(), acc.autocast():
            for batch, counted in process_share(batches, acc.process_index, acc.num_processes):
                batch = batch.to(acc.device)
                loss = model(batch, labels=batch, return_logits=False).loss
                if counted:
                    total += loss.double() * batch.size(0)
                    count += batch.size(0)
        totals = acc.reduce(torch.stack([total, count]), "sum")
        val_loss = (totals[0] / totals[1]).item()
        best = state.best.get("val_loss")
        improved = best is None or val_loss < best  # the same on every process: val_loss is reduced
        if improved:
            state.best = {"val_loss": val_loss, "step": state.step}
        engine.log.write({"step": state.step, "val_loss": round(val_loss, 5), "val_perplexity": round(math.exp(min(val_loss, 50)), 3)})
        weights = acc.get_state_dict(engine.model) if improved else None  # a collective under FSDP
        if acc.is_main_process:
            if improved:
                legacy = {**dataclasses.asdict(state), "best_val_loss": val_loss, "kind": "best"}
                ckpt.save_checkpoint(self.output_dir / "best", weights=weights, state=legacy, config_yaml=self.config.to_yaml())
            plot_loss_curves(engine.log.records, self.output_dir / "loss_curve.png", title=f"genpt pretrain: {self.config.model.name}")

    def finish(self, engine: Engine, stop_reason: str) -> dict[str, Any]:
        """The final weights and trainer_state.json (written even when stopped early)."""
        acc, state = self.accelerator, engine.state
        model = acc.unwrap_model(engine.model)
        # What each process saw and ended with: ranks must end in sync and see different data.
        checksum = sum(p.detach().double().sum().item() * (i + 1) for i, p in enumerate(model.parameters()))
        per_process = gather_objects(acc, {"weights_checksum": checksum, "data_hash": self.data_hash.item()})
        summary = {
            "step": state.step, "tokens_seen": state.tokens_seen, "best_val_loss": state.best.get("val_loss"),
            "elapsed_seconds": state.elapsed_seconds, "stop_reason": stop_reason, "world_size": acc.num_processes,
            "processes": per_process, "output_dir": str(self.output_dir),
        }
        weights = acc.get_state_dict(engine.model)
        if acc.is_main_process:  # the curve is already drawn: the engine evaluates at the step it stops on
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


def _prepare(run: RunConfig, output_dir: Path, cache_dir: Path, resume_from: Path | None, show_progress: bool):
    """Every check of the run's inputs, the tokenized corpus and the accelerator: (run resolved,
    the --init model or None, corpus, the flat config checkpoints save, accelerator)."""
    from accelerate.utils import set_seed

    accelerator = new_accelerator(run.training.mixed_precision, run.training.gradient_accumulation_steps)
    init_model = None
    if run.training.init and resume_from is None:
        with accelerator.main_process_first():  # one process saves a Hugging Face tokenizer into the run folder
            run, init_model = _from_init(run, output_dir, save_tokenizer_here=accelerator.is_main_process)
    run = _resolve(run)
    t = run.training
    config = flat_config(run)
    if resume_from is not None:
        check_resumable(resume_from, config, RESUME_KEYS)

    set_seed(t.seed, device_specific=True)  # different dropout masks on each process
    with accelerator.main_process_first():  # one process prepares, the others reuse
        corpus = prepare_corpus(
            run.data.inputs, run.data.tokenizer, cache_dir,
            validation_fraction=run.data.validation_fraction, validation_inputs=run.data.validation_inputs,
            seed=t.seed, show_progress=show_progress and accelerator.is_main_process, **run.data.read_options(),
            must_match=saved_config(resume_from).get("corpus_sha256") if resume_from is not None else None,
        )
    config["corpus_sha256"] = corpus.content_sha256  # saved with each checkpoint: what a resume must find
    _check_validation_size(corpus, t)
    return run, init_model, corpus, config, accelerator


def _from_init(run: RunConfig, output_dir: Path, save_tokenizer_here: bool = True) -> tuple[RunConfig, GPT]:
    """`--init`: the architecture and weights come from a published or earlier model, and its
    tokenizer unless --tokenizer names one (a Hugging Face tokenizer gets GPT-1's special
    tokens added and is saved into the run folder, by the process `save_tokenizer_here`)."""
    from genpt.pretrained import load_pretrained

    pretrained = load_pretrained(run.training.init, tokenizer=run.data.tokenizer or None)
    tokenizer = run.data.tokenizer or (str(pretrained.tokenizer_dir) if pretrained.tokenizer_dir else "")
    if not tokenizer:
        folder = output_dir / "tokenizer"
        if save_tokenizer_here:
            write_folder_atomically(folder, lambda p: save_tokenizer(pretrained.tokenizer, p))
        tokenizer = str(folder)
    model = dataclasses.replace(pretrained.model.config, name="custom")  # the init's shape, whatever the preset said
    return RunConfig(model, run.training, dataclasses.replace(run.data, tokenizer=tokenizer)), pretrained.model


def _resolve(run: RunConfig) -> RunConfig:
    """Fill in what the tokenizer decides, and check the parts against each other."""
    if not run.data.inputs:
        raise GenptError("--input: no corpus given")
    if not run.data.tokenizer:  # else "" would load a tokenizer.json that happens to be in the current folder
        raise GenptError("--tokenizer is required: a tokenizer folder (`genpt tokenizer train` makes one)")
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
    check_training_arguments(training)
    require_counts(training, "gradient_accumulation_steps", "eval_steps", "eval_tokens", "seq_len")
    if training.eval_tokens < training.seq_len:  # else found only at the first evaluation, after training
        raise GenptError(f"--eval_tokens {training.eval_tokens} is fewer than one window of --seq_len {training.seq_len}; "
                         "score at least one window")
    if training.warmup_steps < 0:
        raise GenptError(f"--warmup_steps must be >= 0, got {training.warmup_steps}")
    for name in ("adam_beta1", "adam_beta2"):
        if not 0 <= getattr(training, name) < 1:
            raise GenptError(f"--{name} must be in [0, 1), got {getattr(training, name)}")
    if not training.adam_epsilon >= 0:
        raise GenptError(f"--adam_epsilon must be >= 0, got {training.adam_epsilon}")
    if not 0 <= training.min_lr_ratio <= 1:
        raise GenptError(f"--min_lr_ratio must be in [0, 1], got {training.min_lr_ratio}")
    if not 0 < data.validation_fraction < 1 and not data.validation_inputs:
        raise GenptError(f"--validation_fraction must be between 0 and 1, got {data.validation_fraction}")
    if training.max_time_minutes is not None and not training.max_time_minutes > 0:
        raise GenptError(f"--max_time_minutes must be positive, got {training.max_time_minutes}")
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


def _check_time_left(checkpoint: Path, max_time_minutes: float | None) -> None:
    """--max_time_minutes is the run's budget, resumed runs included: one already spent would
    train a single step past it and stop again."""
    spent = ckpt.read_state(checkpoint).get("elapsed_seconds", 0.0)
    if max_time_minutes is not None and spent >= 60 * max_time_minutes:
        raise GenptError(f"--max_time_minutes {max_time_minutes:g}: the run has trained {spent / 60:.1f} minutes already; "
                         "pass a larger --max_time_minutes (or none) to continue it")


def _check_validation_size(corpus: PreparedCorpus, t: TrainingConfig) -> None:
    """Both splits must hold a window, or training would fail only at its first evaluation."""
    if corpus.n_train_tokens < t.seq_len + 1:
        raise GenptError(f"the training split holds {corpus.n_train_tokens:,} tokens, fewer than one window of --seq_len "
                         f"{t.seq_len} + 1; use more text or a shorter --seq_len")
    if corpus.n_validation_tokens < t.seq_len:
        raise GenptError(f"the validation split holds {corpus.n_validation_tokens:,} tokens, fewer than one window of "
                         f"--seq_len {t.seq_len}; hold out more text (--validation_fraction, or --validation_input "
                         "with files of its own) or use a shorter --seq_len")


def _write_run_folder(run: RunConfig, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    write_file_atomically(output_dir / "config.yaml", lambda p: p.write_text(run.to_yaml()))
    tokenizer_copy = output_dir / "tokenizer"
    if Path(run.data.tokenizer).resolve() != tokenizer_copy.resolve():
        write_folder_atomically(tokenizer_copy, lambda p: shutil.copytree(run.data.tokenizer, p, dirs_exist_ok=True))


def _fingerprint(batch: torch.Tensor) -> torch.Tensor:
    """A number that differs when the windows differ (positions weight the tokens)."""
    weights = torch.arange(1, batch.numel() + 1, dtype=torch.float64, device=batch.device).view_as(batch)
    return (batch.double() * weights).sum() / batch.numel()



"""The one training loop every stage runs: pretraining, fine-tuning and seq2seq.

It follows `transformers`' run_*_no_trainer examples on `accelerate`: everything is
prepared once; a resumed run skips the batches it already trained on without loading them;
losses are accumulated as detached tensors and synchronised once per logging interval.

    for epoch in epochs:                      # pretraining: one endless epoch
        for step's micro-batches:             # a stage's batches, on accelerator.device
            loss = stage.loss(model, batch)   # accelerator.accumulate: gradient accumulation
            backward
        clip; optimizer step; schedule step
        log (every logging_steps)  ->  evaluate (when due)  ->  checkpoint (when due)
        stop at max steps, on the time limit, or on Ctrl-C, every process agreeing

A stage supplies only what differs: its batches, its loss, its log line and its evaluation
(`Stage`). The engine owns the typed state a checkpoint holds (`TrainState`), the metrics
log (`MetricsLog`: metrics.jsonl, TensorBoard, the progress bar), the resume check, the
run-folder guard, and the one place batches move to the device.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import Sampler

from genpt import checkpoint as ckpt
from genpt.atomic import is_stale_staging, json_line, remove_stale_staging, write_file_atomically
from genpt.errors import GenptError
from genpt.training import agreed, is_fsdp, load_sharded_optimizer_state, save_training_checkpoint

# ---- the state a checkpoint holds ---------------------------------------------------------------


@dataclass
class TrainState:
    """Where a run stands; saved with every checkpoint, so a resumed run continues exactly."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epochs completed
    batches_done: int = 0  # micro-batches of the current epoch already trained on
    examples_seen: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0  # in training steps only: evaluations and checkpoints excluded
    elapsed_seconds: float = 0.0  # wall time since the run started, over every resume
    best: dict[str, Any] = field(default_factory=dict)  # the best evaluation so far (the stage decides "best")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainState:
        """From a checkpoint's trainer_state.json (earlier genpt versions included)."""
        known = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in values.items() if k in known})
        if values.get("best_val_loss") is not None and not state.best:  # pretraining, before the engine
            state.best = {"val_loss": values["best_val_loss"]}
        return state


# ---- the metrics log --------------------------------------------------------------------------------


class MetricsLog:
    """metrics.jsonl (one JSON object per line), TensorBoard when installed, and the progress bar.

    A resumed run keeps the lines logged up to its checkpoint's step (the engine logs,
    evaluates, then checkpoints, so all of them came before it) and drops what the
    interrupted run wrote after; a last line cut short by a kill is dropped too. Only the
    main process writes.
    """

    def __init__(self, output_dir: Path, active: bool, resume_step: int | None, tag: str):
        self.path, self.active, self.tag = output_dir / "metrics.jsonl", active, tag
        self.records: list[dict[str, Any]] = []
        self.bar = None
        self._tensorboard = None
        if not active:
            return
        if resume_step is not None:
            self.records = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step]
        write_file_atomically(self.path, lambda p: p.write_text("".join(map(json_line, self.records))))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(output_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)
        except ImportError:  # TensorBoard is optional: pip install "genpt[tensorboard]"
            pass

    def write(self, record: dict[str, Any]) -> None:
        if not self.active:
            return
        self.records.append(record)
        with self.path.open("a") as file:
            file.write(json_line(record))
        if self._tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tensorboard.add_scalar(f"{self.tag}/{key}", value, record["step"])
            self._tensorboard.flush()

    def start_bar(self, total: int, initial: int, description: str, show: bool) -> None:
        from tqdm.auto import tqdm

        # Shown: no disable= at all, so that TQDM_DISABLE=1 (how genpt compare silences the runs
        # it starts side by side) still hides it; an explicit disable=False would override that.
        hidden = {} if show and self.active else {"disable": True}
        self.bar = tqdm(total=total, initial=initial, desc=description, unit="step", dynamic_ncols=True, **hidden)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file; a last line cut short (a kill while writing) is dropped,
    a bad line elsewhere is an error naming it."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the last line, half written when the run was killed
            raise GenptError(f"{path} line {number}: not valid JSON; the file is damaged (move it away to start its log afresh)") from None
    return records


# ---- what a stage supplies ---------------------------------------------------------------------------


@dataclass
class StepLoss:
    """One micro-batch's loss, the parts to log (detached), and how much data it was."""

    loss: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. task_loss, lm_loss
    examples: int = 0
    tokens: torch.Tensor | int = 0


class Stage(Protocol):
    name: str  # the command, for messages: "genpt finetune"

    def batches(self, epoch: int, skip: int) -> Iterable[Any]:
        """The micro-batches of `epoch`, the first `skip` left out without being loaded."""

    def loss(self, model: torch.nn.Module, batch: Any) -> StepLoss: ...

    def record(self, window: Window, state: TrainState, lr: float) -> dict[str, Any]:
        """The stage's log line for the steps in `window` (its means already synchronised)."""

    def evaluate(self, engine: Engine) -> None:
        """Score the model now: log it, and keep the best weights if the stage keeps any."""


@dataclass
class Schedule:
    """When the engine does what."""

    total_steps: int
    steps_per_epoch: int | None = None  # None: one endless epoch (pretraining)
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    logging_steps: int = 20
    eval_steps: int | None = None  # also evaluate every N steps
    eval_each_epoch: bool = False
    eval_on_stop: bool = False  # evaluate at a time limit or Ctrl-C too (the last step always evaluates)
    save_steps: int | None = None
    save_each_epoch: bool = False
    save_total_limit: int = 1
    keep_log_spaced: bool = False  # also keep the checkpoints at save_steps x 1, 2, 4, ...
    max_time_minutes: float | None = None

    @property
    def epochs(self) -> int:
        return 1 if self.steps_per_epoch is None else math.ceil(self.total_steps / self.steps_per_epoch)


@dataclass
class Window:
    """What happened since the last log line: sums on the device, synchronised only when logged."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    micro_batches: int = 0
    steps: int = 0
    examples: int = 0
    tokens: torch.Tensor | int = 0
    seconds: float = 0.0
    epoch: int = 0  # the epoch of the window's last step (0-based)
    grad_norm: torch.Tensor | None = None
    means: dict[str, float] = field(default_factory=dict)  # filled in when logged

    def add(self, step_loss: StepLoss) -> None:
        for name, value in {"loss": step_loss.loss, **step_loss.parts}.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.micro_batches += 1
        self.examples += step_loss.examples
        self.tokens = self.tokens + step_loss.tokens


# ---- the engine ----------------------------------------------------------------------------------------


@dataclass
class Engine:
    accelerator: Any
    model: torch.nn.Module  # prepared
    optimizer: Any  # prepared
    scheduler: Any  # stepped once per optimizer step, by hand: never prepared
    schedule: Schedule
    state: TrainState
    log: MetricsLog
    output_dir: Path
    config: dict[str, Any]  # the run's resolved options, saved with each checkpoint (the resume check reads them)
    config_yaml: str | None = None  # also written into each checkpoint (pretraining: `--init checkpoints/step-N`)
    resumed_from: Path | None = None  # the checkpoint this run continues, if any
    current_epoch: int = 0  # the epoch of the last step (0-based)
    _unsaved_tokens: torch.Tensor | int = 0  # tokens trained on since the state last counted them

    def run(self, stage: Stage, interrupted: dict[str, bool], show_progress: bool) -> str:
        """Train until the last step; returns "finished", "max_time_minutes" or "interrupted"."""
        s, state = self.schedule, self.state
        if self.resumed_from is not None and is_fsdp(self.accelerator):  # the sharded optimizer exists only now
            load_sharded_optimizer_state(self.accelerator, self.model, self.optimizer,
                                         ckpt.load_torch_file(self.resumed_from / ckpt.OPTIMIZER_FILE))
        self.log.start_bar(s.total_steps, state.step, stage.name.removeprefix("genpt "), show_progress)
        try:
            return self._train(stage, interrupted)
        finally:
            self.log.close()  # the bar ends its line, so an error below it starts on a line of its own

    def _train(self, stage: Stage, interrupted: dict[str, bool]) -> str:
        s, state = self.schedule, self.state
        started = time.perf_counter() - state.elapsed_seconds
        window, stop_reason = Window(), None
        self.model.train()
        while state.step < s.total_steps and stop_reason is None:
            self.current_epoch = state.epoch
            micro_batches = iter(stage.batches(state.epoch, skip=state.batches_done))
            epoch_done = False
            while not epoch_done and stop_reason is None:
                step_started = time.perf_counter()
                if not self.train_step(stage, micro_batches, window):  # the loader ended: so did the epoch
                    state.epoch, state.batches_done = state.epoch + 1, 0
                    break
                if self.accelerator.device.type == "cuda" and (state.step % s.logging_steps == 0 or state.step >= s.total_steps):
                    # A step that logs waits for the GPU's queued work (the log line syncs anyway), so the
                    # window's time holds all of its steps' work and tokens/s is not flattered.
                    torch.cuda.synchronize(self.accelerator.device)
                seconds = time.perf_counter() - step_started
                window.seconds, window.epoch = window.seconds + seconds, self.current_epoch
                state.train_seconds += seconds
                state.elapsed_seconds = time.perf_counter() - started
                epoch_done = s.steps_per_epoch is not None and \
                    state.batches_done >= s.steps_per_epoch * s.gradient_accumulation_steps
                if epoch_done:
                    state.epoch, state.batches_done = state.epoch + 1, 0
                stop_reason, logged = self.after_step(stage, window, epoch_done, interrupted)
                if logged:
                    window = Window()
        return stop_reason or "finished"

    def train_step(self, stage: Stage, micro_batches: Iterator[Any], window: Window) -> bool:
        """One optimizer step over `gradient_accumulation_steps` micro-batches; False if none was left."""
        acc, s, state = self.accelerator, self.schedule, self.state
        for micro in range(s.gradient_accumulation_steps):
            batch = next(micro_batches, None)
            if batch is None:
                if micro == 0:
                    return False
                break
            batch = to_device(batch, acc.device)
            with acc.accumulate(self.model):
                step_loss = stage.loss(self.model, batch)
                acc.backward(step_loss.loss)
                if acc.sync_gradients:
                    window.grad_norm = acc.clip_grad_norm_(self.model.parameters(), s.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            window.add(step_loss)
            self._unsaved_tokens = self._unsaved_tokens + step_loss.tokens
            state.batches_done += 1
            state.examples_seen += step_loss.examples * acc.num_processes
        # In fp16 a step whose gradients overflowed leaves the weights as they were but still
        # advances the schedule: the fused AdamW skips it inside its kernel, so only a host sync
        # per step (the scaler's scale) could tell; transformers' Trainer does the same.
        self.scheduler.step()
        state.step += 1
        window.steps += 1
        self.log.advance()
        return True

    def after_step(self, stage: Stage, window: Window, epoch_done: bool, interrupted: dict[str, bool]) -> tuple[str | None, bool]:
        """Log, evaluate, checkpoint (in that order); returns (why to stop or None, whether it logged)."""
        s, acc, state = self.schedule, self.accelerator, self.state
        last = state.step >= s.total_steps
        logged = state.step % s.logging_steps == 0 or last
        if logged:
            self.write_log_line(stage, window)
        evaluating = bool(s.eval_steps and state.step % s.eval_steps == 0) or (epoch_done and s.eval_each_epoch) or last
        saving = bool(s.save_steps and state.step % s.save_steps == 0) or (epoch_done and s.save_each_epoch)
        over_time, stop_asked = False, False
        # Processes agree on stopping with a collective and a host sync: one process decides
        # alone at every step, several only at the steps that log, evaluate or save anyway
        # (Ctrl-C or the time limit then stops the run within --logging_steps steps).
        if acc.num_processes == 1 or logged or evaluating or saving:
            over_time, stop_asked = agreed(acc, [
                s.max_time_minutes is not None and state.elapsed_seconds > 60 * s.max_time_minutes, interrupted["flag"]])
        stopping = last or over_time or stop_asked
        # A stop asked for by a signal checkpoints before it evaluates (and again after, with
        # the evaluation's best): the launcher or scheduler that sent the signal kills a few
        # seconds on (accelerate launch 5 s, torchrun 30 s).
        if stop_asked and not last and (evaluating or s.eval_on_stop):
            self.save_checkpoint()
        if evaluating or (stopping and s.eval_on_stop):
            stage.evaluate(self)
            self.model.train()
        if saving or stopping:
            self.save_checkpoint()
        if last:
            return "finished", logged
        if over_time:
            return "max_time_minutes", logged
        return ("interrupted" if stop_asked else None), logged

    def count_tokens(self) -> None:
        """Add the tokens trained on since last counted to the state (a host sync: at log lines and checkpoints only)."""
        self.state.tokens_seen += int(self._unsaved_tokens) * self.accelerator.num_processes
        self._unsaved_tokens = 0

    def write_log_line(self, stage: Stage, window: Window) -> None:
        """Synchronise the window's sums (the only host sync of the steps) and log the stage's line."""
        names = sorted(window.sums)
        if names:
            sums = torch.stack([window.sums[n] for n in names]) / max(window.micro_batches, 1)
            window.means = dict(zip(names, self.accelerator.reduce(sums, reduction="mean").tolist()))
        self.count_tokens()
        loss = window.means.get("loss", 0.0)
        if not math.isfinite(loss):
            raise GenptError(f"loss became {loss} at step {self.state.step}; lower --learning_rate or check the data")
        record = stage.record(window, self.state, self.scheduler.get_last_lr()[0])
        self.log.write(record)
        rates = {k: f"{v:,.0f}" for k, v in record.items() if k.endswith("_per_s")}
        if self.log.bar is not None:
            self.log.bar.set_postfix(loss=f"{loss:.3f}", **rates)

    def save_checkpoint(self) -> None:
        self.count_tokens()
        save_training_checkpoint(self.accelerator, self.model, self.optimizer, self.scheduler, self.output_dir / "checkpoints",
                                 {**dataclasses.asdict(self.state), "config": self.config}, self.schedule.save_total_limit,
                                 config_yaml=self.config_yaml,
                                 log_spaced_every=self.schedule.save_steps if self.schedule.keep_log_spaced else None)


def to_device(batch: Any, device: torch.device) -> Any:
    """The one place batches move to the accelerator's device (tensors, or dicts of them)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


# ---- batches by epoch ---------------------------------------------------------------------------------


def steps_per_epoch(examples: int, batch_size: int, processes: int) -> int:
    """Optimizer steps in one pass over `examples`: every process takes its own batches."""
    return math.ceil(examples / (batch_size * processes))


class EpochSampler(Sampler[int]):
    """A shuffled order that is a pure function of (seed, epoch): `set_epoch` picks the epoch,
    so a data loader is prepared once and a resumed run sees the same order. With
    `lengths`, batches group examples of similar length (transformers' `LengthGroupedSampler`)."""

    def __init__(self, size: int, seed: int, batch_size: int, lengths: list[int] | None = None):
        self.size, self.seed, self.batch_size, self.lengths, self.epoch = size, seed, batch_size, lengths, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator(device="cpu").manual_seed(self.seed * 1000 + self.epoch)
        if self.lengths is None:
            return iter(torch.randperm(self.size, generator=generator).tolist())
        from transformers.trainer_pt_utils import LengthGroupedSampler

        return iter(LengthGroupedSampler(self.batch_size, lengths=self.lengths, generator=generator))


def epoch_loader(dataset: Any, collate: Any, batch_size: int, seed: int, lengths: list[int] | None = None):
    """A training DataLoader over `EpochSampler`, to prepare once; `epoch_batches` iterates it."""
    from torch.utils.data import DataLoader

    # The loader draws a seed for its workers from a generator at every iteration: a private
    # one, so iterating never moves the global RNG that dropout draws from.
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochSampler(len(dataset), seed, batch_size, lengths),
                      pin_memory=torch.cuda.is_available(),  # for the prepared loader's non-blocking copies
                      collate_fn=collate, generator=torch.Generator(device="cpu").manual_seed(seed))


def epoch_batches(accelerator: Any, loader: Any, epoch: int, skip: int) -> Iterable[Any]:
    """The batches of a prepared `epoch_loader` in `epoch`, the first `skip` skipped without loading them."""
    loader.set_epoch(epoch)
    sampler = _epoch_sampler(loader)
    if sampler is not None:
        sampler.set_epoch(epoch)
    return accelerator.skip_first_batches(loader, skip) if skip else loader


def _epoch_sampler(loader: Any) -> EpochSampler | None:
    """The EpochSampler inside a (prepared) loader, however accelerate wrapped it."""
    seen, todo = set(), [loader]
    while todo:
        item = todo.pop()
        if isinstance(item, EpochSampler):
            return item
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        todo += [getattr(item, name, None) for name in ("sampler", "batch_sampler", "base_dataloader")]
    return None


# ---- starting and resuming ------------------------------------------------------------------------------


def check_run_folder(output_dir: Path, *, resume_from: Path | None, overwrite: bool, holds: str, finished_file: str,
                     overwrite_option: str | None = "--overwrite_output_dir") -> None:
    """May a run write `output_dir`? Refuse a file, a folder of the user's own files, a
    finished run (its `finished_file` exists) unless `overwrite`, and an unfinished run
    (checkpoints) unless resuming it or `overwrite`. A checkpoint of another folder starts a
    run here: the folder is checked as for a new run."""
    if output_dir.exists() and not output_dir.is_dir():
        raise GenptError(f"--output_dir {output_dir}: exists and is not a folder; choose another path")
    # what a run killed while it wrote its first file left is no content (clean_run_folder removes it)
    if resumes_in(output_dir, resume_from) or not output_dir.is_dir() or all(is_stale_staging(entry) for entry in output_dir.iterdir()):
        return
    if not is_run_folder(output_dir):
        raise GenptError(f"--output_dir {output_dir}: holds files that are not a genpt run; refusing to write there "
                         "(choose another folder, or empty this one)")
    if overwrite:
        return  # the old run's checkpoints go once the new run has checked its inputs
    if (output_dir / finished_file).exists():
        replace = f"pass {overwrite_option} or " if overwrite_option else "pass --resume auto to continue it, or "
        raise GenptError(f"--output_dir {output_dir} already holds {holds}; {replace}choose another folder")
    if ckpt.list_checkpoints(output_dir / "checkpoints") or (output_dir / ckpt.MODEL_FILE).exists():
        again = f", {overwrite_option} to start again" if overwrite_option else ""
        raise GenptError(f"--output_dir {output_dir} holds an unfinished run; pass --resume auto to continue it{again}, "
                         "or choose another folder")


def resumes_in(output_dir: Path, resume_from: Path | None) -> bool:
    """Whether `resume_from` is a checkpoint of the run in `output_dir` (another folder's starts a new run there)."""
    return resume_from is not None and output_dir.resolve() in Path(resume_from).resolve().parents


def claim_run_folder(output_dir: Path, old_outputs: Iterable[str] = ()) -> None:
    """Start a new run in `output_dir`, once every check has passed: remove what an overwritten
    run left (its checkpoints, never to be resumed into, and the `old_outputs` it wrote; only
    those, since the folder may hold the user's files too), then mark the folder as a genpt run
    with an empty metrics.jsonl, the log every run keeps (MetricsLog rewrites it), before
    config.yaml and tokenizer/ are written. A run killed between those files then leaves a run
    folder, which the same command starts again, not a config.yaml alone, which
    `is_run_folder` must take for the user's."""
    output_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    for name in old_outputs:
        (output_dir / name).unlink(missing_ok=True)
    write_file_atomically(output_dir / "metrics.jsonl", lambda p: p.write_text(""))


def clean_run_folder(output_dir: Path) -> None:
    """Remove the staging files and folders that killed runs left in the run folder (and its
    checkpoints/); call it once every check has passed."""
    remove_stale_staging(output_dir)
    remove_stale_staging(output_dir / "checkpoints")
    remove_stale_staging(output_dir.parent, {output_dir.name})


def is_run_folder(folder: Path) -> bool:
    """Whether genpt wrote `folder` as a run: its log, one of its checkpoints, or its weights or
    tokenizer beside its config.yaml. A config.yaml alone (or beside a checkpoints/ of other
    files) may be the user's: a run's copied to pass to --config, say."""
    if (folder / "metrics.jsonl").is_file():
        return True
    if any((step / ckpt.STATE_FILE).is_file() for step in ckpt.list_checkpoints(folder / "checkpoints")):
        return True
    made_here = (folder / ckpt.MODEL_FILE).is_file() or (folder / "tokenizer" / "tokenizer.json").is_file()
    return (folder / "config.yaml").is_file() and made_here


def check_resumable(folder: Path, config: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse to continue the checkpoint's run with other settings for any of `keys` (those
    that change what the run computes)."""
    saved = saved_config(folder)
    for key in keys:
        if key not in saved:  # recorded only by later genpt versions
            continue
        old, new = saved[key], config.get(key)
        if old == new:
            continue
        if key == "model":
            changed = [k for k, v in new.items() if old.get(k) != v]
            raise GenptError(f"--resume {folder}: the model config differs from the checkpoint's in {changed}")
        if key == "tokenizer_sha256" and old is not None:
            raise GenptError(f"--tokenizer {config.get('tokenizer')}: not the tokenizer of the run being resumed "
                             f"({saved.get('tokenizer')}): their vocabularies or merges differ; resume with that tokenizer")
        raise GenptError(f"--resume {folder}: {key} was {old!r} in the interrupted run, now {new!r}; resume with the same setting")


def saved_config(folder: Path) -> dict[str, Any]:
    """The options a checkpoint's run was started with: its trainer state's `config`, or (as
    pretraining checkpoints of earlier versions hold them) its config.yaml's sections, flattened."""
    state = ckpt.read_state(folder)
    if isinstance(state.get("config"), dict):
        return state["config"]
    from genpt.config import read_yaml_mapping

    values = read_yaml_mapping(folder / "config.yaml") if (folder / "config.yaml").is_file() else {}
    return {"model": values.get("model", {}), **(values.get("training") or {}), **(values.get("data") or {})}


def restore(folder: Path, engine_parts: tuple[Any, Any, Any], accelerator: Any) -> TrainState:
    """Load a checkpoint's weights, optimizer, scheduler and this process's RNG state."""
    model, optimizer, scheduler = engine_parts
    return TrainState.from_dict(ckpt.restore_training_state(folder, model, optimizer, scheduler, accelerator))

"""Supervised fine-tuning (GPT-1, sections 3.2-3.3): one pretrained model, many tasks.

The loop is `transformers`' run_glue_no_trainer on `accelerate`:

    for epoch in range(num_train_epochs):
        for batch in length-grouped, dynamically padded batches:
            loss = task loss + aux_lm_weight * LM loss on the task inputs     (L3 = L2 + lambda L1)
            backward; clip to 1.0; AdamW step; linear warm-up (0.2%) then linear decay
        evaluate on the dev set; keep the weights of the best epoch by the task's main metric

Defaults are the paper's (section 4.1): lr 6.25e-5, batch 32, 3 epochs, lambda 0.5,
classifier dropout 0.1. Batch order is a pure function of (seed, epoch).
"""

from __future__ import annotations

import dataclasses
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
from genpt.data import tasks as task_registry
from genpt.data.collate import Collator, TaskDataset, train_loader
from genpt.data.tasks import Example, Task
from genpt.data.transformations import SpecialIds, encode_examples
from genpt.errors import GenptError
from genpt.finetune.config import TRAJECTORY_KEYS, FinetuneConfig
from genpt.metrics import compute_metrics
from genpt.models.architectures import baseline_config, build_task_model, context_length
from genpt.models.heads import TaskModel
from genpt.plots import plot_finetune_curves
from genpt.pretrained import Pretrained, load_pretrained
from genpt.task_run import (
    predict,
    read_labelled,
    run_config_yaml,
    write_json,
    write_predictions,
)
from genpt.tokenization import load_tokenizer
from genpt.training import (
    MetricsLog,
    adamw,
    agreed,
    new_accelerator,
    save_training_checkpoint,
    stop_on_interrupt,
)

DEFAULT_MAX_SEQ_LENGTH = 256  # for models without a context limit (the LSTM)


@dataclass
class Splits:
    train: list[Example]
    validation: list[Example]
    tests: dict[str, list[Example]]  # split name -> unlabelled examples to predict (--predict test)
    # more labelled dev sets scored with the best weights: MNLI's mismatched dev set
    extra_validation: dict[str, list[Example]] = dataclasses.field(default_factory=dict)


def finetune(config: FinetuneConfig, output_dir: str | Path, overwrite: bool = False, show_progress: bool = True,
             resume: str | None = None) -> dict[str, Any]:
    """Fine-tune as `config` says into the run folder `output_dir`; returns a summary.

    `resume` is a checkpoint folder, or "auto" for the newest in `output_dir/checkpoints`.
    """
    from accelerate.utils import set_seed

    output_dir = Path(output_dir)
    resume_from = ckpt.find_resume_checkpoint(output_dir, resume)
    if resume_from is None:
        ckpt.check_output_dir(output_dir, overwrite, holds="a fine-tuned model")
    config = dataclasses.replace(config, aux_lm_weight=_aux_lm_weight(config))
    _check_options(config)
    task, splits = load_task_data(config)
    set_seed(config.seed)  # before building the head: its initial weights are drawn here
    model, pretrained = _build_model(config, task)
    model_config = model.config
    context = context_length(model_config)
    max_seq_length = config.max_seq_length or context or DEFAULT_MAX_SEQ_LENGTH
    if context is not None and max_seq_length > context:
        raise GenptError(f"--max_seq_length {max_seq_length} is longer than the model's context ({context})")
    resolved = dataclasses.replace(_absolute_paths(config), max_seq_length=max_seq_length)

    tokenizer = pretrained.tokenizer
    collator = Collator(SpecialIds.from_tokenizer(tokenizer).pad, task.is_regression)
    train_set = TaskDataset(splits.train, encode_examples(splits.train, task.input_format, tokenizer, max_seq_length))
    dev_set = TaskDataset(splits.validation, encode_examples(splits.validation, task.input_format, tokenizer, max_seq_length))

    accelerator = new_accelerator(config.mixed_precision)
    set_seed(config.seed, device_specific=True)
    optimizer = adamw(model, lr=config.learning_rate, weight_decay=config.weight_decay, device=accelerator.device)
    steps_per_epoch = math.ceil(len(train_set) / (config.batch_size * accelerator.num_processes))
    total_steps = config.max_steps or steps_per_epoch * config.num_train_epochs
    scheduler = _linear_schedule(optimizer, total_steps, config.warmup_ratio)
    state = {"step": 0, "epoch": 0, "batches_done": 0, "best": {}, "examples_seen": 0, "train_seconds": 0.0}
    if resume_from is not None:
        state = _restore(resume_from, resolved, model, optimizer, scheduler, accelerator)
    model, optimizer = accelerator.prepare(model, optimizer)

    if accelerator.is_main_process and resume_from is None:
        _start_run_folder(output_dir, model_config, task, resolved, pretrained)
    loop = _Loop(resolved, task, accelerator, model, optimizer, scheduler, train_set, dev_set, collator, output_dir,
                 state, MetricsLog(output_dir / "metrics.jsonl", accelerator.is_main_process, resumed=state["step"] > 0,
                            kept=lambda record: _kept(record, state)), total_steps, steps_per_epoch)
    with stop_on_interrupt("genpt finetune") as interrupted:
        stop_reason = loop.run(interrupted, show_progress and accelerator.is_main_process)
    summary = {"task": task.name, "stop_reason": stop_reason, "output_dir": str(output_dir), "steps": state["step"],
               "train_examples": state["examples_seen"], "train_seconds": round(state["train_seconds"], 2),
               "examples_per_s": round(state["examples_seen"] / max(state["train_seconds"], 1e-9), 2),
               "is_main_process": accelerator.is_main_process}
    if stop_reason == "finished":
        unwrapped = accelerator.unwrap_model(model)
        ckpt.load_weights(unwrapped, output_dir / ckpt.MODEL_FILE)  # back to the best epoch
        summary.update(_write_outputs(unwrapped, task, splits, dev_set, collator, resolved, accelerator, output_dir,
                                      tokenizer, state["best"], loop.log.records))
        if accelerator.is_main_process:  # finished: the checkpoints have served their purpose
            shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    accelerator.end_training()
    return summary


@dataclass
class _Loop:
    config: FinetuneConfig
    task: Task
    accelerator: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_set: TaskDataset
    dev_set: TaskDataset
    collator: Collator
    output_dir: Path
    state: dict[str, Any]  # what a checkpoint holds besides the weights and optimizer
    log: MetricsLog
    total_steps: int
    steps_per_epoch: int

    def run(self, interrupted: dict[str, bool], show_progress: bool) -> str:
        """Train until `total_steps`; returns "finished" or "interrupted" (checkpoint saved)."""
        c, acc, state = self.config, self.accelerator, self.state
        bar = tqdm(total=self.total_steps, initial=state["step"], desc=f"fine-tuning {self.task.name}", unit="step",
                   dynamic_ncols=True, disable=not show_progress)
        for epoch in range(state["epoch"], math.ceil(self.total_steps / self.steps_per_epoch)):
            self.model.train()
            loader = acc.prepare(train_loader(self.train_set, c.batch_size, self.collator, c.seed, epoch, c.group_by_length))
            window = _new_window()
            started = time.perf_counter()  # a step is timed from its batch's loading to its optimizer step
            for index, batch in enumerate(loader):
                if index < state["batches_done"]:  # resumed mid-epoch: the same order, so skip what was done
                    started = time.perf_counter()
                    continue
                self.train_step(batch, window, started)
                bar.update(1)
                if state["step"] % c.logging_steps == 0 or state["step"] == self.total_steps:
                    record = _training_record(window, state, epoch, self.scheduler.get_last_lr()[0], acc)
                    self.log.write(record)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", ex_s=f"{record['examples_per_s']:.0f}")
                    window = _new_window()
                if agreed(acc, [interrupted["flag"]])[0]:
                    self.save_checkpoint()
                    bar.close()
                    return "interrupted"
                if c.save_steps and state["step"] % c.save_steps == 0:
                    self.save_checkpoint()
                if state["step"] == self.total_steps:
                    break
                started = time.perf_counter()  # logging excluded, the next batch's loading included
            self.end_epoch(epoch)
            if state["step"] == self.total_steps:
                break
        bar.close()
        return "finished"

    def train_step(self, batch: dict[str, torch.Tensor], window: dict[str, float], started: float) -> None:
        c, acc, state = self.config, self.accelerator, self.state
        output = self.model(batch["input_ids"], batch["attention_mask"], batch["labels"], aux_lm_weight=c.aux_lm_weight)
        acc.backward(output.loss)
        acc.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        examples = batch["labels"].size(0) * acc.num_processes
        seconds = time.perf_counter() - started
        state["step"] += 1
        state["batches_done"] += 1
        state["examples_seen"] += examples
        state["train_seconds"] += seconds
        _accumulate(window, output, examples, seconds)

    def end_epoch(self, epoch: int) -> None:
        """Score the dev set, keep the weights if they are the best so far, checkpoint."""
        acc, state = self.accelerator, self.state
        scores = evaluate(self.model, self.task, self.dev_set, self.collator, self.config.eval_batch_size, acc)
        self.log.write({"step": state["step"], "epoch": epoch + 1, **{f"eval_{k}": v for k, v in scores.items()}})
        main = self.task.metrics[0]
        best = state["best"]
        if not best or _score(scores[main]) > _score(best[main]):  # the first epoch always counts as best
            state["best"] = {**scores, "epoch": epoch + 1, "step": state["step"]}
            weights = acc.get_state_dict(self.model)
            if acc.is_main_process:
                write_file_atomically(self.output_dir / ckpt.MODEL_FILE, lambda p: ckpt.save_state_dict(weights, p))
        state["epoch"], state["batches_done"] = epoch + 1, 0
        self.save_checkpoint()

    def save_checkpoint(self) -> None:
        save_training_checkpoint(self.accelerator, self.model, self.optimizer, self.scheduler, self.output_dir / "checkpoints",
                                 {**self.state, "config": dataclasses.asdict(self.config)}, self.config.save_total_limit)


def _aux_lm_weight(config: FinetuneConfig) -> float:
    """The paper's lambda = 0.5, where the model has a language-model head to compute it."""
    if config.aux_lm_weight is None:
        return 0.0 if config.arch == "transformer" else 0.5
    if config.arch == "transformer" and config.aux_lm_weight > 0:
        raise GenptError("--aux_lm_weight: the Transformer baseline has no language-model head (its decoder needs "
                         "an encoder memory); use 0, or --arch lstm / gpt")
    return config.aux_lm_weight


def _build_model(config: FinetuneConfig, task: Task) -> tuple[Any, Pretrained]:
    """The task model and where its weights and tokenizer came from."""
    if config.arch == "gpt":
        pretrained = load_pretrained(config.init, tokenizer=config.tokenizer, preset=config.preset)
        model = build_task_model("gpt", pretrained.model.config, task.input_format, task.num_labels, config.classifier_dropout,
                                 task.is_regression)
        model.transformer.load_state_dict(pretrained.model.state_dict())
        return model, pretrained
    if config.init != "scratch":
        raise GenptError(f"--arch {config.arch} trains from scratch only: pass --init scratch (only GPT is pretrained)")
    if config.tokenizer is None or config.preset is None:
        raise GenptError(f"--arch {config.arch} needs --tokenizer DIR and --preset NAME to say what to build")
    tokenizer = load_tokenizer(config.tokenizer)
    model_config = baseline_config(config.arch, config.preset, len(tokenizer), SpecialIds.from_tokenizer(tokenizer).pad)
    model = build_task_model(config.arch, model_config, task.input_format, task.num_labels, config.classifier_dropout,
                             task.is_regression)
    return model, Pretrained(model=None, tokenizer=tokenizer, tokenizer_dir=Path(config.tokenizer), source="scratch")


def evaluate(model, task: Task, dataset: TaskDataset, collator: Collator, batch_size: int, accelerator) -> dict[str, float]:
    predictions, _ = predict(accelerator.unwrap_model(model), dataset, collator, batch_size, accelerator)
    labels = [item.label for item in dataset.items]
    return compute_metrics(task.metrics, predictions, labels)


# ---- data -------------------------------------------------------------------------------


def resolve_task(config: FinetuneConfig, label_names: tuple[str, ...] | None = None) -> Task:
    if config.task != "custom":
        return task_registry.get_task(config.task)
    if config.task_type is None:
        raise GenptError("--task custom needs --task_type (classification, entailment, similarity, regression, multiple_choice)")
    return task_registry.custom_task(config.task_type, label_names, paired=config.text_pair_column is not None)


def load_task_data(config: FinetuneConfig) -> tuple[Task, Splits]:
    """The task and its train / dev (/ test) examples, from files, a GLUE folder or the hub."""
    if config.task == "custom":
        task, splits = _custom_splits(config)
    else:
        task = resolve_task(config)
        splits = _named_task_splits(task, config)
    train = splits.train[: config.max_train_samples] if config.max_train_samples else splits.train
    validation = splits.validation[: config.max_eval_samples] if config.max_eval_samples else splits.validation
    for name, examples in (("training", train), ("validation", validation)):
        if not examples:
            raise GenptError(f"the {name} split of {task.name} is empty")
    return task, Splits(train, validation, splits.tests, splits.extra_validation)


def _named_task_splits(task: Task, config: FinetuneConfig) -> Splits:
    def read(split: str, file: str | None) -> list[Example]:
        return task_registry.read_split(task, split, data_dir=None if file else config.data_dir, file=file)

    # Story Cloze from --data_dir: its labelled val file split 80/20 by story (genpt.data.tasks).
    train = read("train", config.train_file)
    validation = read_labelled(task, {}, data_dir=config.data_dir, file=config.validation_file)  # as genpt eval reads it
    tests, extra = {}, {}
    if "test" in config.predict:
        tests["test"] = read("test", config.test_file)
    if task.name == "mnli" and not config.validation_file:  # GLUE reports matched and mismatched
        extra["mismatched"] = read("validation_mismatched", None)
        if "test" in config.predict and not config.test_file:
            tests["test_mismatched"] = read("test_mismatched", None)
    return Splits(train, validation, tests, extra)


def _custom_splits(config: FinetuneConfig) -> tuple[Task, Splits]:
    if not (config.train_file and config.validation_file):
        raise GenptError("--task custom needs --train_file and --validation_file")
    options = dict(text_column=config.text_column, text_pair_column=config.text_pair_column,
                   label_column=config.label_column, choice_columns=config.choice_columns, task_type=config.task_type)
    if config.task_type is None:
        raise GenptError("--task custom needs --task_type (classification, entailment, similarity, regression, multiple_choice)")
    train, label_names = task_registry.read_custom(config.train_file, **options)
    task = resolve_task(config, label_names)
    validation = read_labelled(task, dataclasses.asdict(config), file=config.validation_file)  # as genpt eval reads it
    tests = {}
    if "test" in config.predict:
        if not config.test_file:
            raise GenptError("--predict test with --task custom needs --test_file")
        tests["test"], _ = task_registry.read_custom(config.test_file, label_names=label_names, require_label=False, **options)
    return task, Splits(train, validation, tests)


# ---- outputs ----------------------------------------------------------------------------


def _write_outputs(model: TaskModel, task: Task, splits: Splits, dev_set: TaskDataset, collator: Collator,
                   config: FinetuneConfig, accelerator, output_dir: Path, tokenizer, best: dict[str, Any],
                   records: list[dict[str, Any]]) -> dict[str, Any]:
    """eval_results.json, predictions_dev.tsv (and MNLI's predictions_dev_mismatched.tsv) and,
    with --predict test, the GLUE submission files, all from the best epoch's weights."""

    def predictions_of(examples: list[Example]):
        dataset = TaskDataset(examples, encode_examples(examples, task.input_format, tokenizer, config.max_seq_length))
        return predict(model, dataset, collator, config.eval_batch_size, accelerator)[0]

    predictions = predict(model, dev_set, collator, config.eval_batch_size, accelerator)[0]
    results = {**compute_metrics(task.metrics, predictions, [item.label for item in dev_set.items]),
               "epoch": best["epoch"], "eval_samples": len(dev_set)}
    files: dict[str, tuple[list[Example], Any, bool]] = {"predictions_dev.tsv": (splits.validation, predictions, True)}
    for name, examples in splits.extra_validation.items():
        extra = predictions_of(examples)
        scores = compute_metrics(task.metrics, extra, [e.label for e in examples])
        results.update({f"{name}_{k}": v for k, v in scores.items()}, **{f"{name}_eval_samples": len(examples)})
        files[f"predictions_dev_{name}.tsv"] = (examples, extra, True)
    for split, examples in splits.tests.items():
        files[task_registry.submission_filename(task, split)] = (examples, predictions_of(examples), False)
    if accelerator.is_main_process:
        for name, (examples, values, with_labels) in files.items():
            write_predictions(output_dir / name, task, examples, values, with_labels=with_labels)
        write_json(output_dir / "eval_results.json", results)
        plot_finetune_curves(records, output_dir / "training_curve.png", task.metrics[0], title=f"genpt finetune: {task.name}")
    submissions = [str(output_dir / name) for name, (_, _, labelled) in files.items() if not labelled]
    return {"task": task.name, "eval_results": results, "output_dir": str(output_dir),
            "test_predictions": submissions, "is_main_process": accelerator.is_main_process}


def _start_run_folder(output_dir: Path, model_config, task: Task, config: FinetuneConfig, pretrained) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    # What an overwritten run left: its checkpoints (never resume into them) and its outputs.
    shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    # Only the files a run writes: an output folder may hold the user's own files too.
    submissions = {task_registry.submission_filename(task, split) for split in ("test", "test_mismatched")}
    for name in (ckpt.MODEL_FILE, "eval_results.json", "predictions_dev.tsv", "predictions_dev_mismatched.tsv", *submissions):
        (output_dir / name).unlink(missing_ok=True)
    write_file_atomically(output_dir / "config.yaml",
                          lambda p: p.write_text(run_config_yaml(model_config, task, dataclasses.asdict(config), config.arch)))
    (output_dir / "metrics.jsonl").unlink(missing_ok=True)
    if pretrained.tokenizer_dir is not None and (pretrained.tokenizer_dir / "tokenizer.json").is_file():
        write_folder_atomically(output_dir / "tokenizer", lambda p: shutil.copytree(pretrained.tokenizer_dir, p, dirs_exist_ok=True))
    else:  # a tokenizer that came from a Hugging Face folder, special tokens added here
        write_folder_atomically(output_dir / "tokenizer", lambda p: pretrained.tokenizer.save_pretrained(str(p)))


def _restore(folder: Path, config: FinetuneConfig, model, optimizer, scheduler, accelerator) -> dict[str, Any]:
    saved = ckpt.restore_same_run(folder, dataclasses.asdict(config), TRAJECTORY_KEYS, model, optimizer, scheduler, accelerator)
    return {k: saved[k] for k in ("step", "epoch", "batches_done", "best", "examples_seen", "train_seconds")}


PATH_OPTIONS = ("init", "tokenizer", "data_dir", "train_file", "validation_file", "test_file")


def _absolute_paths(config: FinetuneConfig) -> FinetuneConfig:
    """Local paths made absolute, so config.yaml (and `genpt eval`) work from any folder;
    hub names and `scratch` stay as they are."""
    def absolute(value: str | None) -> str | None:
        if value is None or value == "scratch" or not Path(value).expanduser().exists():
            return value
        return str(Path(value).expanduser().resolve())

    return dataclasses.replace(config, **{name: absolute(getattr(config, name)) for name in PATH_OPTIONS})


def _check_options(config: FinetuneConfig) -> None:
    positive = ("learning_rate", "batch_size", "eval_batch_size", "num_train_epochs", "logging_steps")
    for name in positive:
        if getattr(config, name) <= 0:
            raise GenptError(f"--{name} must be positive, got {getattr(config, name)}")
    for name in ("max_steps", "max_train_samples", "max_eval_samples"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise GenptError(f"--{name} must be at least 1, got {value}")
    if config.aux_lm_weight < 0:
        raise GenptError(f"--aux_lm_weight must be >= 0, got {config.aux_lm_weight}")
    if not 0 <= config.warmup_ratio < 1:
        raise GenptError(f"--warmup_ratio must be in [0, 1), got {config.warmup_ratio}")
    unknown = sorted(set(config.predict) - {"test"})
    if unknown:
        raise GenptError(f"--predict {' '.join(unknown)}: expected 'test'")


# ---- pieces -----------------------------------------------------------------------------


def _score(value: float) -> float:
    """A metric made comparable: an undefined correlation (NaN, constant predictions) is worst."""
    return float("-inf") if math.isnan(value) else value


def _linear_schedule(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over `warmup_ratio` of training, then linear decay to 0 (paper, 4.1)."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total_steps), total_steps)


def _new_window() -> dict[str, float]:
    return {"loss": 0.0, "task_loss": 0.0, "lm_loss": 0.0, "batches": 0, "examples": 0, "seconds": 0.0}


def _accumulate(window: dict[str, float], output, examples: int, seconds: float) -> None:
    window["loss"] += output.loss.item()
    window["task_loss"] += output.task_loss.item()
    window["lm_loss"] += output.lm_loss.item() if output.lm_loss is not None else 0.0
    window["batches"] += 1
    window["examples"] += examples
    window["seconds"] += seconds


def _training_record(window: dict[str, float], state: dict[str, Any], epoch: int, lr: float, accelerator) -> dict[str, Any]:
    step, batches = state["step"], max(window["batches"], 1)
    values = torch.tensor([window["loss"], window["task_loss"], window["lm_loss"]], device=accelerator.device) / batches
    loss, task_loss, lm_loss = accelerator.reduce(values, reduction="mean").tolist()
    if not math.isfinite(loss):
        raise GenptError(f"loss became {loss} at step {step}; lower --learning_rate or check the data")
    return {"step": step, "epoch": epoch + 1, "loss": round(loss, 5), "task_loss": round(task_loss, 5),
            "lm_loss": round(lm_loss, 5), "lr": lr, "examples_per_s": round(window["examples"] / max(window["seconds"], 1e-9), 2),
            "examples_seen": state["examples_seen"], "train_seconds": round(state["train_seconds"], 4)}


def _kept(record: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether a line the interrupted run logged happened before its checkpoint."""
    if record["step"] != state["step"]:
        return record["step"] < state["step"]
    is_evaluation = any(key.startswith("eval_") for key in record)
    return not is_evaluation or state["batches_done"] == 0  # the epoch's evaluation came before the checkpoint

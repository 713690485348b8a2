"""Supervised fine-tuning (GPT-1, sections 3.2-3.3): one pretrained model, many tasks.

The loop is the core engine (`genpt.engine`), in the idiom of `transformers`'
run_glue_no_trainer; this stage supplies what is its own:

    batches     length-grouped, dynamically padded; the order a pure function of (seed, epoch)
    loss        task loss + aux_lm_weight * LM loss on the task inputs     (L3 = L2 + lambda L1)
    schedule    linear warm-up (0.2%) then linear decay; AdamW, weight decay on matrices only
    evaluation  the scored split after every epoch; the run's model.safetensors is the last
                epoch's weights when that split is dev, the best epoch's (by the task's main
                metric) when it is held out of the training set (--keep_epoch)

Defaults are the paper's (section 4.1): lr 6.25e-5, batch 32, 3 epochs, lambda 0.5,
classifier dropout 0.1.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genpt import checkpoint as ckpt
from genpt import engine
from genpt.atomic import refuse_nested, write_file_atomically, write_folder_atomically, write_json_atomically
from genpt.config import check_training_arguments
from genpt.data import tasks as task_registry
from genpt.data.collate import Collator, TaskDataset, eval_loader
from genpt.data.tasks import Example, Task
from genpt.data.transformations import SpecialIds, encode_examples
from genpt.errors import GenptError
from genpt.finetune.config import TRAJECTORY_KEYS, FinetuneConfig
from genpt.metrics import check_scorable, score_task
from genpt.models.architectures import baseline_config, build_task_model, context_length
from genpt.models.heads import TaskModel
from genpt.options import require_counts
from genpt.plots import plot_finetune_curves
from genpt.pretrained import PRETRAINING_FILE, Pretrained, load_pretrained
from genpt.task_run import predict, read_labelled, run_config_yaml, write_predictions
from genpt.tokenization import load_tokenizer, save_tokenizer
from genpt.training import adamw, new_accelerator, stop_on_interrupt

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
    if config.init != "scratch" and Path(config.init).expanduser().exists():  # a run beside or below it is fine
        refuse_nested(output_dir, config.init, source_option="--init", inside_ok=True)
    resume_from = ckpt.find_resume_checkpoint(output_dir, resume, own_only=True)
    engine.check_run_folder(output_dir, resume_from=resume_from, overwrite=overwrite, holds="a fine-tuned model",
                     finished_file="eval_results.json")
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
    if resume_from is not None:
        engine.check_resumable(resume_from, dataclasses.asdict(resolved), TRAJECTORY_KEYS)

    tokenizer = pretrained.tokenizer
    collator = Collator(SpecialIds.from_tokenizer(tokenizer).pad, task.is_regression)
    train_set = TaskDataset(splits.train, encode_examples(splits.train, task.input_format, tokenizer, max_seq_length))
    dev_set = TaskDataset(splits.validation, encode_examples(splits.validation, task.input_format, tokenizer, max_seq_length))

    # a baseline classifies with its encoder only: its decoder's parameters get no gradient
    accelerator = new_accelerator(config.mixed_precision, unused_parameters=config.arch != "gpt")
    set_seed(config.seed, device_specific=True)
    optimizer = adamw(model, lr=config.learning_rate, weight_decay=config.weight_decay, device=accelerator.device)
    steps_per_epoch = engine.steps_per_epoch(len(train_set), config.batch_size, accelerator.num_processes)
    total_steps = config.max_steps or steps_per_epoch * config.num_train_epochs
    scheduler = _linear_schedule(optimizer, total_steps, config.warmup_ratio)
    state = engine.restore(resume_from, (model, optimizer, scheduler), accelerator) if resume_from else engine.TrainState()
    lengths = train_set.lengths() if config.group_by_length else None
    loader = engine.epoch_loader(train_set, collator, config.batch_size, config.seed, lengths)
    model, optimizer, loader, dev_loader = accelerator.prepare(  # once, for every epoch
        model, optimizer, loader, eval_loader(dev_set, config.eval_batch_size, collator))

    if accelerator.is_main_process:
        engine.clean_run_folder(output_dir)
        if resume_from is None:
            _start_run_folder(output_dir, model_config, task, resolved, pretrained)
    schedule = engine.Schedule(total_steps=total_steps, steps_per_epoch=steps_per_epoch, max_grad_norm=config.max_grad_norm,
                        logging_steps=config.logging_steps, eval_each_epoch=True, save_steps=config.save_steps,
                        save_each_epoch=True, save_total_limit=config.save_total_limit)
    log = engine.MetricsLog(output_dir, accelerator.is_main_process, resume_step=state.step if resume_from else None, tag="finetune")
    trainer = engine.Engine(accelerator, model, optimizer, scheduler, schedule, state, log, output_dir,
                            dataclasses.asdict(resolved), resumed_from=resume_from)
    stage = FinetuneStage(resolved, task, accelerator, loader, dev_set, dev_loader, output_dir)
    with stop_on_interrupt("genpt finetune") as interrupted:
        stop_reason = trainer.run(stage, interrupted, show_progress and accelerator.is_main_process)
    summary = {"task": task.name, "stop_reason": stop_reason, "output_dir": str(output_dir), "steps": state.step,
               "train_examples": state.examples_seen, "train_seconds": round(state.train_seconds, 2),
               "examples_per_s": round(state.examples_seen / max(state.train_seconds, 1e-9), 2),
               "is_main_process": accelerator.is_main_process}
    if stop_reason == "finished":
        unwrapped = accelerator.unwrap_model(model)
        ckpt.load_weights(unwrapped, output_dir / ckpt.MODEL_FILE)  # back to the kept epoch
        summary.update(_write_outputs(unwrapped, task, splits, dev_set, collator, resolved, accelerator, output_dir,
                                      tokenizer, state.best, log.records, dev_loader))
        if accelerator.is_main_process:  # finished: the checkpoints have served their purpose
            shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    accelerator.end_training()
    return summary


@dataclass
class FinetuneStage:
    """What fine-tuning adds to the trainer: task batches, L3, its log line and dev evaluation."""

    config: FinetuneConfig
    task: Task
    accelerator: Any
    loader: Any  # prepared
    dev_set: TaskDataset
    dev_loader: Any  # prepared
    output_dir: Path
    name: str = "genpt finetune"

    def batches(self, epoch: int, skip: int):
        return engine.epoch_batches(self.accelerator, self.loader, epoch, skip)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> engine.StepLoss:
        output = model(batch["input_ids"], batch["attention_mask"], batch["labels"], aux_lm_weight=self.config.aux_lm_weight)
        lm_loss = output.lm_loss if output.lm_loss is not None else torch.zeros((), device=output.loss.device)
        return engine.StepLoss(output.loss, {"task_loss": output.task_loss, "lm_loss": lm_loss}, examples=batch["labels"].size(0))

    def record(self, window: engine.Window, state: engine.TrainState, lr: float) -> dict[str, Any]:
        means, processes = window.means, self.accelerator.num_processes
        return {"step": state.step, "epoch": window.epoch + 1, "loss": round(means["loss"], 5),
                "task_loss": round(means["task_loss"], 5), "lm_loss": round(means["lm_loss"], 5), "lr": lr,
                "examples_per_s": round(window.examples * processes / max(window.seconds, 1e-9), 2),
                "examples_seen": state.examples_seen, "train_seconds": round(state.train_seconds, 4)}

    def evaluate(self, trainer: engine.Engine) -> None:
        """Score the dev (or held-out) set; keep the weights if they are the last, or the best so far."""
        acc, state = self.accelerator, trainer.state
        scores = evaluate(trainer.model, self.task, self.dev_set, None, self.config.eval_batch_size, acc, self.dev_loader)
        epoch = trainer.current_epoch + 1
        trainer.log.write({"step": state.step, "epoch": epoch, **{f"eval_{k}": v for k, v in scores.items()}})
        main = self.task.main_metric
        # the first evaluation is always kept
        if kept_epoch(self.config) == "last" or not state.best or _score(scores[main]) > _score(state.best[main]):
            state.best = {**scores, "epoch": epoch, "step": state.step}
            weights = acc.get_state_dict(trainer.model)
            if acc.is_main_process:
                write_file_atomically(self.output_dir / ckpt.MODEL_FILE, lambda p: ckpt.save_state_dict(weights, p))


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
        if config.transfer_layers is not None:
            if config.transfer_layers > model.config.n_layer:
                raise GenptError(f"--transfer_layers {config.transfer_layers}: the model has only {model.config.n_layer} blocks")
            reinitialise_blocks(model.transformer, config.transfer_layers, config.seed)
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


def reinitialise_blocks(gpt: torch.nn.Module, keep: int, seed: int) -> None:
    """Blocks `keep`.. of `gpt` as a fresh GPT of the same config draws them with `seed`
    (the pretraining initialisation); the embeddings and the first `keep` blocks stay."""
    from genpt.models.gpt import GPT

    with torch.random.fork_rng(devices=[]):  # the run's own random draws are not moved
        torch.manual_seed(seed)
        fresh = GPT(gpt.config)
    for index in range(keep, gpt.config.n_layer):
        gpt.h[index].load_state_dict(fresh.h[index].state_dict())


def evaluate(model, task: Task, dataset: TaskDataset, collator: Collator | None, batch_size: int, accelerator,
             loader: Any = None) -> dict[str, float]:
    predictions, _ = predict(accelerator.unwrap_model(model), dataset, collator, batch_size, accelerator, loader=loader)
    labels = [item.label for item in dataset.items]
    return score_task(task, predictions, labels)


# ---- data -------------------------------------------------------------------------------


def resolve_task(config: FinetuneConfig, label_names: tuple[str, ...] | None = None) -> Task:
    if config.task != "custom":
        return task_registry.get_task(config.task)
    if config.task_type is None:
        raise GenptError("--task custom needs --task_type (classification, entailment, similarity, regression, multiple_choice)")
    return task_registry.custom_task(config.task_type, label_names, paired=config.text_pair_column is not None)


def load_task_data(config: FinetuneConfig) -> tuple[Task, Splits]:
    """The task and its train / dev (/ test) examples, from files, a GLUE folder or the hub.

    With --validation_split_percentage, the dev (and test) data are not even read: a part of
    the training set, held out, is the set the run selects its best epoch on and scores.
    """
    if config.validation_split_percentage:  # held out of the training examples the run may use
        task, train = _training_examples(config)
        train = task_registry.first_or_drawn(train, config.max_train_samples, config.train_subset)
        train, held_out = task_registry.hold_out(train, config.validation_split_percentage)
        splits = Splits(train, held_out, {})
    elif config.task == "custom":
        task, splits = _custom_splits(config)
    else:
        task = resolve_task(config)
        splits = _named_task_splits(task, config)
    train = splits.train if config.validation_split_percentage \
        else task_registry.first_or_drawn(splits.train, config.max_train_samples, config.train_subset)
    validation = splits.validation[: config.max_eval_samples] if config.max_eval_samples else splits.validation
    for name, examples in (("training", train), ("validation", validation)):
        if not examples:
            raise GenptError(f"the {name} split of {task.name} is empty")
    check_scorable(task, validation, f"the validation split of {task.name}")
    return task, Splits(train, validation, splits.tests, splits.extra_validation)


def _training_examples(config: FinetuneConfig) -> tuple[Task, list[Example]]:
    """The task and its training split only."""
    if config.task != "custom":
        task = resolve_task(config)
        file = config.train_file
        return task, task_registry.read_split(task, "train", data_dir=None if file else config.data_dir, file=file)
    if not config.train_file:
        raise GenptError("--task custom needs --train_file")
    if config.task_type is None:
        raise GenptError("--task custom needs --task_type (classification, entailment, similarity, regression, multiple_choice)")
    train, label_names = task_registry.read_custom(config.train_file, **_custom_options(config))
    return resolve_task(config, label_names), train


def _custom_options(config: FinetuneConfig) -> dict[str, Any]:
    return {"task_type": config.task_type, **{name: getattr(config, name) for name in task_registry.COLUMN_OPTIONS}}


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
    options = _custom_options(config)
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


def level_accuracies(task: Task, examples: list[Example], predictions: Any) -> dict[str, float]:
    """RACE's accuracy on its middle- and high-school questions too, as the paper's Table 3."""
    if task.name != "race":
        return {}
    results = {}
    for level in task_registry.RACE_LEVELS:
        chosen = [(int(p), e.label) for e, p in zip(examples, predictions) if task_registry.level_of(e) == level]
        if chosen and all(label is not None for _, label in chosen):
            results[f"{level}_accuracy"] = sum(p == label for p, label in chosen) / len(chosen)
    return results


def evaluated_on(config: FinetuneConfig) -> str:
    """What eval_results.json scores: the dev set, or the part of the training set held out."""
    if config.validation_split_percentage:
        return f"held-out {config.validation_split_percentage:g}% of the training set"
    return "dev"


def kept_epoch(config: FinetuneConfig) -> str:
    """"best" or "last": choosing the best epoch on dev would report a score chosen on the data
    it is reported on, so on dev the run keeps its last epoch unless told otherwise."""
    return config.keep_epoch or ("best" if config.validation_split_percentage else "last")


def _write_outputs(model: TaskModel, task: Task, splits: Splits, dev_set: TaskDataset, collator: Collator,
                   config: FinetuneConfig, accelerator, output_dir: Path, tokenizer, best: dict[str, Any],
                   records: list[dict[str, Any]], dev_loader: Any) -> dict[str, Any]:
    """eval_results.json, predictions_dev.tsv (and MNLI's predictions_dev_mismatched.tsv) and,
    with --predict test, the GLUE submission files, all from the kept epoch's weights."""

    def predictions_of(examples: list[Example]):
        dataset = TaskDataset(examples, encode_examples(examples, task.input_format, tokenizer, config.max_seq_length))
        return predict(model, dataset, collator, config.eval_batch_size, accelerator)[0]

    predictions = predict(model, dev_set, collator, config.eval_batch_size, accelerator, loader=dev_loader)[0]
    results = {**score_task(task, predictions, [item.label for item in dev_set.items]),
               "epoch": best["epoch"], "kept_epoch": kept_epoch(config), "eval_samples": len(dev_set),
               "evaluated_on": evaluated_on(config)}
    results.update(level_accuracies(task, splits.validation, predictions))
    files: dict[str, tuple[list[Example], Any, bool]] = {"predictions_dev.tsv": (splits.validation, predictions, True)}
    for name, examples in splits.extra_validation.items():
        extra = predictions_of(examples)
        scores = score_task(task, extra, [e.label for e in examples])
        results.update({f"{name}_{k}": v for k, v in scores.items()}, **{f"{name}_eval_samples": len(examples)})
        files[f"predictions_dev_{name}.tsv"] = (examples, extra, True)
    for split, examples in splits.tests.items():
        files[task_registry.submission_filename(task, split)] = (examples, predictions_of(examples), False)
    if accelerator.is_main_process:
        for name, (examples, values, with_labels) in files.items():
            write_predictions(output_dir / name, task, examples, values, with_labels=with_labels, id_column=config.id_column)
        write_json_atomically(output_dir / "eval_results.json", results)
        plot_finetune_curves(records, output_dir / "training_curve.png", task.metrics[0], title=f"genpt finetune: {task.name}")
    submissions = [str(output_dir / name) for name, (_, _, labelled) in files.items() if not labelled]
    return {"task": task.name, "eval_results": results, "output_dir": str(output_dir),
            "test_predictions": submissions, "is_main_process": accelerator.is_main_process}


def _start_run_folder(output_dir: Path, model_config, task: Task, config: FinetuneConfig, pretrained) -> None:
    submissions = {task_registry.submission_filename(task, split) for split in ("test", "test_mismatched")}
    engine.claim_run_folder(output_dir, (ckpt.MODEL_FILE, "eval_results.json", PRETRAINING_FILE, "predictions_dev.tsv",
                                         "predictions_dev_mismatched.tsv", *submissions))
    if pretrained.pretraining is not None:  # the pretraining run may go on after this: keep what it was now
        record = {"init": config.init, **pretrained.pretraining}  # the resolved path config.yaml holds
        write_json_atomically(output_dir / PRETRAINING_FILE, record)
    write_file_atomically(output_dir / "config.yaml",
                          lambda p: p.write_text(run_config_yaml(model_config, task, dataclasses.asdict(config), config.arch)))
    if pretrained.tokenizer_dir is not None and (pretrained.tokenizer_dir / "tokenizer.json").is_file():
        write_folder_atomically(output_dir / "tokenizer", lambda p: shutil.copytree(pretrained.tokenizer_dir, p, dirs_exist_ok=True))
    else:  # a tokenizer that came from a Hugging Face folder, special tokens added here
        write_folder_atomically(output_dir / "tokenizer", lambda p: save_tokenizer(pretrained.tokenizer, p))


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
    check_training_arguments(config)
    require_counts(config, "eval_batch_size", "num_train_epochs", "max_train_samples", "max_eval_samples", "max_seq_length")
    if config.validation_split_percentage is not None and not 0 < config.validation_split_percentage < 100:
        raise GenptError(f"--validation_split_percentage must be between 0 and 100, got {config.validation_split_percentage}")
    if config.transfer_layers is not None and (config.transfer_layers < 0 or config.init == "scratch" or config.arch != "gpt"):
        raise GenptError(f"--transfer_layers {config.transfer_layers}: expected 0 or more blocks of a pretrained GPT (--init RUN)")
    if not 0 <= config.classifier_dropout < 1:
        raise GenptError(f"--classifier_dropout must be in [0, 1), got {config.classifier_dropout}")
    if config.aux_lm_weight < 0:
        raise GenptError(f"--aux_lm_weight must be >= 0, got {config.aux_lm_weight}")
    if not 0 <= config.warmup_ratio < 1:
        raise GenptError(f"--warmup_ratio must be in [0, 1), got {config.warmup_ratio}")
    defaults = {field.name: field.default for field in dataclasses.fields(FinetuneConfig)}
    given = [name for name in ("task_type", *task_registry.COLUMN_OPTIONS) if getattr(config, name) != defaults[name]]
    if config.task != "custom" and given:
        raise GenptError(f"--{given[0]} describes the columns of a custom task's files; --task {config.task} reads its own "
                         "format (drop the option, or pass --task custom)")
    if config.id_column is not None and (config.id_column in ("prediction", "label") or any(c in config.id_column for c in "\t\r\n")):
        raise GenptError(f"--id_column {config.id_column!r}: it heads a column of the predictions files beside 'prediction' "
                         "and 'label'; expected another name, on one line")
    unknown = sorted(set(config.predict) - {"test"})
    if unknown:
        raise GenptError(f"--predict {' '.join(unknown)}: expected 'test'")
    if config.predict and config.validation_split_percentage:
        raise GenptError(f"--predict {' '.join(config.predict)}: a run with --validation_split_percentage reads no test "
                         "data (it is scored on a held-out part of the training set); drop --predict")


# ---- pieces -----------------------------------------------------------------------------


def _score(value: float) -> float:
    """A metric made comparable: an undefined correlation (NaN, constant predictions) is worst."""
    return float("-inf") if math.isnan(value) else value


def _linear_schedule(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over `warmup_ratio` of training, then linear decay to 0 (paper, 4.1)."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total_steps), total_steps)



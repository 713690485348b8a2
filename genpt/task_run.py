"""A fine-tuned run folder, shared by `genpt finetune` (writes it), `genpt eval` and export.

    config.yaml            model:, task:, finetune: (the resolved options)
    model.safetensors      the kept epoch's weights (the last; on a held-out split the best)
    tokenizer/             the tokenizer the model was trained with
    eval_results.json      the metrics by name
    predictions_dev.tsv    index <TAB> prediction <TAB> label, one row per dev example in file order
    <GLUE name>.tsv        test predictions for the GLUE server, with --predict test
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from genpt import checkpoint as ckpt
from genpt.atomic import write_file_atomically
from genpt.config import read_yaml_mapping
from genpt.data.collate import Collator, TaskDataset, eval_loader
from genpt.data.tasks import COLUMN_OPTIONS, TASKS, Example, Task, read_custom, read_split
from genpt.data.transformations import SpecialIds, encode_examples
from genpt.errors import GenptError
from genpt.models.architectures import (
    build_task_model,
    config_from_dict,
    context_length,
)
from genpt.models.heads import TaskModel
from genpt.tokenization import load_tokenizer


@dataclass
class TaskRun:
    model: TaskModel
    tokenizer: Any
    task: Task
    max_seq_length: int
    folder: Path

    def encode(self, examples: Sequence[Example]) -> TaskDataset:
        return TaskDataset(examples, encode_examples(examples, self.task.input_format, self.tokenizer, self.max_seq_length))

    def collator(self) -> Collator:
        return Collator(SpecialIds.from_tokenizer(self.tokenizer).pad, self.task.is_regression)


def run_config_yaml(model_config: Any, task: Task, finetune: dict[str, Any], arch: str = "gpt") -> str:
    values = {"arch": arch, "model": model_config.to_dict(), "task": task_to_dict(task), "finetune": finetune}
    return yaml.safe_dump(values, sort_keys=False)


def task_to_dict(task: Task) -> dict[str, Any]:
    """What config.yaml records of the task: enough to rebuild a custom task without its files."""
    values = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name not in ("columns", "hub")}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def task_from_dict(values: dict[str, Any], source: str) -> Task:
    """The recorded task: a named one as the registry knows it, a custom one as recorded."""
    if values.get("name") in TASKS:
        return TASKS[values["name"]]
    try:
        fields = {f.name for f in dataclasses.fields(Task)} - {"columns", "hub"}
        return Task(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in fields})
    except TypeError as error:
        raise GenptError(f"{source}: not a task description ({error})") from None


def load_task_run(folder: str | Path) -> TaskRun:
    folder = Path(folder)
    config_path = folder / "config.yaml"
    if not config_path.is_file():
        raise GenptError(f"--run {folder}: not a fine-tuned run (no config.yaml)")
    values = read_yaml_mapping(config_path)
    if "task" not in values or "model" not in values:
        raise GenptError(f"--run {folder}: config.yaml has no task: section; is this a `genpt finetune` run folder?")
    arch = values.get("arch", "gpt")
    model_config = config_from_dict(arch, values["model"], source=f"{config_path} (model)")
    task = task_from_dict(values["task"], f"{config_path} (task)")
    finetune = values.get("finetune") or {}
    tokenizer = load_tokenizer(folder / "tokenizer")
    if len(tokenizer) != model_config.vocab_size:
        raise GenptError(f"--run {folder}: the tokenizer has {len(tokenizer)} tokens but the model {model_config.vocab_size}")
    model = build_task_model(arch, model_config, task.input_format, task.num_labels, regression=task.is_regression)
    ckpt.load_weights(model, folder / ckpt.MODEL_FILE)
    model.eval()
    max_seq_length = finetune.get("max_seq_length") or context_length(model_config) or 256
    return TaskRun(model, tokenizer, task, max_seq_length, folder)


@torch.no_grad()
def predict(model: TaskModel, dataset: TaskDataset, collator: Collator | None, batch_size: int = 64,
            accelerator: Any = None, loader: Any = None) -> tuple[np.ndarray, torch.Tensor]:
    """Predictions (class ids, choice ids or scores) and logits, in the dataset's file order.

    With an `accelerator`, each process scores its share and the results are gathered
    (`loader`: the dataset's `eval_loader`, already prepared, as training loops keep it).
    Always in fp32, whatever the training precision, so that `genpt finetune`, `genpt eval`
    and an exported model give the same predictions.
    """
    device = next(model.parameters()).device
    if accelerator is not None:
        device = accelerator.device
        loader = loader if loader is not None else accelerator.prepare(eval_loader(dataset, batch_size, collator))
    elif loader is None:
        loader = eval_loader(dataset, batch_size, collator)
    was_training = model.training
    model.eval()
    positions, logits = [], []
    # The class's forward: accelerate patches a prepared model's own `forward` with autocast.
    forward = type(model).forward
    with torch.autocast(device.type, enabled=False):
        for batch in loader:
            output = forward(model, batch["input_ids"].to(device), batch["attention_mask"].to(device))
            batch_positions, batch_logits = batch["positions"].to(device), output.logits.float()
            if accelerator is not None:
                batch_positions, batch_logits = accelerator.gather_for_metrics((batch_positions, batch_logits))
            positions.append(batch_positions.cpu())
            logits.append(batch_logits.cpu())
    model.train(was_training)
    order = torch.cat(positions).argsort()
    all_logits = torch.cat(logits)[order]
    return model.predict(all_logits).numpy(), all_logits


def read_labelled(task: Task, finetune: dict[str, Any], *, data_dir: str | Path | None = None,
                  file: str | Path | None = None) -> list[Example]:
    """A labelled evaluation split of `task`, read as the fine-tuning run read its dev set.

    `finetune` is the run's resolved options (config.yaml's finetune: section): custom tasks
    take their column names from it.
    """
    if task.name == "custom":
        if file is None:
            raise GenptError("a custom task is evaluated on a file: pass --validation_file")
        columns = {name: finetune[name] for name in COLUMN_OPTIONS if name in finetune}  # else read_custom's defaults
        examples, _ = read_custom(file, task_type=finetune["task_type"], label_names=task.label_names, **columns)
        return examples
    # Story Cloze from a folder: the same held-out 20% of stories the run was evaluated on.
    return read_split(task, "validation", data_dir=None if file else data_dir, file=file)


def format_prediction(task: Task, value: float | int) -> str:
    """What the GLUE server expects: the file's label spelling, or a score for STS-B (exact)."""
    if task.is_regression:
        return repr(float(value))  # every digit: a metric recomputed from the file equals the reported one
    if task.file_labels is not None:
        return task.file_labels[int(value)]
    return str(int(value))


def write_predictions(path: str | Path, task: Task, examples: Sequence[Example], predictions: np.ndarray, with_labels: bool,
                      id_column: str | None = None) -> Path:
    """`index<TAB>prediction[<TAB>label]`, one row per example in file order; with `id_column`
    (a custom task's --id_column) the first column is that one, each row's id."""
    first = id_column or "index"

    def write(staging: Path) -> None:
        with staging.open("w", encoding="utf-8") as file:
            file.write(f"{first}\tprediction\tlabel\n" if with_labels else f"{first}\tprediction\n")
            for example, prediction in zip(examples, predictions):
                row = [str(example.id) if id_column else str(example.index), format_prediction(task, prediction)]
                if with_labels:
                    row.append("" if example.label is None else format_prediction(task, example.label))
                file.write("\t".join(row) + "\n")

    return write_file_atomically(path, write)

"""`genpt eval`: score a fine-tuned run on any labelled file of its task's format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genpt.atomic import claim_outputs, refuse_foreign_outputs, refuse_nested, write_json_atomically
from genpt.config import read_yaml_mapping
from genpt.data.tasks import get_task
from genpt.errors import GenptError
from genpt.metrics import check_scorable, score_task
from genpt.task_run import (
    load_task_run,
    predict,
    read_labelled,
    write_predictions,
)

# What `genpt eval --output_dir` writes.
OUTPUTS = ["eval_results.json", "predictions_dev.tsv"]


def evaluate_run(run_dir: str | Path, *, task: str | None = None, data_dir: str | Path | None = None,
                 validation_file: str | Path | None = None, output_dir: str | Path | None = None,
                 batch_size: int = 64, max_eval_samples: int | None = None) -> dict[str, Any]:
    """Metrics of the run's model on a labelled split; with `output_dir`, also
    eval_results.json and predictions_dev.tsv there. Returns the metrics by name."""
    if output_dir is not None:  # the run's own eval_results.json is what compare and export read
        refuse_nested(output_dir, run_dir, source_option="--run", inside_ok=True)
        refuse_foreign_outputs(output_dir, OUTPUTS)
    run = load_task_run(run_dir)
    if task is not None and task != run.task.name:
        get_task(task)  # an unknown name gets the list of known tasks
        raise GenptError(f"--task {task}: the run {run_dir} was fine-tuned on {run.task.name}")
    finetune = read_yaml_mapping(Path(run_dir) / "config.yaml").get("finetune") or {}
    if data_dir is None and validation_file is None:  # the data the run itself was scored on
        data_dir, validation_file = finetune.get("data_dir"), finetune.get("validation_file")
    examples = read_labelled(run.task, finetune, data_dir=data_dir, file=validation_file)
    examples = examples[:max_eval_samples] if max_eval_samples else examples
    if not examples:
        raise GenptError(f"no examples to evaluate in {validation_file or data_dir}")
    if any(example.label is None for example in examples):
        raise GenptError(f"{validation_file or data_dir}: the split has no labels; `genpt eval` needs a labelled file")
    check_scorable(run.task, examples, str(validation_file or data_dir))
    dataset = run.encode(examples)
    predictions, _ = predict(run.model, dataset, run.collator(), batch_size)
    results = {**score_task(run.task, predictions, [e.label for e in examples]), "eval_samples": len(examples)}
    if output_dir is not None:
        output_dir = claim_outputs(output_dir, OUTPUTS)
        write_predictions(output_dir / "predictions_dev.tsv", run.task, examples, predictions, with_labels=True,
                          id_column=finetune.get("id_column"))
        write_json_atomically(output_dir / "eval_results.json", results)
    return results

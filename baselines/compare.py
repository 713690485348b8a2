"""`genpt compare`: what pretraining buys, as one table laid out like the paper's Table 5.

Five systems, fine-tuned on the same tasks with the same tokenizer, data and budget:

    gpt              GPT, pretrained, with the auxiliary LM loss (lambda 0.5)   the paper's full method
    gpt-no-aux       GPT, pretrained, no auxiliary LM loss                      Table 5, "no aux LM"
    gpt-scratch      GPT of the same size, no pretraining                       Table 5, "no pre-training"
    transformer      the encoder-decoder Transformer's encoder, from scratch    Vaswani et al. 2017
    lstm             the bidirectional LSTM encoder with the aux LM, scratch    Table 5's LSTM row, unpretrained

The budget is the number of training examples per task: every system sees the same first
`budget` examples of each task for the same number of epochs, at the same sequence length.
Each fine-tune is an ordinary `genpt finetune` run folder, so any cell can be re-scored with
`genpt eval` or re-run by hand; runs already finished in the output folder are reused.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genpt.atomic import write_file_atomically
from genpt.baselines.config import SYSTEMS, CompareConfig, System
from genpt.config import read_yaml_mapping
from genpt.data.tasks import TASKS
from genpt.errors import GenptError

TABLE_TASKS = tuple(TASKS)  # the registry's order is the paper's Table 5 column order


@dataclass
class Cell:
    """One finished fine-tune: a system's score on a task."""

    system: str  # the row label
    task: str
    score: float  # the task's main metric
    seconds: float  # training time (steps only: evaluation and start-up excluded)
    parameters: int
    folder: Path


# ---- running ----------------------------------------------------------------------------------


def run_comparison(config: CompareConfig, output_dir: str | Path, show_progress: bool = True) -> list[Path]:
    """Fine-tune every system on every task (reusing finished runs); returns the run folders."""
    _check(config)
    folders = []
    for task in config.tasks:
        for name in config.systems:
            folder = Path(output_dir) / "runs" / f"{task}-{name}"
            if not (folder / "eval_results.json").is_file():
                print(f"genpt compare: {name} on {task} -> {folder}", flush=True)
                run_finetune(finetune_options(config, SYSTEMS[name], task), folder, Path(output_dir) / "configs",
                             show_progress)
            folders.append(folder)
    return folders


def run_finetune(options: dict[str, Any], folder: Path, configs_dir: Path, show_progress: bool = True) -> None:
    """One cell: an ordinary `genpt finetune` run in a process of its own, as a user would run
    it (stages never import each other). An interrupted cell resumes where it stopped."""
    configs_dir.mkdir(parents=True, exist_ok=True)
    config_file = configs_dir / f"{folder.name}.yaml"
    write_file_atomically(config_file, lambda p: p.write_text(yaml.safe_dump(options, sort_keys=False)))
    command = [sys.executable, "-m", "genpt", "finetune", "--config", str(config_file), "--output_dir", str(folder)]
    command += ["--resume", "auto"] if (folder / "checkpoints").is_dir() else ["--overwrite_output_dir"]
    env = {**os.environ, **({} if show_progress else {"TQDM_DISABLE": "1"})}
    done = subprocess.run(command, env=env)
    if done.returncode == 130:
        raise KeyboardInterrupt
    if done.returncode != 0:
        raise GenptError(f"the fine-tuning run in {folder} failed (exit {done.returncode}); its command: "
                         f"{' '.join(map(shlex.quote, command))}")


def finetune_options(config: CompareConfig, system: System, task: str) -> dict[str, Any]:
    """The `genpt finetune` options of one cell."""
    data_dir = config.story_cloze_dir if task == "story_cloze" else config.glue_dir
    common = dict(task=task, data_dir=data_dir, arch=system.arch, aux_lm_weight=system.aux_lm_weight,
                  max_train_samples=config.budget, num_train_epochs=config.num_train_epochs,
                  max_seq_length=config.max_seq_length, seed=config.seed)
    if system.pretrained:
        return {"init": config.init, **common}
    tokenizer = str(Path(config.init) / "tokenizer")
    preset = config.baseline_preset if system.arch != "gpt" else (config.gpt_preset or _run_preset(config.init))
    return {"init": "scratch", "tokenizer": tokenizer, "preset": preset, "learning_rate": config.baseline_learning_rate,
            **common}


def _run_preset(run: str) -> str:
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise GenptError(f"--init {run}: not a genpt pretraining run (no config.yaml); pass --gpt_preset for gpt-scratch")
    name = (read_yaml_mapping(path).get("model") or {}).get("name")
    if not name:
        raise GenptError(f"{path}: the model has no preset name; pass --gpt_preset for gpt-scratch")
    return name


def _check(config: CompareConfig) -> None:
    unknown = [t for t in config.tasks if t not in TABLE_TASKS]
    if unknown:
        raise GenptError(f"--tasks {','.join(unknown)}: expected names from {','.join(TABLE_TASKS)}")
    unknown = [s for s in config.systems if s not in SYSTEMS]
    if unknown:
        raise GenptError(f"--systems {' '.join(unknown)}: expected names from {' '.join(SYSTEMS)}")
    if config.budget < 1:
        raise GenptError(f"--budget must be at least 1 training example per task, got {config.budget}")
    if any(t != "story_cloze" for t in config.tasks) and not config.glue_dir:
        raise GenptError("--glue_dir is needed for the GLUE tasks (the glue_data folder)")
    if "story_cloze" in config.tasks and not config.story_cloze_dir:
        raise GenptError("--story_cloze_dir is needed for story_cloze (the folder of its val CSV)")


# ---- collecting ---------------------------------------------------------------------------------


def collect(paths: list[str | Path]) -> list[Cell]:
    """The cells of finished `genpt finetune` runs: each path is a run folder, or a folder of them."""
    cells = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise GenptError(f"--runs {path}: no such folder")
        folders = [path] if (path / "config.yaml").is_file() else sorted(p.parent for p in path.glob("**/eval_results.json"))
        if not folders:
            raise GenptError(f"--runs {path}: neither a fine-tuned run nor a folder holding any (no eval_results.json)")
        cells += [read_cell(folder) for folder in folders]
    return cells


def read_cell(folder: Path) -> Cell:
    values = read_yaml_mapping(folder / "config.yaml")
    finetune_options = values.get("finetune") or {}
    task = (values.get("task") or {}).get("name")
    if task not in TASKS:
        raise GenptError(f"{folder / 'config.yaml'}: task {task!r} is not one genpt compare tabulates "
                         f"({', '.join(TABLE_TASKS)})")
    results_path = folder / "eval_results.json"
    if not results_path.is_file():
        raise GenptError(f"{folder}: unfinished run (no eval_results.json)")
    results = json.loads(results_path.read_text())
    return Cell(system=system_label(values.get("arch", "gpt"), finetune_options), task=task,
                score=results[TASKS[task].main_metric], seconds=_train_seconds(folder / "metrics.jsonl"),
                parameters=_parameter_count(folder / "model.safetensors"), folder=folder)


def system_label(arch: str, finetune_options: dict[str, Any]) -> str:
    """The table row a run belongs to, from what it was: architecture, init, lambda."""
    aux = finetune_options.get("aux_lm_weight") or 0.0
    if arch == "gpt":
        if finetune_options.get("init") == "scratch":
            return SYSTEMS["gpt-scratch"].label
        return SYSTEMS["gpt"].label if aux > 0 else SYSTEMS["gpt-no-aux"].label
    if arch == "transformer":
        return SYSTEMS["transformer"].label
    return SYSTEMS["lstm"].label if aux > 0 else "LSTM w/ attention, no pretraining"


def _train_seconds(metrics_path: Path) -> float:
    """The run's training time: the last `train_seconds` its log recorded."""
    if not metrics_path.is_file():
        return math.nan
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    seconds = [r["train_seconds"] for r in records if "train_seconds" in r]
    return seconds[-1] if seconds else math.nan


def _parameter_count(weights_path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(weights_path), framework="pt") as file:
        return sum(math.prod(file.get_slice(name).get_shape()) for name in file.keys())


# ---- the table and the chart --------------------------------------------------------------------


@dataclass
class Row:
    label: str
    scores: dict[str, float]  # task -> main metric x 100
    parameters: int  # the largest of the row's models (heads differ by task)
    seconds: float  # training time summed over the row's tasks

    def average(self, tasks: list[str]) -> float:
        return sum(self.scores[t] for t in tasks) / len(tasks) if all(t in self.scores for t in tasks) else math.nan


def rows_of(cells: list[Cell]) -> tuple[list[Row], list[str]]:
    """Rows in the order of SYSTEMS (then any others), and the tasks in Table 5's column order."""
    order = [s.label for s in SYSTEMS.values()]
    labels = sorted({c.system for c in cells}, key=lambda label: (order.index(label) if label in order else len(order), label))
    tasks = [t for t in TABLE_TASKS if any(c.task == t for c in cells)]
    rows = []
    for label in labels:
        mine = [c for c in cells if c.system == label]
        duplicates = {c.task for c in mine if sum(d.task == c.task for d in mine) > 1}
        if duplicates:
            task = sorted(duplicates)[0]
            folders = ", ".join(str(c.folder) for c in mine if c.task == task)
            raise GenptError(f"two runs of {label!r} on {task}: {folders}; pass only one")
        rows.append(Row(label, {c.task: 100 * c.score for c in mine}, max(c.parameters for c in mine),
                        sum(c.seconds for c in mine)))
    return rows, tasks


def markdown_table(rows: list[Row], tasks: list[str]) -> str:
    header = ["model", "params", "train time", "Avg", *(TASKS[t].title for t in tasks)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [row.label, _millions(row.parameters), _duration(row.seconds), _number(row.average(tasks)),
                 *(_number(row.scores.get(t, math.nan)) for t in tasks)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_comparison(rows: list[Row], tasks: list[str], path: Path, title: str) -> None:
    """Grouped bars: for each task (and the average) one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [TASKS[t].title for t in tasks] + ["Avg"]
    width = 0.8 / max(len(rows), 1)
    figure, axes = plt.subplots(figsize=(max(8, 1.4 * len(groups)), 4.5))
    for index, row in enumerate(rows):
        values = [row.scores.get(t, math.nan) for t in tasks] + [row.average(tasks)]
        positions = [g + (index - (len(rows) - 1) / 2) * width for g in range(len(groups))]
        axes.bar(positions, [0 if math.isnan(v) else v for v in values], width=width, label=row.label)
    axes.set_xticks(range(len(groups)), [g.replace(" (", "\n(") for g in groups], fontsize=8)
    axes.set(ylabel="dev score x 100", title=title)
    axes.axhline(0, color="black", linewidth=0.5)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    write_file_atomically(path, lambda staging: figure.savefig(staging, format="png", dpi=110))
    plt.close(figure)


def write_comparison(cells: list[Cell], output_dir: str | Path, note: str = "") -> str:
    """comparison.md and comparison.png in `output_dir`; returns the table."""
    if not cells:
        raise GenptError("no finished runs to compare")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows, tasks = rows_of(cells)
    table = markdown_table(rows, tasks)
    text = "# genpt compare\n\n" + (note + "\n\n" if note else "") + table + "\n\n" + _legend() + "\n"
    write_file_atomically(output_dir / "comparison.md", lambda p: p.write_text(text))
    plot_comparison(rows, tasks, output_dir / "comparison.png", "genpt compare: dev scores by system")
    return table


def _legend() -> str:
    return ("Scores are each task's main dev metric x 100 (mc: Matthews correlation, pc: Pearson correlation), "
            "as in the paper's Table 5. Avg is over the columns shown. params: the largest fine-tuned model "
            "of the row (heads differ by task); train time: training steps summed over the row's tasks, "
            "evaluation excluded.")


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}"


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 1e5 else f"{count / 1e3:.0f}k"


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"

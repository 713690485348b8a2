"""`genpt compare`: what pretraining buys, as one table laid out like the paper's Table 5.

Five systems, fine-tuned on the same tasks with the same tokenizer, data and budget:

    gpt              GPT, pretrained, with the auxiliary LM loss (lambda 0.5)   the paper's full method
    gpt-no-aux       GPT, pretrained, no auxiliary LM loss                      Table 5, "no aux LM"
    gpt-scratch      GPT of the same size, no pretraining                       Table 5, "no pre-training"
    transformer      the encoder-decoder Transformer's encoder, from scratch    Vaswani et al. 2017
    lstm             the bidirectional LSTM encoder with the aux LM, scratch    Table 5's LSTM row, unpretrained

Every system gets the same data (`budget` examples of each task, the same fixed draw for every
row and seed, or all of them: a table of runs that saw other examples is refused),
the same epochs and sequence length, and the same search: with `learning_rates`, each
(system, task) trains once per rate with part of its training set held out
(`selection_split_percentage`), and the rate that scores best there is the one its dev runs
use. Dev is never looked at to choose. Each dev run is repeated for every seed; the table
shows the mean and standard deviation over seeds, `comparison.json` every seed's score (and
the task's other metrics: MRPC's accuracy beside its F1, STS-B's Spearman beside Pearson).

Each cell is an ordinary `genpt finetune` run folder (run in a process of its own, as a user
would run it), so any cell can be re-scored with `genpt eval` or re-run by hand; finished
runs are reused, so an interrupted comparison continues where it stopped.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpt.atomic import claim_outputs, refuse_foreign_outputs, write_file_atomically, write_json_atomically
from genpt.baselines.config import SYSTEMS, CompareConfig, System
from genpt.config import read_yaml_mapping
from genpt.data.tasks import TASKS
from genpt.errors import GenptError
from genpt.subruns import (
    Subrun,
    check_jobs,
    check_reusable,
    ensure_all_finished,
    is_finished,
    pretraining_now,
    pretraining_record,
)

TABLE_TASKS = tuple(TASKS)  # the registry's order is the paper's Table 5 column order
PAPER_LEARNING_RATE = 6.25e-5  # the paper's fine-tuning rate, for the pretrained rows when there is no search


@dataclass
class Cell:
    """One finished fine-tune: a system's score on a task, for one seed."""

    system: str  # the row label
    task: str
    seed: int
    score: float  # the task's main metric
    seconds: float  # training time (steps only: evaluation and start-up excluded)
    parameters: int
    folder: Path
    learning_rate: float | None = None
    pretraining_tokens: int = 0  # tokens the initial weights were pretrained on (0: from scratch)
    pretraining_seconds: float = 0.0  # the pretraining run's wall time
    budget: str = "all"  # the training examples it saw: "all", "first N" or "random N" (budget_of)
    kept_epoch: str = "best"  # the epoch its score is of: "last", or "best" (on dev for runs before 2026-12-06)
    other_scores: dict[str, float] = field(default_factory=dict)  # the task's other metrics (MRPC's accuracy)


# ---- running ----------------------------------------------------------------------------------


# What `genpt compare` writes into --output_dir beside runs/ and configs/.
OUTPUTS = ["comparison.md", "comparison.json", "comparison.png"]


def run_comparison(config: CompareConfig, output_dir: str | Path, show_progress: bool = True) -> list[Path]:
    """Search (when asked), then fine-tune every system on every task for every seed, reusing
    finished runs; returns the dev run folders."""
    _check(config)
    output_dir = Path(output_dir)
    refuse_foreign_outputs(output_dir, OUTPUTS)  # now, not after hours of runs
    check_reusable_runs(config, output_dir)
    chosen = choose_learning_rates(config, output_dir, show_progress)
    # seed by seed: a complete table exists after the first
    cells = [(seed, task, name) for seed in config.seeds for task in config.tasks for name in config.systems]
    runs = [Subrun(finetune_options(config, SYSTEMS[name], task, seed, chosen[task, name]),
                   output_dir / "runs" / cell_name(task, name, seed), output_dir / "configs") for seed, task, name in cells]
    ensure_all_finished(runs, config.jobs, show_progress)
    return [run.folder for run in runs]


def cell_name(task: str, system: str, seed: int, learning_rate: float | None = None) -> str:
    return f"{task}-{system}-seed{seed}" + (f"-lr{learning_rate:g}" if learning_rate is not None else "")


def choose_learning_rates(config: CompareConfig, output_dir: Path, show_progress: bool) -> dict[tuple[str, str], float]:
    """(task, system) -> the rate it scores best with on the held-out part of its training set;
    every rate of the grid is tried with the first seed. Without a search, the default rate."""
    pairs = [(task, name) for task in config.tasks for name in config.systems]
    if not searches(config):
        return {(task, name): unsearched_rate(config, SYSTEMS[name]) for task, name in pairs}
    grid, seed = config.learning_rates, config.seeds[0]
    folders = {(task, name, rate): selection_folder(output_dir, task, SYSTEMS[name], seed, rate)
               for task, name in pairs for rate in grid}
    ensure_all_finished([Subrun(selection_options(config, SYSTEMS[name], task, seed, rate), folder,
                                output_dir / "configs" / "selection") for (task, name, rate), folder in folders.items()],
                        config.jobs, show_progress)
    chosen = {}
    for task, name in pairs:
        scores = {rate: read_cell(folders[task, name, rate]).score for rate in grid}
        chosen[task, name] = best_rate(grid, scores)
        record_selection(output_dir, task, name, scores, chosen[task, name], config.selection_split_percentage)
    return chosen


def searches(config: CompareConfig) -> bool:
    return bool(config.learning_rates) and len(config.learning_rates) > 1


def unsearched_rate(config: CompareConfig, system: System) -> float:
    if config.learning_rates:
        return config.learning_rates[0]
    return PAPER_LEARNING_RATE if system.pretrained else config.baseline_learning_rate


def selection_options(config: CompareConfig, system: System, task: str, seed: int, rate: float) -> dict[str, Any]:
    """A cell's options, scored on a held-out part of its training set: no test predictions (it reads no test data)."""
    options = {k: v for k, v in finetune_options(config, system, task, seed, rate).items() if k != "predict"}
    return {**options, "validation_split_percentage": config.selection_split_percentage}


def selection_folder(output_dir: Path, task: str, system: System, seed: int, rate: float) -> Path:
    return output_dir / "selection" / cell_name(task, system.name, seed, rate)


def best_rate(grid: list[float], scores: dict[float, float]) -> float:
    return max(grid, key=lambda rate: _comparable(scores[rate]))  # ties: the first rate of the grid


def check_reusable_runs(config: CompareConfig, output_dir: Path) -> None:
    """Before anything runs: each run this call would reuse was made with the options it asks
    for. With a search, a dev run's rate is known when every selection run of its (task, system)
    has finished; until then it is checked when the search has chosen it."""
    seed = config.seeds[0]
    for task in config.tasks:
        for name in config.systems:
            system, rate, ignore = SYSTEMS[name], unsearched_rate(config, SYSTEMS[name]), ()
            if searches(config):
                folders = {r: selection_folder(output_dir, task, system, seed, r) for r in config.learning_rates}
                for r, folder in folders.items():
                    check_reusable(selection_options(config, system, task, seed, r), folder, output_dir / "configs" / "selection")
                if all(is_finished(folder) for folder in folders.values()):
                    rate = best_rate(config.learning_rates, {r: read_cell(folder).score for r, folder in folders.items()})
                else:
                    ignore = ("learning_rate",)
            for each_seed in config.seeds:
                check_reusable(finetune_options(config, system, task, each_seed, rate),
                               output_dir / "runs" / cell_name(task, name, each_seed), output_dir / "configs", ignore)


def record_selection(output_dir: Path, task: str, system: str, scores: dict[float, float], best: float,
                     percentage: float) -> None:
    """selection.json: every (system, task)'s held-out score per rate and the rate chosen."""
    path = output_dir / "selection.json"
    values = json.loads(path.read_text()) if path.is_file() else {"held_out_percentage": percentage, "choices": []}
    values["choices"] = [c for c in values["choices"] if (c["task"], c["system"]) != (task, system)]
    values["choices"].append({"task": task, "system": system, "chosen_learning_rate": best,
                              "held_out_scores": {f"{rate:g}": round(100 * score, 2) for rate, score in scores.items()}})
    write_json_atomically(path, values)


def finetune_options(config: CompareConfig, system: System, task: str, seed: int, learning_rate: float) -> dict[str, Any]:
    """The `genpt finetune` options of one cell: the same for every system but the model."""
    data_dir = config.story_cloze_dir if task == "story_cloze" else config.glue_dir
    options = dict(task=task, data_dir=data_dir, arch=system.arch, aux_lm_weight=system.aux_lm_weight,
                   num_train_epochs=config.num_train_epochs, max_seq_length=config.max_seq_length, seed=seed,
                   learning_rate=learning_rate, mixed_precision=config.mixed_precision, train_subset=config.budget_draw)
    if config.budget is not None:
        options["max_train_samples"] = config.budget
    options.update(task_options(config).get(task, {}))
    if system.pretrained:
        return {"init": config.init, **options}
    tokenizer = str(Path(config.init) / "tokenizer")
    preset = config.baseline_preset if system.arch != "gpt" else (config.gpt_preset or _run_preset(config.init))
    return {"init": "scratch", "tokenizer": tokenizer, "preset": preset, **options}


def task_options(config: CompareConfig) -> dict[str, dict[str, Any]]:
    """--task_options TASK.OPTION=VALUE, as {task: {option: value}} (values read as YAML)."""
    found: dict[str, dict[str, Any]] = {}
    for item in config.task_options:
        target, separator, value = item.partition("=")
        task, dot, option = target.partition(".")
        if not (separator and dot and task and option):
            raise GenptError(f"--task_options {item}: expected TASK.OPTION=VALUE, e.g. sst2.max_train_samples=20000")
        if task not in TABLE_TASKS:  # a known task that --tasks leaves out is not an error: a recipe's options stay valid when a run narrows its tasks
            raise GenptError(f"--task_options {item}: {task} is not a task genpt compare runs ({', '.join(TABLE_TASKS)})")
        found.setdefault(task, {})[option] = yaml.safe_load(value)
    return found


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
    if config.budget is not None and config.budget < 1:
        raise GenptError(f"--budget must be at least 1 training example per task, got {config.budget}")
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise GenptError(f"--seeds {config.seeds}: expected one or more different seeds")
    if config.learning_rates is not None and not all(rate > 0 for rate in config.learning_rates):
        raise GenptError(f"--learning_rates {config.learning_rates}: expected positive rates")
    check_jobs(config.jobs)
    if not 0 < config.selection_split_percentage < 100:
        raise GenptError(f"--selection_split_percentage must be between 0 and 100, got {config.selection_split_percentage}")
    if any(t != "story_cloze" for t in config.tasks) and not config.glue_dir:
        raise GenptError("--glue_dir is needed for the GLUE tasks (the glue_data folder)")
    if "story_cloze" in config.tasks and not config.story_cloze_dir:
        raise GenptError("--story_cloze_dir is needed for story_cloze (the folder of its val CSV)")
    for option, folder in (("--glue_dir", config.glue_dir), ("--story_cloze_dir", config.story_cloze_dir)):
        if folder and not Path(folder).expanduser().is_dir():  # here, before any run's options are written
            raise GenptError(f"{option} {folder}: no such folder")
    task_options(config)


# ---- collecting ---------------------------------------------------------------------------------


def collect(paths: list[str | Path]) -> list[Cell]:
    """The cells of finished `genpt finetune` runs: each path is a run folder, or a folder of them."""
    cells = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise GenptError(f"--runs {path}: no such folder")
        folders = [path] if (path / "config.yaml").is_file() else sorted(
            p.parent for p in path.glob("**/eval_results.json") if is_finetune_run(p.parent))
        if not folders:
            raise GenptError(f"--runs {path}: neither a fine-tuned run nor a folder holding any (no eval_results.json)")
        cells += [read_cell(folder) for folder in folders]
    return cells


def is_finetune_run(folder: Path) -> bool:
    """A fine-tuned run, not a `genpt eval --output_dir` or a seq2seq run that also holds an
    eval_results.json (the README's runs/rte/eval-mine lies inside a folder of runs)."""
    return (folder / "config.yaml").is_file() and "task" in read_yaml_mapping(folder / "config.yaml")


def read_cell(folder: Path) -> Cell:
    values = read_yaml_mapping(folder / "config.yaml")
    finetune_options_ = values.get("finetune") or {}
    task = (values.get("task") or {}).get("name")
    if task not in TASKS:
        raise GenptError(f"{folder / 'config.yaml'}: task {task!r} is not one genpt compare tabulates ({', '.join(TABLE_TASKS)})")
    results_path = folder / "eval_results.json"
    if not results_path.is_file():
        raise GenptError(f"{folder}: unfinished run (no eval_results.json)")
    results = json.loads(results_path.read_text())
    tokens, seconds = pretraining_of_cell(folder, finetune_options_.get("init"))
    return Cell(system=system_label(values.get("arch", "gpt"), finetune_options_), task=task,
                seed=int(finetune_options_.get("seed", 0)), score=from_json_number(results[TASKS[task].main_metric]),
                seconds=_train_seconds(folder / "metrics.jsonl"), parameters=_parameter_count(folder / "model.safetensors"),
                folder=folder, learning_rate=finetune_options_.get("learning_rate"),
                pretraining_tokens=tokens, pretraining_seconds=seconds, budget=budget_of(finetune_options_),
                kept_epoch=results.get("kept_epoch", "best"),  # runs before 2026-12-06 kept their best epoch
                other_scores={m: from_json_number(results[m]) for m in TASKS[task].metrics[1:] if m in results})


def budget_of(finetune_options: dict[str, Any]) -> str:
    """Which training examples a run saw: "all", or "first N" / "random N" (--train_subset; runs
    made before that option existed took the first N)."""
    count = finetune_options.get("max_train_samples")
    return "all" if count is None else f"{finetune_options.get('train_subset') or 'first'} {count}"


def pretraining_of_cell(folder: Path, init: str | None) -> tuple[int, float]:
    """(tokens, seconds) of pretraining a fine-tuned run started from: what it recorded then,
    or for older runs what its --init holds now; (0, 0) from scratch, NaN seconds when unknown."""
    values = pretraining_record(folder)
    if values is None:
        if not init or init == "scratch":
            return 0, 0.0
        values = pretraining_now(init) or {}
    return int(values.get("tokens_seen", 0)), float(values.get("elapsed_seconds", math.nan))


def system_label(arch: str, finetune_options: dict[str, Any]) -> str:
    """The table row a run belongs to, from what it was: architecture, init, lambda."""
    system = system_of(arch, finetune_options)
    return system.label if system else "LSTM w/ attention, no pretraining"


def system_of(arch: str, finetune_options: dict[str, Any]) -> System | None:
    aux = finetune_options.get("aux_lm_weight") or 0.0
    if arch == "gpt":
        if finetune_options.get("init") == "scratch":
            return SYSTEMS["gpt-scratch"]
        return SYSTEMS["gpt"] if aux > 0 else SYSTEMS["gpt-no-aux"]
    if arch == "transformer":
        return SYSTEMS["transformer"]
    return SYSTEMS["lstm"] if aux > 0 else None


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


# ---- rows: the seeds of each cell aggregated ------------------------------------------------------


@dataclass
class Row:
    label: str
    scores: dict[str, list[float]]  # task -> main metric x 100, one per seed (in seed order)
    parameters: int  # the largest of the row's models (heads differ by task)
    seconds: float  # training time summed over the row's tasks, mean over seeds
    learning_rates: dict[str, float] = field(default_factory=dict)  # task -> the rate its dev runs used
    pretraining_tokens: int = 0  # what the row's initial weights were pretrained on (0: from scratch)
    pretraining_seconds: float = 0.0
    # task -> metric -> x 100 per seed, for the task's metrics after the main one (MRPC's accuracy)
    other_scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def mean(self, task: str) -> float:
        return statistics.fmean(self.scores[task]) if self.scores.get(task) else math.nan

    def std(self, task: str) -> float:
        """Sample standard deviation over seeds (0 with one seed)."""
        return _spread(self.scores.get(task) or [])

    def average(self, tasks: list[str]) -> float:
        return statistics.fmean(self.mean(t) for t in tasks) if all(self.scores.get(t) for t in tasks) else math.nan

    def average_std(self, tasks: list[str]) -> float:
        """The spread of the per-seed averages over tasks (seeds in the same order in every task)."""
        per_seed = list(zip(*(self.scores[t] for t in tasks))) if all(self.scores.get(t) for t in tasks) else []
        return _spread([statistics.fmean(scores) for scores in per_seed])


def _spread(values: list[float]) -> float:
    """Sample standard deviation (0 for one value); NaN when a value is (an undefined score),
    which statistics.stdev cannot take."""
    if any(math.isnan(v) for v in values):
        return math.nan
    return statistics.stdev(values) if len(values) > 1 else 0.0


def rows_of(cells: list[Cell]) -> tuple[list[Row], list[str]]:
    """Rows in the order of SYSTEMS (then any others), and the tasks in Table 5's column order."""
    order = [s.label for s in SYSTEMS.values()]
    labels = sorted({c.system for c in cells}, key=lambda label: (order.index(label) if label in order else len(order), label))
    tasks = [t for t in TABLE_TASKS if any(c.task == t for c in cells)]
    rows = []
    for label in labels:
        mine = sorted((c for c in cells if c.system == label), key=lambda c: c.seed)
        seen: dict[tuple[str, int], Cell] = {}
        for cell in mine:
            if (cell.task, cell.seed) in seen:
                raise GenptError(f"two runs of {label!r} on {cell.task} with seed {cell.seed}: "
                                 f"{seen[cell.task, cell.seed].folder}, {cell.folder}; pass only one")
            seen[cell.task, cell.seed] = cell
        by_task = {t: [c for c in mine if c.task == t] for t in tasks if any(c.task == t for c in mine)}
        # one seed's time: each task's mean over its seeds, so a task with fewer seeds so far counts as one
        seconds = sum(statistics.fmean(c.seconds for c in task_cells) for task_cells in by_task.values())
        rows.append(Row(label, {t: [100 * c.score for c in task_cells] for t, task_cells in by_task.items()},
                        max(c.parameters for c in mine), seconds,
                        {c.task: c.learning_rate for c in mine if c.learning_rate is not None},
                        *row_pretraining(label, mine),
                        {t: other for t, task_cells in by_task.items() if (other := _other_scores(task_cells))}))
    return rows, tasks


def row_pretraining(label: str, cells: list[Cell]) -> tuple[int, float]:
    """(tokens, seconds) of the pretraining a row's runs started from. A row is one model
    fine-tuned many times: runs that started from different pretraining are refused, whether
    the pretraining run went on between them (other tokens) or two runs pretrained as many
    tokens (the same tokens, other time: no two runs take the same time to the hundredth of a
    second). Runs whose pretraining is unknown (an old run whose --init is gone: NaN seconds)
    are not compared."""
    known = [c for c in cells if not math.isnan(c.pretraining_seconds)]
    first = known[0] if known else None
    for cell in known[1:]:
        if (cell.pretraining_tokens, cell.pretraining_seconds) != (first.pretraining_tokens, first.pretraining_seconds):
            raise GenptError(f"{label!r} mixes runs fine-tuned from different pretraining: {first.folder} started from "
                             f"{_pretraining_state(first)}, {cell.folder} from {_pretraining_state(cell)}; "
                             "tabulate the runs of one pretraining (fine-tune the others again)")
    return (first.pretraining_tokens, first.pretraining_seconds) if first else (cells[0].pretraining_tokens, math.nan)


def _pretraining_state(cell: Cell) -> str:
    return f"{cell.pretraining_tokens:,} tokens ({cell.pretraining_seconds:,} s of pretraining)"  # every digit: they differ


def _other_scores(cells: list[Cell]) -> dict[str, list[float]]:
    """metric -> x 100 per seed, for the other metrics that every one of a task's cells reported."""
    metrics = [m for m in cells[0].other_scores if all(m in c.other_scores for c in cells)]
    return {m: [100 * c.other_scores[m] for c in cells] for m in metrics}


def budgets_of(cells: list[Cell]) -> dict[str, str]:
    """Each task's training budget, which every cell of the task must share: a table compares
    systems on the same data, and a first-1,000 cell beside a random-1,000 one would not."""
    return _one_per_task(cells, "budget", "trained on {} examples", "one training budget per task")


def kept_epochs_of(cells: list[Cell]) -> dict[str, str]:
    """Each task's kept epoch ("last" or "best"), which every cell of the task must share: a
    best-of-three-epochs score beside a last-epoch one would favour its row."""
    return _one_per_task(cells, "kept_epoch", "kept its {} epoch", "one rule for the epoch a run keeps")


def _one_per_task(cells: list[Cell], field: str, says: str, needs: str) -> dict[str, str]:
    first: dict[str, Cell] = {}
    for cell in cells:
        seen = first.setdefault(cell.task, cell)
        if getattr(cell, field) != getattr(seen, field):
            raise GenptError(f"{cell.task}: {seen.folder} {says.format(getattr(seen, field))} and {cell.folder} "
                             f"{says.format(getattr(cell, field))}; a comparison needs {needs}")
    return {task: getattr(cell, field) for task, cell in first.items()}


# ---- the table, the chart, the JSON --------------------------------------------------------------------


def markdown_table(rows: list[Row], tasks: list[str]) -> str:
    header = ["model", "params", "pretraining", "train time", "Avg", *(TASKS[t].title for t in tasks)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [row.label, _millions(row.parameters), pretraining_label(row.pretraining_tokens, row.pretraining_seconds), _duration(row.seconds),
                 _number(row.average(tasks), row.average_std(tasks), _seed_count(row)),
                 *(_number(row.mean(t), row.std(t), len(row.scores.get(t, []))) for t in tasks)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seed_count(row: Row) -> int:
    return min((len(v) for v in row.scores.values()), default=0)


def comparison_json(rows: list[Row], tasks: list[str], cells: list[Cell], budgets: dict[str, str],
                    kept_epochs: dict[str, str]) -> dict[str, Any]:
    """comparison.json: every seed's score of every (system, task), with means and spreads."""
    systems = []
    for row in rows:
        mine = [c for c in cells if c.system == row.label]
        system = next((s for s in SYSTEMS.values() if s.label == row.label), None)
        systems.append({
            "name": system.name if system else row.label, "label": row.label,
            "arch": system.arch if system else "lstm", "pretrained": bool(system and system.pretrained),
            "aux_lm": bool(system and system.aux_lm_weight > 0), "params": row.parameters,
            "seeds": sorted({c.seed for c in mine}),
            "scores": {t: [round(v, 4) for v in row.scores.get(t, [])] for t in tasks},
            "mean": {t: _json_number(row.mean(t)) for t in tasks}, "std": {t: _json_number(row.std(t)) for t in tasks},
            "average": _json_number(row.average(tasks)), "average_std": _json_number(row.average_std(tasks)),
            "learning_rate": row.learning_rates, "train_seconds_per_seed": _json_number(row.seconds),
            "pretraining_tokens": row.pretraining_tokens, "pretraining_seconds": _json_number(row.pretraining_seconds),
            "other_scores": {t: {m: [round(v, 4) for v in values] for m, values in metrics.items()}
                             for t, metrics in row.other_scores.items()},
            "other_mean": {t: {m: _json_number(statistics.fmean(values)) for m, values in metrics.items()}
                           for t, metrics in row.other_scores.items()},
        })
    return {"tasks": tasks, "metrics": {t: TASKS[t].main_metric for t in tasks},
            "train_examples": {t: budgets[t] for t in tasks}, "kept_epoch": {t: kept_epochs[t] for t in tasks},
            "systems": systems}


def rows_from_json(values: dict[str, Any]) -> tuple[list[Row], list[str]]:
    """The rows comparison.json was written from: the table can be drawn again from the JSON
    alone (docs/results.md's is, by scripts/results_table.py)."""
    rows = [Row(s["label"], {t: _numbers(v) for t, v in s["scores"].items() if v}, s["params"],
                from_json_number(s.get("train_seconds_per_seed")), dict(s.get("learning_rate") or {}),
                s.get("pretraining_tokens", 0), from_json_number(s.get("pretraining_seconds", 0.0)),
                {t: {m: _numbers(v) for m, v in metrics.items()} for t, metrics in (s.get("other_scores") or {}).items()})
            for s in values["systems"]]
    return rows, list(values["tasks"])


def from_json_number(value: float | None) -> float:
    """JSON's null (genpt writes an undefined score so: JSON has no NaN) as NaN."""
    return math.nan if value is None else float(value)


def _numbers(values: list[float | None]) -> list[float]:
    return [from_json_number(v) for v in values]


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def plot_comparison(rows: list[Row], tasks: list[str], path: Path, title: str,
                    ylabel: str = "dev score x 100 (mean over seeds)") -> None:
    """Grouped bars: for each task (and the average) one bar per system, the mean over seeds,
    with its standard deviation and every seed's score as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [TASKS[t].title for t in tasks] + ["Avg"]
    width = 0.8 / max(len(rows), 1)
    figure, axes = plt.subplots(figsize=(max(8, 1.4 * len(groups)), 4.5))
    for index, row in enumerate(rows):
        means = [row.mean(t) for t in tasks] + [row.average(tasks)]
        spreads = [row.std(t) for t in tasks] + [row.average_std(tasks)]
        positions = [g + (index - (len(rows) - 1) / 2) * width for g in range(len(groups))]
        axes.bar(positions, [0 if math.isnan(v) else v for v in means], width=width, label=row.label,
                 yerr=spreads, capsize=2, error_kw={"linewidth": 0.8})
        for position, task in zip(positions, tasks):
            values = row.scores.get(task, [])
            if len(values) > 1:
                axes.scatter([position] * len(values), values, s=6, color="black", zorder=3)
    axes.set_xticks(range(len(groups)), [g.replace(" (", "\n(") for g in groups], fontsize=8)
    axes.set(ylabel=ylabel, title=title)
    axes.axhline(0, color="black", linewidth=0.5)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    write_file_atomically(path, lambda staging: figure.savefig(staging, format="png", dpi=110))
    plt.close(figure)


def write_comparison(cells: list[Cell], output_dir: str | Path, note: str = "") -> str:
    """comparison.md, comparison.json and comparison.png in `output_dir`; returns the table."""
    if not cells:
        raise GenptError("no finished runs to compare")
    budgets = budgets_of(cells)  # refuses a table whose rows saw different training examples
    kept_epochs = kept_epochs_of(cells)  # or kept their epochs by different rules
    rows, tasks = rows_of(cells)  # or mixes runs of different pretraining
    output_dir = claim_outputs(output_dir, OUTPUTS)  # only once the runs make a table: a refusal writes nothing
    table = markdown_table(rows, tasks)
    text = "# genpt compare\n\n" + (note + "\n\n" if note else "") + table + "\n\n" + _legend(kept_epochs) + "\n"
    write_file_atomically(output_dir / "comparison.md", lambda p: p.write_text(text))
    values = comparison_json(rows, tasks, cells, budgets, kept_epochs)
    if note:
        values["setup"] = note
    write_json_atomically(output_dir / "comparison.json", values)
    plot_comparison(rows, tasks, output_dir / "comparison.png", "genpt compare: dev scores by system")
    return table


def _legend(kept_epochs: dict[str, str]) -> str:
    best = [TASKS[t].title for t, kept in kept_epochs.items() if kept == "best"]
    epoch = (f"the best epoch's on dev for {', '.join(best)} (chosen on dev itself: runs made before 2026-12-06, or with "
             "--keep_epoch best), "
             "the last epoch's otherwise" if best else "each run's last epoch")
    return (f"Scores are each task's main dev metric x 100 of {epoch} "
            "(mc: Matthews correlation, pc: Pearson correlation), "
            "as in the paper's Table 5: the mean over seeds, ± the sample standard deviation when there are several. "
            "Avg is over the columns shown. params: the largest fine-tuned model of the row (heads differ by task); "
            "pretraining: the tokens and wall time of the pretraining run the row starts from; "
            "train time: training steps summed over the row's tasks (one seed), evaluation excluded.")


def _number(value: float, spread: float = 0.0, seeds: int = 1) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.1f} ± {spread:.1f}" if seeds > 1 else f"{value:.1f}"


def _comparable(value: float) -> float:
    return float("-inf") if math.isnan(value) else value


def pretraining_label(tokens: int, seconds: float) -> str:
    """What a model's pretraining cost, as the tables show it: "4.1M tokens, 62.1 min"."""
    if not tokens:
        return "none"
    time = "" if math.isnan(seconds) else f", {_duration(seconds)}"
    return f"{_millions(tokens)} tokens{time}"


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 1e5 else f"{count / 1e3:.0f}k"


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"

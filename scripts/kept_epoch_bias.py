"""What keeping the best epoch on dev did to a comparison: each row's mean over seeds of the
kept epoch's score (eval_results.json) against its last epoch's (the run's own per-epoch
evaluation in metrics.jsonl, the same dev set and evaluator), task by task and on the average.

Runs made before 2026-12-06 kept the best of their epochs on dev; their logs still hold every
epoch's dev score, so the bias of that choice can be measured without training again:

    python scripts/kept_epoch_bias.py runs/compare_random/runs
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from genpt.baselines.compare import read_cell
from genpt.data.tasks import TASKS
from genpt.engine import read_jsonl


def last_epoch_score(folder: Path, metric: str) -> float:
    evaluations = [record for record in read_jsonl(folder / "metrics.jsonl") if f"eval_{metric}" in record]
    if not evaluations:
        raise SystemExit(f"{folder / 'metrics.jsonl'}: no evaluation of {metric}; is the run finished?")
    score = max(evaluations, key=lambda e: e["step"])[f"eval_{metric}"]
    return math.nan if score is None else score  # null: undefined (Pearson's r of constant predictions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, help="a folder of finished genpt finetune runs (a comparison's runs/)")
    args = parser.parse_args(argv)
    scores: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for results in sorted(args.runs.glob("*/eval_results.json")):
        cell = read_cell(results.parent)
        metric = TASKS[cell.task].main_metric
        scores[cell.system][cell.task].append((100 * cell.score, 100 * last_epoch_score(results.parent, metric)))
    columns = [t for t in TASKS if any(t in tasks for tasks in scores.values())]  # the table's order
    print("| row | score | " + " | ".join(TASKS[t].title for t in columns) + " | Avg |")
    print("|---|---|" + "---:|" * (len(columns) + 1))
    for system, tasks in scores.items():
        if set(tasks) != set(columns):
            raise SystemExit(f"{args.runs}: {system} has runs of {', '.join(sorted(tasks))} only; a row needs every task")
        kept = [statistics.fmean(k for k, _ in tasks[t]) for t in columns]
        last = [statistics.fmean(v for _, v in tasks[t]) for t in columns]
        for label, values in (("kept epoch", kept), ("last epoch", last)):
            print(f"| {system} | {label} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {statistics.fmean(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

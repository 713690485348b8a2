"""`genpt eval layers`: how much each transferred layer adds (the paper's Figure 2, left).

One fine-tuning per number of transferred blocks N (`genpt finetune --transfer_layers N`:
the pretrained embeddings and first N blocks, the rest initialised afresh), each an ordinary
run folder (finished ones are reused); then the table and the chart of the dev score
against N.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genpt.atomic import claim_outputs, refuse_foreign_outputs, write_file_atomically, write_json_atomically
from genpt.config import read_yaml_mapping
from genpt.data.tasks import get_task
from genpt.errors import GenptError
from genpt.subruns import Subrun, check_jobs, check_reusable, ensure_all_finished

# The files `genpt eval layers` writes beside its runs.
OUTPUTS = ["layers.json", "layers.md", "layers.png"]


def sweep_layers(init: str, task: str, layers: list[int], output_dir: str | Path, finetune_options: dict[str, Any],
                 show_progress: bool = True, jobs: int = 1) -> dict[str, Any]:
    """Fine-tune with each number of transferred blocks (`jobs` at a time); write layers.json,
    layers.md, layers.png."""
    output_dir = Path(output_dir)
    config = Path(init) / "config.yaml"
    if not config.is_file():
        raise GenptError(f"--init {init}: not a genpt pretraining run (no config.yaml)")
    n_layer = int((read_yaml_mapping(config).get("model") or {}).get("n_layer", 0))
    bad = [n for n in layers if not 0 <= n <= n_layer]
    if bad or not layers:
        raise GenptError(f"--layers {','.join(map(str, layers))}: expected numbers of blocks from 0 to {n_layer}")
    check_jobs(jobs, "fine-tunes")
    data_dir = finetune_options.get("data_dir")
    if data_dir and not Path(data_dir).expanduser().is_dir():  # here, before any run's options are written
        raise GenptError(f"--data_dir {data_dir}: no such folder")
    refuse_foreign_outputs(output_dir, OUTPUTS)
    metric = get_task(task).main_metric
    scores = {}
    counts = sorted(set(layers))
    runs = {n: Subrun({**finetune_options, "task": task, "init": str(init), "transfer_layers": n},
                      output_dir / "runs" / f"{task}-layers{n}", output_dir / "configs") for n in counts}
    for run in runs.values():  # before anything runs: a finished run is reused only if it is the one asked for
        check_reusable(run.options, run.folder, run.configs_dir)
    ensure_all_finished(list(runs.values()), jobs, show_progress)
    for n, run in runs.items():
        score = json.loads((run.folder / "eval_results.json").read_text())[metric]
        scores[n] = math.nan if score is None else 100 * score  # null: undefined (Pearson's r of constant predictions)
    summary = {"init": str(init), "task": task, "metric": metric, "n_layer": n_layer, "chance": get_task(task).chance_score,
               "scores": {str(n): round(v, 3) for n, v in scores.items()}}
    write_outputs(summary, output_dir)
    return summary


def write_outputs(summary: dict[str, Any], output_dir: Path) -> None:
    claim_outputs(output_dir, OUTPUTS)
    write_json_atomically(output_dir / "layers.json", summary)
    lines = [f"| blocks transferred | {summary['task']} ({summary['metric']}) |", "|---:|---:|"]
    lines += [f"| {n} | {'–' if math.isnan(v) else f'{v:.1f}'} |" for n, v in summary["scores"].items()]
    write_file_atomically(output_dir / "layers.md", lambda p: p.write_text("\n".join(lines) + "\n"))
    plot(summary, output_dir / "layers.png")


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [int(n) for n in summary["scores"]]
    values = [summary["scores"][str(n)] for n in layers]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(layers, [v if not math.isnan(v) else None for v in values], marker="o", label="fine-tuned")
    if summary.get("chance") is not None:  # from chance up, so that noise is not drawn as a trend
        axes.axhline(summary["chance"], linestyle="--", color="grey", linewidth=1, label="chance")
        axes.set_ylim(bottom=summary["chance"] - 2, top=max([v for v in values if not math.isnan(v)] + [summary["chance"]]) + 5)
        axes.legend(loc="lower right")
    axes.set(xlabel="pretrained blocks transferred", ylabel=f"dev {summary['metric']} x 100",
             title=f"genpt eval layers: {summary['task']}", xticks=layers)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    write_file_atomically(path, lambda staging: figure.savefig(staging, format="png", dpi=110))
    plt.close(figure)

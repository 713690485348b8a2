"""Fine-tune a pretrained run and the same architecture from scratch on six tasks, and write
the comparison table (the paper's Table 5 ablation, "no pre-training" row) as Markdown.

    python scripts/finetune_results.py --init runs/mini30 --output_dir runs/results \
        --glue_dir ../shared/data/glue --story_cloze_dir ../shared/data/story_cloze

Every fine-tune is a plain `genpt finetune` command, printed before it runs, so any row can
be re-run by hand. Runs already finished in --output_dir are reused. Writes table.md and
pretrained_vs_scratch.png into --output_dir.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

TASKS = ("sst2", "mrpc", "stsb", "rte", "cola", "story_cloze")
SHOWN = {"sst2": ("SST-2", "accuracy"), "mrpc": ("MRPC", "f1"), "stsb": ("STS-B", "pearson"),
         "rte": ("RTE", "accuracy"), "cola": ("CoLA", "matthews_correlation"), "story_cloze": ("Story Cloze", "accuracy")}


def command(task: str, init: str, args: argparse.Namespace, output_dir: Path) -> list[str]:
    data_dir = args.story_cloze_dir if task == "story_cloze" else args.glue_dir
    cmd = ["genpt", "finetune", "--task", task, "--data_dir", data_dir, "--output_dir", str(output_dir),
           "--max_seq_length", str(args.max_seq_length), "--max_train_samples", str(args.max_train_samples),
           "--seed", str(args.seed)]
    if init == "scratch":
        cmd += ["--init", "scratch", "--tokenizer", str(Path(args.init) / "tokenizer"), "--preset", args.preset]
    else:
        cmd += ["--init", args.init]
    return cmd + args.extra


def run_one(task: str, init: str, args: argparse.Namespace) -> dict:
    label = "pretrained" if init != "scratch" else "scratch"
    output_dir = Path(args.output_dir) / f"{task}-{label}"
    results_file = output_dir / "eval_results.json"
    if not results_file.exists():
        cmd = command(task, init, args, output_dir)
        print("$", shlex.join(cmd), flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "genpt", *cmd[1:], "--overwrite_output_dir"], check=True)
        (output_dir / "wall_seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    results = {key: math.nan if value is None else value for key, value in json.loads(results_file.read_text()).items()}
    results["wall_seconds"] = float((output_dir / "wall_seconds.txt").read_text()) if (output_dir / "wall_seconds.txt").exists() else None
    return results


def table(rows: dict[str, dict[str, dict]]) -> str:
    lines = ["| task | metric | pretrained | scratch |", "|---|---|---:|---:|"]
    sums = {"pretrained": 0.0, "scratch": 0.0}
    for task in TASKS:
        name, metric = SHOWN[task]
        values = {label: 100 * rows[task][label][metric] for label in sums}
        for label in sums:
            sums[label] += values[label]
        lines.append(f"| {name} | {metric} | {values['pretrained']:.1f} | {values['scratch']:.1f} |")
    lines.append(f"| **average** | | **{sums['pretrained'] / len(TASKS):.1f}** | **{sums['scratch'] / len(TASKS):.1f}** |")
    return "\n".join(lines)


def chart(rows: dict[str, dict[str, dict]], path: Path) -> None:
    """Grouped bars: each task's main metric, pretrained beside scratch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [SHOWN[task][0] for task in TASKS] + ["average"]
    values = {label: [100 * rows[task][label][SHOWN[task][1]] for task in TASKS] for label in ("pretrained", "scratch")}
    for label in values:
        values[label].append(sum(values[label]) / len(TASKS))
    figure, axes = plt.subplots(figsize=(9, 4))
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], values["pretrained"], width=0.4, label="pretrained (genpt pretrain)")
    axes.bar([p + 0.2 for p in positions], values["scratch"], width=0.4, label="scratch (no pretraining)")
    axes.set_xticks(list(positions), [f"{n}\n({SHOWN[t][1]})" if t else n for n, t in zip(names, [*TASKS, ""])], fontsize=8)
    axes.set(ylabel="dev score x 100", title="Fine-tuning the mini GPT: what pretraining buys")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", required=True, help="genpt pretraining run folder")
    parser.add_argument("--preset", default="mini", help="the preset of that run, for --init scratch")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--glue_dir", default="../shared/data/glue")
    parser.add_argument("--story_cloze_dir", default="../shared/data/story_cloze")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_train_samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more genpt finetune options, after --")
    args = parser.parse_args()
    args.extra = [a for a in args.extra if a != "--"]
    rows: dict[str, dict[str, dict]] = {}
    for task in args.tasks:
        rows[task] = {"pretrained": run_one(task, args.init, args), "scratch": run_one(task, "scratch", args)}
    if set(rows) == set(TASKS):
        markdown = table(rows)
        (Path(args.output_dir) / "table.md").write_text(markdown + "\n")
        chart(rows, Path(args.output_dir) / "pretrained_vs_scratch.png")
        print(markdown)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

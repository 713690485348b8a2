"""Draw docs/results.md's Table 5, its pretraining sweep and their charts from the JSON that
`genpt compare` wrote.

The headline's numbers live in one place, docs/results/comparison.json: the recipe's comparison
(`recipes/compare.yaml`, whole training sets). The earlier tables' live in
docs/results/thousand/comparison.json (the same five systems fine-tuned on 1,000 examples per
task), and, for the sweep,
docs/results/sweep/*.json: the pretrained GPT row fine-tuned from checkpoints of different
lengths, beside one row from scratch, all on one fine-tuning budget; for the draw, one
pretraining run fine-tuned on two budgets, DRAW_FILES; for the size, one run on a random 1,000
examples and on whole training sets, SIZE_FILES; for the probe, docs/results/probe/*.json
from scripts/feature_probe.py); the tables in the docs are rendered from
them (each between two marker lines) and never typed by hand:

    python scripts/results_table.py                # rewrite the tables and the five charts
    python scripts/results_table.py --check        # exit 1 if the docs' tables are not the JSON's

When a comparison reruns only some rows (the pretrained ones, after a longer pretraining run),
`--combine NEW.json OLD.json` writes --comparison from every row of NEW and the rows of OLD
that NEW lacks, in the table's row order (the 1,000-example table was made so); both must cover
the same tasks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

from genpt.atomic import write_file_atomically, write_json_atomically
from genpt.baselines.compare import Row, from_json_number, markdown_table, plot_comparison, pretraining_label, rows_from_json
from genpt.baselines.config import SYSTEMS
from genpt.config import read_yaml_mapping
from genpt.data.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
TABLE = ("<!-- comparison table: rendered from docs/results/thousand/comparison.json by scripts/results_table.py; do not edit -->",
         "<!-- end of comparison table -->")
SWEEP = ("<!-- pretraining sweep: rendered from docs/results/sweep/ by "
         "scripts/results_table.py; do not edit -->", "<!-- end of pretraining sweep -->")
DRAW = ("<!-- the draw: rendered from the --draw comparisons by scripts/results_table.py; do not edit -->",
        "<!-- end of the draw -->")
# The same pretraining run fine-tuned on two budgets of 1,000 examples: the first ones in file order
# (the tables up to 2026-12-05) and a fixed random draw
DRAW_FILES = (ROOT / "docs" / "results" / "sweep" / "mini2k.json", ROOT / "docs" / "results" / "draw" / "mini2k_random.json")
SIZE = ("<!-- the training-set size: rendered from the --size comparisons by scripts/results_table.py; do not edit -->",
        "<!-- end of the training-set size -->")
# The same pretraining run fine-tuned on a random 1,000 examples and on the whole training set
SIZE_FILES = (ROOT / "docs" / "results" / "size" / "mini2k_random1000.json", ROOT / "docs" / "results" / "size" / "mini2k_all.json")
PROBE = ("<!-- the probe: rendered from docs/results/probe/ by scripts/results_table.py; do not edit -->",
         "<!-- end of the probe -->")
WHOLE = ("<!-- whole-set table: rendered from docs/results/comparison.json by scripts/results_table.py; do not edit -->",
         "<!-- end of whole-set table -->")
WHOLE_TARGETS = (("<!-- whole-set targets: rendered from docs/results/comparison.json by scripts/results_table.py; "
                  "do not edit -->"), "<!-- end of whole-set targets -->")
# Issue 14's targets for the pretrained GPT (with or without the aux LM, the better), on the mean of
# the recipe's seeds: (what, task or None for the six-task average, metric or None for the task's
# main one, the bar, whether the bar itself meets it, the row the bar is relative to or None)
TARGETS = (
    ("Avg >= GPT from scratch + 10", None, None, 10.0, True, "gpt-scratch"),
    ("Avg > the Transformer's", None, None, 0.0, False, "transformer"),
    ("Avg > the LSTM's", None, None, 0.0, False, "lstm"),
    ("CoLA Matthews >= 10", "cola", None, 10.0, True, None),
    ("SST-2 accuracy >= 80", "sst2", None, 80.0, True, None),
    ("MRPC F1 > 81.2 (all-positive)", "mrpc", None, 81.2, False, None),
    ("MRPC accuracy > 68.4 (all-positive)", "mrpc", "accuracy", 68.4, False, None),
    ("STS-B Pearson >= 60", "stsb", None, 60.0, True, None),
    ("Story Cloze accuracy >= 65", "story_cloze", None, 65.0, True, None),
)
PRETRAINED_ROWS = ("gpt", "gpt-no-aux")


def kept_epochs(comparison: dict) -> dict[str, str]:
    """Each task's kept epoch; comparisons made before 2026-12-06 do not say, and kept the best
    on dev."""
    return comparison.get("kept_epoch") or {task: "best" for task in comparison["tasks"]}


def protocol(comparison: dict) -> str:
    """What a comparison's cells must share with those of another to be set beside them: the
    training examples of each task and the epoch each run kept."""
    return json.dumps({"train_examples": comparison.get("train_examples"), "kept_epoch": kept_epochs(comparison)}, sort_keys=True)


def split_at(text: str, markers: tuple[str, str], document: Path) -> tuple[str, str, str]:
    """(before, between, after) a pair of marker lines of `document`'s text."""
    begin, end = markers
    if begin not in text or end not in text:
        raise SystemExit(f"{document}: expected the marker lines {begin!r} and {end!r} around the table")
    before, rest = text.split(begin, 1)
    between, after = rest.split(end, 1)
    return before, between.strip(), after


# ---- the sweep: what each amount of pretraining buys the same fine-tuning ----------------------------


def sweep_points(sweeps: list[dict]) -> tuple[list[dict], list[str], list[int]]:
    """One point per amount of pretraining: GPT from scratch (0 tokens) and the pretrained GPT row
    of each sweep comparison; scores over the seeds every point has. The sweep is its own
    experiment (one fine-tuning budget, one scratch row), apart from the main table."""
    protocols = {protocol(sweep) for sweep in sweeps}
    if len(protocols) > 1:
        raise SystemExit(f"the sweep's comparisons trained on other examples or kept other epochs ({', '.join(sorted(protocols))}); "
                         "a sweep varies the pretraining alone")
    scratch_rows = [s for sweep in sweeps for s in sweep["systems"] if s["name"] == "gpt-scratch"]
    if not scratch_rows or any(row["scores"] != scratch_rows[0]["scores"] for row in scratch_rows):
        raise SystemExit("the sweep's comparisons need one GPT-from-scratch row, the same in every file that has one")
    main = next(sweep for sweep in sweeps if any(s["name"] == "gpt-scratch" for s in sweep["systems"]))
    systems = [scratch_rows[0]] + [s for sweep in sweeps for s in sweep["systems"] if s["name"] == "gpt"]
    tasks = main["tasks"]
    seeds = sorted(set.intersection(*(set(s["seeds"]) for s in systems)))
    points = []
    for system in sorted(systems, key=lambda s: s["pretraining_tokens"]):
        kept = [system["seeds"].index(seed) for seed in seeds]
        means = {t: statistics.fmean(from_json_number(system["scores"][t][i]) for i in kept) for t in tasks}
        seconds = system.get("pretraining_seconds")
        points.append({"tokens": system["pretraining_tokens"], "seconds": float("nan") if seconds is None else seconds,
                       "means": means, "average": statistics.fmean(means.values())})
    return points, tasks, seeds


def sweep_table(points: list[dict], tasks: list[str], seeds: list[int]) -> str:
    header = ["pretraining", "Avg", "gain over scratch", *(TASKS[t].title for t in tasks)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    scratch = points[0]["average"]
    for point in points:
        amount = pretraining_label(point["tokens"], point["seconds"]) if point["tokens"] else "none (GPT from scratch)"
        lines.append("| " + " | ".join([amount, f"{point['average']:.1f}", f"{point['average'] - scratch:+.1f}",
                                         *(f"{point['means'][t]:.1f}" for t in tasks)]) + " |")
    lines.append("")
    lines.append(f"Seeds: {', '.join(map(str, seeds))} (those every row has).")
    return "\n".join(lines)


def plot_sweep(points: list[dict], tasks: list[str], seeds: list[int], path: Path) -> None:
    """Each task's score, and the average, against the pretraining tokens behind the model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["none"] + [f"{p['tokens'] / 1e6:.1f}M" for p in points[1:]]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for task in tasks:
        axes.plot(labels, [p["means"][task] for p in points], marker="o", linewidth=1, label=TASKS[task].title)
    axes.plot(labels, [p["average"] for p in points], marker="s", color="black", linewidth=2.5, label="Avg")
    axes.set(xlabel="pretraining tokens behind the fine-tuned GPT",
             ylabel="dev score x 100", title=f"What pretraining buys, by amount (seed{'s' if len(seeds) > 1 else ''} "
                                             f"{', '.join(map(str, seeds))})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    write_file_atomically(path, lambda staging: figure.savefig(staging, format="png", dpi=110))
    plt.close(figure)


# ---- the draw: one pretraining run, two sets of training examples --------------------------------------


def draw_rows(comparisons: list[dict], option: str = "--draw") -> tuple[list[dict], list[str]]:
    """For each comparison (one budget each), its rows of the systems every comparison has, and
    the gain of the pretrained GPT over GPT from scratch on the seeds both rows have; each as
    {"row": Row, "budget", "seeds", "signed"}."""
    tasks = comparisons[0]["tasks"]
    if any(c["tasks"] != tasks for c in comparisons):
        raise SystemExit(f"{option}: the comparisons cover other tasks")
    budgets = [set(c.get("train_examples", {}).values()) for c in comparisons]
    if any(len(b) != 1 for b in budgets) or len(set.union(*budgets)) != len(comparisons):
        raise SystemExit(f"{option}: each comparison needs one budget for every task, and each a budget of its own")
    if any(kept_epochs(c) != kept_epochs(comparisons[0]) for c in comparisons):
        raise SystemExit(f"{option}: the comparisons kept other epochs (the last against the best on dev)")
    shared = [name for name in SYSTEMS if all(any(s["name"] == name for s in c["systems"]) for c in comparisons)]
    rows = []
    for comparison, (budget,) in zip(comparisons, budgets):
        system_rows = dict(zip((s["name"] for s in comparison["systems"]), rows_from_json(comparison)[0]))
        seeds = {s["name"]: s["seeds"] for s in comparison["systems"]}
        rows += [{"row": system_rows[name], "budget": budget, "seeds": seeds[name], "signed": False} for name in shared]
        if "gpt" in system_rows and "gpt-scratch" in system_rows:
            common = sorted(set(seeds["gpt"]) & set(seeds["gpt-scratch"]))
            gain = {t: [system_rows["gpt"].scores[t][seeds["gpt"].index(seed)]
                        - system_rows["gpt-scratch"].scores[t][seeds["gpt-scratch"].index(seed)] for seed in common]
                    for t in tasks}
            rows.append({"row": Row("**gain from pretraining** (aux LM row - from scratch)", gain, 0, math.nan),
                         "budget": budget, "seeds": common, "signed": True})
    return rows, tasks


def draw_table(rows: list[dict], tasks: list[str]) -> str:
    header = ["row", "training examples", "seeds", "Avg", *(TASKS[t].title for t in tasks)]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|" + "---:|" * (len(header) - 3)]
    for entry in rows:
        row, sign, seeds = entry["row"], "+" if entry["signed"] else "", len(entry["seeds"])
        cells = [_mean_and_spread(row.average(tasks), row.average_std(tasks), seeds, sign),
                 *(_mean_and_spread(row.mean(t), row.std(t), seeds, sign) for t in tasks)]
        lines.append("| " + " | ".join([row.label, entry["budget"], ", ".join(map(str, entry["seeds"])), *cells]) + " |")
    return "\n".join(lines)


def _mean_and_spread(mean: float, spread: float, seeds: int, sign: str) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:{sign}.1f}" + (f" ± {spread:.1f}" if seeds > 1 else "")


def plot_draw(rows: list[dict], tasks: list[str], path: Path,
              title: str = "What pretraining buys, by which 1,000 training examples (dots: seeds)") -> None:
    """The gain from pretraining per task (and on the average) for each budget, every seed a dot."""
    gains = [dataclasses.replace(entry["row"], label=entry["budget"]) for entry in rows if entry["signed"]]
    plot_comparison(gains, tasks, path, title, ylabel="pretrained minus from scratch (points)")


# ---- the probe: what the frozen features hold (scripts/feature_probe.py) ----------------------------


def probe_table(probes: list[list[dict]]) -> str:
    """One row per model probed (by pretraining tokens), one column per task: its held-out score."""
    tasks = [records[0]["task"] for records in probes]
    tokens: dict[str, int] = {}  # init -> its pretraining tokens
    held_out: dict[tuple[str, str], float | None] = {}  # (init, task) -> the probe's held-out score (None: undefined)
    for records in probes:
        for record in records:
            tokens[record["init"]] = record["pretraining_tokens"]
            held_out[record["init"], record["task"]] = record["held_out"]
    header = ["features of", "pretraining tokens"] + [_probe_column(records) for records in probes]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for init in sorted(tokens, key=tokens.get):
        scores = [f"{held_out[init, t]:.1f}" if held_out.get((init, t)) is not None else "–" for t in tasks]
        lines.append("| " + " | ".join([_probe_label(init), f"{tokens[init] / 1e6:.1f}M" if tokens[init] else "0", *scores]) + " |")
    return "\n".join(lines)


def _probe_column(records: list[dict]) -> str:
    first = records[0]
    drawn = first.get("train_examples", "all")
    return (f"{TASKS[first['task']].title.split(' (')[0]} ({first['metric']}; fit {first['fit_examples']:,}, "
            f"held out {first['held_out_examples']:,}{'' if drawn == 'all' else f' of a random {drawn:,}'})")


def _probe_label(init: str) -> str:
    """`scratch` as random weights; a path by its part from runs/ on (where the docs' commands put runs)."""
    if init == "scratch":
        return "random weights"
    return "runs/" + init.split("/runs/", 1)[1] if "/runs/" in init else init


# ---- the whole-set table's targets (issue 14) ------------------------------------------------------


def targets_table(values: dict, seeds: list[int]) -> str:
    """Each target against both pretrained rows; judged on the better of the two once every
    cell it needs has all of `seeds` (the recipe's), and said to be pending before."""
    rows, tasks = rows_from_json(values)
    by_name = dict(zip((s["name"] for s in values["systems"]), zip(rows, values["systems"])))
    header = ["target (mean of the seeds)", *(by_name[n][0].label if n in by_name else n for n in PRETRAINED_ROWS),
              "bar", "seeds in", "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * 4 + "---|"]
    for what, task, metric, bar, inclusive, against in TARGETS:
        needed = [name for name in (*PRETRAINED_ROWS, *([against] if against else [])) if name in by_name]
        value = {name: _target_value(*by_name[name], task, metric, tasks) for name in needed}
        level = bar + value[against] if against in value else (math.nan if against else bar)
        seeds_in = min((_seeds_in(by_name[name][1], [task] if task else tasks) for name in needed), default=0)
        best = max((value[n] for n in PRETRAINED_ROWS if n in value and not math.isnan(value[n])), default=math.nan)
        margin = best - level
        if math.isnan(margin):
            verdict = "–"
        elif seeds_in < len(seeds):
            verdict = f"pending ({margin:+.1f} so far)"
        else:
            met = margin >= 0 if inclusive else margin > 0
            verdict = f"met ({margin:+.1f})" if met else f"**missed by {-margin:.1f}**"
        cells = [_number(value.get(n, math.nan)) for n in PRETRAINED_ROWS]
        bar_cell = f"{_number(value[against])} + {bar:g}" if against in value and bar else (
            _number(level) if against else f"{bar:g}")
        lines.append("| " + " | ".join([what, *cells, bar_cell, f"{seeds_in} of {len(seeds)}", verdict]) + " |")
    return "\n".join(lines)


def recipe_seeds(recipe: Path) -> list[int]:
    return [int(seed) for seed in read_yaml_mapping(recipe)["seeds"]]


def _target_value(row: Row, system: dict, task: str | None, metric: str | None, tasks: list[str]) -> float:
    if task is None:
        return row.average(tasks)
    if metric is None:
        return row.mean(task)
    other = [v for v in (row.other_scores.get(task) or {}).get(metric, []) if not math.isnan(v)]
    return statistics.fmean(other) if other else math.nan


def _seeds_in(system: dict, tasks: list[str]) -> int:
    """How many seeds every one of `tasks` has a score of in this row (a comparison tabulated
    from the finished cells of the recipe's: some of its seeds)."""
    return min(len(system["scores"].get(t) or []) for t in tasks)


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}"


def combine(new: dict, old: dict) -> dict:
    """NEW's rows, and OLD's rows of the systems NEW has not run, ordered as the table orders them."""
    if new["tasks"] != old["tasks"] or new["metrics"] != old["metrics"]:
        raise SystemExit(f"--combine: the two comparisons cover other tasks ({new['tasks']} against {old['tasks']})")
    if protocol(new) != protocol(old):
        raise SystemExit(f"--combine: the two comparisons trained on other examples or kept other epochs ({protocol(new)} "
                         f"against {protocol(old)}); a table compares its rows on one budget and one rule for the epoch")
    ran = {s["name"] for s in new["systems"]}
    systems = new["systems"] + [s for s in old["systems"] if s["name"] not in ran]
    order = list(SYSTEMS)
    systems.sort(key=lambda s: order.index(s["name"]) if s["name"] in order else len(order))
    return {**new, "systems": systems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparison", type=Path, default=ROOT / "docs" / "results" / "thousand" / "comparison.json",
                        help="the comparison on 1,000 examples per task (the earlier tables)")
    parser.add_argument("--sweep", type=Path, default=ROOT / "docs" / "results" / "sweep",
                        help="folder of the sweep's comparison JSON files")
    parser.add_argument("--draw", nargs="+", type=Path, default=list(DRAW_FILES), metavar="JSON",
                        help="comparisons of one pretraining run on different budgets (the draw's table and chart)")
    parser.add_argument("--size", nargs="+", type=Path, default=list(SIZE_FILES), metavar="JSON",
                        help="comparisons of one pretraining run on training sets of different sizes (the size's table and chart)")
    parser.add_argument("--probe", type=Path, default=ROOT / "docs" / "results" / "probe",
                        help="folder of scripts/feature_probe.py's JSON files, one per task")
    parser.add_argument("--whole", type=Path, default=ROOT / "docs" / "results" / "comparison.json",
                        help="the recipe's comparison on whole training sets: the headline")
    parser.add_argument("--whole_recipe", type=Path, default=ROOT / "recipes" / "compare.yaml",
                        help="the whole-set comparison's recipe: its seeds are what a target is judged on")
    parser.add_argument("--document", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a table differs")
    parser.add_argument("--combine", nargs=2, type=Path, metavar=("NEW", "OLD"),
                        help="first write --comparison from NEW's rows and OLD's rows of the systems NEW lacks")
    args = parser.parse_args(argv)
    if args.combine:
        values = combine(*(json.loads(path.read_text()) for path in args.combine))
        write_json_atomically(args.comparison, values)
    main_values = json.loads(args.comparison.read_text())
    sweep = sweep_points([json.loads(p.read_text()) for p in sorted(args.sweep.glob("*.json"))])
    rows, tasks = rows_from_json(main_values)
    draw = draw_rows([json.loads(p.read_text()) for p in args.draw])
    size = draw_rows([json.loads(p.read_text()) for p in args.size], "--size")
    whole = json.loads(args.whole.read_text())
    whole_rows, whole_tasks = rows_from_json(whole)
    tables = {WHOLE: markdown_table(whole_rows, whole_tasks), WHOLE_TARGETS: targets_table(whole, recipe_seeds(args.whole_recipe)), TABLE: markdown_table(rows, tasks), SWEEP: sweep_table(*sweep), DRAW: draw_table(*draw),
              SIZE: draw_table(*size), PROBE: probe_table([json.loads(p.read_text()) for p in sorted(args.probe.glob("*.json"))])}
    text = args.document.read_text()
    if args.check:
        stale = [markers[0] for markers, table in tables.items() if split_at(text, markers, args.document)[1] != table]
        for marker in stale:
            print(f"{args.document}: the table after {marker!r} is not what the JSON renders; "
                  f"run python scripts/results_table.py", file=sys.stderr)
        return 1 if stale else 0
    for (begin, end), table in tables.items():
        before, _, after = split_at(text, (begin, end), args.document)
        text = f"{before}{begin}\n{table}\n{end}{after}"
    write_file_atomically(args.document, lambda p: p.write_text(text))
    plot_comparison(rows, tasks, args.comparison.with_suffix(".png"), "genpt compare, 1,000 examples per task: dev scores by system")
    plot_comparison(whole_rows, whole_tasks, args.whole.with_suffix(".png"), "genpt compare, whole training sets: dev scores")
    charts_dir = args.whole.parent  # docs/results: the sweep's, the draw's and the size's charts
    plot_sweep(*sweep, charts_dir / "pretraining_sweep.png")
    plot_draw(*draw, charts_dir / "draw.png")
    plot_draw(*size, charts_dir / "size.png", "What pretraining buys, by training-set size (dots: seeds)")
    charts = [args.comparison.with_suffix(".png"), args.whole.with_suffix(".png"),
              *(charts_dir / f"{name}.png" for name in ("pretraining_sweep", "draw", "size"))]
    print(f"written: {args.document} ({len(tables)} tables), {', '.join(map(str, charts))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

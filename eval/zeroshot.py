"""`genpt eval zeroshot`: the paper's zero-shot heuristics (section 5, Figure 2 right).

The language model alone, no fine-tuning, scores each task by the likelihood of text:

    sst2         the sentence + " very", then " positive" against " negative" (each word's
                 whole token sequence): the likelier word is the label
    cola         the sentence's average token log-probability, thresholded; the threshold is
                 the one with the best Matthews correlation on the training split
    story_cloze  each ending's average token log-probability after the story (RACE: after the
    (and any multiple-choice task, RACE among them)  article and its question): the likelier ending is the answer

Every text starts after <|endoftext|>, as a document does in pretraining. Scored on a run,
a checkpoint, or (`--checkpoints all`) every checkpoint a pretraining run kept, which draws
Figure 2's curve: task score against pretraining steps.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from genpt import checkpoint as ckpt
from genpt.atomic import claim_outputs, refuse_foreign_outputs, write_file_atomically, write_json_atomically
from genpt.data.tasks import Example, get_task, read_split
from genpt.errors import GenptError
from genpt.eval.lm import LanguageModel, load_language_model
from genpt.metrics import accuracy, matthews_correlation
from genpt.special_tokens import ENDOFTEXT

TASKS = ("sst2", "cola", "story_cloze")
@torch.no_grad()
def continuation_logprobs(lm: LanguageModel, contexts: Sequence[str], continuations: Sequence[str],
                          batch_size: int = 16) -> list[tuple[float, int]]:
    """(summed log-probability, tokens) of each continuation after its context."""
    tokenizer, model = lm.tokenizer, lm.model
    device = next(model.parameters()).device
    start = [tokenizer.convert_tokens_to_ids(ENDOFTEXT)]
    encode = lambda texts: tokenizer(list(texts), add_special_tokens=False)["input_ids"]  # noqa: E731
    pairs = list(zip(encode(contexts), encode(continuations)))
    context_limit = model.config.n_positions
    results: list[tuple[float, int]] = []
    for first in range(0, len(pairs), batch_size):
        rows = []
        for context, continuation in pairs[first : first + batch_size]:
            continuation = continuation[: context_limit - 1] or continuation[:1]
            context = (start + context)[-(context_limit - len(continuation)):]  # cut the context, never the answer
            rows.append((context, continuation))
        width = max(len(c) + len(a) for c, a in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long, device=device)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=device)
        targets = torch.full((len(rows), width), -100, dtype=torch.long, device=device)
        for row, (context, continuation) in enumerate(rows):
            sequence = torch.tensor(context + continuation, dtype=torch.long, device=device)
            ids[row, : len(sequence)], mask[row, : len(sequence)] = sequence, 1
            targets[row, len(context) : len(sequence)] = sequence[len(context):]
        logits = model(ids, mask).logits.float()[:, :-1]  # (B, T-1, V) predicts tokens 1..T-1
        token_logprobs = -F.cross_entropy(logits.transpose(1, 2), targets[:, 1:], ignore_index=-100, reduction="none")
        sums, counts = token_logprobs.sum(dim=1), (targets[:, 1:] != -100).sum(dim=1)
        results += [(float(s), int(n)) for s, n in zip(sums.cpu(), counts.cpu())]
    return results


def sentiment(lm: LanguageModel, examples: list[Example]) -> dict[str, float]:
    """SST-2: after "sentence very", is " positive" likelier than " negative"?"""
    contexts = [f"{e.text_a} very" for e in examples]
    positive = continuation_logprobs(lm, contexts, [" positive"] * len(examples))
    negative = continuation_logprobs(lm, contexts, [" negative"] * len(examples))
    predictions = [int(p[0] > n[0]) for p, n in zip(positive, negative)]
    return {"accuracy": 100 * accuracy(predictions, [e.label for e in examples])}


def sentence_scores(lm: LanguageModel, examples: list[Example]) -> np.ndarray:
    """Each sentence's average token log-probability (from the start of a document)."""
    scored = continuation_logprobs(lm, [""] * len(examples), [e.text_a for e in examples])
    return np.array([total / max(count, 1) for total, count in scored])


def best_threshold(scores: np.ndarray, labels: Sequence[int]) -> float:
    """The threshold on `scores` (acceptable when above) with the best Matthews correlation."""
    candidates = np.unique(scores)
    best, best_score = float(candidates[0]) - 1.0, -math.inf
    for threshold in np.quantile(candidates, np.linspace(0, 1, min(201, len(candidates)))):
        score = matthews_correlation((scores > threshold).astype(int), labels)
        if score > best_score:
            best, best_score = float(threshold), score
    return best


def acceptability(lm: LanguageModel, train: list[Example], dev: list[Example]) -> dict[str, float]:
    """CoLA: the average log-probability, thresholded where the training split says."""
    threshold = best_threshold(sentence_scores(lm, train), [e.label for e in train])
    predictions = (sentence_scores(lm, dev) > threshold).astype(int)
    return {"matthews_correlation": 100 * matthews_correlation(predictions, [e.label for e in dev]), "threshold": threshold}


def multiple_choice(lm: LanguageModel, examples: list[Example]) -> dict[str, float]:
    """The choice with the highest average token log-probability after the context."""
    predictions = [int(np.argmax(averages)) for averages in choice_logprobs(lm, examples)]
    return {"accuracy": 100 * accuracy(predictions, [e.label for e in examples])}


def choice_logprobs(lm: LanguageModel, examples: list[Example]) -> list[list[float]]:
    """Each example's choices' average token log-probabilities after its context: the story, or
    RACE's article with its question (text_b) after it, as fine-tuning reads them."""
    contexts = [e.text_a + (f" {e.text_b}" if e.text_b else "") for e in examples for _ in e.choices]
    choices = [f" {choice}" for e in examples for choice in e.choices]
    scored = iter(continuation_logprobs(lm, contexts, choices))
    return [[total / max(count, 1) for total, count in (next(scored) for _ in example.choices)] for example in examples]


@dataclass
class TaskData:
    name: str
    metric: str
    dev: list[Example]
    train: list[Example] | None = None  # CoLA's threshold is chosen on it


def load_task(name: str, *, glue_dir: str | None, story_cloze_dir: str | None, max_examples: int | None) -> TaskData:
    if name not in TASKS and get_task(name).input_format != "multiple_choice":
        raise GenptError(f"--tasks {name}: no zero-shot heuristic for it; expected {', '.join(TASKS)} or a multiple-choice task")
    task = get_task(name)
    data_dir = story_cloze_dir if task.input_format == "multiple_choice" else glue_dir
    if data_dir is None:
        option = "--story_cloze_dir" if task.input_format == "multiple_choice" else "--glue_dir"
        raise GenptError(f"--tasks {name}: the heuristic needs the task's data; pass {option}")
    dev = read_split(task, "validation", data_dir=data_dir)[:max_examples]
    train = read_split(task, "train", data_dir=data_dir)[:max_examples] if name == "cola" else None
    metric = {"cola": "matthews_correlation"}.get(name, "accuracy")
    return TaskData(name, metric, dev, train)


def chance_of(data: TaskData) -> float:
    """Guessing's score: the task's own, or a coin over the options of a task without named ones."""
    chance = get_task(data.name).chance_score
    return chance if chance is not None else 100 / len(data.dev[0].choices or (0, 0))


def score(lm: LanguageModel, data: TaskData) -> dict[str, float]:
    if data.name == "sst2":
        return sentiment(lm, data.dev)
    if data.name == "cola":
        return acceptability(lm, data.train or [], data.dev)
    return multiple_choice(lm, data.dev)


def checkpoints_of(run: Path, which: str) -> list[tuple[int, Path]]:
    """(pretraining step, folder) of what to score: the run itself, or every checkpoint it kept."""
    if which != "all":
        state = ckpt.read_state(run) if (run / ckpt.STATE_FILE).is_file() else {}
        return [(int(state.get("step", 0)), run)]
    found = [(ckpt.read_state(folder)["step"], folder) for folder in ckpt.list_checkpoints(run / "checkpoints")]
    if not found:
        raise GenptError(f"--run {run}: no checkpoints to score (pretrain with --save_total_limit large enough, or "
                         "--keep_checkpoints log)")
    if (run / ckpt.MODEL_FILE).is_file() and (run / ckpt.STATE_FILE).is_file():
        final = ckpt.read_state(run)["step"]
        if final not in {step for step, _ in found}:
            found.append((final, run))
    return sorted(found)


# What `genpt eval zeroshot --output_dir` writes.
OUTPUTS = ["zeroshot.json", "zeroshot.md", "zeroshot.png"]


def evaluate_zeroshot(run: str, tasks: Sequence[str], *, glue_dir: str | None = None, story_cloze_dir: str | None = None,
                      checkpoints: str = "final", max_examples: int | None = None, output_dir: str | None = None,
                      show_progress: bool = True) -> dict[str, Any]:
    """Every task's zero-shot score, per scored checkpoint; with `output_dir`, zeroshot.json
    (and, for several checkpoints, zeroshot.md and zeroshot.png)."""
    if output_dir is not None:  # one checkpoint writes the JSON alone; all of them, the curve too
        refuse_foreign_outputs(output_dir, OUTPUTS if checkpoints == "all" else OUTPUTS[:1])
    data = [load_task(name, glue_dir=glue_dir, story_cloze_dir=story_cloze_dir, max_examples=max_examples) for name in tasks]
    points = checkpoints_of(Path(run), checkpoints)
    results = {d.name: {"metric": d.metric, "chance": chance_of(d),
                        "examples": len(d.dev), "by_step": {}} for d in data}
    scored = []
    for step, folder in tqdm(points, desc="checkpoints", unit="checkpoint", disable=not show_progress or len(points) == 1):
        if checkpoints == "all" and not folder.exists():  # a run still training replaced its newest checkpoint meanwhile
            print(f"genpt eval zeroshot: {folder} was removed by the run while scoring (still training?); skipped",
                  file=sys.stderr)
            continue
        lm = load_language_model(str(folder))
        scored.append(step)
        for d in data:
            scores = score(lm, d)
            results[d.name]["by_step"][str(step)] = round(scores[d.metric], 3)
            if "threshold" in scores:
                results[d.name].setdefault("thresholds", {})[str(step)] = scores["threshold"]
    if not scored:
        raise GenptError(f"--run {run}: every checkpoint was removed while scoring; score the run once it has finished")
    final = str(scored[-1])
    summary = {"run": run, "tasks": {name: {**values, "score": values["by_step"][final]} for name, values in results.items()}}
    if output_dir is not None:
        write_outputs(summary, Path(output_dir), several=len(scored) > 1)
    return summary


def write_outputs(summary: dict[str, Any], output_dir: Path, several: bool) -> None:
    # one checkpoint has no curve: an earlier call's md and png (never the user's) would sit beside this JSON
    claim_outputs(output_dir, OUTPUTS if several else OUTPUTS[:1], removed=() if several else tuple(OUTPUTS[1:]))
    write_json_atomically(output_dir / "zeroshot.json", summary)
    if not several:
        return
    tasks = summary["tasks"]
    steps = sorted({int(s) for values in tasks.values() for s in values["by_step"]})
    lines = ["| pretraining step | " + " | ".join(f"{name} ({values['metric']})" for name, values in tasks.items()) + " |",
             "|---:|" + "---:|" * len(tasks)]
    for step in steps:
        lines.append(f"| {step:,} | " + " | ".join(f"{values['by_step'].get(str(step), math.nan):.1f}" for values in tasks.values())
                     + " |")
    lines.append("| chance | " + " | ".join(f"{values['chance']:.1f}" for values in tasks.values()) + " |")
    write_file_atomically(output_dir / "zeroshot.md", lambda p: p.write_text("\n".join(lines) + "\n"))
    plot_curves(tasks, output_dir / "zeroshot.png")


def plot_curves(tasks: dict[str, Any], path: Path) -> None:
    """Figure 2 (right): each task's zero-shot score against pretraining steps, log-scale x,
    the chance level dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for index, (name, values) in enumerate(tasks.items()):
        steps = sorted(int(s) for s in values["by_step"] if int(s) > 0)
        color = f"C{index}"
        axes.plot(steps, [values["by_step"][str(s)] for s in steps], marker="o", color=color,
                  label=f"{name} ({values['metric']})")
        axes.axhline(values["chance"], color=color, linestyle="--", linewidth=0.8)
    axes.set_xscale("log")
    axes.set(xlabel="pretraining steps", ylabel="zero-shot score x 100 (dashed: chance)",
             title="genpt eval zeroshot: task ability during pretraining")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    write_file_atomically(path, lambda staging: figure.savefig(staging, format="png", dpi=110))
    plt.close(figure)

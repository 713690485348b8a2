"""Do the whole-set table's models compare the two texts of a pair? (issue 14: STS-B, MRPC, RTE)

    python scripts/pair_probe.py --runs runs/compare/runs --pretraining runs/mini_recipe \
        --glue_dir ../shared/data/glue --output docs/results/pair_probe.json

Four measurements, written to one JSON and printed as Markdown:

1. Word overlap, nothing trained: the Pearson correlation of the Jaccard overlap of the
   two sentences' words with the STS-B dev scores; for MRPC, the overlap threshold that is
   best on MRPC *train*, scored once on dev.
2. Every fine-tuned STS-B, MRPC and RTE run in --runs: its dev metric, the correlation of
   its score (STS-B's similarity; the probability of "equivalent" or "entailment") with
   the word overlap, and its mean score on the dev pairs, on each pair made identical
   (A, A), and on A beside another pair's second text (A, B').
3. In-context copying of the pretraining run and its checkpoints: the language-model loss
   on 64-token validation windows read after the 64 tokens before them (once), and read
   after themselves (again). A model that copies from its context predicts the second
   reading far better.
4. A control: the same `GPT` class, trained from scratch on random token sequences that
   repeat, learns to copy (the loss on the repeat falls towards 0), so the architecture
   and its masks allow it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score

from genpt.atomic import write_json_atomically
from genpt.checkpoint import list_checkpoints
from genpt.config import GPTConfig
from genpt.data.tasks import get_task, read_split
from genpt.models.gpt import GPT
from genpt.pretrained import load_pretrained
from genpt.task_run import load_task_run, predict

WINDOW = 64  # tokens per validation window in the copying probe
WINDOWS = 32


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def jaccard(a: str, b: str) -> float:
    first, second = words(a), words(b)
    return len(first & second) / max(1, len(first | second))


def overlap_baselines(glue_dir: Path) -> dict:
    """STS-B: Pearson of the overlap itself. MRPC: a threshold fitted on train, scored on dev."""
    stsb = read_split(get_task("stsb"), "validation", data_dir=glue_dir)
    stsb_r = pearsonr([jaccard(e.text_a, e.text_b) for e in stsb], [e.label for e in stsb])[0]

    def scores(examples, threshold):
        predicted = [jaccard(e.text_a, e.text_b) >= threshold for e in examples]
        gold = [e.label == 1 for e in examples]
        return float(accuracy_score(gold, predicted)), float(f1_score(gold, predicted, zero_division=0.0))

    mrpc_train = read_split(get_task("mrpc"), "train", data_dir=glue_dir)
    mrpc_dev = read_split(get_task("mrpc"), "validation", data_dir=glue_dir)
    thresholds = np.linspace(0, 1, 101)
    best = max(thresholds, key=lambda t: scores(mrpc_train, t)[0])  # accuracy on train
    accuracy, f1 = scores(mrpc_dev, best)
    return {"stsb_dev_pearson": 100 * float(stsb_r),
            "mrpc_threshold_from_train": float(best), "mrpc_dev_accuracy": 100 * accuracy, "mrpc_dev_f1": 100 * f1}


# What a pair task's score is: STS-B's predicted similarity (0-5), or the probability of
# the class that says "the two texts agree".
AGREEING_CLASS = {"mrpc": "equivalent", "rte": "entailment"}


def probe_pair_run(folder: Path, glue_dir: Path) -> dict:
    """The run's dev metric, its scores' correlation with word overlap, and its mean score
    on the real dev pairs, on each pair made identical (A, A), and on A beside another
    pair's second text (A, B')."""
    run = load_task_run(folder)
    dev = read_split(run.task, "validation", data_dir=glue_dir)
    overlap = np.array([jaccard(e.text_a, e.text_b) for e in dev])
    others = [e.text_b for e in dev[1:] + dev[:1]]  # each A beside the next pair's B: never its own

    def scores(examples):
        predictions, logits = predict(run.model, run.encode(examples), run.collator())
        if run.task.is_regression:
            return predictions
        agreeing = run.task.label_names.index(AGREEING_CLASS[run.task.name])
        return logits.softmax(dim=-1)[:, agreeing].numpy()

    paired = scores(dev)
    identical = scores([dataclasses.replace(e, text_b=e.text_a) for e in dev])
    mismatched = scores([dataclasses.replace(e, text_b=b) for e, b in zip(dev, others)])
    metric = run.task.main_metric
    reported = json.loads((folder / "eval_results.json").read_text())[metric]
    return {"run": folder.name, "task": run.task.name, "metric": metric, "dev_score": 100 * float(reported),
            "pearson_with_overlap": 100 * float(pearsonr(paired, overlap)[0]),
            "mean_score": float(paired.mean()), "mean_score_identical": float(identical.mean()),
            "mean_score_mismatched": float(mismatched.mean())}


def validation_windows(run: Path) -> torch.Tensor:
    """WINDOWS stretches of 2 x WINDOW tokens, spread over the run's validation tokens."""
    meta = json.loads((run / "data" / "meta.json").read_text())
    tokens = np.memmap(run / "data" / meta["validation"]["file"], dtype=np.dtype(meta["dtype"]), mode="r")
    starts = np.linspace(0, len(tokens) - 2 * WINDOW, WINDOWS).astype(np.int64)
    return torch.tensor(np.stack([tokens[s : s + 2 * WINDOW] for s in starts]).astype(np.int64), device="cpu")  # (N, 2W)


@torch.no_grad()
def once_and_again(model: GPT, stretches: torch.Tensor) -> tuple[float, float]:
    """Mean loss on the second half of each stretch read after the first half (once), and
    read after itself (again): the same tokens at the same positions with as much context,
    which differs only in holding the text being predicted.

    The first token of the half is not scored: after itself it follows the half's end,
    which no copying predicts.
    """
    model.eval()
    W = stretches.shape[1] // 2
    text = stretches[:, W:]  # (N, W)
    losses = []
    for context in (stretches[:, :W], text):
        sequence = torch.cat([context, text], dim=1)  # (N, 2W)
        logits = model(sequence).logits[:, W:-1].float()  # (N, W-1): predictions of text[1:]
        losses.append(float(F.cross_entropy(logits.flatten(0, 1), text[:, 1:].flatten())))
    return losses[0], losses[1]


def copying_over_pretraining(run: Path) -> list[dict]:
    windows = validation_windows(run)
    rows = []
    for folder in [*list_checkpoints(run / "checkpoints"), run]:
        pretrained = load_pretrained(str(folder))
        step = (pretrained.pretraining or {}).get("step")
        if rows and step is not None and step == rows[-1]["step"]:  # the run's weights are its last checkpoint's
            continue
        once, again = once_and_again(pretrained.model, windows)
        rows.append({"checkpoint": folder.name if folder != run else "final", "step": step,
                     "loss_once": once, "loss_again": again})
        print(f"  {rows[-1]['checkpoint']}: once {once:.3f}, again {again:.3f}", file=sys.stderr)
    return rows


def copying_control(steps: int = 500, seed: int = 0) -> dict:
    """genpt's post-LN GPT, 2 layers, learning to copy random sequences from scratch."""
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=64, n_positions=32, n_layer=2, n_head=2, n_embd=64,
                       embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator(device="cpu").manual_seed(seed + 1)
    for _ in range(steps):
        half = torch.randint(0, 64, (32, 16), generator=generator, device="cpu")
        sequence = torch.cat([half, half], dim=1)  # (32, 32)
        loss = model(sequence, labels=sequence).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    held_out = torch.randint(0, 64, (64, 32), generator=generator, device="cpu")
    once, again = once_and_again(model, held_out)
    return {"steps": steps, "loss_once": once, "loss_again": again, "chance": math.log(64)}


def number(value: float | None, digits: int) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    overlap = result["overlap"]
    lines = [(f"- Word overlap, nothing trained: STS-B dev Pearson {overlap['stsb_dev_pearson']:.1f}; "
             f"MRPC dev accuracy {overlap['mrpc_dev_accuracy']:.1f}, F1 {overlap['mrpc_dev_f1']:.1f} "
             f"(threshold {overlap['mrpc_threshold_from_train']:.2f}, chosen on train)."), "",
             "| run | dev metric | correlation of its score with word overlap | mean score, dev pairs | identical pairs (A, A) | mismatched pairs (A, B') |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in result["pair_runs"]:
        lines.append(f"| {row['run']} | {row['metric']} {row['dev_score']:.1f} | {number(row['pearson_with_overlap'], 1)} | "
                     f"{row['mean_score']:.2f} | {row['mean_score_identical']:.2f} | {row['mean_score_mismatched']:.2f} |")
    lines += ["", "| pretraining checkpoint | step | loss on a window, after the text before it | after itself |", "|---|---:|---:|---:|"]
    for row in result["copying"]:
        lines.append(f"| {row['checkpoint']} | {row['step']} | {row['loss_once']:.3f} | {row['loss_again']:.3f} |")
    control = result["control"]
    lines += ["", (f"- Control, random sequences, {control['steps']} steps from scratch: loss {control['loss_once']:.2f} "
              f"after other random tokens (chance {control['chance']:.2f}), {control['loss_again']:.2f} after itself.")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, required=True,
                        help="folder of the comparison's cells (those of STS-B, MRPC and RTE are probed)")
    parser.add_argument("--pretraining", type=Path, required=True, help="the pretraining run the pretrained rows started from")
    parser.add_argument("--glue_dir", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True, help="the JSON to write")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    pair_runs = sorted(p for task in ("stsb", "mrpc", "rte") for p in args.runs.glob(f"{task}-*")
                       if (p / "eval_results.json").is_file())
    result = {"overlap": overlap_baselines(args.glue_dir),
              "pair_runs": [probe_pair_run(run, args.glue_dir) for run in pair_runs],
              "copying": copying_over_pretraining(args.pretraining),
              "control": copying_control(),
              "window_tokens": WINDOW, "windows": WINDOWS}
    write_json_atomically(args.output, result)  # an undefined correlation (constant scores) becomes null
    print(markdown(json.loads(args.output.read_text())))


if __name__ == "__main__":
    main()

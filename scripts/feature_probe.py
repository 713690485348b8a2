"""How much of a task is already in a GPT's frozen features: a linear probe.

A ridge regression (a regression task: STS-B) or a ridge classifier (a classification
task) is fitted on the frozen model's extract-token features, read as the task head reads
them (STS-B: h_AB + h_BA), on the training set less a held-out part, and scored on that
part with the task's main metric. Dev is never read. Set beside full fine-tuning, it says
whether a task is held back by what the language model learned or by the fine-tuning
(docs/results.md, issue 14); set beside a model with random weights (`scratch`), it says
what pretraining put into the features.

    python scripts/feature_probe.py --task stsb --data_dir ../shared/data/glue \\
        --init scratch runs/mini_recipe/checkpoints/step-00002000 runs/mini_recipe \\
        --tokenizer runs/tok8k --preset mini --output docs/results/probe/stsb.json

Each --init gets one line on stdout and one record in --output (written when all are done).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeClassifierCV, RidgeCV

from genpt.atomic import write_json_atomically
from genpt.data.collate import Collator, TaskDataset
from genpt.data.transformations import SpecialIds, encode_examples
from genpt.errors import GenptError
from genpt.finetune.config import FinetuneConfig
from genpt.finetune.train import load_task_data
from genpt.metrics import compute_metrics
from genpt.models.architectures import build_task_model
from genpt.pretrained import load_pretrained

ALPHAS = np.logspace(-2, 4, 13)  # ridge strengths, chosen by leave-one-out CV on the fit part


def probe(init: str, task_name: str, data_dir: str, held_out_percentage: float, seed: int,
          tokenizer: str | None = None, preset: str | None = None, max_seq_length: int = 128,
          max_train_samples: int | None = None) -> dict:
    """The probe of one model: its held-out score (the task's main metric) and how it was fitted."""
    torch.manual_seed(seed)  # `scratch` weights are drawn from it
    config = FinetuneConfig(task=task_name, data_dir=data_dir, init=init, tokenizer=tokenizer, preset=preset,
                            validation_split_percentage=held_out_percentage, seed=seed,
                            max_train_samples=max_train_samples, train_subset="random")
    task, splits = load_task_data(config)  # dev is not read: the held-out part is of the training set
    if task.input_format == "multiple_choice":
        raise GenptError(f"--task {task_name}: a linear probe scores one input, not a choice between candidates")
    pretrained = load_pretrained(init, tokenizer=tokenizer, preset=preset)
    model = build_task_model("gpt", pretrained.model.config, task.input_format, task.num_labels, 0.0, task.is_regression)
    model.transformer.load_state_dict(pretrained.model.state_dict())
    model.eval()
    started = time.perf_counter()
    fit_x, fit_y = features(model, task, splits.train, pretrained.tokenizer, max_seq_length)
    held_x, held_y = features(model, task, splits.validation, pretrained.tokenizer, max_seq_length)
    ridge = RidgeCV if task.is_regression else RidgeClassifierCV  # one linear probe, scores or classes
    fitted = ridge(alphas=ALPHAS).fit(fit_x, fit_y)
    score = compute_metrics(task.metrics, fitted.predict(held_x), held_y)[task.main_metric]
    fit_score = compute_metrics(task.metrics, fitted.predict(fit_x), fit_y)[task.main_metric]
    return {"init": init, "task": task.name, "train_examples": max_train_samples or "all", "metric": task.main_metric,
            "held_out": round(100 * score, 2), "fit": round(100 * fit_score, 2), "fit_examples": len(fit_y),
            "held_out_examples": len(held_y), "alpha": float(fitted.alpha_),
            "pretraining_tokens": (pretrained.pretraining or {}).get("tokens_seen", 0), "seed": seed,
            "seconds": round(time.perf_counter() - started, 1)}


@torch.no_grad()
def features(model, task, examples, tokenizer, max_seq_length: int, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) extract-token features as the task head reads them, and the (N,) labels."""
    dataset = TaskDataset(examples, encode_examples(examples, task.input_format, tokenizer, max_seq_length))
    collate = Collator(SpecialIds.from_tokenizer(tokenizer).pad, task.is_regression)
    rows, labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        B, K, T = batch["input_ids"].shape  # K: 2 orders of a similarity pair, else 1
        extracted, _ = model.sequence_features(batch["input_ids"].view(B * K, T), batch["attention_mask"].view(B * K, T),
                                               with_hidden=False)  # (B*K, C)
        rows.append(extracted.view(B, K, -1).sum(dim=1).float().numpy())  # (B, C): h_AB + h_BA, or h
        labels.append(batch["labels"].numpy())
    return np.concatenate(rows), np.concatenate(labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", nargs="+", required=True, help="genpt runs or checkpoints, Hugging Face folders, or scratch")
    parser.add_argument("--task", default="stsb")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--tokenizer", help="with scratch: the tokenizer folder")
    parser.add_argument("--preset", help="with scratch: the model preset")
    parser.add_argument("--max_train_samples", type=int, help="a random draw of the training set (as genpt compare's "
                        "sst2.max_train_samples), of which --held_out_percentage is held out")
    parser.add_argument("--held_out_percentage", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1, help="the held-out draw, and scratch's weights")
    parser.add_argument("--output", type=Path, help="JSON file of every model's probe")
    args = parser.parse_args(argv)
    records = []
    try:
        for init in args.init:
            scratch = init == "scratch"
            record = probe(init, args.task, args.data_dir, args.held_out_percentage, args.seed,
                           args.tokenizer if scratch else None, args.preset if scratch else None,
                           max_train_samples=args.max_train_samples)
            print(f"{init}: {record['task']} held-out {record['metric']} {record['held_out']:.1f} "
                  f"(fit {record['fit']:.1f}; {record['fit_examples']} / {record['held_out_examples']} examples, "
                  f"{record['pretraining_tokens']:,} pretraining tokens, {record['seconds']:.0f} s)", flush=True)
            records.append(record)
    except GenptError as error:
        print(f"feature_probe.py: {error}", file=sys.stderr)
        return 2
    if args.output:
        write_json_atomically(args.output, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())

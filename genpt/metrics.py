"""Task metrics, offline, in plain numpy, also served as local `evaluate` modules.

`score_task` computes a task's metrics through its `evaluate` module (genpt/metric_modules:
glue, story_cloze; perplexity for language models), so genpt's own scores and a
`transformers` Trainer user's `evaluate.load(module_path("glue"), "sst2")` are one code.
The functions below follow GLUE's official definitions, which call scikit-learn (accuracy, F1, Matthews
correlation) and scipy (Pearson, Spearman), down to their degenerate cases: F1 and MCC are
0.0 where undefined, and the correlations are NaN when an input is constant. Writing them
out (rather than importing sklearn) keeps evaluation free of those imports and lets the
tests compare two independent implementations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genpt.errors import GenptError


def _pair(preds: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    preds, labels = np.asarray(preds).ravel(), np.asarray(labels).ravel()
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
    if len(preds) == 0:
        raise ValueError("no predictions to score")
    return preds, labels


def check_scorable(task: Any, examples: Sequence[Any], what: str) -> None:
    """A regression split needs two scores that differ: Pearson's r is undefined otherwise.
    Found before training, not when the first epoch is scored."""
    if not task.is_regression or any(example.label is None for example in examples):
        return
    if len(examples) < 2:
        raise GenptError(f"{what} holds {len(examples)} example; scoring a regression needs at least 2")
    if len({example.label for example in examples}) == 1:
        raise GenptError(f"{what}: every example has the score {examples[0].label:g}; Pearson's r needs scores that differ")


def accuracy(preds: Any, labels: Any) -> float:
    preds, labels = _pair(preds, labels)
    return float(np.mean(preds == labels))


def f1(preds: Any, labels: Any) -> float:
    """Binary F1 of class 1; 0.0 when there are no true or predicted positives (as sklearn)."""
    preds, labels = _pair(preds, labels)
    true_pos = np.sum((preds == 1) & (labels == 1))
    false_pos = np.sum((preds == 1) & (labels != 1))
    false_neg = np.sum((preds != 1) & (labels == 1))
    denominator = 2 * true_pos + false_pos + false_neg
    return float(2 * true_pos / denominator) if denominator else 0.0


def matthews_correlation(preds: Any, labels: Any) -> float:
    """Matthews correlation, multiclass (Gorodkin's R_K); 0.0 when either side has one class.

    Computed from the confusion matrix's margins in float64 like sklearn, so large sets cannot
    overflow integer products.
    """
    preds, labels = _pair(preds, labels)
    classes, coded = np.unique(np.concatenate([labels, preds]), return_inverse=True)
    true_codes, pred_codes = coded[: len(labels)], coded[len(labels):]
    true_sum = np.bincount(true_codes, minlength=len(classes)).astype(np.float64)
    pred_sum = np.bincount(pred_codes, minlength=len(classes)).astype(np.float64)
    n_correct = float(np.sum(true_codes == pred_codes))
    n = float(len(labels))
    cov_true_pred = n_correct * n - np.dot(true_sum, pred_sum)
    cov_pred_pred = n * n - np.dot(pred_sum, pred_sum)
    cov_true_true = n * n - np.dot(true_sum, true_sum)
    if cov_pred_pred * cov_true_true == 0:
        return 0.0
    return float(cov_true_pred / np.sqrt(cov_true_true * cov_pred_pred))


def pearson(x: Any, y: Any) -> float:
    """Pearson's r; NaN for a constant or NaN-holding input (as scipy.stats.pearsonr)."""
    x, y = _pair(x, y)
    x, y = x.astype(np.float64), y.astype(np.float64)
    if len(x) < 2:
        raise ValueError("Pearson correlation needs at least 2 values")
    if np.isnan(x).any() or np.isnan(y).any() or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    # Normalise each side first: the product of two sums of squares can overflow.
    r = np.dot(dx / np.linalg.norm(dx), dy / np.linalg.norm(dy))
    return float(np.clip(r, -1.0, 1.0))


def rank_average(x: Any) -> np.ndarray:
    """1-based ranks, ties sharing the mean of their ranks (scipy.stats.rankdata 'average')."""
    x = np.asarray(x).ravel()
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def spearmanr(x: Any, y: Any) -> float:
    """Spearman's rho: Pearson's r of the average ranks; NaN for constant or NaN input."""
    x, y = _pair(x, y)
    x, y = x.astype(np.float64), y.astype(np.float64)
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return pearson(rank_average(x), rank_average(y))


METRICS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_correlation": matthews_correlation,
    "pearson": pearson,
    "spearmanr": spearmanr,
}


def compute_metrics(metric_names: Sequence[str], predictions: Any, labels: Any) -> dict[str, float]:
    """{name: value} for each name; predictions are class ids, or scores for regression."""
    unknown = [name for name in metric_names if name not in METRICS]
    if unknown:
        raise GenptError(f"unknown metric {unknown[0]!r}; expected one of {', '.join(METRICS)}")
    return {name: METRICS[name](predictions, labels) for name in metric_names}


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus BLEU (0-100) of detokenized hypotheses against one reference each, and
    sacrebleu's signature (tokenizer, smoothing, version) so a score says how it was made.

    sacrebleu's defaults (13a tokenization, exponential smoothing, mixed case) are the
    standard for comparable scores (Post 2018); we never tokenize references ourselves.
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise GenptError(f"BLEU needs one hypothesis per reference: got {len(hypotheses)} and {len(references)}")
    metric = sacrebleu.metrics.BLEU()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return score.score, str(metric.get_signature())


# ---- the evaluate modules -------------------------------------------------------------------------

MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"


def module_path(name: str) -> str:
    """The folder of genpt's local `evaluate` module `name` (glue, story_cloze, perplexity):
    `evaluate.load(module_path("glue"), "sst2")` works offline."""
    folder = MODULES_DIR / name
    if not (folder / f"{name}.py").is_file():
        raise GenptError(f"no genpt metric module {name!r}; expected one of "
                         f"{', '.join(sorted(p.name for p in MODULES_DIR.iterdir() if (p / f'{p.name}.py').is_file()))}")
    return str(folder)


@functools.cache
def load_module(name: str, config_name: str | None = None) -> Any:
    import evaluate

    return evaluate.load(module_path(name), config_name)


def score_task(task: Any, predictions: Any, labels: Any) -> dict[str, float]:
    """A task's metrics (its `metrics`, main one first), through its `evaluate` module; a
    custom task, which has none, directly."""
    if task.glue_name is not None:
        module = load_module("glue", task.name)
    elif task.name == "story_cloze":
        module = load_module("story_cloze")
    else:
        return compute_metrics(task.metrics, predictions, labels)
    scores = module.compute(predictions=np.asarray(predictions).tolist(), references=np.asarray(labels).tolist())
    return {name: float(scores[name]) for name in task.metrics}

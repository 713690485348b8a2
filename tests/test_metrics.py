"""genpt.metrics against the scikit-learn and scipy functions GLUE's official numbers use."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata
from scipy.stats import spearmanr as scipy_spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from genpt.errors import GenptError
from genpt.metrics import (
    accuracy,
    compute_metrics,
    f1,
    matthews_correlation,
    pearson,
    rank_average,
    spearmanr,
)

TOL = 1e-12


def reference(function, *args):
    """The library's value, quietly: the degenerate cases warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = function(*args)
    return float(getattr(value, "statistic", value if np.ndim(value) == 0 else value[0]))


def same(ours: float, theirs: float) -> bool:
    return (math.isnan(ours) and math.isnan(theirs)) or abs(ours - theirs) <= TOL


def binary_cases():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 1043):
        for p in (0.1, 0.5, 0.9):
            yield rng.random(n) < p, rng.random(n) < 0.5
    ones, zeros = np.ones(10, int), np.zeros(10, int)
    mixed = np.array([0, 1] * 5)
    yield from [(ones, ones), (zeros, zeros), (ones, zeros), (zeros, ones), (mixed, ones), (ones, mixed),
                (mixed, zeros), (zeros, mixed), (mixed, mixed), (mixed, 1 - mixed)]


@pytest.mark.parametrize(("preds", "labels"), list(binary_cases()))
def test_binary_metrics_match_sklearn(preds, labels):
    preds, labels = np.asarray(preds, int), np.asarray(labels, int)
    assert same(accuracy(preds, labels), reference(accuracy_score, labels, preds))
    assert same(f1(preds, labels), reference(f1_score, labels, preds))
    assert same(matthews_correlation(preds, labels), reference(matthews_corrcoef, labels, preds))
    for value in (accuracy(preds, labels), f1(preds, labels), matthews_correlation(preds, labels)):
        assert type(value) is float


def test_multiclass_matthews_matches_sklearn():
    rng = np.random.default_rng(1)
    for n, k in [(5, 3), (50, 3), (500, 4), (2000, 7)]:
        labels = rng.integers(0, k, n)
        noisy = np.where(rng.random(n) < 0.6, labels, rng.integers(0, k, n))
        for preds in (noisy, rng.integers(0, k, n), np.full(n, 2), labels):
            assert same(matthews_correlation(preds, labels), reference(matthews_corrcoef, labels, preds))
    # Classes need not be 0..k-1, and a class may appear on one side only.
    labels, preds = np.array([5, 9, 9, 2, 5]), np.array([5, 9, 3, 2, 2])
    assert same(matthews_correlation(preds, labels), reference(matthews_corrcoef, labels, preds))


def test_large_sets_do_not_overflow():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 3_000_000)
    preds = np.where(rng.random(labels.size) < 0.8, labels, 1 - labels)
    assert same(matthews_correlation(preds, labels), reference(matthews_corrcoef, labels, preds))


def correlation_cases():
    rng = np.random.default_rng(3)
    for n in (2, 3, 10, 1500):
        x = rng.normal(size=n)
        yield x, 0.7 * x + rng.normal(size=n)
        yield x, rng.normal(size=n) * 1e6
    scores = rng.integers(0, 6, 200).astype(float)  # STS-B-like: many ties
    yield scores, scores + rng.integers(-1, 2, 200)
    yield scores, rng.integers(0, 3, 200) * 0.5
    yield np.array([1.0, 2.0, 2.0, 3.0, 3.0, 3.0]), np.array([3.0, 1.0, 2.0, 2.0, 5.0, 5.0])
    yield np.arange(10.0), -np.arange(10.0)
    yield np.arange(10.0), np.arange(10.0) ** 3
    yield np.ones(5), np.arange(5.0)  # constant: NaN
    yield np.arange(5.0), np.full(5, 2.5)
    yield np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 4.0])


@pytest.mark.parametrize(("x", "y"), list(correlation_cases()))
def test_correlations_match_scipy(x, y):
    assert same(pearson(x, y), reference(pearsonr, x, y))
    assert same(spearmanr(x, y), reference(scipy_spearmanr, x, y))
    assert type(pearson(x, y)) is float and type(spearmanr(x, y)) is float


def test_average_ranks_match_scipy():
    rng = np.random.default_rng(4)
    for x in (rng.integers(0, 5, 100), rng.normal(size=50), np.array([3, 3, 3]), np.array([2.0])):
        np.testing.assert_array_equal(rank_average(x), rankdata(x))


def test_compute_metrics():
    preds, labels = [1, 0, 1, 1], [1, 0, 0, 1]
    result = compute_metrics(("f1", "accuracy", "matthews_correlation"), preds, labels)
    assert list(result) == ["f1", "accuracy", "matthews_correlation"]
    assert result["accuracy"] == 0.75 and same(result["f1"], 0.8)
    scores = compute_metrics(("pearson", "spearmanr"), [0.5, 2.0, 4.5], np.array([1.0, 2.0, 5.0]))
    assert same(scores["spearmanr"], 1.0) and all(type(v) is float for v in scores.values())
    with pytest.raises(GenptError, match="unknown metric 'bleu'"):
        compute_metrics(("bleu",), preds, labels)
    with pytest.raises(ValueError, match="3 predictions for 4 labels"):
        accuracy([1, 0, 1], labels)
    with pytest.raises(ValueError, match="no predictions"):
        f1([], [])

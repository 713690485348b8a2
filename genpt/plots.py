"""Training curves as PNG files, for people who would rather look than read logs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genpt.atomic import write_file_atomically


def plot_loss_curves(records: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Training and validation loss against step, and validation perplexity beside them.

    `records` are metrics.jsonl rows: training rows carry `loss`, evaluation rows `val_loss`.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
    figure, (loss_axes, ppl_axes) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        loss_axes.plot(*zip(*train), label="train", linewidth=1, alpha=0.8)
    if val:
        loss_axes.plot(*zip(*val), "o-", label="validation", markersize=3)
        ppl_axes.plot([s for s, _ in val], [math.exp(min(v, 50.0)) for _, v in val], "o-", color="C1", markersize=3)
    loss_axes.set(xlabel="step", ylabel="cross-entropy (nats/token)", title="loss")
    loss_axes.legend()
    loss_axes.grid(alpha=0.3)
    ppl_axes.set(xlabel="step", ylabel="perplexity", title="validation perplexity", yscale="log")
    ppl_axes.grid(alpha=0.3, which="both")
    if title:
        figure.suptitle(title)
    figure.tight_layout()

    def write(staging: Path) -> None:
        figure.savefig(staging, format="png", dpi=110)

    try:
        return write_file_atomically(path, write)
    finally:
        plt.close(figure)


def plot_finetune_curves(records: list[dict[str, Any]], path: str | Path, metric: str, title: str = "") -> Path:
    """Training loss against step, and the dev-set main metric after each epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    task = [(r["step"], r["task_loss"]) for r in records if r.get("task_loss") is not None]
    dev = [(r["step"], r[f"eval_{metric}"]) for r in records if r.get(f"eval_{metric}") is not None]
    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        loss_axes.plot(*zip(*train), label="total (task + aux LM)", linewidth=1)
        loss_axes.plot(*zip(*task), label="task", linewidth=1)
    loss_axes.set(xlabel="step", ylabel="loss", title="training loss")
    loss_axes.legend()
    loss_axes.grid(alpha=0.3)
    if dev:
        metric_axes.plot(*zip(*dev), "o-", color="C2", markersize=4)
    metric_axes.set(xlabel="step", ylabel=metric, title=f"dev {metric} (each epoch)")
    metric_axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    try:
        return write_file_atomically(path, lambda staging: figure.savefig(staging, format="png", dpi=110))
    finally:
        plt.close(figure)

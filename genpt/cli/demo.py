"""`genpt demo`: the pipeline end to end on the embedded data, small enough for a CPU.

The demo is a list of steps run in order; each step reads what earlier steps left in the
shared `DemoRun` and returns a one-line summary for the table printed at the end.
Today it trains and measures the tokenizer and pretrains the `tiny` GPT; later stages add
their steps to `STEPS`.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genpt.config import GPTConfig
from genpt.pretrain.train import DataConfig, RunConfig, pretrain, training_defaults
from genpt.resources import default_corpus_dir
from genpt.tokenizer.train import format_tokenizer_stats, tokenizer_stats, train_tokenizer


@dataclass
class DemoRun:
    """What the steps share: the options, and each finished step's results by name."""

    output_dir: Path
    vocab_size: int
    pretrain_steps: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DemoRun], str]  # does the work; returns a one-line summary


def tokenizer_step(run: DemoRun) -> str:
    """Train a byte-level BPE on the embedded books and measure it on them."""
    tokenizer_dir = run.output_dir / "tokenizer"
    trained = train_tokenizer([default_corpus_dir()], output_dir=tokenizer_dir, vocab_size=run.vocab_size)
    measured = tokenizer_stats(tokenizer_dir, [default_corpus_dir()], max_bytes=0)
    print(format_tokenizer_stats(measured))
    run.results["tokenizer"] = {"path": tokenizer_dir, "training": trained, "stats": measured}
    return (
        f"{trained['vocab_size']:,} tokens from {trained['bytes_read'] / 1e6:.1f} MB, "
        f"{measured['chars_per_token']:.2f} chars/token -> {tokenizer_dir}"
    )


def pretrain_step(run: DemoRun) -> str:
    """Pretrain the `tiny` GPT (about 1M parameters) on the embedded books."""
    run_dir = run.output_dir / "pretrain"
    if (run_dir / "config.yaml").exists():  # the demo's own earlier run: start afresh
        shutil.rmtree(run_dir)
    training = training_defaults("tiny")
    training.max_steps = run.pretrain_steps
    data = DataConfig(inputs=[str(default_corpus_dir())], tokenizer=str(run.results["tokenizer"]["path"]))
    summary = pretrain(RunConfig(GPTConfig.from_name("tiny"), training, data), run_dir)
    run.results["pretrain"] = {"path": run_dir, "summary": summary}
    best = summary["best_val_loss"]
    return (
        f"{summary['step']} steps, {summary['tokens_seen'] / 1e6:.1f}M tokens, validation loss {best:.3f} "
        f"(perplexity {math.exp(best):.1f}) -> {run_dir / 'loss_curve.png'}"
    )


STEPS: tuple[Step, ...] = (Step("tokenizer", tokenizer_step), Step("pretrain", pretrain_step))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the pipeline on the small embedded data set",
        description="Run the genpt pipeline end to end on the embedded books and GLUE slice (CPU friendly).",
        epilog="example:\n  genpt demo --output_dir demo_output",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=Path("demo_output"),
        metavar="DIR",
        help="where to write (default: demo_output)",
    )
    parser.add_argument(
        "--vocab_size", type=int, default=4096, metavar="N", help="tokenizer vocabulary size (default: 4096)"
    )
    parser.add_argument(
        "--pretrain_steps", type=int, default=training_defaults("tiny").max_steps, metavar="N",
        help="pretraining steps of the tiny model (default: %(default)s)",
    )
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    run = DemoRun(output_dir=args.output_dir, vocab_size=args.vocab_size, pretrain_steps=args.pretrain_steps)
    summary: list[tuple[str, float, str]] = []
    for number, step in enumerate(STEPS, start=1):
        print(f"\n[{number}/{len(STEPS)}] {step.name}")
        started = time.perf_counter()
        outcome = step.run(run)
        summary.append((step.name, time.perf_counter() - started, outcome))
    print(f"\ndemo finished: {run.output_dir}")
    width = max(len(name) for name, _, _ in summary)
    for name, seconds, outcome in summary:
        print(f"  {name:<{width}}  {seconds:6.1f} s  {outcome}")
    return 0

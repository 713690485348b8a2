"""`genpt demo`: the pipeline end to end on the embedded data, small enough for a CPU.

The demo is a list of steps run in order; each step reads what earlier steps left in the
shared `DemoRun` and returns a one-line summary for the table printed at the end:
tokenizer -> pretrain `tiny` -> zero-shot SST-2 -> fine-tune on SST-2 (pretrained, and from scratch) ->
evaluate -> export both models -> reload the exports in plain `transformers`.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genpt.atomic import check_output_folder, write_file_atomically
from genpt.config import GPTConfig
from genpt.options import add_options, config_from_cli, new_command, require_counts
from genpt.pretrain.config import DataConfig, RunConfig, training_defaults
from genpt.resources import default_corpus_dir, default_glue_dir


# Marks a folder the demo wrote, so that a second demo may replace its steps' folders there.
DEMO_FILE = "demo.json"


@dataclass(kw_only=True)
class DemoRun:
    """What the steps share: the options, and each finished step's results by name."""

    output_dir: Path = Path("demo_output")  # where to write
    vocab_size: int = 4096  # tokenizer vocabulary size
    pretrain_steps: int = training_defaults("tiny").max_steps  # pretraining steps of the tiny model
    finetune_epochs: int = 3  # fine-tuning epochs
    max_train_samples: int | None = None  # fine-tune on the first N of the 5,000 embedded SST-2 sentences (default: all)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DemoRun], str]  # does the work; returns a one-line summary


def tokenizer_step(run: DemoRun) -> str:
    """Train a byte-level BPE on the embedded books and measure it on them."""
    from genpt.tokenizer.train import format_tokenizer_stats, tokenizer_stats, train_tokenizer

    tokenizer_dir = run.output_dir / "tokenizer"
    trained = train_tokenizer([default_corpus_dir()], output_dir=tokenizer_dir, vocab_size=run.vocab_size)
    measured = tokenizer_stats(tokenizer_dir, [default_corpus_dir()], max_bytes=0)
    print(format_tokenizer_stats(measured))
    run.results["tokenizer"] = {"path": tokenizer_dir, "training": trained, "stats": measured}
    return (
        f"{trained['vocab_size']:,} tokens from {trained['bytes_read'] / 1e6:.1f} MB, "
        f"{measured['chars_per_token']:.2f} chars/token -> {tokenizer_dir}"
    )


def stopped_if_interrupted(summary: dict) -> dict:
    """A training step stopped by Ctrl-C (after its checkpoint) stops the demo, as Ctrl-C
    anywhere else does: the later steps must not go on from a half-trained model."""
    if summary["stop_reason"] == "interrupted":
        raise KeyboardInterrupt
    return summary


def pretrain_step(run: DemoRun) -> str:
    """Pretrain the `tiny` GPT (about 1M parameters) on the embedded books."""
    from genpt.pretrain.train import pretrain

    run_dir = run.output_dir / "pretrain"
    if (run_dir / "config.yaml").exists():  # the demo's own earlier run: start afresh
        shutil.rmtree(run_dir)
    training = training_defaults("tiny")
    training.max_steps = run.pretrain_steps
    training.warmup_steps = min(training.warmup_steps, max(1, run.pretrain_steps // 10))  # a shortened demo warms up less
    data = DataConfig(inputs=[str(default_corpus_dir())], tokenizer=str(run.results["tokenizer"]["path"]))
    summary = stopped_if_interrupted(pretrain(RunConfig(GPTConfig.from_name("tiny"), training, data), run_dir))
    run.results["pretrain"] = {"path": run_dir, "summary": summary}
    best = summary["best_val_loss"]
    return (
        f"{summary['step']} steps, {summary['tokens_seen'] / 1e6:.1f}M tokens, validation loss {best:.3f} "
        f"(perplexity {math.exp(best):.1f}) -> {run_dir / 'loss_curve.png'}"
    )


def zeroshot_step(run: DemoRun) -> str:
    """The paper's zero-shot SST-2 heuristic on the pretrained model, before any fine-tuning."""
    from genpt.eval.zeroshot import evaluate_zeroshot

    summary = evaluate_zeroshot(str(run.results["pretrain"]["path"]), ["sst2"], glue_dir=str(default_glue_dir()),
                                show_progress=False)
    sst2 = summary["tasks"]["sst2"]
    run.results["zeroshot"] = sst2
    return f"zero-shot SST-2 accuracy {sst2['score']:.1f} against chance {sst2['chance']:.1f} (no fine-tuning)"


def finetune_step(init: str) -> Callable[[DemoRun], str]:
    """Fine-tune on the embedded SST-2 slice, from the pretrained model or from scratch."""

    def run_step(run: DemoRun) -> str:
        from genpt.finetune.config import FinetuneConfig
        from genpt.finetune.train import finetune

        run_dir = run.output_dir / f"sst2-{init}"
        pretrained = run.results["pretrain"]["path"]
        config = FinetuneConfig(
            task="sst2", data_dir=str(default_glue_dir()), num_train_epochs=run.finetune_epochs,
            max_train_samples=run.max_train_samples, predict=["test"],
            # the tiny model learns too slowly at the paper's 6.25e-5 for a demo's three epochs
            learning_rate=5e-4,
            **({"init": str(pretrained)} if init == "pretrained" else
               {"init": "scratch", "tokenizer": str(run.results["tokenizer"]["path"]), "preset": "tiny"}),
        )
        summary = stopped_if_interrupted(finetune(config, run_dir, overwrite=True))
        run.results[f"finetune-{init}"] = {"path": run_dir, "summary": summary}
        return (f"dev accuracy {summary['eval_results']['accuracy']:.3f} (epoch {summary['eval_results']['epoch']}, the {summary['eval_results']['kept_epoch']}), "
                f"{summary['examples_per_s']:.0f} examples/s -> {run_dir / 'training_curve.png'}")

    return run_step


def evaluate_step(run: DemoRun) -> str:
    """Re-score the fine-tuned run with `genpt eval`, as a user would later."""
    from genpt.eval.evaluate import evaluate_run

    run_dir = run.results["finetune-pretrained"]["path"]
    results = evaluate_run(run_dir, data_dir=default_glue_dir(), output_dir=run.output_dir / "eval")
    run.results["eval"] = results
    return f"genpt eval: accuracy {results['accuracy']:.3f} on {results['eval_samples']} SST-2 dev sentences"


def export_step(run: DemoRun) -> str:
    """Hub folders for the pretrained LM and the SST-2 classifier."""
    from genpt.export.folder import export_run

    lm = export_run(run.results["pretrain"]["path"], run.output_dir / "export" / "genpt-tiny", overwrite=True)
    classifier = export_run(run.results["finetune-pretrained"]["path"], run.output_dir / "export" / "genpt-tiny-sst2",
                            overwrite=True)
    run.results["export"] = {"lm": Path(lm["output_dir"]), "classifier": Path(classifier["output_dir"])}
    return f"{lm['class']} -> {lm['output_dir']}; {classifier['class']} -> {classifier['output_dir']}"


def reload_step(run: DemoRun) -> str:
    """Load both exports with plain `transformers` pipelines: the classifier must score the
    dev set exactly as genpt did."""
    from transformers import pipeline

    from genpt.data.tasks import get_task, read_split

    dev = read_split(get_task("sst2"), "validation", data_dir=default_glue_dir())
    classify = pipeline("text-classification", model=str(run.results["export"]["classifier"]), device="cpu")
    predicted = [p["label"] for p in classify([e.text_a for e in dev], batch_size=64, truncation=True)]
    names = classify.model.config.id2label
    accuracy = sum(label == names[e.label] for label, e in zip(predicted, dev)) / len(dev)
    if abs(accuracy - run.results["eval"]["accuracy"]) > 1e-12:
        raise RuntimeError(f"the export scores {accuracy:.4f} but genpt {run.results['eval']['accuracy']:.4f}")
    generate = pipeline("text-generation", model=str(run.results["export"]["lm"]), device="cpu")
    sample = generate("It was a dark and stormy night", max_new_tokens=20)[0]["generated_text"]
    run.results["reload"] = {"accuracy": accuracy, "sample": sample}
    return f"transformers pipeline: accuracy {accuracy:.3f} (same as genpt); sample: {sample!r}"


STEPS: tuple[Step, ...] = (
    Step("tokenizer", tokenizer_step),
    Step("pretrain", pretrain_step),
    Step("zero-shot", zeroshot_step),
    Step("finetune (pretrained)", finetune_step("pretrained")),
    Step("finetune (scratch)", finetune_step("scratch")),
    Step("evaluate", evaluate_step),
    Step("export", export_step),
    Step("reload in transformers", reload_step),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "demo", help="run the pipeline on the small embedded data set",
                         description="Run the genpt pipeline end to end on the embedded books and GLUE slice (CPU friendly).",
                         epilog="example:\n  genpt demo --output_dir demo_output")
    add_options(parser, DemoRun, exclude=("results",))
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    run = config_from_cli(DemoRun, args)
    _check_options(run)
    # The steps replace tokenizer/, pretrain/ and the rest without asking: only in a folder of the demo's own.
    check_output_folder(run.output_dir, is_ours=lambda folder: (folder / DEMO_FILE).is_file(), what="a genpt demo",
                        overwrite_option=None, replaces=False)  # it writes inside the folder: `--output_dir .` is fine
    _write_demo_file(run, [])
    summary: list[tuple[str, float, str]] = []
    for number, step in enumerate(STEPS, start=1):
        print(f"\n[{number}/{len(STEPS)}] {step.name}")
        started = time.perf_counter()
        outcome = step.run(run)
        summary.append((step.name, time.perf_counter() - started, outcome))
    _write_demo_file(run, summary)
    print(f"\ndemo finished: {run.output_dir}")
    width = max(len(name) for name, _, _ in summary)
    for name, seconds, outcome in summary:
        print(f"  {name:<{width}}  {seconds:6.1f} s  {outcome}")
    gain = run.results["finetune-pretrained"]["summary"]["eval_results"]["accuracy"] - \
        run.results["finetune-scratch"]["summary"]["eval_results"]["accuracy"]
    print(f"\npretraining bought {100 * gain:+.1f} points of SST-2 dev accuracy over the same model trained from scratch")
    print(f"plots: {', '.join(str(p.relative_to(run.output_dir)) for p in sorted(run.output_dir.rglob('*.png')))}")
    return 0


def _check_options(run: DemoRun) -> None:
    """What the steps would refuse, refused before the first of them writes anything."""
    from genpt.errors import GenptError
    from genpt.tokenizer.train import MIN_VOCAB_SIZE

    if run.vocab_size < MIN_VOCAB_SIZE:
        raise GenptError(f"--vocab_size {run.vocab_size} is too small: expected at least {MIN_VOCAB_SIZE}")
    require_counts(run, "pretrain_steps", "finetune_epochs", "max_train_samples")


def _write_demo_file(run: DemoRun, summary: list[tuple[str, float, str]]) -> None:
    """demo.json: the options, then each step's time and one-line outcome once the demo has finished."""
    options = {"vocab_size": run.vocab_size, "pretrain_steps": run.pretrain_steps, "finetune_epochs": run.finetune_epochs,
               "max_train_samples": run.max_train_samples}
    steps = [{"step": name, "seconds": round(seconds, 1), "outcome": outcome} for name, seconds, outcome in summary]
    content = json.dumps({"options": options, "finished": bool(summary), "steps": steps}, indent=2) + "\n"
    write_file_atomically(run.output_dir / DEMO_FILE, lambda path: path.write_text(content))

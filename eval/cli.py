"""`genpt eval` (a fine-tuned run, a language model, zero-shot, layers) and `genpt generate`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from genpt.atomic import claim_outputs, refuse_foreign_outputs, write_json_atomically
from genpt.data.corpus import CORPUS_FLAGS, CorpusOptions
from genpt.errors import GenptError
from genpt.options import add_options, config_from_cli, new_command, require_counts

EPILOG = """examples:
  genpt eval --run runs/sst2 --task sst2 --data_dir ../shared/data/glue      # re-score a fine-tuned run
  genpt eval --run runs/rte --validation_file my_rte_dev.tsv --output_dir runs/rte/eval-mine
  genpt eval lm --run runs/mini --input ../shared/data/wikitext-2/wiki.test.tokens --stride 128
  genpt eval zeroshot --run runs/mini --glue_dir ../shared/data/glue --story_cloze_dir ../shared/data/story_cloze \\
      --checkpoints all --output_dir runs/mini/zeroshot
  genpt eval layers --init runs/mini --task sst2 --layers 0,1,2,3,4 --data_dir ../shared/data/glue --output_dir runs/layers

Without a subcommand, re-scores a fine-tuned run: prints the task's metrics; with
--output_dir, also writes eval_results.json and predictions_dev.tsv there."""

GENERATE_EPILOG = """examples:
  genpt generate --run runs/mini --prompt "It was a dark and stormy night"
  genpt generate --run runs/mini --prompt "The house" --temperature 0            # greedy
  genpt generate --run hub/genpt-mini --prompt_file prompts.txt --num_samples 3 --seed 1

Works on a pretraining run, one of its checkpoints, and an exported (or any openai-gpt /
gpt2) Hugging Face folder. Tokens are printed as they are produced."""


# What `genpt eval lm --output_dir` writes.
LM_OUTPUTS = ["eval_lm.json"]


@dataclass(kw_only=True)
class EvalOptions:
    run: str | None = None  # a `genpt finetune` run folder
    task: str | None = None  # the run's task (checked against the run; default: the run's)
    data_dir: str | None = None  # GLUE folder or the task's folder, whose dev split is read (default: the run's own)
    validation_file: str | None = None  # a labelled file in the task's original format
    output_dir: str | None = None  # write eval_results.json and predictions_dev.tsv here
    batch_size: int = 64  # examples per batch
    max_eval_samples: int | None = None  # score the first N examples only


@dataclass(kw_only=True)
class LMOptions(CorpusOptions):
    run: str  # a pretraining run, one of its checkpoints, or a Hugging Face causal LM folder
    window: int | None = None  # tokens of context per window (default: the model's context)
    stride: int | None = None  # tokens a window moves by; each scores only the tokens no earlier window did (default: half the window)
    batch_size: int = 8  # windows per batch
    output_dir: str | None = None  # also write eval_lm.json here


@dataclass(kw_only=True)
class ZeroshotOptions:
    run: str  # a pretraining run (or a checkpoint, or a Hugging Face causal LM folder)
    tasks: list[str] = dataclasses.field(default_factory=lambda: ["sst2", "cola", "story_cloze"])  # sst2, cola, story_cloze or another multiple-choice task
    glue_dir: str | None = None  # glue_data folder (SST-2, CoLA)
    story_cloze_dir: str | None = None  # the folder of the Story Cloze val CSV (its 20% dev part is scored)
    checkpoints: str = "final"  # final: the run's model; all: every checkpoint the run kept (Figure 2's curve)
    max_examples: int | None = None  # score the first N examples of each split only
    output_dir: str | None = None  # write zeroshot.json (and, with several checkpoints, zeroshot.md and zeroshot.png)


@dataclass(kw_only=True)
class LayersOptions:
    init: str  # the genpt pretraining run
    task: str  # the task to fine-tune on
    layers: list[int]  # numbers of pretrained blocks to transfer, e.g. 0,1,2,3,4
    output_dir: str  # where the runs, layers.json, layers.md and layers.png go
    data_dir: str | None = None  # GLUE folder or the task's folder
    max_train_samples: int | None = None
    num_train_epochs: int = 3
    learning_rate: float = 6.25e-5
    max_seq_length: int | None = None
    seed: int = 42
    jobs: int = 1  # fine-tunes run at a time, each its own process with cores / jobs threads (unless OMP_NUM_THREADS is set)


@dataclass(kw_only=True)
class GenerateOptions:
    run: str  # a pretraining run, one of its checkpoints, or a Hugging Face causal LM folder
    prompt: str | None = None  # the text to continue
    prompt_file: str | None = None  # one prompt per line
    num_samples: int = 1  # continuations per prompt
    max_new_tokens: int = 64
    temperature: float = 0.8  # 0: greedy
    top_k: int | None = 40  # sample among the k likeliest tokens only
    top_p: float | None = 0.95  # sample among the likeliest tokens holding this much probability
    seed: int = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "eval", help="evaluate a fine-tuned run, a language model, zero-shot ability or layers",
                         description="Score runs: a fine-tuned run on a labelled file (no subcommand), a language model's "
                                     "perplexity (lm), the paper's zero-shot heuristics (zeroshot), layers transferred (layers).",
                         epilog=EPILOG)
    add_options(parser, EvalOptions)
    parser.set_defaults(func=run_finetuned)
    commands = parser.add_subparsers(dest="eval_command", metavar="COMMAND")
    lm = new_command(commands, "lm", help="perplexity and bits per byte of a language model on held-out text",
                     description="Perplexity and bits per byte, every token scored once with sliding windows.")
    add_options(lm, LMOptions, flags=CORPUS_FLAGS, required=("run",))
    lm.set_defaults(func=run_lm)
    zeroshot = new_command(commands, "zeroshot", help="the paper's zero-shot heuristics (Figure 2, right)",
                           description="Score SST-2, CoLA and multiple-choice tasks with the language model alone.")
    add_options(zeroshot, ZeroshotOptions, required=("run",))
    zeroshot.set_defaults(func=run_zeroshot)
    layers = new_command(commands, "layers", help="dev score against pretrained layers transferred (Figure 2, left)",
                         description="One fine-tuning per number of transferred blocks, then the table and the chart.")
    add_options(layers, LayersOptions, required=("init", "task", "layers", "output_dir"))
    layers.set_defaults(func=run_layers)
    generate = new_command(subparsers, "generate", help="sample text from a language model, streamed",
                           description="Continue a prompt with a pretrained GPT, printing tokens as they come.",
                           epilog=GENERATE_EPILOG)
    add_options(generate, GenerateOptions, required=("run",))
    generate.set_defaults(func=run_generate)


def run_finetuned(args: argparse.Namespace) -> None:
    from genpt.eval.evaluate import evaluate_run

    options = config_from_cli(EvalOptions, args)
    require_counts(options, "batch_size", "max_eval_samples")
    if options.run is None:
        raise GenptError("--run is required: a fine-tuned run (or use a subcommand: genpt eval lm | zeroshot | layers)")
    if options.data_dir and options.validation_file:
        raise GenptError("--data_dir and --validation_file both name the data to score; give one")
    results = evaluate_run(options.run, task=options.task, data_dir=options.data_dir, validation_file=options.validation_file,
                           output_dir=options.output_dir, batch_size=options.batch_size,
                           max_eval_samples=options.max_eval_samples)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float))
    print(f"{shown} on {results['eval_samples']} examples" + (f"; written to {options.output_dir}" if options.output_dir else ""))


def run_lm(args: argparse.Namespace) -> None:
    from genpt.eval.lm import evaluate_lm

    options = config_from_cli(LMOptions, args)
    require_counts(options, "window", "stride", "batch_size")
    if not options.inputs:
        raise GenptError("--input is required: the held-out text (files, folders or a datasets name)")
    if options.output_dir:
        refuse_foreign_outputs(options.output_dir, LM_OUTPUTS)
    results = evaluate_lm(options.run, options.inputs, window=options.window, stride=options.stride,
                          batch_size=options.batch_size, **options.read_options())
    print(f"perplexity {results['perplexity']:.2f}, {results['bits_per_byte']:.4f} bits per byte "
          f"({results['tokens']:,} tokens, {results['bytes']:,} bytes; window {results['window']}, stride {results['stride']})")
    if options.output_dir:
        write_json_atomically(claim_outputs(options.output_dir, LM_OUTPUTS) / LM_OUTPUTS[0], results)


def run_zeroshot(args: argparse.Namespace) -> None:
    from genpt.eval.zeroshot import evaluate_zeroshot

    options = config_from_cli(ZeroshotOptions, args)
    require_counts(options, "max_examples")
    if options.checkpoints not in ("final", "all"):
        raise GenptError(f"--checkpoints {options.checkpoints}: expected final or all")
    summary = evaluate_zeroshot(options.run, options.tasks, glue_dir=options.glue_dir, story_cloze_dir=options.story_cloze_dir,
                                checkpoints=options.checkpoints, max_examples=options.max_examples,
                                output_dir=options.output_dir)
    for name, values in summary["tasks"].items():
        print(f"{name}: {values['metric']} {values['score']:.1f} (chance {values['chance']:.1f}, {values['examples']} examples)")


def run_layers(args: argparse.Namespace) -> None:
    from genpt.eval.layers import sweep_layers

    options = config_from_cli(LayersOptions, args)
    passed = {k: v for k, v in dataclasses.asdict(options).items()
              if k not in ("init", "task", "layers", "output_dir", "jobs") and v is not None}
    summary = sweep_layers(options.init, options.task, options.layers, options.output_dir, passed, jobs=options.jobs)
    for n, score in summary["scores"].items():
        print(f"{n} blocks transferred: {summary['metric']} {score:.1f}")


def run_generate(args: argparse.Namespace) -> None:
    from genpt.eval.generate import generate

    options = config_from_cli(GenerateOptions, args)
    if (options.prompt is None) == (options.prompt_file is None):
        raise GenptError("give --prompt TEXT or --prompt_file FILE (one prompt per line)")
    if options.prompt_file:
        try:
            lines = Path(options.prompt_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise GenptError(f"--prompt_file {options.prompt_file}: cannot read it ({error})") from None
        numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
        if not numbered:
            raise GenptError(f"--prompt_file {options.prompt_file}: no prompts (expected one per line; blank lines are skipped)")
        prompts, sources = [line for _, line in numbered], [f"{options.prompt_file}:{number}" for number, _ in numbered]
    else:
        prompts, sources = [options.prompt], None
    generate(options.run, prompts, max_new_tokens=options.max_new_tokens, temperature=options.temperature,
             top_k=options.top_k, top_p=options.top_p, num_samples=options.num_samples, seed=options.seed, out=sys.stdout,
             sources=sources)



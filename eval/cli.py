"""`genpt eval`: the command line of the evaluation stage."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from genpt.errors import GenptError
from genpt.options import add_options, config_from_cli, new_command

EPILOG = """examples:
  genpt eval --run runs/sst2 --task sst2 --data_dir ../shared/data/glue
  genpt eval --run runs/rte --validation_file my_rte_dev.tsv --output_dir runs/rte/eval-mine

Prints the task's metrics; with --output_dir, also writes eval_results.json and
predictions_dev.tsv (index, prediction, label) there."""


@dataclass(kw_only=True)
class EvalOptions:
    run: str  # a `genpt finetune` run folder
    task: str | None = None  # the run's task (checked against the run; default: the run's)
    data_dir: str | None = None  # GLUE folder or the task's folder, whose dev split is read (default: the run's own)
    validation_file: str | None = None  # a labelled file in the task's original format
    output_dir: str | None = None  # write eval_results.json and predictions_dev.tsv here
    batch_size: int = 64  # examples per batch
    max_eval_samples: int | None = None  # score the first N examples only


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "eval", help="evaluate a fine-tuned run on a labelled file", epilog=EPILOG,
                         description="Re-evaluate a `genpt finetune` run on any labelled file of its task's format.")
    add_options(parser, EvalOptions, required=("run",))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.eval.evaluate import evaluate_run

    options = config_from_cli(EvalOptions, args)
    if options.data_dir and options.validation_file:
        raise GenptError("--data_dir and --validation_file both name the data to score; give one")
    results = evaluate_run(options.run, task=options.task, data_dir=options.data_dir, validation_file=options.validation_file,
                           output_dir=options.output_dir, batch_size=options.batch_size,
                           max_eval_samples=options.max_eval_samples)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float))
    print(f"{shown} on {results['eval_samples']} examples" + (f"; written to {options.output_dir}" if options.output_dir else ""))

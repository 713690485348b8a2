"""`genpt eval`: the command line of the evaluation stage."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  genpt eval --run runs/sst2 --task sst2 --data_dir ../shared/data/glue
  genpt eval --run runs/rte --validation_file my_rte_dev.tsv --output_dir runs/rte/eval-mine

Prints the task's metrics; with --output_dir, also writes eval_results.json and
predictions_dev.tsv (index, prediction, label) there."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a fine-tuned run on a labelled file",
        description="Re-evaluate a `genpt finetune` run on any labelled file of its task's format.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="a `genpt finetune` run folder")
    parser.add_argument("--task", help="the run's task (checked against the run; default: the run's)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data_dir", metavar="DIR", help="GLUE folder or the task's folder (its dev split is read)")
    source.add_argument("--validation_file", metavar="FILE", help="a labelled file in the task's original format")
    parser.add_argument("--output_dir", metavar="DIR", help="write eval_results.json and predictions_dev.tsv here")
    parser.add_argument("--batch_size", type=int, default=64, metavar="N")
    parser.add_argument("--max_eval_samples", type=int, metavar="N")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.eval.evaluate import evaluate_run

    results = evaluate_run(args.run, task=args.task, data_dir=args.data_dir, validation_file=args.validation_file,
                           output_dir=args.output_dir, batch_size=args.batch_size, max_eval_samples=args.max_eval_samples)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float))
    print(f"{shown} on {results['eval_samples']} examples" + (f"; written to {args.output_dir}" if args.output_dir else ""))

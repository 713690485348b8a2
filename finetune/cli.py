"""`genpt finetune`: the command line of the fine-tuning stage."""

from __future__ import annotations

import argparse

from genpt.finetune.config import FinetuneConfig
from genpt.options import add_run_command

EPILOG = """examples:
  genpt finetune --task sst2 --data_dir ../shared/data/glue --init runs/mini --output_dir runs/sst2
  genpt finetune --task rte --data_dir ../shared/data/glue --init scratch --tokenizer tok/ --preset mini \\
      --output_dir runs/rte-scratch
  genpt finetune --task story_cloze --data_dir ../shared/data/story_cloze --init runs/mini --output_dir runs/cloze
  genpt finetune --task sst2 --init runs/mini --output_dir runs/sst2-hub          # nyu-mll/glue, when online
  genpt finetune --task custom --task_type classification --train_file train.csv --validation_file dev.csv \\
      --text_column review --label_column stars --init runs/mini --output_dir runs/reviews

Tasks: cola sst2 mrpc stsb qqp mnli qnli rte wnli (GLUE), story_cloze, race race-middle race-high, snli,
scitail, custom.
--config FILE.yaml reads any of the options below (a run folder's config.yaml too); flags override it.
Ctrl-C (or SIGTERM) checkpoints and stops (exit 130); --resume auto continues exactly where it stopped.
The run folder holds config.yaml, tokenizer/, model.safetensors (the last epoch; the best on a held-out split), eval_results.json,
predictions_dev.tsv, metrics.jsonl, training_curve.png, pretraining.json (from a genpt pretraining
run) and, with --predict test, the GLUE submission file (e.g. SST-2.tsv). Re-evaluate it with `genpt eval --run DIR --task NAME`."""


def register(subparsers: argparse._SubParsersAction) -> None:
    add_run_command(subparsers, "finetune", FinetuneConfig, section="finetune", replaces="a fine-tuned model",
                    train="genpt.finetune.train:finetune", report=report, epilog=EPILOG,
                    help="fine-tune a GPT on a GLUE, multiple-choice or custom task",
                    description="Supervised fine-tuning with GPT-1's input transformations and task heads (paper, section 3.3).")


def report(config: FinetuneConfig, summary: dict) -> None:
    results = summary["eval_results"]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float))
    print(f"{summary['task']}: {shown} (epoch {results['epoch']}, the {results['kept_epoch']}; {results['eval_samples']} examples of {results['evaluated_on']}); "
          f"{summary['examples_per_s']:.1f} examples/s; run folder {summary['output_dir']}")
    if summary["test_predictions"]:
        print(f"test predictions: {', '.join(summary['test_predictions'])}")

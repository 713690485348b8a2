"""`genpt seq2seq`: train and score a translation model with any of the three architectures."""

from __future__ import annotations

import argparse

from genpt.baselines.config import Seq2SeqConfig
from genpt.options import (
    add_config_option,
    add_options,
    add_run_folder_options,
    config_from_cli,
    new_command,
    report_interruption,
)

EPILOG = """examples:
  genpt tokenizer train --input ../shared/data/multi30k/train.en.gz ../shared/data/multi30k/train.de.gz \\
      --vocab_size 8000 --output_dir runs/multi30k-tok
  genpt seq2seq --arch transformer --data_dir ../shared/data/multi30k --source_lang en --target_lang de \\
      --tokenizer runs/multi30k-tok --output_dir runs/mt-transformer --max_steps 4000
  genpt seq2seq --arch lstm ...      # the LSTM with (Bahdanau) attention
  genpt seq2seq --arch gpt ...       # decoder-only: start source delim target extract
  genpt seq2seq --arch gpt --init runs/mini ...   # from a pretraining run (its tokenizer)

Reads DIR/{train,val,test_2016_flickr}.{SRC,TGT}[.gz] (Multi30k's layout; --train_prefix,
--validation_prefix and --test_prefix for others). Writes config.yaml, tokenizer/,
model.safetensors, metrics.jsonl, training_curve.png, hypotheses_test.txt (detokenized, one
per line), hypotheses_validation.txt and eval_results.json (bleu: sacrebleu corpus BLEU on
the test set, with its signature). Ctrl-C checkpoints and stops (exit 130); --resume auto
continues exactly."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "seq2seq", help="train a translation model (transformer, lstm or gpt) and score it with BLEU",
                         description="Sequence-to-sequence training on parallel text, scored with sacrebleu's corpus BLEU.",
                         epilog=EPILOG)
    add_run_folder_options(parser, replaces="a trained model")
    add_config_option(parser, "the seq2seq options (or a run's config.yaml, its seq2seq: section)")
    add_options(parser, Seq2SeqConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genpt.baselines.seq2seq import train_seq2seq

    config = config_from_cli(Seq2SeqConfig, args, section="seq2seq")
    summary = train_seq2seq(config, args.output_dir, overwrite=args.overwrite_output_dir, resume=args.resume)
    if summary["stop_reason"] == "interrupted":
        return report_interruption(summary, "genpt seq2seq")
    if summary["is_main_process"]:
        results = summary["eval_results"]
        print(f"{config.arch} {config.source_lang}->{config.target_lang}: test BLEU {results['bleu']:.2f} "
              f"(validation {results['validation_bleu']:.2f}) after {results['steps']} steps, "
              f"{results['train_seconds'] / 60:.1f} min of training; {results['bleu_signature']}; "
              f"run folder {summary['output_dir']}")
    return 0

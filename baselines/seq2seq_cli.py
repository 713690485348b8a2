"""`genpt seq2seq`: train and score a translation model with any of the three architectures."""

from __future__ import annotations

import argparse

from genpt.baselines.config import Seq2SeqConfig
from genpt.options import add_run_command

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
the test set, with its signature). Ctrl-C (or SIGTERM) checkpoints and stops (exit 130); --resume auto
continues exactly."""


def register(subparsers: argparse._SubParsersAction) -> None:
    add_run_command(subparsers, "seq2seq", Seq2SeqConfig, section="seq2seq", replaces="a trained model",
                    train="genpt.baselines.seq2seq:train_seq2seq", report=report, epilog=EPILOG,
                    help="train a translation model (transformer, lstm or gpt) and score it with BLEU",
                    description="Sequence-to-sequence training on parallel text, scored with sacrebleu's corpus BLEU.")


def report(config: Seq2SeqConfig, summary: dict) -> None:
    results = summary["eval_results"]
    print(f"{config.arch} {config.source_lang}->{config.target_lang}: test BLEU {results['bleu']:.2f} "
          f"(validation {results['validation_bleu']:.2f}) after {results['steps']} steps, "
          f"{results['train_seconds'] / 60:.1f} min of training; {results['bleu_signature']}; run folder {summary['output_dir']}")

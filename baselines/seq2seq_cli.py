"""`genpt seq2seq`: train and score a translation model with any of the three architectures."""

from __future__ import annotations

import argparse

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

HELP = {
    "arch": "transformer (encoder-decoder), lstm (with attention) or gpt (decoder-only)",
    "tokenizer": "one tokenizer folder for both languages (needed unless --init is a GPT run)",
    "init": "scratch, or for --arch gpt a genpt pretraining run / Hugging Face folder",
    "preset": "model preset (default: small for transformer and lstm, mini for gpt)",
    "learning_rate": "peak learning rate (default: 1e-3 for transformer and lstm, 5e-4 for gpt)",
    "num_beams": "beam size for the test translations (1: greedy)",
    "max_steps": "stop after this many optimizer steps (overrides --num_train_epochs)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from genpt.baselines.seq2seq import Seq2SeqConfig
    from genpt.finetune.cli import add_config_options

    parser = subparsers.add_parser(
        "seq2seq",
        help="train a translation model (transformer, lstm or gpt) and score it with BLEU",
        description="Sequence-to-sequence training on parallel text, scored with sacrebleu's corpus BLEU.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output_dir", required=True, help="the run folder")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace a trained model already there")
    parser.add_argument("--resume", metavar="PATH|auto", help="continue from a checkpoint folder, or the newest in --output_dir")
    add_config_options(parser, Seq2SeqConfig(arch="transformer", data_dir=""), required=("arch", "data_dir"), help_texts=HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genpt.baselines.seq2seq import Seq2SeqConfig, train_seq2seq
    from genpt.finetune.cli import config_from_args, report_interruption

    config = config_from_args(Seq2SeqConfig, args)
    summary = train_seq2seq(config, args.output_dir, overwrite=args.overwrite_output_dir, resume=args.resume)
    if summary["stop_reason"] == "interrupted":
        return report_interruption(summary)
    if summary["is_main_process"]:
        results = summary["eval_results"]
        print(f"{config.arch} {config.source_lang}->{config.target_lang}: test BLEU {results['bleu']:.2f} "
              f"(validation {results['validation_bleu']:.2f}) after {results['steps']} steps, "
              f"{results['train_seconds'] / 60:.1f} min of training; {results['bleu_signature']}; "
              f"run folder {summary['output_dir']}")
    return 0

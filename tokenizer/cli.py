"""`genpt tokenizer train` and `genpt tokenizer stats`."""

from __future__ import annotations

import argparse

from genpt.tokenizer.train import (
    DEFAULT_STATS_BYTES,
    format_tokenizer_stats,
    format_training_summary,
    tokenizer_stats,
    train_tokenizer,
)

TRAIN_EXAMPLES = """\
inputs: files or folders (searched recursively) of plain text (.txt, .text, .md, .tokens,
no extension; one document per file), JSON Lines (.jsonl, .json) or Parquet (one document
per row, read from --text_column), gzipped or not; or a Hugging Face dataset name,
streamed. --vocab_size counts everything: 256 bytes + 5 special tokens + merges.

examples:
  # GPT-1's vocabulary size (40,478) on the Project Gutenberg books
  genpt tokenizer train --input data/gutenberg/books --strip_gutenberg \\
      --vocab_size 40478 --output_dir runs/tokenizer

  # a quick one on the embedded demo corpus
  genpt tokenizer train --input genpt/default_data/books --vocab_size 4096 --output_dir runs/tok

  # JSON Lines whose text is in the "content" field
  genpt tokenizer train --input corpus.jsonl.gz --text_column content --output_dir runs/tok

  # a streamed Hugging Face dataset
  genpt tokenizer train --input Salesforce/wikitext --dataset_config wikitext-103-raw-v1 \\
      --output_dir runs/tok
"""

STATS_EXAMPLES = """\
examples:
  genpt tokenizer stats --tokenizer runs/tokenizer --input data/wikitext-2/wiki.valid.tokens
  genpt tokenizer stats --tokenizer runs/tokenizer --input data/gutenberg/books --strip_gutenberg
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer",
        help="train a byte-level BPE tokenizer, or measure one",
        description="Train GPT-1's byte-level BPE tokenizer (Hugging Face tokenizers), or measure one.",
    )
    commands = parser.add_subparsers(dest="tokenizer_command", metavar="COMMAND", required=True)
    _register_train(commands)
    _register_stats(commands)


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="files, folders or a Hugging Face dataset name",
    )
    parser.add_argument(
        "--strip_gutenberg", action="store_true", help="remove Project Gutenberg headers and footers"
    )
    parser.add_argument(
        "--text_column",
        default="text",
        help="JSON Lines / Parquet / dataset column holding the text (default: text)",
    )
    parser.add_argument("--dataset_config", default=None, help="configuration name of a Hugging Face dataset")
    parser.add_argument("--split", default="train", help="split of a Hugging Face dataset (default: train)")


def _register_train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a tokenizer and save it as a Hugging Face tokenizer folder",
        description="Train a byte-level BPE tokenizer; save it where AutoTokenizer.from_pretrained loads it.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(parser)
    parser.add_argument("--output_dir", required=True, metavar="DIR", help="folder to write the tokenizer to")
    parser.add_argument(
        "--vocab_size", type=int, default=8192, metavar="N", help="total vocabulary size (default: 8192)"
    )
    parser.add_argument(
        "--min_frequency",
        type=int,
        default=2,
        metavar="N",
        help="merge only pairs seen at least N times (default: 2)",
    )
    parser.add_argument(
        "--model_max_length",
        type=int,
        default=512,
        metavar="N",
        help="longest input in tokens (default: 512)",
    )
    parser.set_defaults(func=run_train)


def _register_stats(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stats",
        help="measure a tokenizer on some text (chars per token, tokens per word, ...)",
        description="Measure how a trained tokenizer splits some text.",
        epilog=STATS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tokenizer", required=True, metavar="DIR", help="tokenizer folder")
    _add_input_options(parser)
    parser.add_argument(
        "--max_bytes",
        type=int,
        default=DEFAULT_STATS_BYTES,
        metavar="N",
        help=f"measure the first N bytes of text only; 0 for all (default: {DEFAULT_STATS_BYTES})",
    )
    parser.set_defaults(func=run_stats)


def run_train(args: argparse.Namespace) -> int:
    stats = train_tokenizer(
        args.input,
        output_dir=args.output_dir,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        model_max_length=args.model_max_length,
        strip_gutenberg=args.strip_gutenberg,
        text_column=args.text_column,
        dataset_config=args.dataset_config,
        split=args.split,
    )
    print(format_training_summary(stats))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    stats = tokenizer_stats(
        args.tokenizer,
        args.input,
        max_bytes=args.max_bytes,
        strip_gutenberg=args.strip_gutenberg,
        text_column=args.text_column,
        dataset_config=args.dataset_config,
        split=args.split,
    )
    print(format_tokenizer_stats(stats))
    return 0

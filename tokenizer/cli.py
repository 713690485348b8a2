"""`genpt tokenizer train` and `genpt tokenizer stats`."""

from __future__ import annotations

import argparse
import dataclasses

from genpt.data.corpus import CORPUS_FLAGS
from genpt.errors import GenptError
from genpt.options import add_config_option, add_options, config_from_cli, new_command
from genpt.tokenizer.config import StatsConfig, TokenizerConfig

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

  # the same options from a YAML file (keys as the options without --, but inputs: for --input)
  genpt tokenizer train --config tok.yaml --output_dir runs/tok

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
    commands = parser.add_subparsers(dest="tokenizer_command", metavar="COMMAND")  # missing: genpt's main says so
    train = new_command(commands, "train", help="train a tokenizer and save it as a Hugging Face tokenizer folder",
                        description="Train a byte-level BPE tokenizer; save it where AutoTokenizer.from_pretrained "
                                    "loads it.", epilog=TRAIN_EXAMPLES)
    train.add_argument("--output_dir", required=True, metavar="DIR", help="folder to write the tokenizer to")
    add_config_option(train, "the tokenizer options")
    add_options(train, TokenizerConfig, flags=CORPUS_FLAGS)
    train.set_defaults(func=run_train)
    stats = new_command(commands, "stats", help="measure a tokenizer on some text (chars per token, tokens per word, ...)",
                        description="Measure how a trained tokenizer splits some text.", epilog=STATS_EXAMPLES)
    add_options(stats, StatsConfig, flags=CORPUS_FLAGS, required=("tokenizer",))
    stats.set_defaults(func=run_stats)


def run_train(args: argparse.Namespace) -> int:
    from genpt.tokenizer.train import format_training_summary, train_tokenizer

    config = _with_inputs(config_from_cli(TokenizerConfig, args))
    options = dataclasses.asdict(config)
    stats = train_tokenizer(options.pop("inputs"), output_dir=args.output_dir, exit_on_interrupt=True, **options)
    print(format_training_summary(stats))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from genpt.tokenizer.train import format_tokenizer_stats, tokenizer_stats

    config = _with_inputs(config_from_cli(StatsConfig, args))
    if config.max_bytes < 0:
        raise GenptError(f"--max_bytes must be >= 0 (0: all the text), got {config.max_bytes}")
    stats = tokenizer_stats(config.tokenizer, config.inputs, max_bytes=config.max_bytes, **config.read_options())
    print(format_tokenizer_stats(stats))
    return 0


def _with_inputs(config):
    if not config.inputs:
        raise GenptError("--input is required: files, folders or a Hugging Face dataset name")
    return config

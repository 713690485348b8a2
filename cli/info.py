"""`genpt info`: a preset's (or config file's) hyper-parameters and parameter counts."""

from __future__ import annotations

import argparse

from genpt.config import PRESETS, GPTConfig
from genpt.options import new_command

EPILOG = """examples:
  genpt info --preset gpt1
  genpt info --preset mini --vocab_size 16384
  genpt info --config runs/mini/config.yaml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "info", help="print a model preset's config and parameter count", epilog=EPILOG,
                         description="Print a GPT config (a named preset or a YAML file) and its parameter counts.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=sorted(PRESETS), help="a named preset")
    source.add_argument("--config", metavar="FILE.yaml", help="a YAML model config (a run's config.yaml works too)")
    parser.add_argument("--vocab_size", type=int, metavar="N", help="count at this vocabulary size instead")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.models.gpt import parameter_counts

    config = GPTConfig.from_name(args.preset) if args.preset else GPTConfig.from_yaml(args.config)
    if args.vocab_size is not None:
        config = GPTConfig.from_dict({**config.to_dict(), "vocab_size": args.vocab_size}, source="--vocab_size")
    counts = parameter_counts(config)
    width = max(len(key) for key in config.to_dict())
    for key, value in config.to_dict().items():
        print(f"{key:<{width}}  {value}")
    print(f"{'parameters':<{width}}  {counts['total']:,} ({counts['total'] / 1e6:.1f}M)")
    print(f"{'non-embedding':<{width}}  {counts['non_embedding']:,} ({counts['non_embedding'] / 1e6:.1f}M)")

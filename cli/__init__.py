"""The `genpt` command: one subcommand per stage.

It lives outside the core (`genpt/`), which never imports a stage: this dispatcher and
the demo are the only places that bring the stages together. Building the parser imports
no torch, so `genpt --help` answers at once. Each stage's `cli` module
exposes `register(subparsers)`, which adds its subcommand and sets `func` on its parser;
`func(args)` does the work and returns an exit status (None means 0).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from genpt import __version__
from genpt.errors import GenptError
from genpt.options import attach_negative_numbers

# Modules whose `register(subparsers)` adds a subcommand, in the order `--help` lists them.
COMMAND_MODULES = (
    "genpt.tokenizer.cli",
    "genpt.pretrain.cli",
    "genpt.finetune.cli",
    "genpt.eval.cli",
    "genpt.baselines.seq2seq_cli",
    "genpt.baselines.compare_cli",
    "genpt.export.cli",
    "genpt.cli.info",
    "genpt.cli.demo",
)


# Commands that run training steps, for which the CPU allocator setting pays.
TRAINING_COMMANDS = ("pretrain", "finetune", "seq2seq", "compare", "demo")
# --no-keep_freed_memory, as the runs a long command starts inherit it (`genpt compare`'s and
# `genpt eval layers`' cells are `genpt finetune` processes of their own).
KEEP_FREED_MEMORY_ENV = "GENPT_KEEP_FREED_MEMORY"


@contextmanager
def choice_passed_on(keep_freed_memory: bool) -> Iterator[None]:
    """While a command runs, the processes it starts inherit its --[no-]keep_freed_memory."""
    previous = os.environ.get(KEEP_FREED_MEMORY_ENV)
    os.environ[KEEP_FREED_MEMORY_ENV] = "1" if keep_freed_memory else "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KEEP_FREED_MEMORY_ENV, None)
        else:
            os.environ[KEEP_FREED_MEMORY_ENV] = previous


def _keep_freed_memory() -> None:
    """On by default at the command line (a process-wide, irreversible setting: the library
    never makes it for you)."""
    from genpt.perf import keep_freed_memory

    if not keep_freed_memory():
        print("genpt: note: could not keep freed memory for reuse (the C library is not glibc); "
              "training runs, a few percent slower on a CPU", file=sys.stderr)


def is_storage_error(error: BaseException) -> bool:
    """A file could not be read or written: a read-only or full disk, a missing permission."""
    return isinstance(error, OSError) or type(error).__name__ == "SafetensorError"


def describe_storage_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    return str(error).splitlines()[0][:300]


class OneLineErrors(argparse.ArgumentParser):
    """A misspelt option or a value of the wrong type is bad input like any other: one line
    naming it, exit status 2 (argparse's own error prints the whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="genpt",
        description="Generative Pre-Training as in GPT-1: tokenizer, pretraining, fine-tuning, export.",
    )
    parser.add_argument("--version", action="version", version=f"genpt {__version__}")
    parser.add_argument("--keep_freed_memory", action=argparse.BooleanOptionalAction,
                        default=os.environ.get(KEEP_FREED_MEMORY_ENV) != "0",
                        help="training on a CPU: keep freed memory for reuse instead of returning it to the system "
                             "(steps re-allocate their activations; faster, and the process keeps its peak memory "
                             "until it exits; the runs `compare` and `eval layers` start inherit the choice) "
                             f"(default: on, unless {KEEP_FREED_MEMORY_ENV}=0)")
    # Not `required`: main() says a command is missing only after naming an unknown option
    # (`genpt --bogus`), as for the command groups (`genpt tokenizer`)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _chosen_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command the arguments chose: `genpt tokenizer train`, say."""
    while True:
        commands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
        name = getattr(args, commands[0].dest, None) if commands else None
        if name is None:
            return parser
        parser = commands[0].choices[name]


def main(argv: list[str] | None = None) -> int:
    argv = attach_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    if argv in (["--version"], ["-V"]):  # answered before the stages' options are even built
        print(f"genpt {__version__}")
        return 0
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        chosen = _chosen_command(parser, args)
        if extras:  # named by the subcommand that does not know them, not by `genpt`
            chosen.error(f"unrecognized arguments: {' '.join(extras)}")
        if getattr(args, "func", None) is None:  # `genpt`, `genpt tokenizer`: a group, not a command
            chosen.error("the following arguments are required: COMMAND")
    except SystemExit as exit:  # --help, or an option argparse refused (its one line is printed)
        return exit.code if isinstance(exit.code, int) else 2
    if args.command in TRAINING_COMMANDS and args.keep_freed_memory:
        _keep_freed_memory()
    try:
        with choice_passed_on(args.keep_freed_memory):
            status = args.func(args)
    except GenptError as error:
        print(f"genpt {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genpt {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - only I/O failures become one line; the rest are bugs
        if not is_storage_error(error):
            raise
        print(f"genpt {args.command}: error: {describe_storage_error(error)}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)


if __name__ == "__main__":
    sys.exit(main())

"""One option layer for every command: a config dataclass becomes command-line options, and
a YAML file, the dataclass's defaults and the flags merge into one typed config.

    defaults (the dataclass, or a preset)  <-  --config FILE.yaml  <-  the flags given

Each field becomes `--field`: its help text is the comment beside (or above) the field in
the dataclass's source, its default is shown, booleans are `--x/--no-x`, `Literal` fields
take their choices, lists take one or more values. Values read from YAML are checked and
converted to the field's type (`1e-3`, which YAML reads as text, is a number), and a value
of the wrong type is one line naming the key and the type expected.

This module imports neither torch nor transformers: `genpt --help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import re
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, Literal

from genpt.errors import GenptError

# ---- help text from the dataclass source -------------------------------------------------------


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """{field: its comment} for a dataclass and its dataclass bases (the subclass's wins).

    The comment is the one on the field's own line, or else the comment lines right above it.
    """
    comments: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        comments.update({name: text for name, text in _comments_in_source(klass).items() if text})
    return comments


def _comments_in_source(cls: type) -> dict[str, str]:
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):  # no source shipped: no help text, still every option
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    found: dict[str, str] = {}
    above: list[str] = []  # the comment block right above the current line
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"\s*(\w+)\s*:", line)
        if match and match.group(1) in names:
            found[match.group(1)] = _trailing_comment(line) or " ".join(above)
        above = []
    return found


def _trailing_comment(line: str) -> str:
    """The comment ending a line of code (a `#` inside a string is not one)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return token.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):  # a line of a longer statement
        match = re.search(r"\s#\s*(.*)$", line)
        return match.group(1).strip() if match else ""
    return ""


# ---- types -----------------------------------------------------------------------------------


def _optional(kind: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), len(args) < len(typing.get_args(kind))
    return kind, False


def _type_name(kind: Any) -> str:
    base, optional = _optional(kind)
    if typing.get_origin(base) is Literal:
        name = "one of " + ", ".join(repr(a) for a in typing.get_args(base))
    elif typing.get_origin(base) is list:
        name = "a list"
    else:
        name = {int: "an integer", float: "a number", str: "text", bool: "true or false", Path: "a path"}.get(
            base, getattr(base, "__name__", str(base)))
    return name + (" (or null)" if optional else "")


def convert(value: Any, kind: Any, where: str) -> Any:
    """`value` as type `kind`, or a one-line GenptError naming `where` and the type expected."""
    base, optional = _optional(kind)
    if value is None:
        if optional:
            return None
        raise GenptError(f"{where}: expected {_type_name(kind)}, got null")
    wrong = GenptError(f"{where}: expected {_type_name(kind)}, got {value!r}")
    if typing.get_origin(base) is Literal:
        if value not in typing.get_args(base):
            raise wrong
        return value
    if typing.get_origin(base) is list or base is list:
        item = (typing.get_args(base) or (Any,))[0]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]  # a single value where a list is expected: a list of one
        if not isinstance(value, (list, tuple)):
            raise wrong
        # "1,2,3" is three values, as a user types them on a command line
        value = [part.strip() for v in value for part in v.split(",") if part.strip()] if all(
            isinstance(v, str) for v in value) and any("," in v for v in value) else value
        return [v if item is Any else convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if base is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if base is float:
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return float(str(value).strip())  # YAML 1.1 reads 1e-3 (no dot) as text
        except ValueError:
            raise wrong from None
    if base is int:
        if isinstance(value, bool):
            raise wrong
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip()) if re.search(r"[.eE]", value) else int(value.strip())
            except ValueError:
                raise wrong from None
        if isinstance(number, float):
            if not number.is_integer():
                raise wrong
            number = int(number)
        if not isinstance(number, int):
            raise wrong
        return number
    if base is str:
        if not isinstance(value, str):
            raise wrong
        return value
    if base is Path:
        if not isinstance(value, (str, Path)):
            raise wrong
        return Path(value)
    return value


def require_counts(options: Any, *names: str) -> None:
    """Each named count that is set (not None) is at least 1: one line naming the option.
    A count of 0 or less is never a way to say "the default" or "all"."""
    for name in names:
        value = getattr(options, name)
        if value is not None and value < 1:
            raise GenptError(f"--{name} must be at least 1, got {value}")


def from_mapping(cls: type, values: dict[str, Any], source: str) -> Any:
    """An instance of the dataclass `cls` from a mapping, every key known and every value typed."""
    if not isinstance(values, dict):
        raise GenptError(f"{source}: expected a mapping of {cls.__name__} keys, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise GenptError(f"{source}: unknown key {unknown[0]!r}; expected some of {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    converted = {name: convert(value, hints[name], f"{source}: {name}") for name, value in values.items()}
    missing = [name for name, f in fields.items() if name not in converted and f.init
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise GenptError(f"{source}: {missing[0]} is required")
    try:
        return cls(**converted)
    except (TypeError, ValueError, GenptError) as error:
        raise GenptError(f"{source}: {error}") from None


def to_mapping(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


# ---- the command line ------------------------------------------------------------------------


def new_command(subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str,
                epilog: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help keeps the epilog's examples as written."""
    return subparsers.add_parser(name, help=help, description=description, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, defaults: Any = None,
                required: tuple[str, ...] = (), exclude: tuple[str, ...] = (), only: tuple[str, ...] | None = None,
                help_texts: dict[str, str] | None = None, flags: dict[str, str] | None = None,
                dest_prefix: str = "") -> None:
    """One `--field` per field of the dataclass `cls` (`flags` renames some: field -> flag).

    Options default to "not given" (argparse.SUPPRESS), so `merge` can tell the flags a user
    typed from the defaults underneath. `defaults` (an instance) supplies the defaults shown
    in the help; `help_texts` overrides the field comments.
    """
    hints = typing.get_type_hints(cls)
    comments = {**field_comments(cls), **(help_texts or {})}
    for f in dataclasses.fields(cls):
        if f.name in exclude or (only is not None and f.name not in only) or not f.init:
            continue
        default = getattr(defaults, f.name) if defaults is not None else _field_default(f)
        _add_option(parser, f.name, (flags or {}).get(f.name, f.name), hints[f.name], default, f.name in required,
                    comments.get(f.name, ""), dest_prefix)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _add_option(parser, name: str, flag_name: str, kind: Any, default: Any, required: bool, help_text: str,
                dest_prefix: str) -> None:
    base, _ = _optional(kind)
    shown = help_text
    if default not in (None, "", [], ()) and base is not bool:
        text = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        shown = f"{help_text} (default: {text})".strip()
    elif base is bool and default:
        shown = f"{help_text} (default: on)".strip()
    # help comes from source comments, written as prose: a "%" there is a percent sign, not a
    # format field (argparse expands %(default)s and would fail on "this % of")
    common = dict(dest=dest_prefix + name, default=argparse.SUPPRESS, help=shown.replace("%", "%%") or None)
    flag = f"--{flag_name}"
    if base is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
    elif typing.get_origin(base) is Literal:
        parser.add_argument(flag, choices=typing.get_args(base), required=required, **common)
    elif typing.get_origin(base) is list or base is list:
        parser.add_argument(flag, nargs="+", required=required, metavar=flag_name.upper(), **common)
    else:
        metavar = {int: "N", float: "X"}.get(base, flag_name.upper())
        parser.add_argument(flag, type=_parser_type(kind, flag), required=required, metavar=metavar, **common)


def _parser_type(kind: Any, flag: str):
    base, optional = _optional(kind)

    def parse(text: str) -> Any:
        # "none" unsets an option that may be null, as YAML's null does: `--budget none` over a
        # config that sets a budget means the whole training set
        if optional and text.strip().lower() in ("none", "null"):
            return None
        try:
            return convert(text, base, flag)
        except GenptError as error:  # argparse names the option itself: "argument --x: expected ..."
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{flag}: ")) from None

    parse.__name__ = getattr(base, "__name__", "value")  # argparse's "invalid <name> value" message
    return parse


def add_config_option(parser: argparse.ArgumentParser, what: str = "options") -> None:
    parser.add_argument("--config", metavar="FILE.yaml", default=argparse.SUPPRESS,
                        help=f"read {what} from a YAML file (a run folder's config.yaml reproduces the run); "
                             "flags given here override its values")


def given(args: argparse.Namespace, cls: type, dest_prefix: str = "") -> dict[str, Any]:
    """The fields of `cls` that were given on the command line."""
    values = vars(args)
    return {f.name: values[dest_prefix + f.name] for f in dataclasses.fields(cls) if dest_prefix + f.name in values}


def merge(cls: type, *layers: dict[str, Any], source: str = "options") -> Any:
    """The dataclass `cls` from layers of values, later layers overriding earlier ones."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return from_mapping(cls, merged, source)


def read_config_section(path: str | Path, section: str | None = None) -> dict[str, Any]:
    """A YAML config's mapping: the whole file, or its `section:` when it has one (a run
    folder's config.yaml nests its options under a section)."""
    from genpt.config import read_yaml_mapping

    values = read_yaml_mapping(path)
    if section is not None and isinstance(values.get(section), dict):
        return values[section]
    return values


def check_values(cls: type, values: dict[str, Any], source: str) -> dict[str, Any]:
    """Some of `cls`'s fields (a YAML file's, say), each known and converted to its type."""
    if not isinstance(values, dict):
        raise GenptError(f"{source}: expected a mapping of {cls.__name__} keys, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GenptError(f"{source}: unknown key {unknown[0]!r}; expected some of {', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    return {name: convert(value, hints[name], f"{source}: {name}") for name, value in values.items()}


def config_from_cli(cls: type, args: argparse.Namespace, *, section: str | None = None,
                    base: dict[str, Any] | None = None) -> Any:
    """`cls` from `base`, then the --config file (its `section:` when it has one), then the flags."""
    merged = dict(base or {})
    options = vars(args)
    if "config" in options:
        merged.update(check_values(cls, read_config_section(options["config"], section), str(options["config"])))
    merged.update(given(args, cls))
    for f in dataclasses.fields(cls):
        if f.init and f.name not in merged and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise GenptError(f"--{f.name} is required (as a flag, or a key of --config)")
    return from_mapping(cls, merged, "options")


def add_run_folder_options(parser: argparse.ArgumentParser, replaces: str | None = None) -> None:
    """--output_dir and --resume (and --overwrite_output_dir when a finished run may be replaced)."""
    parser.add_argument("--output_dir", required=True, help="the run folder")
    if replaces is not None:
        parser.add_argument("--overwrite_output_dir", action="store_true", help=f"replace {replaces} already there")
    parser.add_argument("--resume", metavar="PATH|auto", default=None,
                        help="continue from a checkpoint folder, or from the newest in --output_dir")


def add_run_command(subparsers: argparse._SubParsersAction, name: str, config_class: type, *, section: str, replaces: str,
                    train: str, report: Any, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A command that trains into a run folder: --output_dir, --overwrite_output_dir, --resume,
    --config (a run's config.yaml too: its `section:`) and the config class's options.

    `train` ("module:function", imported only when the command runs, so --help stays fast)
    is called as `train(config, output_dir, overwrite=..., resume=...)`; `report(config,
    summary)` prints a finished run's results."""
    parser = new_command(subparsers, name, help=help, description=description, epilog=epilog)
    add_run_folder_options(parser, replaces=replaces)
    add_config_option(parser, f"the {name} options (or a run's config.yaml, its {section}: section)")
    add_options(parser, config_class)
    parser.set_defaults(func=_run_command, config_class=config_class, config_section=section, train=train, report=report)
    return parser


def _run_command(args: argparse.Namespace) -> int:
    """Train the command's config (flags over --config over defaults); an interrupted run
    says how to continue and exits with 130."""
    import importlib

    module, function = args.train.split(":")
    train = getattr(importlib.import_module(module), function)
    config = config_from_cli(args.config_class, args, section=args.config_section)
    summary = train(config, args.output_dir, overwrite=args.overwrite_output_dir, resume=args.resume)
    if summary["stop_reason"] == "interrupted":
        return report_interruption(summary, f"genpt {args.command}")
    if summary["is_main_process"]:
        args.report(config, summary)
    return 0


def report_interruption(summary: dict[str, Any], command: str) -> int:
    """The exit status of a run stopped by Ctrl-C, after saying how to continue it."""
    if summary["is_main_process"]:
        print(f"interrupted at step {summary['steps']}: run the same `{command}` command with --resume auto to continue")
    return 130  # the shell's code for a run stopped by Ctrl-C


# ---- argv ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def attach_negative_numbers(argv: list[str]) -> list[str]:
    """`--learning_rate -1e-3` as `--learning_rate=-1e-3`: argparse takes `-1e-3` for an
    option, and the user would get a puzzling error instead of the range check."""
    fixed: list[str] = []
    for token in argv:
        if fixed and _NUMBER.match(token) and fixed[-1].startswith("--") and "=" not in fixed[-1]:
            fixed[-1] = f"{fixed[-1]}={token}"
        else:
            fixed.append(token)
    return fixed

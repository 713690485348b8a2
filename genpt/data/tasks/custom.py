"""The user's own data: CSV, TSV, JSON or JSON Lines files with named columns."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, get_args

from genpt.data.tasks.files import (
    column,
    csv_rows,
    parse_float,
    read_text,
    table,
)
from genpt.data.tasks.registry import Task
from genpt.data.types import Example, InputFormat, TaskType
from genpt.errors import GenptError

CUSTOM_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")
# read_custom's options that name a file's columns; a run's config.yaml records them
COLUMN_OPTIONS = ("text_column", "text_pair_column", "label_column", "choice_columns", "id_column")
_CLASS_TYPES = ("classification", "entailment", "similarity")


def custom_task(task_type: TaskType, label_names: tuple[str, ...] | None,
                paired: bool | None = None) -> Task:
    """A Task for the user's own data; `paired` says whether there is a second text column.

    classification -> single (pair when paired), entailment -> pair, similarity -> similarity,
    regression -> pair when paired else single, multiple_choice -> multiple_choice.
    """
    if task_type not in get_args(TaskType):
        raise GenptError(f"unknown task type {task_type!r}; expected one of {', '.join(get_args(TaskType))}")
    if task_type in ("entailment", "similarity") and paired is False:
        raise GenptError(f"task type {task_type} needs a second text column")
    if task_type == "regression":
        return Task("custom", "pair" if paired else "single", None, None, ("pearson", "spearmanr"))
    if task_type == "multiple_choice":
        return Task("custom", "multiple_choice", None, None, ("accuracy",))
    if label_names is None or len(label_names) < 2:
        found = "none" if not label_names else ", ".join(map(repr, label_names))
        raise GenptError(f"a {task_type} task needs at least 2 labels in its training data, found {found}")
    formats: dict[str, InputFormat] = {
        "classification": "pair" if paired else "single", "entailment": "pair", "similarity": "similarity"}
    metrics = ("accuracy", "f1") if len(label_names) == 2 else ("accuracy",)
    return Task("custom", formats[task_type], tuple(label_names), tuple(label_names), metrics)


def read_custom(path: str | Path, *, text_column: str = "text", text_pair_column: str | None = None,
                label_column: str = "label", choice_columns: Sequence[str] | None = None,
                task_type: TaskType = "classification", label_names: Sequence[str] | None = None,
                require_label: bool = True, id_column: str | None = None) -> tuple[list[Example], tuple[str, ...] | None]:
    """Examples from a .csv, .tsv, .json (list of objects, or JSON Lines) or .jsonl file.

    Classification-like types return the sorted label names found (numerically when all are
    integers) and label ids in that order. Pass `label_names` (the training file's) to read
    validation or test data with the same ids: a label outside them is an error. Regression
    labels are floats; a multiple-choice label is the 0-based position of the right choice.
    With `require_label=False` (test files) the label column may be absent or empty.
    Other types return None for the label names. `id_column` names the column that identifies
    each row (its value becomes `Example.id`, which predictions files carry); every row needs one.
    """
    path = Path(path)
    if task_type not in get_args(TaskType):
        raise GenptError(f"unknown task type {task_type!r}; expected one of {', '.join(get_args(TaskType))}")
    if task_type == "multiple_choice" and not choice_columns:
        raise GenptError("a multiple_choice task needs the names of its choice columns")
    text_columns = [text_column, *([text_pair_column] if text_pair_column else []), *(choice_columns or [])]
    records = _records(path, [*text_columns, *([id_column] if id_column else [])], label_column if require_label else None)

    raw_labels = [_label_text(record.get(label_column)) for _, record in records]
    if require_label:
        for (where, _), raw in zip(records, raw_labels):
            if raw is None:
                raise GenptError(f"{where}: empty {label_column!r}")
    names: tuple[str, ...] | None = None
    if task_type in _CLASS_TYPES:
        names = tuple(label_names) if label_names is not None else _sorted_labels(raw_labels)

    examples = []
    for row_number, ((where, record), raw) in enumerate(zip(records, raw_labels)):
        texts = [_text(record, column, where) for column in text_columns]
        n_choices = len(choice_columns or ())
        examples.append(Example(
            index=row_number,
            text_a=texts[0],
            text_b=texts[1] if text_pair_column else None,
            choices=tuple(texts[len(texts) - n_choices:]) if n_choices else None,
            label=None if raw is None else _custom_label(task_type, raw, names, n_choices, where),
            id=_row_id(record, id_column, where) if id_column else None,
        ))
    if id_column:
        _check_unique_ids(examples, records, id_column)
    return examples, names


def _records(path: Path, text_columns: Sequence[str], label_column: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) pairs; `where` names the file and line (or record) for error messages."""
    suffix = path.suffix.lower()
    if suffix not in CUSTOM_SUFFIXES:
        raise GenptError(f"{path}: unsupported file type {suffix or '(none)'}; expected {', '.join(CUSTOM_SUFFIXES)}")
    expected = [*text_columns, *([label_column] if label_column else [])]
    if suffix in (".csv", ".tsv"):
        # quoted as csv writes them, tab-separated too (pandas' to_csv(sep="\t")); GLUE's own
        # files are read unquoted elsewhere
        header, rows = table(path, csv_rows(path, delimiter="," if suffix == ".csv" else "\t"))
        for name in expected:
            column(path, header, name, expected)
        records = [(f"{path} line {line}", dict(zip(header, fields))) for line, fields in rows]
    else:
        records = _json_records(path)
        for where, record in records:
            missing = [name for name in expected if name not in record]
            if missing:
                raise GenptError(f"{where}: no field {missing[0]!r}; expected the fields {', '.join(expected)}")
    if not records:
        raise GenptError(f"{path} has no examples")
    return records


def _json_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """A JSON list of objects, or JSON Lines (also under .json: `datasets` writes those)."""
    text = read_text(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise GenptError(f"{path} line {error.lineno}: not valid JSON ({error.msg})") from None
        records = [(f"{path} record {i + 1}", item) for i, item in enumerate(items)]
    else:
        records = []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    records.append((f"{path} line {number}", json.loads(line)))
                except json.JSONDecodeError as error:
                    raise GenptError(f"{path} line {number}: not valid JSON ({error.msg})") from None
    for where, record in records:
        if not isinstance(record, dict):
            raise GenptError(f"{where}: expected a JSON object, found {type(record).__name__}")
    return records


def _text(record: dict[str, Any], column: str, where: str) -> str:
    value = record[column]
    if value is None or isinstance(value, (dict, list)):
        raise GenptError(f"{where}: {column!r} is not text")
    return str(value).strip()


def _row_id(record: dict[str, Any], column: str, where: str) -> str:
    value = _label_text(record[column])  # a JSON number or boolean as it is written
    if value is None or isinstance(record[column], (dict, list)):
        raise GenptError(f"{where}: {column!r} is empty or not a single value; every row needs an id")
    if any(character in value for character in "\t\r\n"):  # it would break its row of a predictions file
        raise GenptError(f"{where}: {column!r} holds a tab or a line break; expected an id on one line")
    return value


def _check_unique_ids(examples: list[Example], records: list[tuple[str, dict[str, Any]]], column: str) -> None:
    first_seen: dict[str, str] = {}
    for example, (where, _) in zip(examples, records):
        if example.id in first_seen:
            raise GenptError(f"{where}: {column!r} {example.id!r} is also the id of {first_seen[example.id]}; expected one row per id")
        first_seen[example.id] = where


def _label_text(value: Any) -> str | None:
    """Labels as the strings they are named by; JSON numbers and booleans included."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def _sorted_labels(raw_labels: Iterable[str | None]) -> tuple[str, ...]:
    """Sorted so ids do not depend on row order; numerically when all are integers ("2" < "10")."""
    found = {raw for raw in raw_labels if raw is not None}
    if found and all(re.fullmatch(r"[-+]?\d+", raw) for raw in found):
        return tuple(sorted(found, key=int))
    return tuple(sorted(found))


def _custom_label(task_type: str, raw: str, names: tuple[str, ...] | None, n_choices: int,
                  where: str) -> int | float:
    if task_type == "regression":
        value = parse_float(raw)
        if not math.isfinite(value):
            raise GenptError(f"{where}: label {raw!r} is not a number")
        return value
    if task_type == "multiple_choice":
        if not re.fullmatch(r"\d+", raw) or int(raw) >= n_choices:
            raise GenptError(f"{where}: label {raw!r} is not a choice position 0..{n_choices - 1}")
        return int(raw)
    assert names is not None
    if raw not in names:
        raise GenptError(f"{where}: label {raw!r} is not one of {', '.join(map(repr, names))}")
    return names.index(raw)

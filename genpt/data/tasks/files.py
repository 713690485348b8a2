"""Reading the original files: UTF-8 text, TSV and CSV rows with line numbers, header
checks and labels, each bad row named by file and line."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from genpt.data.tasks.registry import STSB_SCORE_RANGE, Task
from genpt.errors import GenptError


def read_text(path: Path) -> str:
    """The whole file as text, without a UTF-8 byte order mark (MRPC and Excel files have one)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GenptError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GenptError(f"{path} is a folder, expected a file") from None
    except UnicodeDecodeError as error:
        raise GenptError(f"{path}: not UTF-8 text (byte {error.start})") from None


def tsv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty lines split on tabs, with 1-based line numbers; quotes are plain characters."""
    rows = []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        line = line.removesuffix("\r")
        if line:
            rows.append((number, line.split("\t")))
    return rows


def table(path: Path, rows: list[tuple[int, list[str]]],
           header: Sequence[str] | None = None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Split off the header row (unless given) and check every row has one field per column."""
    if header is None:
        if not rows:
            raise GenptError(f"{path} is empty: expected a header row and examples")
        (header_line, names), rows = rows[0], rows[1:]
        header = [name.strip() for name in names]
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:  # which of the two columns would be read?
            raise GenptError(f"{path} line {header_line}: the header names the column {repeated[0]!r} twice")
    for number, fields in rows:
        if len(fields) != len(header):
            raise GenptError(f"{path} line {number}: expected {len(header)} fields ({', '.join(header)}), "
                             f"found {len(fields)}")
    if not rows:
        raise GenptError(f"{path} has no examples")
    return list(header), rows


def column(path: Path, header: list[str], name: str, expected: Sequence[str]) -> int:
    if name not in header:
        raise GenptError(f"{path}: no column {name!r}; expected the columns {', '.join(expected)} "
                         f"(the file has {', '.join(header)})")
    return header.index(name)


def parse_index(raw: str, where: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise GenptError(f"{where}: index {raw!r} is not an integer") from None


def decode_label(task: Task, raw: str, where: str) -> int | float:
    """A file's label text as a class id, or as a score for STS-B."""
    raw = raw.strip()
    if task.is_regression:
        low, high = STSB_SCORE_RANGE
        score = parse_float(raw)
        if not low <= score <= high:  # also false for NaN
            raise GenptError(f"{where}: score {raw!r} is not a number in [{low:g}, {high:g}]")
        return score
    assert task.file_labels is not None
    if raw not in task.file_labels:
        raise GenptError(f"{where}: label {raw!r} is not one of {', '.join(map(repr, task.file_labels))}")
    return task.file_labels.index(raw)


def parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return math.nan


def csv_rows(path: Path, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """CSV records (quoted fields may span lines), each with the line it starts on; with
    delimiter "\t", tab-separated files as pandas and spreadsheets write them (quoted)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter)
    rows, line = [], 1
    try:
        for fields in reader:
            if fields:
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as error:
        raise GenptError(f"{path} line {reader.line_num}: malformed CSV ({error})") from None
    return rows

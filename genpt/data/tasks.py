"""Downstream tasks: the registry of GLUE and Story Cloze tasks, and the readers for their data.

Fine-tuning and evaluation both read through here, so every task is read one way only.
Readers return a list of `Example`; `genpt.data.transformations` turns each into the token
sequences of GPT-1 section 3.3 chosen by the task's `input_format`.

Where the data comes from, in order of preference:
  - `file=`: one file in the task's original format (GLUE TSV, Story Cloze CSV);
  - `data_dir=`: a `glue_data/` folder, or one task folder inside it;
  - neither: the `nyu-mll/glue` dataset on the Hugging Face hub.

GLUE TSVs are split on tabs with no quote handling, as GLUE's own readers do: MRPC strings
begin with `"`, and a sentence like `null` or `NA` must stay text, so no pandas here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from genpt.errors import GenptError

InputFormat = Literal["single", "pair", "similarity", "multiple_choice"]
TaskType = Literal["classification", "entailment", "similarity", "regression", "multiple_choice"]

SPLITS = ("train", "validation", "test")
# MNLI has two evaluation sets: "matched" genres (seen in training) and "mismatched" ones.
MNLI_SPLITS = ("validation_matched", "validation_mismatched", "test_matched", "test_mismatched")
CUSTOM_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")


@dataclass(frozen=True)
class Task:
    """What a task is: how its inputs are laid out for the model, its classes and its metrics."""

    name: str
    input_format: InputFormat
    # Human names, index = class id; None for regression.
    label_names: tuple[str, ...] | None
    # How the data files and the GLUE submission server write each class, same order.
    file_labels: tuple[str, ...] | None
    # metrics[0] picks the best checkpoint.
    metrics: tuple[str, ...]
    glue_name: str | None = None

    @property
    def is_regression(self) -> bool:
        return self.label_names is None and self.input_format != "multiple_choice"

    @property
    def num_labels(self) -> int:
        """Outputs of the task head: multiple choice scores each candidate with one logit."""
        if self.is_regression or self.input_format == "multiple_choice":
            return 1
        assert self.label_names is not None
        return len(self.label_names)


@dataclass
class Example:
    """One row of a task's data, before tokenization."""

    index: int  # the file's index/id column where there is one, else the 0-based row number
    text_a: str  # sentence / premise / first sentence / multiple-choice context
    text_b: str | None = None  # second text, for pair and similarity
    choices: tuple[str, ...] | None = None  # candidate answers, for multiple choice
    label: int | float | None = None  # class id, score, right choice id; None if unlabelled
    id: str | None = None  # Story Cloze story id, so splits never share a story


def _glue(name: str, glue_name: str, fmt: InputFormat, labels: tuple[str, ...] | None,
          file_labels: tuple[str, ...] | None, metrics: tuple[str, ...]) -> Task:
    return Task(name, fmt, labels, file_labels, metrics, glue_name)


# The paper uses the similarity transformation (both orders, summed) for MRPC, QQP and STS-B.
TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        _glue("cola", "CoLA", "single", ("unacceptable", "acceptable"), ("0", "1"),
              ("matthews_correlation", "accuracy")),
        _glue("sst2", "SST-2", "single", ("negative", "positive"), ("0", "1"), ("accuracy",)),
        _glue("mrpc", "MRPC", "similarity", ("not_equivalent", "equivalent"), ("0", "1"),
              ("f1", "accuracy")),
        _glue("stsb", "STS-B", "similarity", None, None, ("pearson", "spearmanr")),
        _glue("qqp", "QQP", "similarity", ("not_duplicate", "duplicate"), ("0", "1"),
              ("f1", "accuracy")),
        _glue("mnli", "MNLI", "pair", ("entailment", "neutral", "contradiction"),
              ("entailment", "neutral", "contradiction"), ("accuracy",)),
        _glue("qnli", "QNLI", "pair", ("entailment", "not_entailment"),
              ("entailment", "not_entailment"), ("accuracy",)),
        _glue("rte", "RTE", "pair", ("entailment", "not_entailment"),
              ("entailment", "not_entailment"), ("accuracy",)),
        _glue("wnli", "WNLI", "pair", ("not_entailment", "entailment"), ("0", "1"), ("accuracy",)),
        Task("story_cloze", "multiple_choice", ("ending_1", "ending_2"), ("1", "2"), ("accuracy",)),
    )
}


def _name_key(name: str) -> str:
    """'SST-2', 'sst_2' and 'sst2' all name the same task."""
    return re.sub(r"[-_ ]", "", name.lower())


def get_task(name: str) -> Task:
    """The registered task called `name` (also accepts GLUE folder spellings like 'SST-2')."""
    key = _name_key(name)
    for task in TASKS.values():
        if key in (_name_key(task.name), _name_key(task.glue_name or task.name)):
            return task
    known = ", ".join(TASKS)
    if key == "custom":
        raise GenptError(f"task 'custom' needs a task type and your own files (see custom_task); known tasks: {known}")
    raise GenptError(f"unknown task {name!r}; expected one of {known}, or 'custom' with your own files")


def submission_filename(task: Task, split: str = "test") -> str:
    """The file name the GLUE submission server expects for this task's predictions."""
    if task.name == "mnli":
        return "MNLI-mm.tsv" if split.endswith("mismatched") else "MNLI-m.tsv"
    return f"{task.glue_name or task.name}.tsv"


# ---------------------------------------------------------------------------------------------
# Reading a split


def read_split(task: Task, split: str, *, data_dir: str | Path | None = None,
               file: str | Path | None = None) -> list[Example]:
    """The examples of one split, from `file`, else `data_dir`, else the Hugging Face hub.

    For Story Cloze, `data_dir` holds the spring 2016 `cloze_test_val*.csv` (labelled; GPT-1
    trains on it) and optionally `cloze_test_test*.csv`. "train" and "validation" are then the
    two disjoint parts of the val file given by `split_story_cloze`, and "test" the test file.
    An explicit `file` is always returned whole.
    """
    split = _canonical_split(task, split)
    if file is not None:
        return _read_task_file(task, split, Path(file))
    if data_dir is not None:
        return _read_from_dir(task, split, Path(data_dir))
    return _read_hub(task, split)


def _canonical_split(task: Task, split: str) -> str:
    """Validate `split`; MNLI's plain "validation"/"test" mean the matched sets."""
    accepted = SPLITS + (MNLI_SPLITS if task.name == "mnli" else ())
    if split not in accepted:
        raise GenptError(f"unknown split {split!r} for {task.name}; expected one of {', '.join(accepted)}")
    if task.name == "mnli" and split in ("validation", "test"):
        return f"{split}_matched"
    return split


def _read_task_file(task: Task, split: str, path: Path) -> list[Example]:
    labelled = not split.startswith("test")  # test splits may carry labels, but need not
    if task.name == "story_cloze":
        return _read_story_cloze(path, require_label=labelled)
    if task.glue_name is None:
        raise GenptError(f"task {task.name} has no file format of its own; read its files with read_custom")
    return _read_glue_tsv(task, path, require_label=labelled)


def _read_from_dir(task: Task, split: str, root: Path) -> list[Example]:
    if not root.is_dir():
        raise GenptError(f"data folder {root} does not exist or is not a folder")
    if task.name != "story_cloze":
        return _read_task_file(task, split, _glue_path(task, split, root))
    if split == "test":
        return _read_story_cloze(_story_cloze_path(root, "test"), require_label=False)
    train, validation = split_story_cloze(_read_story_cloze(_story_cloze_path(root, "val"), require_label=True))
    return train if split == "train" else validation


def _glue_path(task: Task, split: str, root: Path) -> Path:
    """The split's TSV under a glue_data folder or under the task's own folder."""
    assert task.glue_name is not None
    other = _other_task_folder(task, root)
    if other is not None:
        raise GenptError(f"data folder {root} holds {other.glue_name} data, not {task.glue_name}; "
                         f"pass the glue_data folder or the {task.glue_name} folder")
    name = split.replace("validation", "dev") + ".tsv"
    candidates = [root / task.glue_name / name, root / task.name / name, root / name]
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(path) for path in candidates)
    raise GenptError(f"no {task.glue_name} {split} file in {root}: looked for {tried}")


def _other_task_folder(task: Task, root: Path) -> Task | None:
    """The other GLUE task whose folder `root` is, if any: its dev.tsv is not ours to read."""
    key = _name_key(root.name)
    for other in TASKS.values():
        if other is not task and other.glue_name and key in (_name_key(other.name), _name_key(other.glue_name)):
            return other
    return None


def _story_cloze_path(root: Path, part: Literal["val", "test"]) -> Path:
    pattern = f"cloze_test_{part}*.csv"
    matches = sorted(root.glob(pattern)) or sorted((root / "story_cloze").glob(pattern))
    if not matches:
        raise GenptError(f"no Story Cloze {part} file in {root}: expected a file named {pattern}")
    if len(matches) > 1:
        names = ", ".join(path.name for path in matches)
        raise GenptError(f"several Story Cloze {part} files in {root} ({names}); pass one as a file")
    return matches[0]


# ---------------------------------------------------------------------------------------------
# GLUE TSVs


@dataclass(frozen=True)
class _Columns:
    """Where a GLUE task's fields are in its TSV header."""

    text_a: str
    text_b: str | None
    label: str
    index: str = "index"  # used when present; MRPC train/dev have none
    # Column names for files without a header row (CoLA train/dev).
    headerless: tuple[str, ...] | None = None


_GLUE_COLUMNS: dict[str, _Columns] = {
    "cola": _Columns("sentence", None, "label", headerless=("source", "label", "original_label", "sentence")),
    "sst2": _Columns("sentence", None, "label"),
    "mrpc": _Columns("#1 String", "#2 String", "Quality"),
    "stsb": _Columns("sentence1", "sentence2", "score"),
    "qqp": _Columns("question1", "question2", "is_duplicate", index="id"),
    "mnli": _Columns("sentence1", "sentence2", "gold_label"),
    "qnli": _Columns("question", "sentence", "label"),
    "rte": _Columns("sentence1", "sentence2", "label"),
    "wnli": _Columns("sentence1", "sentence2", "label"),
}
STSB_SCORE_RANGE = (0.0, 5.0)


def _read_text(path: Path) -> str:
    """The whole file as text, without a UTF-8 byte order mark (MRPC and Excel files have one)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GenptError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GenptError(f"{path} is a folder, expected a file") from None
    except UnicodeDecodeError as error:
        raise GenptError(f"{path}: not UTF-8 text (byte {error.start})") from None


def _tsv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty lines split on tabs, with 1-based line numbers; quotes are plain characters."""
    rows = []
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        line = line.removesuffix("\r")
        if line:
            rows.append((number, line.split("\t")))
    return rows


def _table(path: Path, rows: list[tuple[int, list[str]]],
           header: Sequence[str] | None = None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Split off the header row (unless given) and check every row has one field per column."""
    if header is None:
        if not rows:
            raise GenptError(f"{path} is empty: expected a header row and examples")
        header, rows = [name.strip() for name in rows[0][1]], rows[1:]
    for number, fields in rows:
        if len(fields) != len(header):
            raise GenptError(f"{path} line {number}: expected {len(header)} fields ({', '.join(header)}), "
                             f"found {len(fields)}")
    if not rows:
        raise GenptError(f"{path} has no examples")
    return list(header), rows


def _column(path: Path, header: list[str], name: str, expected: Sequence[str]) -> int:
    if name not in header:
        raise GenptError(f"{path}: no column {name!r}; expected the columns {', '.join(expected)} "
                         f"(the file has {', '.join(header)})")
    return header.index(name)


def _is_headerless(task: Task, columns: _Columns, rows: list[tuple[int, list[str]]]) -> bool:
    """CoLA train/dev have no header: their first row already holds a label where 'label' would be."""
    if columns.headerless is None or not rows or task.file_labels is None:
        return False
    first = rows[0][1]
    position = columns.headerless.index(columns.label)
    return len(first) == len(columns.headerless) and first[position].strip() in task.file_labels


def _read_glue_tsv(task: Task, path: Path, *, require_label: bool) -> list[Example]:
    columns = _GLUE_COLUMNS[task.name]
    rows = _tsv_rows(path)
    header = columns.headerless if _is_headerless(task, columns, rows) else None
    header, rows = _table(path, rows, header)
    expected = [c for c in (columns.text_a, columns.text_b, columns.label) if c is not None]
    text_a = _column(path, header, columns.text_a, expected)
    text_b = None if columns.text_b is None else _column(path, header, columns.text_b, expected)
    label = header.index(columns.label) if columns.label in header else None
    if label is None and require_label:
        _column(path, header, columns.label, expected)
    index = header.index(columns.index) if columns.index in header else None

    examples = []
    for row_number, (line, fields) in enumerate(rows):
        where = f"{path} line {line}"
        examples.append(Example(
            index=row_number if index is None else _parse_index(fields[index], where),
            text_a=fields[text_a].strip(),
            text_b=None if text_b is None else fields[text_b].strip(),
            label=None if label is None else _decode_label(task, fields[label], where),
        ))
    return examples


def _parse_index(raw: str, where: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise GenptError(f"{where}: index {raw!r} is not an integer") from None


def _decode_label(task: Task, raw: str, where: str) -> int | float:
    """A file's label text as a class id, or as a score for STS-B."""
    raw = raw.strip()
    if task.is_regression:
        low, high = STSB_SCORE_RANGE
        score = _parse_float(raw)
        if not low <= score <= high:  # also false for NaN
            raise GenptError(f"{where}: score {raw!r} is not a number in [{low:g}, {high:g}]")
        return score
    assert task.file_labels is not None
    if raw not in task.file_labels:
        raise GenptError(f"{where}: label {raw!r} is not one of {', '.join(map(repr, task.file_labels))}")
    return task.file_labels.index(raw)


def _parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------------------------
# Story Cloze


_STORY_ID = "InputStoryid"
_STORY_SENTENCES = ("InputSentence1", "InputSentence2", "InputSentence3", "InputSentence4")
_STORY_ENDINGS = ("RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2")
_STORY_LABEL = "AnswerRightEnding"


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """CSV records (quoted fields may span lines), each with the line it starts on."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    rows, line = [], 1
    try:
        for fields in reader:
            if fields:
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as error:
        raise GenptError(f"{path} line {reader.line_num}: malformed CSV ({error})") from None
    return rows


def _read_story_cloze(path: Path, *, require_label: bool) -> list[Example]:
    task = TASKS["story_cloze"]
    header, rows = _table(path, _csv_rows(path))
    expected = (_STORY_ID, *_STORY_SENTENCES, *_STORY_ENDINGS, _STORY_LABEL)
    positions = [_column(path, header, name, expected) for name in expected[:-1]]
    label = header.index(_STORY_LABEL) if _STORY_LABEL in header else None
    if label is None and require_label:
        _column(path, header, _STORY_LABEL, expected)

    examples = []
    for row_number, (line, fields) in enumerate(rows):
        story_id, *sentences, ending_1, ending_2 = (fields[i].strip() for i in positions)
        examples.append(Example(
            index=row_number,
            text_a=" ".join(sentences),
            choices=(ending_1, ending_2),
            label=None if label is None else _decode_label(task, fields[label], f"{path} line {line}"),
            id=story_id,
        ))
    return examples


def split_story_cloze(examples: Sequence[Example], validation_fraction: float = 0.2,
                      seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(train, validation) drawn by story id, so a story never lands on both sides.

    The ids are sorted before a seeded shuffle, so the split depends only on the set of
    stories, not on the file's row order. Both parts keep the input order.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    stories = sorted({_story_key(example) for example in examples})
    if len(stories) < 2:
        raise GenptError(f"cannot split {len(stories)} stories into train and validation parts")
    random.Random(seed).shuffle(stories)
    n_validation = min(max(1, round(len(stories) * validation_fraction)), len(stories) - 1)
    held_out = set(stories[:n_validation])
    train = [e for e in examples if _story_key(e) not in held_out]
    validation = [e for e in examples if _story_key(e) in held_out]
    return train, validation


def _story_key(example: Example) -> str:
    return example.id if example.id is not None else f"#{example.index}"


# ---------------------------------------------------------------------------------------------
# The Hugging Face hub

_HUB_TEXT_COLUMNS: dict[str, tuple[str, str | None]] = {
    "cola": ("sentence", None),
    "sst2": ("sentence", None),
    "mrpc": ("sentence1", "sentence2"),
    "qqp": ("question1", "question2"),
    "stsb": ("sentence1", "sentence2"),
    "mnli": ("premise", "hypothesis"),
    "qnli": ("question", "sentence"),
    "rte": ("sentence1", "sentence2"),
    "wnli": ("sentence1", "sentence2"),
}


def _read_hub(task: Task, split: str) -> list[Example]:
    """The split from `nyu-mll/glue`, whose class ids already follow `label_names`."""
    if task.name not in _HUB_TEXT_COLUMNS:
        raise GenptError(f"task {task.name} has no hub copy; pass --data_dir with its files or the files themselves")
    try:
        import datasets

        rows = datasets.load_dataset("nyu-mll/glue", task.name, split=split)
    except Exception as error:  # offline, no such split, a broken cache: all mean "give us files"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GenptError(f"could not load GLUE {task.name} {split} from the Hugging Face hub ({reason}); "
                         f"pass --data_dir with a glue_data folder or the task's files") from None
    text_a, text_b = _HUB_TEXT_COLUMNS[task.name]
    examples = [
        Example(
            index=int(row["idx"]),
            text_a=row[text_a].strip(),
            text_b=None if text_b is None else row[text_b].strip(),
            label=_hub_label(task, row["label"]),
        )
        for row in rows
    ]
    if not examples:
        raise GenptError(f"GLUE {task.name} {split} from the Hugging Face hub has no examples")
    return examples


def _hub_label(task: Task, value: Any) -> int | float | None:
    """Hub test splits mark missing labels with -1."""
    if value is None or value == -1:
        return None
    return float(value) if task.is_regression else int(value)


# ---------------------------------------------------------------------------------------------
# Custom tasks


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
                require_label: bool = True) -> tuple[list[Example], tuple[str, ...] | None]:
    """Examples from a .csv, .tsv, .json (list of objects, or JSON Lines) or .jsonl file.

    Classification-like types return the sorted label names found (numerically when all are
    integers) and label ids in that order. Pass `label_names` (the training file's) to read
    validation or test data with the same ids: a label outside them is an error. Regression
    labels are floats; a multiple-choice label is the 0-based position of the right choice.
    With `require_label=False` (test files) the label column may be absent or empty.
    Other types return None for the label names.
    """
    path = Path(path)
    if task_type not in get_args(TaskType):
        raise GenptError(f"unknown task type {task_type!r}; expected one of {', '.join(get_args(TaskType))}")
    if task_type == "multiple_choice" and not choice_columns:
        raise GenptError("a multiple_choice task needs the names of its choice columns")
    text_columns = [text_column, *([text_pair_column] if text_pair_column else []), *(choice_columns or [])]
    records = _records(path, text_columns, label_column if require_label else None)

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
        ))
    return examples, names


def _records(path: Path, text_columns: Sequence[str], label_column: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) pairs; `where` names the file and line (or record) for error messages."""
    suffix = path.suffix.lower()
    if suffix not in CUSTOM_SUFFIXES:
        raise GenptError(f"{path}: unsupported file type {suffix or '(none)'}; expected {', '.join(CUSTOM_SUFFIXES)}")
    expected = [*text_columns, *([label_column] if label_column else [])]
    if suffix in (".csv", ".tsv"):
        header, rows = _table(path, _csv_rows(path) if suffix == ".csv" else _tsv_rows(path))
        for name in expected:
            _column(path, header, name, expected)
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
    text = _read_text(path)
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
        value = _parse_float(raw)
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

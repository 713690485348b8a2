"""Downstream tasks: the registry of the tasks genpt knows by name, and their readers.

Fine-tuning and evaluation both read through here, so every task is read one way only.
Readers return a list of `Example`; `genpt.data.transformations` turns each into the token
sequences of GPT-1 section 3.3 chosen by the task's `input_format`.

    registry      the `Task` records (formats, labels, metrics, columns, hub names)
    glue          GLUE's original TSVs            story_cloze   the Story Cloze CSVs
    race          RACE's JSON files               nli           SNLI's JSON Lines, SciTail's TSVs
    hub           the Hugging Face hub            custom        the user's own files

Where the data comes from, in order of preference:
  - `file=`: one file in the task's original format (GLUE TSV, Story Cloze CSV);
  - `data_dir=`: a `glue_data/` folder, or one task folder inside it;
  - neither: the task's dataset on the Hugging Face hub.
"""

from __future__ import annotations

from pathlib import Path

from genpt.data.tasks.custom import COLUMN_OPTIONS, CUSTOM_SUFFIXES, custom_task, read_custom
from genpt.data.tasks.glue import glue_path, read_glue_tsv
from genpt.data.tasks.hub import read_hub
from genpt.data.tasks.nli import read_scitail, read_snli, scitail_path, snli_path
from genpt.data.tasks.race import LEVELS as RACE_LEVELS
from genpt.data.tasks.race import level_of, race_levels, race_path, read_race
from genpt.data.tasks.registry import (
    STSB_SCORE_RANGE,
    TASKS,
    FileColumns,
    HubSource,
    Task,
    get_task,
    submission_filename,
)
from genpt.data.tasks.story_cloze import (
    read_story_cloze,
    split_story_cloze,
    story_cloze_path,
)
from genpt.data.types import Example, InputFormat, TaskType
from genpt.errors import GenptError

__all__ = [
    "COLUMN_OPTIONS", "CUSTOM_SUFFIXES", "STSB_SCORE_RANGE", "TASKS", "Example", "FileColumns", "HubSource", "InputFormat", "Task",
    "RACE_LEVELS", "TaskType", "custom_task", "level_of", "get_task", "hold_out", "first_or_drawn", "read_custom", "read_split", "split_story_cloze", "submission_filename",
]

SPLITS = ("train", "validation", "test")
# MNLI has two evaluation sets: "matched" genres (seen in training) and "mismatched" ones.
MNLI_SPLITS = ("validation_matched", "validation_mismatched", "test_matched", "test_mismatched")


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
    return read_hub(task, split)


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
    if task.file_format == "story_cloze_csv":
        return read_story_cloze(path, require_label=labelled)
    if task.file_format == "race_json":
        return read_race(path, race_levels(task.name), require_label=labelled)
    if task.file_format == "snli_jsonl":
        return read_snli(task, path, require_label=labelled)
    if task.file_format == "scitail_tsv":
        return read_scitail(task, path, require_label=labelled)
    if task.file_format != "glue_tsv":
        raise GenptError(f"task {task.name} has no file format of its own; read its files with read_custom")
    return read_glue_tsv(task, path, require_label=labelled)


PATHS = {"race_json": race_path, "snli_jsonl": snli_path, "scitail_tsv": scitail_path}  # where a split is in a data folder


def _read_from_dir(task: Task, split: str, root: Path) -> list[Example]:
    if not root.is_dir():
        raise GenptError(f"data folder {root} does not exist or is not a folder")
    if task.file_format == "glue_tsv":
        return _read_task_file(task, split, glue_path(task, split, root))
    if task.file_format in PATHS:
        return _read_task_file(task, split, PATHS[task.file_format](root, split))
    if split == "test":
        return read_story_cloze(story_cloze_path(root, "test"), require_label=False)
    train, validation = split_story_cloze(read_story_cloze(story_cloze_path(root, "val"), require_label=True))
    return train if split == "train" else validation


def _drawn_positions(length: int, count: int, seed: int) -> set[int]:
    """`count` positions of range(length), drawn with a seed of their own (not the training seed)."""
    import random

    positions = list(range(length))
    random.Random(seed).shuffle(positions)
    return set(positions[:count])


def first_or_drawn(examples: list[Example], count: int | None, how: str = "first", seed: int = 0) -> list[Example]:
    """`count` of the examples: the first ones in file order, or ("random") a fixed draw kept in
    file order. The draw does not depend on the training seed, so every row and seed of a
    comparison trains on the same examples. It exists because GLUE's training files are
    ordered by source: CoLA's first 1,000 sentences come from 3 of its 17 publications,
    STS-B's first 1,000 pairs are all MSRvid video captions, one of its six genres."""
    if not count or count >= len(examples):
        return examples
    if how == "first":
        return examples[:count]
    kept = _drawn_positions(len(examples), count, seed)
    return [e for i, e in enumerate(examples) if i in kept]


def hold_out(examples: list[Example], percentage: float, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(kept, held out): `percentage` of the examples drawn with a fixed seed, both in file order.

    The draw does not depend on the training seed, so every run of a hyper-parameter search
    holds out the same examples; Story Cloze examples are whole stories, so no story is split.
    """
    count = round(len(examples) * percentage / 100)
    if not 0 < count < len(examples):
        raise GenptError(f"--validation_split_percentage {percentage:g} of {len(examples)} training examples leaves "
                         "one of the two parts empty")
    held = _drawn_positions(len(examples), count, seed)
    return ([e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held])

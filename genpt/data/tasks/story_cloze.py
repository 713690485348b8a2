"""Story Cloze Test (ROCStories, spring 2016): four sentences and two candidate endings."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from genpt.data.tasks.files import column, csv_rows, decode_label, table
from genpt.data.tasks.registry import TASKS
from genpt.data.types import Example
from genpt.errors import GenptError


def story_cloze_path(root: Path, part: Literal["val", "test"]) -> Path:
    pattern = f"cloze_test_{part}*.csv"
    matches = sorted(root.glob(pattern)) or sorted((root / "story_cloze").glob(pattern))
    if not matches:
        raise GenptError(f"no Story Cloze {part} file in {root}: expected a file named {pattern}")
    if len(matches) > 1:
        names = ", ".join(path.name for path in matches)
        raise GenptError(f"several Story Cloze {part} files in {root} ({names}); pass one as a file")
    return matches[0]


_STORY_ID = "InputStoryid"
_STORY_SENTENCES = ("InputSentence1", "InputSentence2", "InputSentence3", "InputSentence4")
_STORY_ENDINGS = ("RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2")
_STORY_LABEL = "AnswerRightEnding"


def read_story_cloze(path: Path, *, require_label: bool) -> list[Example]:
    task = TASKS["story_cloze"]
    header, rows = table(path, csv_rows(path))
    expected = (_STORY_ID, *_STORY_SENTENCES, *_STORY_ENDINGS, _STORY_LABEL)
    positions = [column(path, header, name, expected) for name in expected[:-1]]
    label = header.index(_STORY_LABEL) if _STORY_LABEL in header else None
    if label is None and require_label:
        column(path, header, _STORY_LABEL, expected)

    examples = []
    for row_number, (line, fields) in enumerate(rows):
        story_id, *sentences, ending_1, ending_2 = (fields[i].strip() for i in positions)
        examples.append(Example(
            index=row_number,
            text_a=" ".join(sentences),
            choices=(ending_1, ending_2),
            label=None if label is None else decode_label(task, fields[label], f"{path} line {line}"),
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

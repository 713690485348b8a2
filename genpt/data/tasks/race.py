"""RACE (Lai et al. 2017): reading comprehension from English exams, 4-way multiple choice.

The original layout is RACE/{train,dev,test}/{middle,high}/*.txt, each file one JSON object:
`article`, `questions`, `options` (four per question) and `answers` (letters A-D). Every
question is an example: context the article, `text_b` the question, choices the options;
its `id` ("middle/123.txt#0") says which level it comes from, so accuracy can be reported
for middle, high and all, as the paper's Table 3 does.
"""

from __future__ import annotations

import json
from pathlib import Path

from genpt.data.tasks.files import read_text
from genpt.data.types import Example
from genpt.errors import GenptError

LETTERS = ("A", "B", "C", "D")
LEVELS = ("middle", "high")


def race_levels(task_name: str) -> tuple[str, ...]:
    """race: both levels; race-middle, race-high: one."""
    return LEVELS if task_name == "race" else (task_name.removeprefix("race-"),)


def race_path(root: Path, split: str) -> Path:
    """The split's folder: RACE/<split>/ under `root`, or `root`/<split>/ itself."""
    name = {"validation": "dev"}.get(split, split)
    for candidate in (root / "RACE" / name, root / name):
        if candidate.is_dir():
            return candidate
    raise GenptError(f"no RACE {name} folder in {root}: expected {root / 'RACE' / name} with middle/ and high/ inside")


def read_race(folder: Path, levels: tuple[str, ...], *, require_label: bool) -> list[Example]:
    """The questions of `folder`/<level>/*.txt (one JSON object a file), levels in order."""
    examples: list[Example] = []
    for level in levels:
        files = sorted((folder / level).glob("*.txt"))
        if not files:
            raise GenptError(f"{folder / level}: no RACE files (*.txt, one JSON object each)")
        for path in files:
            examples += _questions(path, level, len(examples), require_label)
    return examples


def _questions(path: Path, level: str, first_index: int, require_label: bool) -> list[Example]:
    try:
        record = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise GenptError(f"{path} line {error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise GenptError(f"{path}: expected a JSON object with article, questions, options and answers")
    for key in ("article", "questions", "options"):
        if key not in record:
            raise GenptError(f"{path}: no {key!r}; expected article, questions, options and answers")
    answers = record.get("answers")
    if answers is None and require_label:
        raise GenptError(f"{path}: no 'answers'; expected one letter A-D per question")
    questions, options = record["questions"], record["options"]
    if len(options) != len(questions) or (answers is not None and len(answers) != len(questions)):
        raise GenptError(f"{path}: {len(questions)} questions but {len(options)} option lists"
                         + (f" and {len(answers)} answers" if answers is not None else ""))
    examples = []
    for number, (question, choices) in enumerate(zip(questions, options)):
        if not isinstance(choices, list) or len(choices) != len(LETTERS):
            raise GenptError(f"{path}: question {number + 1} has {len(choices) if isinstance(choices, list) else 'no'} "
                             f"options; expected {len(LETTERS)}")
        label = None
        if answers is not None:
            answer = str(answers[number]).strip()
            if answer not in LETTERS:
                raise GenptError(f"{path}: question {number + 1}: answer {answer!r} is not one of A, B, C, D")
            label = LETTERS.index(answer)
        examples.append(Example(index=first_index + number, text_a=str(record["article"]).strip(), text_b=str(question).strip(),
                                choices=tuple(str(c).strip() for c in choices), label=label, id=f"{level}/{path.name}#{number}"))
    return examples


def level_of(example: Example) -> str:
    return (example.id or "").split("/", 1)[0]

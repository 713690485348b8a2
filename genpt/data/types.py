"""What a downstream example is, and the input layouts of GPT-1 section 3.3: small and
import-free, so models may name them without loading any reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How an example's texts are laid out for the model (see genpt.data.transformations).
InputFormat = Literal["single", "pair", "similarity", "multiple_choice"]
# What a user's own data holds (`genpt finetune --task custom --task_type ...`).
TaskType = Literal["classification", "entailment", "similarity", "regression", "multiple_choice"]


@dataclass
class Example:
    """One row of a task's data, before tokenization."""

    index: int  # the file's index/id column where there is one, else the 0-based row number
    text_a: str  # sentence / premise / first sentence / multiple-choice context
    text_b: str | None = None  # second text, for pair and similarity
    choices: tuple[str, ...] | None = None  # candidate answers, for multiple choice
    label: int | float | None = None  # class id, score, right choice id; None if unlabelled
    id: str | None = None  # Story Cloze story id, so splits never share a story

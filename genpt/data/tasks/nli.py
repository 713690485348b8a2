"""Natural language inference corpora in their original files.

    SNLI (Bowman et al. 2015)    snli_1.0_{train,dev,test}.jsonl: sentence1, sentence2, gold_label;
                                 pairs whose annotators did not agree (gold label "-") are dropped,
                                 as is standard, and the count is reported
    SciTail (Khot et al. 2018)   SciTailV1.1/tsv_format/scitail_1.0_{train,dev,test}.tsv:
                                 premise <TAB> hypothesis <TAB> entails|neutral, no header
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from genpt.data.tasks.files import decode_label, read_text, tsv_rows
from genpt.data.tasks.registry import Task
from genpt.data.types import Example
from genpt.errors import GenptError


def _file_split(split: str) -> str:
    return "dev" if split == "validation" else split


def snli_path(root: Path, split: str) -> Path:
    name = f"snli_1.0_{_file_split(split)}.jsonl"
    for candidate in (root / "snli_1.0" / name, root / name):
        if candidate.is_file():
            return candidate
    raise GenptError(f"no SNLI file {name} in {root} (nor in {root / 'snli_1.0'})")


def read_snli(task: Task, path: Path, *, require_label: bool) -> list[Example]:
    """SNLI JSON Lines; unlabelled pairs (gold label "-") are dropped, and said so on stderr."""
    examples, dropped = [], 0
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise GenptError(f"{path} line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or "sentence1" not in record or "sentence2" not in record:
            raise GenptError(f"{path} line {number}: expected a JSON object with sentence1, sentence2 and gold_label")
        gold = str(record.get("gold_label", "-")).strip()
        if gold == "-":
            dropped += 1
            continue
        examples.append(Example(index=len(examples) + dropped, text_a=str(record["sentence1"]).strip(),
                                text_b=str(record["sentence2"]).strip(),
                                label=decode_label(task, gold, f"{path} line {number}") if require_label or gold else None))
    if dropped:
        print(f"genpt: {path.name}: dropped {dropped} pair(s) without a gold label (annotators disagreed)", file=sys.stderr)
    if not examples:
        raise GenptError(f"{path} has no labelled examples")
    return examples


def scitail_path(root: Path, split: str) -> Path:
    name = f"scitail_1.0_{_file_split(split)}.tsv"
    for candidate in (root / "SciTailV1.1" / "tsv_format" / name, root / "tsv_format" / name, root / name):
        if candidate.is_file():
            return candidate
    raise GenptError(f"no SciTail file {name} in {root} (expected SciTailV1.1/tsv_format/{name})")


def read_scitail(task: Task, path: Path, *, require_label: bool) -> list[Example]:
    examples = []
    for number, fields in tsv_rows(path):
        if len(fields) != 3:
            raise GenptError(f"{path} line {number}: expected 3 fields (premise, hypothesis, label), found {len(fields)}")
        premise, hypothesis, label = fields
        examples.append(Example(index=len(examples), text_a=premise.strip(), text_b=hypothesis.strip(),
                                label=decode_label(task, label, f"{path} line {number}") if require_label or label.strip() else None))
    if not examples:
        raise GenptError(f"{path} has no examples")
    return examples

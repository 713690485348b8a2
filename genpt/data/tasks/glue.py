"""GLUE's original TSVs (the `glue_data/` layout), split on tabs with no quote handling, as
GLUE's own readers do: MRPC strings begin with `"`, and a sentence like `null` or `NA` must
stay text, so no pandas here."""

from __future__ import annotations

from pathlib import Path

from genpt.data.tasks.files import column, decode_label, parse_index, table, tsv_rows
from genpt.data.tasks.registry import FileColumns, Task, other_task_named
from genpt.data.types import Example
from genpt.errors import GenptError


def glue_path(task: Task, split: str, root: Path) -> Path:
    """The split's TSV under a glue_data folder or under the task's own folder."""
    assert task.glue_name is not None
    other = other_task_named(root.name, task)
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


def _is_headerless(task: Task, columns: FileColumns, rows: list[tuple[int, list[str]]]) -> bool:
    """CoLA train/dev have no header: their first row already holds a label where 'label' would be."""
    if columns.headerless is None or not rows or task.file_labels is None:
        return False
    first = rows[0][1]
    position = columns.headerless.index(columns.label)
    return len(first) == len(columns.headerless) and first[position].strip() in task.file_labels


def read_glue_tsv(task: Task, path: Path, *, require_label: bool) -> list[Example]:
    columns = task.columns
    assert columns is not None
    rows = tsv_rows(path)
    header = columns.headerless if _is_headerless(task, columns, rows) else None
    header, rows = table(path, rows, header)
    expected = [c for c in (columns.text_a, columns.text_b, columns.label) if c is not None]
    text_a = column(path, header, columns.text_a, expected)
    text_b = None if columns.text_b is None else column(path, header, columns.text_b, expected)
    label = header.index(columns.label) if columns.label in header else None
    if label is None and require_label:
        column(path, header, columns.label, expected)
    index = header.index(columns.index) if columns.index in header else None

    examples = []
    for row_number, (line, fields) in enumerate(rows):
        where = f"{path} line {line}"
        examples.append(Example(
            index=row_number if index is None else parse_index(fields[index], where),
            text_a=fields[text_a].strip(),
            text_b=None if text_b is None else fields[text_b].strip(),
            # a test file may carry its label column empty
            label=None if label is None or not (require_label or fields[label].strip()) else decode_label(task, fields[label], where),
        ))
    return examples

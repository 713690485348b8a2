"""Tasks from the Hugging Face hub (`nyu-mll/glue`), for users who are online."""

from __future__ import annotations

from typing import Any

from genpt.data.tasks.registry import Task
from genpt.data.types import Example
from genpt.errors import GenptError


def read_hub(task: Task, split: str) -> list[Example]:
    """The split from the task's hub dataset, whose class ids already follow `label_names`."""
    if task.hub is None:
        raise GenptError(f"task {task.name} has no hub copy; pass --data_dir with its files or the files themselves")
    try:
        import datasets

        rows = datasets.load_dataset(task.hub.dataset, task.hub.config, split=split)
    except Exception as error:  # offline, no such split, a broken cache: all mean "give us files"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GenptError(f"could not load {task.hub.dataset} {task.name} {split} from the Hugging Face hub ({reason}); "
                         f"pass --data_dir with a glue_data folder or the task's files") from None
    hub = task.hub
    examples = []
    for position, row in enumerate(rows):
        label = _hub_label(task, row.get(hub.label))
        if label is None and not split.startswith("test"):
            continue  # unlabelled pairs (SNLI's -1): dropped, as is standard
        examples.append(Example(
            index=int(row.get("idx", position)),
            text_a=row[hub.text_a].strip(),
            text_b=None if hub.text_b is None else row[hub.text_b].strip(),
            choices=None if hub.choices is None else tuple(c.strip() for c in row[hub.choices]),
            label=label,
        ))
    if not examples:
        raise GenptError(f"{task.hub.dataset} {task.name} {split} from the Hugging Face hub has no examples")
    return examples


def _hub_label(task: Task, value: Any) -> int | float | None:
    """Hub test splits mark missing labels with -1 (or an empty string); some datasets name
    classes ("entails") or choices ("A") instead of numbering them."""
    if value is None or value == -1 or value == "":
        return None
    if isinstance(value, str) and task.file_labels and value.strip() in task.file_labels:
        return task.file_labels.index(value.strip())
    return float(value) if task.is_regression else int(value)

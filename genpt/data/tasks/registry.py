"""The tasks genpt knows by name. Each `Task` record says everything about its task: how
its inputs are laid out, its classes, its metrics (the first picks the best epoch and fills
the comparison table), where its columns are in the original files and on the hub, and
what the table calls it. Adding a task is one entry here (and a reader if its file format
is new)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genpt.data.types import InputFormat
from genpt.errors import GenptError


@dataclass(frozen=True)
class FileColumns:
    """Where a task's fields are in its original file's header."""

    text_a: str
    text_b: str | None
    label: str
    index: str = "index"  # used when present; MRPC train/dev have none
    headerless: tuple[str, ...] | None = None  # column names of files without a header row (CoLA)


@dataclass(frozen=True)
class HubSource:
    """The task on the Hugging Face hub: dataset, configuration, text columns."""

    dataset: str
    config: str | None
    text_a: str
    text_b: str | None = None
    choices: str | None = None  # multiple choice: the column of the candidate answers
    label: str = "label"  # the column of the label (a class id, or a letter naming the right choice)


@dataclass(frozen=True)
class Task:
    """What a task is: how its inputs are laid out for the model, its classes and its metrics."""

    name: str
    input_format: InputFormat
    label_names: tuple[str, ...] | None  # human names, index = class id; None for regression
    file_labels: tuple[str, ...] | None  # how the files and the GLUE server write each class, same order
    metrics: tuple[str, ...]  # metrics[0] is the main one: it picks the best epoch on a held-out split
    glue_name: str | None = None  # the GLUE folder and submission file name
    file_format: str | None = None  # the reader of its original files: "glue_tsv" or "story_cloze_csv"
    columns: FileColumns | None = None
    hub: HubSource | None = None
    display_name: str | None = None  # in tables and charts

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

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    @property
    def chance_score(self) -> float | None:
        """The main metric's score of guessing, x 100: a coin over the classes or options for
        accuracy, 0 for a correlation; None where it depends on the data (F1)."""
        if self.main_metric in ("matthews_correlation", "pearson", "spearmanr"):
            return 0.0
        if self.main_metric == "accuracy" and self.label_names:
            return 100 / len(self.label_names)
        return None

    @property
    def title(self) -> str:
        """The table's column header: the task and its main metric, as in the paper's Table 5."""
        return f"{self.display_name or self.glue_name or self.name} ({METRIC_ABBREVIATIONS[self.main_metric]})"


METRIC_ABBREVIATIONS = {"matthews_correlation": "mc", "accuracy": "acc", "f1": "F1", "pearson": "pc", "spearmanr": "sc"}
STSB_SCORE_RANGE = (0.0, 5.0)


def _glue(name: str, glue_name: str, input_format: InputFormat, labels: tuple[str, ...] | None,
          file_labels: tuple[str, ...] | None, metrics: tuple[str, ...], columns: FileColumns, hub: HubSource) -> Task:
    return Task(name, input_format, labels, file_labels, metrics, glue_name, "glue_tsv", columns, hub)


def _hub(config: str, text_a: str, text_b: str | None = None) -> HubSource:
    return HubSource("nyu-mll/glue", config, text_a, text_b)


BINARY = ("0", "1")
RACE_LETTERS = ("A", "B", "C", "D")
# The paper uses the similarity transformation (both orders, summed) for MRPC, QQP and STS-B.
# Column order is the comparison table's (the paper's Table 5 order).
TASKS: dict[str, Task] = {task.name: task for task in (
    _glue("cola", "CoLA", "single", ("unacceptable", "acceptable"), BINARY, ("matthews_correlation", "accuracy"),
          FileColumns("sentence", None, "label", headerless=("source", "label", "original_label", "sentence")),
          _hub("cola", "sentence")),
    _glue("sst2", "SST-2", "single", ("negative", "positive"), BINARY, ("accuracy",),
          FileColumns("sentence", None, "label"), _hub("sst2", "sentence")),
    _glue("mrpc", "MRPC", "similarity", ("not_equivalent", "equivalent"), BINARY, ("f1", "accuracy"),
          FileColumns("#1 String", "#2 String", "Quality"), _hub("mrpc", "sentence1", "sentence2")),
    _glue("stsb", "STS-B", "similarity", None, None, ("pearson", "spearmanr"),
          FileColumns("sentence1", "sentence2", "score"), _hub("stsb", "sentence1", "sentence2")),
    _glue("qqp", "QQP", "similarity", ("not_duplicate", "duplicate"), BINARY, ("f1", "accuracy"),
          FileColumns("question1", "question2", "is_duplicate", index="id"), _hub("qqp", "question1", "question2")),
    _glue("mnli", "MNLI", "pair", ("entailment", "neutral", "contradiction"), ("entailment", "neutral", "contradiction"),
          ("accuracy",), FileColumns("sentence1", "sentence2", "gold_label"), _hub("mnli", "premise", "hypothesis")),
    _glue("qnli", "QNLI", "pair", ("entailment", "not_entailment"), ("entailment", "not_entailment"), ("accuracy",),
          FileColumns("question", "sentence", "label"), _hub("qnli", "question", "sentence")),
    _glue("rte", "RTE", "pair", ("entailment", "not_entailment"), ("entailment", "not_entailment"), ("accuracy",),
          FileColumns("sentence1", "sentence2", "label"), _hub("rte", "sentence1", "sentence2")),
    _glue("wnli", "WNLI", "pair", ("not_entailment", "entailment"), BINARY, ("accuracy",),
          FileColumns("sentence1", "sentence2", "label"), _hub("wnli", "sentence1", "sentence2")),
    Task("story_cloze", "multiple_choice", ("ending_1", "ending_2"), ("1", "2"), ("accuracy",),
         file_format="story_cloze_csv", display_name="Story Cloze"),
    # The paper's other tasks (Tables 2 and 3): reading comprehension and natural language inference.
    *(Task(name, "multiple_choice", RACE_LETTERS, RACE_LETTERS, ("accuracy",), file_format="race_json",
           hub=HubSource("ehovy/race", config, "article", "question", choices="options", label="answer"), display_name=shown)
      for name, config, shown in (("race", "all", "RACE"), ("race-middle", "middle", "RACE-m"), ("race-high", "high", "RACE-h"))),
    Task("snli", "pair", ("entailment", "neutral", "contradiction"), ("entailment", "neutral", "contradiction"), ("accuracy",),
         file_format="snli_jsonl", hub=HubSource("stanfordnlp/snli", None, "premise", "hypothesis"), display_name="SNLI"),
    Task("scitail", "pair", ("entails", "neutral"), ("entails", "neutral"), ("accuracy",), file_format="scitail_tsv",
         hub=HubSource("allenai/scitail", "tsv_format", "premise", "hypothesis"), display_name="SciTail"),
)}


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


def other_task_named(folder_name: str, task: Task) -> Task | None:
    """The other task whose name (or GLUE folder name) `folder_name` is, if any."""
    key = _name_key(folder_name)
    for other in TASKS.values():
        if other is not task and other.glue_name and key in (_name_key(other.name), _name_key(other.glue_name)):
            return other
    return None


def submission_filename(task: Task, split: str = "test") -> str:
    """The file name the GLUE submission server expects for this task's predictions."""
    if task.name == "mnli":
        return "MNLI-mm.tsv" if split.endswith("mismatched") else "MNLI-m.tsv"
    return f"{task.glue_name or task.name}.tsv"

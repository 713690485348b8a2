"""What a fine-tuning run is: the task, where the model starts, where the data is, and the
recipe. The defaults are the paper's (section 4.1). Light to import: no torch here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from genpt.config import TrainingArguments
from genpt.data.types import TaskType

Architecture = Literal["gpt", "transformer", "lstm"]


@dataclass(kw_only=True)
class FinetuneConfig(TrainingArguments):
    task: str  # task name (see `genpt finetune --help`), or custom with your own files
    init: str  # genpt pretraining run folder, Hugging Face openai-gpt/gpt2 folder (or hub id), or scratch
    arch: Architecture = "gpt"  # gpt, or a baseline trained from scratch: transformer (encoder-decoder) or lstm (with attention)
    tokenizer: str | None = None  # tokenizer folder (needed with --init scratch)
    preset: str | None = None  # model preset (needed with --init scratch)
    data_dir: str | None = None  # GLUE folder (glue_data layout) or the task's own folder; for story_cloze, the folder of its val CSV, split 80/20 by story id into train and dev; neither this nor files: the hub
    train_file: str | None = None  # the training split as one file in the task's format
    validation_file: str | None = None  # the dev split as one file in the task's format
    test_file: str | None = None  # the test split as one file (for --predict test)
    task_type: TaskType | None = None  # custom tasks: what the files hold
    text_column: str = "text"  # custom tasks: the column of the (first) text
    text_pair_column: str | None = None  # custom tasks: the column of the second text of a pair
    label_column: str = "label"  # custom tasks: the column of the label
    choice_columns: list[str] | None = None  # custom multiple-choice tasks: the columns of the candidate answers
    id_column: str | None = None  # custom tasks: a column that names each row; predictions files give it in place of the row number
    eval_batch_size: int = 64  # examples per batch when scoring
    num_train_epochs: int = 3  # passes over the training set
    max_steps: int | None = None  # stop after this many optimizer steps (overrides --num_train_epochs)
    warmup_ratio: float = 0.002  # linear warm-up over this fraction of training, then linear decay to 0
    aux_lm_weight: float | None = None  # lambda of the auxiliary LM loss, L3 = L2 + lambda * L1 (default 0.5; 0 for --arch transformer; 0 disables)
    classifier_dropout: float = 0.1  # dropout before the task head's linear layer
    max_seq_length: int | None = None  # longest input in tokens, special tokens included (default: the model's context)
    max_train_samples: int | None = None  # train on N training examples only (which N: --train_subset)
    train_subset: Literal["first", "random"] = "first"  # which --max_train_samples examples: the first N in file order, or a fixed random draw of N (the same for every seed) that samples the whole training set; GLUE files are ordered by source, so the first N of CoLA or STS-B cover few of their sources
    transfer_layers: int | None = None  # keep the pretrained embeddings and first N blocks only; the others start afresh, as at pretraining (Figure 2, left)
    max_eval_samples: int | None = None  # score the first N dev examples only
    keep_epoch: Literal["best", "last"] | None = None  # which epoch's weights the run keeps and scores: the best by the scored split's main metric, or the last; default: the best on a held-out split (--validation_split_percentage), the last on dev, where keeping the best would report a score chosen on the data it is reported on
    validation_split_percentage: float | None = None  # hold out this % of the training examples (of the --max_train_samples examples; a fixed draw) to select the best epoch and score on, for choosing hyper-parameters without touching dev; dev is then not read
    group_by_length: bool = True  # batch examples of similar length together (less padding)
    save_steps: int | None = None  # also checkpoint every N steps (always at each epoch's end)
    predict: list[str] = dataclasses.field(default_factory=list)  # also predict these unlabelled splits (test) and write GLUE submission files


# Options a resumed run must share with the run it continues.
TRAJECTORY_KEYS = (
    "task", "init", "arch", "batch_size", "num_train_epochs", "max_steps", "learning_rate", "warmup_ratio", "weight_decay",
    "max_grad_norm", "aux_lm_weight", "classifier_dropout", "max_seq_length", "max_train_samples", "train_subset", "group_by_length",
    "seed", "mixed_precision", "validation_split_percentage", "transfer_layers", "keep_epoch",
    # the data and the model trained on it: another training set is another run
    "tokenizer", "preset", "data_dir", "train_file", "validation_file", "task_type", "text_column", "text_pair_column",
    "label_column", "choice_columns", "id_column",
)

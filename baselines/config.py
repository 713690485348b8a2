"""The options of `genpt seq2seq` and `genpt compare`. Light to import: no torch here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from genpt.config import MixedPrecision, TrainingArguments

Seq2SeqArch = Literal["transformer", "lstm", "gpt"]


@dataclass(kw_only=True)
class Seq2SeqConfig(TrainingArguments):
    arch: Seq2SeqArch  # transformer (encoder-decoder), lstm (with attention) or gpt (decoder-only)
    data_dir: str  # the folder of DIR/{prefix}.{lang}[.gz] parallel files
    source_lang: str = "en"
    target_lang: str = "de"
    tokenizer: str | None = None  # one tokenizer folder for both languages (needed unless --init is a GPT run)
    init: str = "scratch"  # scratch, or for --arch gpt a genpt pretraining run / Hugging Face folder
    preset: str | None = None  # model preset (default: small for transformer and lstm, mini for gpt)
    train_prefix: str = "train"  # files DIR/PREFIX.LANG[.gz] of the training pairs
    validation_prefix: str = "val"  # files of the validation pairs
    test_prefix: str = "test_2016_flickr"  # files of the test pairs
    learning_rate: float | None = None  # peak learning rate (default: 1e-3 for transformer and lstm, 5e-4 for gpt)
    batch_size: int = 64  # sentence pairs per step
    logging_steps: int = 50
    warmup_steps: int = 1000  # linear warm-up to the peak learning rate
    num_train_epochs: int = 10  # passes over the training pairs
    max_steps: int | None = None  # stop after this many optimizer steps (overrides --num_train_epochs)
    weight_decay: float = 0.01  # gpt only (the paper's AdamW)
    max_source_length: int = 100  # tokens; longer sources are cut
    max_target_length: int = 100  # tokens; longer targets are cut
    num_beams: int = 4  # beam size for the test translations (1: greedy)
    length_penalty: float = 0.6  # beam scores are divided by length ** this
    eval_steps: int = 500  # validation loss every N steps
    max_train_samples: int | None = None  # train on the first N pairs only
    max_eval_samples: int | None = None  # validation loss and BLEU on the first N pairs only
    max_test_samples: int | None = None  # translate the first N test pairs only (quick checks; report BLEU on all)
    save_steps: int | None = None  # checkpoint every N steps (always on Ctrl-C)


@dataclass(frozen=True)
class System:
    """A row of the comparison: an architecture, pretrained or not, with or without the aux LM."""

    name: str
    label: str  # the row's name in the table
    arch: str
    pretrained: bool
    aux_lm_weight: float


SYSTEMS: dict[str, System] = {s.name: s for s in (
    System("gpt", "GPT, pretrained, aux LM", "gpt", True, 0.5),
    System("gpt-no-aux", "GPT, pretrained, no aux LM", "gpt", True, 0.0),
    System("gpt-scratch", "GPT, no pretraining", "gpt", False, 0.5),
    System("transformer", "Transformer enc-dec, no pretraining", "transformer", False, 0.0),
    System("lstm", "LSTM w/ attention, aux LM, no pretraining", "lstm", False, 0.5),
)}


@dataclass(kw_only=True)
class CompareConfig:
    init: str  # the genpt pretraining run the pretrained rows start from (its tokenizer is used by every row)
    tasks: list[str]  # the tasks to run every system on (comma-separated, or several values)
    budget: int | None = None  # training examples per task, the same for every system (default, or none: the whole training set)
    budget_draw: Literal["first", "random"] = "random"  # which examples a budget (or a task's max_train_samples) takes: a fixed random draw, the same for every row and seed, or the first ones in file order (GLUE files are ordered by source: the first 1,000 of STS-B are all video captions)
    glue_dir: str | None = None  # glue_data folder for the GLUE tasks
    story_cloze_dir: str | None = None  # the folder of the Story Cloze val CSV
    systems: list[str] = dataclasses.field(default_factory=lambda: list(SYSTEMS))  # rows to run
    gpt_preset: str | None = None  # gpt-scratch's preset (default: the pretraining run's)
    baseline_preset: str = "small"  # the Transformer's and the LSTM's preset
    num_train_epochs: int = 3
    max_seq_length: int = 128
    seed: int | None = None  # one seed: the same as --seeds SEED
    seeds: list[int] = dataclasses.field(default_factory=lambda: [42])  # each cell runs once per seed; the table shows mean and spread
    learning_rates: list[float] | None = None  # the search grid every row gets: each (system, task) picks its rate on a held-out part of the training set; one rate: no search, every row uses it; default: no search (the paper's 6.25e-5 for pretrained rows, --baseline_learning_rate for the others)
    selection_split_percentage: float = 10.0  # the part of the training set the search scores on (dev is never used to choose)
    baseline_learning_rate: float = 5e-4  # learning rate of the rows trained from scratch when there is no search (the pretrained rows use the paper's 6.25e-5)
    mixed_precision: MixedPrecision = "auto"  # every cell's precision (auto: bf16 where the CPU or GPU computes it natively; no: fp32, for a table comparable with fp32 rows)
    jobs: int = 1  # cells run at a time, each its own process with cores / jobs threads (unless OMP_NUM_THREADS is set); a cell's result depends on its threads, not on the jobs beside it
    task_options: list[str] = dataclasses.field(default_factory=list)  # per-task genpt finetune options, TASK.OPTION=VALUE (e.g. sst2.max_train_samples=20000 mrpc.num_train_epochs=5)

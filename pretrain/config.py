"""What a pretraining run is: the model, the training recipe and the data, each a typed
config with presets, and together the run's config.yaml (`genpt pretrain --config` reads it
back, so a run folder reproduces its run). Light to import: no torch here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from genpt.config import GPTConfig, TrainingArguments, read_yaml_mapping
from genpt.data.corpus import CorpusOptions
from genpt.errors import GenptError
from genpt.options import from_mapping


@dataclass(kw_only=True)
class TrainingConfig(TrainingArguments):
    """Pretraining's recipe. The optimizer and schedule defaults are the paper's (section 4.1);
    batch, length, warm-up and the checkpoint and evaluation intervals are small, for a run
    started from --init alone. Each model preset sets its own (TRAINING_PRESETS; gpt1's are the paper's)."""

    learning_rate: float = 2.5e-4
    batch_size: int = 16  # sequences per process per micro-step
    max_steps: int = 1000
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 2  # how many of the newest checkpoints are kept (the best model is kept apart)
    keep_checkpoints: Literal["newest", "log"] = "newest"  # log: also keep the checkpoints at save_steps x 1, 2, 4, 8, ... (log-spaced, for `genpt eval zeroshot --checkpoints all`)
    gradient_accumulation_steps: int = 1  # micro-steps per optimizer step
    seq_len: int | None = None  # window length in tokens; default: the model's context
    warmup_steps: int = 100  # linear warm-up from 0 to the peak learning rate (the paper's 2,000 would outlast --init's 1,000 steps)
    min_lr_ratio: float = 0.0  # cosine annealing ends at this fraction of the peak (the paper: 0)
    adam_beta1: float = 0.9  # AdamW's decay rate of the gradient's running mean
    adam_beta2: float = 0.999  # AdamW's decay rate of the squared gradient's running mean
    adam_epsilon: float = 1e-8  # AdamW's term added to the denominator
    torch_compile: bool = False  # compile the model with torch.compile
    eval_steps: int = 200  # measure the validation loss every N steps
    eval_tokens: int = 1 << 18  # validation tokens per evaluation (the same windows every time)
    max_time_minutes: float | None = None  # stop cleanly, with a checkpoint, after this many minutes
    init: str | None = None  # start from these weights: a genpt run, a Hugging Face openai-gpt/gpt2 folder or hub id


@dataclass(kw_only=True)
class DataConfig(CorpusOptions):
    tokenizer: str = ""  # tokenizer folder from `genpt tokenizer train`
    validation_inputs: list[str] | None = None  # held-out files (default: hold out --validation_fraction of the documents)
    validation_fraction: float = 0.01  # fraction of the documents held out for validation, when no --validation_input
    cache_dir: str | None = None  # where the token files go (default: OUTPUT_DIR/data)
    tokenizer_sha256: str | None = None  # filled in by genpt: the tokenizer's vocabulary and merges, hashed


DATA_FLAGS = {"inputs": "input", "validation_inputs": "validation_input", "cache_dir": "data_cache_dir"}

# Training defaults per model preset. gpt1 is the paper's (section 4.1): 64 x 512-token
# windows, max lr 2.5e-4 after 2,000 warm-up steps, then cosine to 0.
TRAINING_PRESETS: dict[str, dict[str, Any]] = {
    "gpt1": dict(batch_size=64, learning_rate=2.5e-4, warmup_steps=2000, max_steps=100_000, save_steps=2000, eval_steps=1000),
    "mini": dict(batch_size=8, learning_rate=1e-3, warmup_steps=200, max_steps=5000, save_steps=250, eval_steps=100),
    "tiny": dict(batch_size=16, learning_rate=1e-3, warmup_steps=100, max_steps=1000, save_steps=200, eval_steps=100, eval_tokens=1 << 16),
}

TRAJECTORY_KEYS = (  # training settings a resumed run must share with the run it continues
    "batch_size", "gradient_accumulation_steps", "seq_len", "learning_rate", "warmup_steps", "min_lr_ratio",
    "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "seed", "mixed_precision", "max_steps",
)


@dataclass
class RunConfig:
    model: GPTConfig
    training: TrainingConfig
    data: DataConfig

    def to_yaml(self) -> str:
        values = {"model": self.model.to_dict(), "training": dataclasses.asdict(self.training), "data": dataclasses.asdict(self.data)}
        return yaml.safe_dump(values, sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        values = read_yaml_mapping(path)
        if "model" not in values:
            raise GenptError(f"{path}: expected a run config with a `model:` section (and optional `training:`, `data:`)")
        return cls.from_sections(values, str(path))

    @classmethod
    def from_sections(cls, values: dict[str, Any], source: str) -> RunConfig:
        model = GPTConfig.from_dict(values["model"], source=f"{source} (model)")
        training = from_mapping(TrainingConfig, values.get("training") or {}, f"{source} (training)")
        data = from_mapping(DataConfig, values.get("data") or {}, f"{source} (data)")
        return cls(model, training, data)


def training_defaults(preset: str | None) -> TrainingConfig:
    return TrainingConfig(**TRAINING_PRESETS.get(preset or "", {}))

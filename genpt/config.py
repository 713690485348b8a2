"""Typed model configuration with named presets and YAML round-trips.

`GPTConfig.from_name("gpt1")` gives the paper's model (Radford et al. 2018, section 4.1:
12 layers, d_model 768, 12 heads, FFN 3072, context 512, GELU, dropout 0.1, learned
positions, N(0, 0.02) init, post-LN, tied output layer). The CPU presets keep the same
architecture at sizes a laptop can train.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from genpt.errors import GenptError
from genpt.options import require_counts

Activation = Literal["gelu_tanh", "gelu"]


class NamedConfig:
    """What every model config shares: named presets, dicts / YAML with clear errors, and the
    range checks of their fields.

    Subclasses are dataclasses that set `kind` (for messages) and `presets()` (their table).
    """

    kind = "model"

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    @classmethod
    def preset_noun(cls) -> str:
        return "preset" if cls.kind == "GPT" else f"{cls.kind} preset"

    def check_positive(self, *fields: str) -> None:
        for field in fields:
            if getattr(self, field) <= 0:
                raise GenptError(f"{field} must be a positive integer, got {getattr(self, field)}")

    def check_probabilities(self, *fields: str) -> None:
        for field in fields:
            if not 0.0 <= getattr(self, field) < 1.0:
                raise GenptError(f"{field} must be in [0, 1), got {getattr(self, field)}")

    def check_pad_id(self) -> None:
        if not 0 <= self.pad_id < self.vocab_size:
            raise GenptError(f"pad_id must be a token id below vocab_size ({self.vocab_size}), got {self.pad_id}")

    @classmethod
    def from_name(cls, name: str, **overrides: Any):
        presets = cls.presets()
        if name not in presets:
            raise GenptError(f"unknown {cls.preset_noun()} {name!r}; expected one of: {', '.join(presets)}")
        return cls(**{**presets[name], "name": name, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config"):
        """From a mapping (a YAML file's, say): every key known, every value of its field's type."""
        from genpt.options import from_mapping

        return from_mapping(cls, values, source)


MixedPrecision = Literal["auto", "no", "bf16", "fp16"]


@dataclass(kw_only=True)
class TrainingArguments:
    """What every training command shares: pretraining, fine-tuning and seq2seq. Each stage
    keeps these names and meanings, and may change a default."""

    learning_rate: float = 6.25e-5  # peak learning rate, reached after the warm-up
    batch_size: int = 32  # examples per process per optimizer step
    max_steps: int | None = None  # stop after this many optimizer steps
    weight_decay: float = 0.01  # decoupled (AdamW), on weight matrices only, not biases or LayerNorm gains
    max_grad_norm: float = 1.0  # gradients are clipped to this global norm
    seed: int = 42  # decides the initialisation, the order of the batches and dropout
    mixed_precision: MixedPrecision = "auto"  # auto: bf16 where the hardware computes it natively; no: fp32
    logging_steps: int = 20  # log the training loss every N steps
    save_steps: int | None = None  # also checkpoint every N steps
    save_total_limit: int = 1  # how many of the newest checkpoints are kept


def check_training_arguments(args: TrainingArguments) -> None:
    """The shared fields' ranges, one line naming the option."""
    if args.learning_rate is not None and not args.learning_rate > 0:  # also false for NaN; None: the command's default
        raise GenptError(f"--learning_rate must be positive, got {args.learning_rate}")
    require_counts(args, "batch_size", "logging_steps", "save_total_limit", "max_steps", "save_steps")
    if not args.weight_decay >= 0:
        raise GenptError(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if not args.max_grad_norm > 0:
        raise GenptError(f"--max_grad_norm must be positive, got {args.max_grad_norm}")


@dataclass
class GPTConfig(NamedConfig):
    name: str = "custom"
    vocab_size: int = 40478
    n_positions: int = 512  # context length
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_inner: int | None = None  # FFN width; None means 4 * n_embd
    activation: Activation = "gelu_tanh"  # the original code's tanh approximation
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    # False: GPT-1's post-LN blocks, no final LayerNorm. True: GPT-2's pre-LN blocks with a
    # final LayerNorm, which train more stably when deep.
    prenorm: bool = False

    def __post_init__(self) -> None:
        if self.n_inner is None:
            self.n_inner = 4 * self.n_embd
        self.validate()

    def validate(self) -> None:
        self.check_positive("vocab_size", "n_positions", "n_layer", "n_head", "n_embd", "n_inner")
        if self.n_embd % self.n_head != 0:
            raise GenptError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.activation not in ("gelu_tanh", "gelu"):
            raise GenptError(f"activation must be 'gelu_tanh' or 'gelu', got {self.activation!r}")
        self.check_probabilities("embd_pdrop", "attn_pdrop", "resid_pdrop")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    # ---- presets -------------------------------------------------------------------------

    kind = "GPT"

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        return PRESETS

    # ---- YAML ----------------------------------------------------------------------------

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path) -> GPTConfig:
        values = read_yaml_mapping(path)
        # A run folder's config.yaml nests the model under `model:`; accept both.
        values = values.get("model", values)
        return cls.from_dict(values, source=str(path))


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, or a one-line GenptError naming the file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GenptError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise GenptError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise GenptError(f"{path}: expected a mapping of config keys, got {type(values).__name__}")
    return values


# Named presets. The vocabulary size of a real run comes from its tokenizer; the numbers
# here are the defaults `genpt info` counts with.
PRESETS: dict[str, dict[str, Any]] = {
    # GPT-1 as published: 40,478 BPE entries, 116.5M parameters.
    "gpt1": dict(vocab_size=40478, n_positions=512, n_layer=12, n_head=12, n_embd=768),
    # About 10M parameters: trains meaningfully on one CPU in half an hour.
    "mini": dict(vocab_size=8192, n_positions=256, n_layer=4, n_head=6, n_embd=384),
    # About 1M parameters: the demo's model, minutes on a laptop.
    "tiny": dict(vocab_size=4096, n_positions=128, n_layer=3, n_head=4, n_embd=128),
}

"""The three architectures genpt trains on the same tasks: GPT (the paper's model), and the
two it grew out of, kept as baselines (issue 6): the encoder-decoder Transformer of
Vaswani et al. 2017 and the LSTM sequence-to-sequence model with attention.

Fine-tuning builds each as a `TaskModel` from a config; a run's config.yaml records the
architecture so `genpt eval` can rebuild it.
"""

from __future__ import annotations

from typing import Any, Literal

from genpt.config import GPTConfig
from genpt.data.types import InputFormat
from genpt.errors import GenptError
from genpt.models.heads import EncoderForTask, GPTForTask, TaskModel

Architecture = Literal["gpt", "transformer", "lstm"]
ARCHITECTURES: tuple[str, ...] = ("gpt", "transformer", "lstm")


def config_from_dict(arch: str, values: dict[str, Any], source: str) -> Any:
    if arch == "gpt":
        return GPTConfig.from_dict(values, source=source)
    if arch == "transformer":
        from genpt.models.encoder_decoder import TransformerConfig

        return TransformerConfig.from_dict(values, source=source)
    if arch == "lstm":
        from genpt.models.lstm import LSTMConfig

        return LSTMConfig.from_dict(values, source=source)
    raise GenptError(f"{source}: unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")


def baseline_config(arch: str, preset: str, vocab_size: int, pad_id: int) -> Any:
    """A baseline preset sized to the tokenizer."""
    if arch == "transformer":
        from genpt.models.encoder_decoder import TRANSFORMER_PRESETS, TransformerConfig

        presets, config_class = TRANSFORMER_PRESETS, TransformerConfig
    elif arch == "lstm":
        from genpt.models.lstm import LSTM_PRESETS, LSTMConfig

        presets, config_class = LSTM_PRESETS, LSTMConfig
    else:
        raise GenptError(f"--arch {arch}: not a baseline; expected transformer or lstm")
    if preset not in presets:
        raise GenptError(f"--preset {preset}: no {arch} preset of that name; expected one of {', '.join(sorted(presets))}")
    return config_class.from_name(preset, vocab_size=vocab_size, pad_id=pad_id)


def build_task_model(arch: str, config: Any, input_format: InputFormat, num_labels: int,
                     classifier_dropout: float = 0.1, regression: bool = False) -> TaskModel:
    """The architecture with a task head; `regression` (a score, not classes) is the task's to say."""
    if arch == "gpt":
        return GPTForTask(config, input_format, num_labels, classifier_dropout, regression)
    if arch == "transformer":
        from genpt.models.encoder_decoder import EncoderDecoder

        return EncoderForTask(EncoderDecoder(config), config.d_model, input_format, num_labels, classifier_dropout, regression)
    if arch == "lstm":
        from genpt.models.lstm import LSTMSeq2Seq

        return EncoderForTask(LSTMSeq2Seq(config), 2 * config.hidden_size, input_format, num_labels, classifier_dropout,
                              regression)
    raise GenptError(f"--arch {arch}: expected one of {', '.join(ARCHITECTURES)}")


def context_length(config: Any) -> int | None:
    """The longest sequence the model takes (None: no limit, as for the LSTM)."""
    return getattr(config, "n_positions", None) or getattr(config, "max_positions", None)

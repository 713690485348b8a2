"""The options of `genpt tokenizer train` and `genpt tokenizer stats`. No torch here."""

from __future__ import annotations

from dataclasses import dataclass

from genpt.data.corpus import CorpusOptions

DEFAULT_STATS_BYTES = 8 << 20


@dataclass(kw_only=True)
class TokenizerConfig(CorpusOptions):
    vocab_size: int = 8192  # the whole vocabulary: 256 byte symbols + 5 special tokens + the merges
    min_frequency: int = 2  # merge only pairs seen at least this often
    model_max_length: int = 512  # longest input in tokens, recorded in the tokenizer folder


@dataclass(kw_only=True)
class StatsConfig(CorpusOptions):
    tokenizer: str  # tokenizer folder
    max_bytes: int = DEFAULT_STATS_BYTES  # measure the first N bytes of text only; 0 for all

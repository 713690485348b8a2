"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017).

A baseline for GPT-1's comparisons: trained from scratch on each task, no pretraining.

    memory = encoder(E_src x * sqrt(C) + PE)               N self-attention layers
    h      = decoder(E_tgt y * sqrt(C) + PE, memory)       N masked self + cross-attention layers
    P(y_t | y_<t, x) = softmax(h_t E_tgt^T)                output layer tied to the embedding

Layers are post-LN as in the paper (section 3.1): `x = LN(x + Dropout(Sublayer(x)))`.
Positions are the fixed sinusoids of section 3.5; training uses Adam with the inverse
square-root warmup schedule and label smoothing of section 5.3-5.4.
Shapes in comments: B batch, S source tokens, T target tokens, C channels (d_model),
nh heads, hs head size, V vocabulary, N rows being decoded (batch times beams).
Masks given by callers are (B, S) or (B, T) with 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genpt.config import NamedConfig
from genpt.errors import GenptError
from genpt.models import ops
from genpt.models.decoding import DecodesFromSource
from genpt.models.gpt import (
    IGNORE_INDEX,
    padding_aware_causal_mask,
    positions_from_mask,
)

KeyValues = tuple[torch.Tensor, torch.Tensor]  # keys and values, each (B, nh, S, hs)


@dataclass
class TransformerConfig(NamedConfig):
    name: str = "custom"
    vocab_size: int = 8192  # one vocabulary for source and target; callers pass the tokenizer's
    max_positions: int = 512  # longest source or target the position table covers
    n_layer: int = 6  # on each side
    n_head: int = 8
    d_model: int = 512
    d_ff: int = 2048
    dropout: float = 0.1  # on embeddings, sublayer outputs and attention weights
    layer_norm_epsilon: float = 1e-5
    # One matrix for source embedding, target embedding and output layer (section 3.4), as
    # when source and target share a vocabulary; False gives the source its own embedding.
    share_embeddings: bool = True
    label_smoothing: float = 0.1
    pad_id: int = 1  # genpt's pad token: its embedding row starts at zero, and lookups of it pass no gradient

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.check_positive("vocab_size", "max_positions", "n_layer", "n_head", "d_model", "d_ff")
        if self.d_model % self.n_head != 0:
            raise GenptError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.d_model % 2 != 0:
            raise GenptError(f"d_model must be even for sinusoidal positions, got {self.d_model}")
        self.check_probabilities("dropout", "label_smoothing")
        self.check_pad_id()

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    kind = "Transformer"

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        return TRANSFORMER_PRESETS


TRANSFORMER_PRESETS: dict[str, dict[str, Any]] = {
    # The paper's base model: 65M parameters with its 37,000-token shared vocabulary.
    "base": dict(vocab_size=8192, n_layer=6, d_model=512, n_head=8, d_ff=2048),
    "small": dict(vocab_size=8192, n_layer=3, d_model=256, n_head=4, d_ff=1024),
    "tiny": dict(vocab_size=8192, n_layer=2, d_model=128, n_head=4, d_ff=512),
}


class SinusoidalPositions(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(pos / 10000^(2i/C))."""

    def __init__(self, max_positions: int, d_model: int):
        super().__init__()
        # Built where the module's parameters are (the default device, or a `with torch.device`
        # context such as meta); a buffer, it then follows the module's `.to()`.
        device = torch.get_default_device()
        position = torch.arange(max_positions, dtype=torch.float32, device=device)[:, None]  # (P, 1)
        inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device)
                             * (-math.log(10000.0) / d_model))  # (C/2,)
        table = torch.zeros(max_positions, d_model, device=device)
        table[:, 0::2] = torch.sin(position * inv_freq)
        table[:, 1::2] = torch.cos(position * inv_freq)
        # A function of the config alone, so it stays out of checkpoints.
        self.register_buffer("table", table, persistent=False)  # (P, C)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return self.table[position_ids]  # (B, T, C)

    def check_length(self, length: int) -> None:
        if length > self.table.size(0):
            raise ValueError(f"sequence of {length} tokens is longer than the {self.table.size(0)} positions covered")


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention of `x` over a context: itself, or the encoder's memory.

    Keys and values are computed apart from the attention (`keys_values`) so incremental
    decoding can compute the memory's once and extend the decoder's by one token a step.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        C = config.d_model
        self.n_head = config.n_head
        self.attn_pdrop = config.dropout
        self.q_proj = nn.Linear(C, C)
        self.k_proj = nn.Linear(C, C)
        self.v_proj = nn.Linear(C, C)
        self.out_proj = nn.Linear(C, C)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

    def keys_values(self, context: torch.Tensor) -> KeyValues:
        return self.split_heads(self.k_proj(context)), self.split_heads(self.v_proj(context))  # (B, nh, S, hs) each

    def forward(
        self,
        x: torch.Tensor,  # (B, T, C) queries
        kv: KeyValues,  # (B, nh, S, hs) each
        attn_mask: torch.Tensor | None,  # bool, True where a query may attend a key; broadcasts to (B, nh, T, S)
        is_causal: bool = False,  # only with attn_mask None: the fused kernels' own causal mask
    ) -> torch.Tensor:
        B, T, C = x.shape
        y = ops.attention(  # F.scaled_dot_product_attention, but for dropout on a CPU (see there)
            self.split_heads(self.q_proj(x)), *kv,
            attn_mask=attn_mask,
            dropout_p=self.attn_pdrop if self.training else 0.0,
            is_causal=is_causal,
        )  # (B, nh, T, hs)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, the same at every position (section 3.3)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(config)
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.ffn = FeedForward(config)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = ops.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, src_attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.ln_1(x + self.dropout(self.self_attn(x, self.self_attn.keys_values(x), src_attn_mask)))
        return self.ln_2(x + self.dropout(self.ffn(x)))  # (B, S, C)


class DecoderLayer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(config)
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.cross_attn = MultiHeadAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.ffn = FeedForward(config)
        self.ln_3 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = ops.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, C)
        memory_kv: KeyValues,  # this layer's cross-attention keys and values of the memory
        self_attn_mask: torch.Tensor | None,  # (B, 1, T, T) or None for causal and unpadded
        src_attn_mask: torch.Tensor | None,  # (B, 1, 1, S) or None for an unpadded source
        past_kv: KeyValues | None = None,  # incremental decoding: earlier positions' (B, nh, t, hs)
    ) -> tuple[torch.Tensor, KeyValues]:
        """The layer's output (B, T, C) and its self-attention keys and values so far.

        With `past_kv`, `x` is the one next position: it attends every earlier position, and
        causality holds because the earlier keys were computed before it existed. Post-LN
        does not break this: every position's keys depend on positions at or before it only.
        """
        k, v = self.self_attn.keys_values(x)
        if past_kv is None:
            is_causal = self_attn_mask is None
        else:
            k, v = torch.cat([past_kv[0], k], dim=2), torch.cat([past_kv[1], v], dim=2)
            is_causal = False  # the kernels' causal mask is top-left aligned: it would hide the past
        x = self.ln_1(x + self.dropout(self.self_attn(x, (k, v), self_attn_mask, is_causal)))
        x = self.ln_2(x + self.dropout(self.cross_attn(x, memory_kv, src_attn_mask)))
        return self.ln_3(x + self.dropout(self.ffn(x))), (k, v)


def key_padding_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Boolean (B, 1, 1, S): every query may attend the real keys; None when no mask is given.

    A given mask is applied even when it pads nothing: finding out would stall a GPU on a host
    sync. A source must hold at least one real token, or its queries attend nothing (NaN).
    """
    if mask is None:
        return None
    return mask.bool()[:, None, None, :]


class EncoderDecoder(DecodesFromSource, nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.tgt_embed = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.src_embed = self.tgt_embed if config.share_embeddings else nn.Embedding(
            config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.positions = SinusoidalPositions(config.max_positions, config.d_model)
        self.embed_scale = math.sqrt(config.d_model)  # keeps N(0, C^-1/2) embeddings at the sinusoids' scale
        self.drop = ops.Dropout(config.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layer))
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.tgt_embed.weight  # tied, section 3.4
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # The reference implementations' init (tensor2tensor, fairseq): Glorot-uniform
        # matrices, zero biases, and embeddings whose scaled rows have unit variance.
        if isinstance(module, nn.Linear) and module is not self.lm_head:  # lm_head is the embedding
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.d_model**-0.5)
            with torch.no_grad():
                module.weight[self.config.pad_id].zero_()

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once each (shared embeddings and the tied output layer once)."""
        total = sum(p.numel() for p in self.parameters())
        if non_embedding:
            total -= self.tgt_embed.weight.numel()
            if not self.config.share_embeddings:
                total -= self.src_embed.weight.numel()
        return total

    def embed(self, table: nn.Embedding, ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        self.positions.check_length(ids.size(1))
        return self.drop(table(ids) * self.embed_scale + self.positions(position_ids))  # (B, T, C)

    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        """Memory (B, S, C) of (B, S) source ids; padded positions hold values nobody reads."""
        # Positions count real tokens, so left padding does not shift them either.
        x = self.embed(self.src_embed, src_ids, positions_from_mask(src_mask, src_ids.size(1), src_ids.device))
        attn_mask = key_padding_mask(src_mask)
        for layer in self.encoder:
            x = layer(x, attn_mask)
        return x

    def encode_pooled(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, C): the memory averaged over real source tokens, for classification heads."""
        memory = self.encode(src_ids, src_mask)  # (B, S, C)
        if src_mask is None:
            return memory.mean(dim=1)
        weights = src_mask.to(memory.dtype)[..., None]  # (B, S, 1)
        return (memory * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def memory_keys_values(self, memory: torch.Tensor) -> list[KeyValues]:
        """Each decoder layer's cross-attention keys and values of the memory."""
        return [layer.cross_attn.keys_values(memory) for layer in self.decoder]

    def decode(
        self,
        tgt_ids: torch.Tensor,  # (B, T) decoder input: bos, y_1, ..., y_{T-1}
        memory: torch.Tensor,  # (B, S, C)
        src_mask: torch.Tensor | None,  # (B, S)
        tgt_mask: torch.Tensor | None,  # (B, T)
    ) -> torch.Tensor:
        """Final decoder states (B, T, C); position t sees target positions <= t only."""
        T = tgt_ids.size(1)
        x = self.embed(self.tgt_embed, tgt_ids, positions_from_mask(tgt_mask, T, tgt_ids.device))
        self_attn_mask = padding_aware_causal_mask(tgt_mask, T)  # None: causal, nothing padded
        src_attn_mask = key_padding_mask(src_mask)
        for layer, memory_kv in zip(self.decoder, self.memory_keys_values(memory)):
            x, _ = layer(x, memory_kv, self_attn_mask, src_attn_mask)
        return x

    def forward(
        self,
        src_ids: torch.Tensor,  # (B, S)
        src_mask: torch.Tensor | None,  # (B, S)
        tgt_in: torch.Tensor,  # (B, T) decoder input, starting with bos
        tgt_mask: torch.Tensor | None,  # (B, T)
        labels: torch.Tensor | None = None,  # (B, T): labels[:, t] follows tgt_in[:, t]; -100 is ignored
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) and, with labels, the mean label-smoothed cross-entropy.

        Labels are already aligned with the decoder input (unlike GPT's, nothing is shifted
        here): the decoder input is the target shifted right behind bos, the labels are the
        target itself followed by eos.
        """
        hidden = self.decode(tgt_in, self.encode(src_ids, src_mask), src_mask, tgt_mask)  # (B, T, C)
        logits = self.lm_head(hidden)  # (B, T, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX,
                                   label_smoothing=self.config.label_smoothing)
        return logits, loss

    def start_decoding(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None) -> TransformerDecoderState:
        """Encode the sources once; the returned state decodes one token per row per `step`."""
        return TransformerDecoderState(self, self.encode(src_ids, src_mask), src_mask)


class TransformerDecoderState:
    """Incremental decoding (`genpt.models.decoding.IncrementalDecoder`) with cached keys and values.

    The memory's keys and values are projected once per layer; each step computes the new
    token's self-attention keys and values and appends them, so a step costs one position.
    Rows are never padded here: all of them hold the same number of tokens.
    """

    def __init__(self, model: EncoderDecoder, memory: torch.Tensor, src_mask: torch.Tensor | None):
        self.model = model
        N = memory.size(0)
        self.memory_kv = model.memory_keys_values(memory)  # per layer, (N, nh, S, hs) each
        self.src_attn_mask = key_padding_mask(src_mask)  # (N, 1, 1, S) or None
        empty = memory.new_empty(N, model.config.n_head, 0, model.config.head_dim)  # (N, nh, 0, hs)
        self.past_kv: list[KeyValues] = [(empty, empty) for _ in model.decoder]
        self.length = 0  # tokens fed so far, and so the position of the next one

    @torch.no_grad()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row, (N,); return next-token log-probabilities, (N, V)."""
        self.model.positions.check_length(self.length + 1)
        position_ids = torch.full((1, 1), self.length, dtype=torch.long, device=tokens.device)
        x = self.model.embed(self.model.tgt_embed, tokens[:, None], position_ids)  # (N, 1, C)
        for i, layer in enumerate(self.model.decoder):
            x, self.past_kv[i] = layer(x, self.memory_kv[i], None, self.src_attn_mask, past_kv=self.past_kv[i])
        self.length += 1
        return F.log_softmax(self.model.lm_head(x[:, -1]).float(), dim=-1)  # (N, V)

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep (and duplicate) the rows named by `rows`, (N',): beams that survived a step."""
        self.memory_kv = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.memory_kv]
        self.past_kv = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.past_kv]
        if self.src_attn_mask is not None:
            self.src_attn_mask = self.src_attn_mask.index_select(0, rows)


def inverse_sqrt_schedule(
    optimizer: torch.optim.Optimizer, d_model: int, warmup_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) times the base lr (section 5.3).

    Linear warmup to a peak at `warmup_steps`, then decay with the inverse square root of
    the step. Steps count from 1: the n-th optimizer step uses the lr of step n.
    """
    def multiplier(completed_steps: int) -> float:
        step = completed_steps + 1
        return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


def adam_for_transformer(model: nn.Module, lr: float = 1.0) -> torch.optim.Adam:
    """The paper's Adam (section 5.3); lr 1.0 lets `inverse_sqrt_schedule` set the lr alone."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)

"""GPT-1: a decoder-only Transformer language model (Radford et al. 2018, section 3.1).

    h_0 = U W_e + W_p                       token plus learned position embeddings
    h_l = transformer_block(h_{l-1})        for l in 1..n_layer
    P(u) = softmax(h_n W_e^T)               output layer tied to the token embedding

Each block is post-LN as in the paper's code (and BERT): `h = LN(x + Attn(x))`,
`out = LN(h + MLP(h))`; `prenorm=True` gives GPT-2's `x + Attn(LN(x))` with a final LN.
Shapes in comments: B batch, T time (tokens), C channels (n_embd), nh heads, hs head size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genpt.config import GPTConfig
from genpt.models import ops

IGNORE_INDEX = -100  # label value that contributes no loss (padding, prompts)


class CausalSelfAttention(nn.Module):
    """Multi-head masked self-attention, computed by PyTorch's fused SDPA kernels."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.attn_pdrop = config.attn_pdrop
        self.c_attn = ops.Linear(config.n_embd, 3 * config.n_embd)  # q, k, v in one matmul
        self.c_proj = ops.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = ops.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, past: LayerKV | None = None,
                only_at: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, T, C); with `only_at` (B,), the output of one position per sequence, (B, 1, C)."""
        B, T, C = x.shape
        if only_at is None:
            q, k, v = self.c_attn(x).split(C, dim=2)
        else:  # one query per sequence: project every position to keys and values, only it to a query
            w, b = self.c_attn.weight, self.c_attn.bias  # (3C, C), (3C,): q, k, v stacked
            q = F.linear(at_positions(x, only_at)[:, None], w[:C], b[:C])  # (B, 1, C)
            k, v = F.linear(x, w[C:], b[C:]).split(C, dim=2)  # (B, T, C) each
        Q = q.size(1)  # queries: T, or 1 with `only_at`
        q = q.view(B, Q, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, Q, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if past is not None:  # decoding: attend the earlier positions' cached keys and values too
            k, v = past.extend(k, v)  # (B, nh, P + T, hs)
        # attn_mask None means "causal, nothing padded", which the kernels handle fastest.
        y = ops.attention(  # F.scaled_dot_product_attention, but for dropout on a CPU (see there)
            q, k, v,
            attn_mask=attn_mask,
            dropout_p=self.attn_pdrop if self.training else 0.0,
            is_causal=attn_mask is None,
        )  # (B, nh, Q, hs)
        y = y.transpose(1, 2).reshape(B, Q, C)  # re-assemble the heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward network: Linear, GELU, Linear."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = ops.Linear(config.n_embd, config.n_inner)
        self.c_proj = ops.Linear(config.n_inner, config.n_embd)
        self.approximate = "tanh" if config.activation == "gelu_tanh" else "none"
        self.dropout = ops.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.c_fc(x), approximate=self.approximate)  # (B, T, n_inner)
        return self.dropout(self.c_proj(x))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.prenorm = config.prenorm
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, past: LayerKV | None = None,
                only_at: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, T, C); with `only_at` (B,), only that position of each sequence, (B, 1, C)."""
        x_out = x if only_at is None else at_positions(x, only_at)[:, None]  # the residual stream of the outputs
        if self.prenorm:  # GPT-2
            x = x_out + self.attn(self.ln_1(x), attn_mask, past, only_at)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x_out + self.attn(x, attn_mask, past, only_at))  # GPT-1
        return self.ln_2(x + self.mlp(x))


@dataclass
class GPTOutput:
    logits: torch.Tensor | None  # (B, T, vocab_size); None when skipped (fine-tuning heads)
    loss: torch.Tensor | None  # mean next-token cross-entropy, when labels are given
    hidden_states: torch.Tensor  # (B, T, C): the final block's output, read by task heads


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embedding W_e
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)  # position embedding W_p
        self.drop = ops.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon) if config.prenorm else nn.Identity()
        self.lm_head = ops.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: P(u) = softmax(h W_e^T)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range  # the paper's N(0, 0.02)
        if isinstance(module, nn.Linear):
            # GPT-2 scales the residual projections by 1/sqrt(2 * n_layer) so the pre-LN
            # residual stream does not grow with depth; post-LN re-normalises, so GPT-1 doesn't.
            if self.config.prenorm and any(module is b.attn.c_proj or module is b.mlp.c_proj for b in self.h):
                std = std / math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once each (the tied output layer is the token embedding)."""
        total = sum(p.numel() for p in self.parameters())
        if non_embedding:
            total -= self.wte.weight.numel() + self.wpe.weight.numel()
        return total

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, T) token ids
        attention_mask: torch.Tensor | None = None,  # (B, T), 1 for real tokens, 0 for padding
        labels: torch.Tensor | None = None,  # (B, T) usually input_ids; shifted here
        position_ids: torch.Tensor | None = None,  # (B, T); derived from the mask by default
        return_logits: bool = True,
    ) -> GPTOutput:
        """Logits, the next-token loss when `labels` are given, and the final hidden states.

        Training loops pass `return_logits=False`: the loss is then computed by the fused
        output-layer-and-loss kernel, which never holds the (B, T, V) logits in memory.
        """
        hidden = self.transformer(input_ids, attention_mask, position_ids)  # (B, T, C)
        if not return_logits:
            loss = None
            if labels is not None:
                targets = shift_labels(labels).flatten()  # (B*T,)
                loss = ops.linear_cross_entropy(hidden.flatten(0, 1), self.lm_head.weight, targets, IGNORE_INDEX)
            return GPTOutput(logits=None, loss=loss, hidden_states=hidden)
        logits = self.lm_head(hidden)  # (B, T, vocab_size)
        loss = language_modeling_loss(logits, labels) if labels is not None else None
        return GPTOutput(logits=logits, loss=loss, hidden_states=hidden)

    def transformer(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        only_at: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The decoder body: embeddings and blocks, returning final states (B, T, C).

        With a `cache` (decoding), `input_ids` are only the new tokens: the cache holds the
        keys and values of the P earlier ones and grows by T, and `attention_mask` covers all
        P + T positions.

        With `only_at` (B,), one position per sequence (0 <= p < T), the result is the final
        state at that position only, (B, C): what a task head reads. The last block then
        computes nothing else: every position still gives it keys and values (2C^2 of its 12C^2
        multiply-adds per token), the rest only `only_at` does, which saves about 5/6 of that
        block's work; a step of the 4-block `mini` does about a fifth less.
        """
        if only_at is not None and cache is not None:
            raise ValueError("only_at reads one position of a whole sequence; it does not decode with a cache")
        B, T = input_ids.shape
        S = T + (cache.length if cache is not None else 0)  # positions seen, earlier ones included
        if S > self.config.n_positions:
            raise ValueError(f"sequence of {S} tokens is longer than the context of {self.config.n_positions}")
        attn_mask = padding_aware_causal_mask(attention_mask, S, queries=T, device=input_ids.device)  # (B, 1, T, S) or None
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask, S, input_ids.device)[:, S - T :]
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))  # (B, T, C)
        if only_at is not None:
            return self.ln_f(self._blocks_then_one_position(x, attn_mask, only_at))[:, 0]  # (B, C)
        for i, block in enumerate(self.h):
            x = block(x, attn_mask, cache.layers[i] if cache is not None else None)
        return self.ln_f(x)

    def _blocks_then_one_position(self, x: torch.Tensor, attn_mask: torch.Tensor | None, only_at: torch.Tensor) -> torch.Tensor:
        """Every block but the last on all positions, the last on position `only_at` of each sequence: (B, 1, C)."""
        for block in self.h[:-1]:
            x = block(x, attn_mask)
        B, T, _ = x.shape
        if attn_mask is None:  # causal: the query at position p sees keys 0..p
            keys = torch.arange(T, device=x.device)[None, :] <= only_at[:, None]  # (B, T)
            query_mask = keys[:, None, None, :]  # (B, 1, 1, T)
        else:  # the mask's row of that query
            rows = attn_mask.expand(B, -1, T, T)  # (B, 1, T, T)
            query_mask = rows[torch.arange(B, device=x.device), :, only_at][:, :, None, :]  # (B, 1, 1, T)
        return self.h[-1](x, query_mask, only_at=only_at)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,  # (B, T) prompt
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample continuations; temperature 0 is greedy. Returns (B, T + new tokens)."""
        new = list(self.stream(input_ids, max_new_tokens, temperature, top_k, top_p, eos_token_id, generator))
        return torch.cat([input_ids, *(ids[:, None] for ids in new)], dim=1)

    @torch.no_grad()
    def stream(
        self,
        input_ids: torch.Tensor,  # (B, T) prompt
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[torch.Tensor]:
        """The next token of every row, (B,), one step at a time, as `generate` samples them.

        Each step runs only the new token against the cached keys and values of the earlier
        ones. Once the sequence outgrows the context window, the window slides and every
        position moves, so from then on each step recomputes the whole window. Rows that
        produced `eos_token_id` keep producing it; the stream stops when all have.
        """
        finished = torch.zeros(input_ids.size(0), dtype=torch.bool, device=input_ids.device)
        cache: KVCache | None = KVCache(self.config.n_layer, self.config.n_positions)
        pending = input_ids  # (B, t): tokens not yet in the cache
        for _ in range(max_new_tokens):
            if cache is not None and cache.length + pending.size(1) > self.config.n_positions:
                cache = None  # the window starts sliding
            window = pending if cache is not None else input_ids[:, -self.config.n_positions :]
            hidden = self.transformer(window, cache=cache)[:, -1, :]  # (B, C)
            logits = self.lm_head(hidden)  # (B, vocab_size)
            next_ids = sample_next_token(logits, temperature, top_k, top_p, generator)  # (B,)
            if eos_token_id is not None:
                next_ids = torch.where(finished, eos_token_id, next_ids)
                finished |= next_ids == eos_token_id
            yield next_ids
            input_ids = torch.cat([input_ids, next_ids[:, None]], dim=1)
            pending = next_ids[:, None]  # (B, 1)
            if eos_token_id is not None and bool(finished.all()):
                return


def at_positions(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(B, T, C) states and (B,) positions -> (B, C): each sequence's state at its position."""
    return x[torch.arange(x.size(0), device=x.device), positions]


def padding_aware_causal_mask(attention_mask: torch.Tensor | None, T: int, queries: int | None = None,
                              device: torch.device | None = None) -> torch.Tensor | None:
    """Boolean (B, 1, Q, T) mask, True where a query may attend a key; None when no mask is
    needed (no padding mask given and all T positions are queries: SDPA's causal flag).

    The Q queries are the last `queries` of the T positions (all of them by default: fewer
    when cached decoding runs only the new tokens). A real token sees the real tokens at or
    before it. Every position also sees itself, so a padding query never has an empty row
    (which would give NaN); its output is ignored anyway. A given padding mask is always
    applied, even when it pads nothing: finding out would stall a GPU on a host sync.
    The mask is built on `device` (the padding mask's, when given).
    """
    Q = T if queries is None else queries
    if attention_mask is None and Q == T:
        return None
    device = attention_mask.device if attention_mask is not None else device
    causal = torch.ones(Q, T, dtype=torch.bool, device=device).tril(diagonal=T - Q)  # (Q, T): query i is position T-Q+i
    if attention_mask is None:
        return causal[None, None]  # (1, 1, Q, T)
    keys = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
    itself = torch.ones(Q, T, dtype=torch.bool, device=device).tril(T - Q).triu(T - Q)  # (Q, T): each query's own key
    return causal & (keys | itself)  # (B, 1, Q, T)


class LayerKV:
    """One layer's cached keys and values: (B, nh, capacity, hs) buffers, filled up to `length`.

    The buffers are allocated once, at the first step, for the whole context window, and each
    step writes its new keys and values in place: growing them with `torch.cat` would copy
    every earlier position again at every step.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity  # the model's context window: decoding never goes past it
        self.length = 0
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append T new positions, (B, nh, T, hs) each; return all of them so far, (B, nh, P + T, hs)."""
        if self.keys is None:
            B, nh, _, hs = k.shape
            self.keys = torch.empty(B, nh, self.capacity, hs, dtype=k.dtype, device=k.device)
            self.values = torch.empty(B, nh, self.capacity, hs, dtype=v.dtype, device=v.device)
        end = self.length + k.size(2)
        if end > self.capacity:
            raise ValueError(f"the key-value cache holds {self.capacity} positions; {end} were asked for")
        self.keys[:, :, self.length : end] = k
        self.values[:, :, self.length : end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


class KVCache:
    """The keys and values of every position a GPT has decoded so far, layer by layer."""

    def __init__(self, n_layer: int, capacity: int) -> None:
        self.layers = [LayerKV(capacity) for _ in range(n_layer)]

    @property
    def length(self) -> int:
        return self.layers[0].length

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep (and duplicate) the rows named by `rows`: beams that survived a step."""
        for layer in self.layers:
            if layer.keys is not None:
                layer.keys, layer.values = layer.keys.index_select(0, rows), layer.values.index_select(0, rows)


def positions_from_mask(attention_mask: torch.Tensor | None, T: int, device: torch.device) -> torch.Tensor:
    """Position ids that count real tokens only, so left padding does not shift positions."""
    if attention_mask is None:
        return torch.arange(T, device=device)[None, :]  # (1, T)
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Position t predicts labels[t + 1]; the last position predicts nothing.

    The labels are shifted rather than the logits, which avoids copying a (B, T, V) tensor.
    """
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)  # (B, T)


def language_modeling_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy of (B, T, V) logits against (B, T) unshifted labels."""
    targets = shift_labels(labels)
    return ops.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)


def sample_next_token(
    logits: torch.Tensor,  # (B, V)
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        sorted_probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already hold top_p of the mass;
        # the most likely token is therefore always kept.
        drop_sorted = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def training_flops_per_token(config: GPTConfig, seq_len: int) -> float:
    """Model FLOPs of one training token (forward + backward), for throughput and MFU.

    6 FLOPs per matmul weight (2 forward, 4 backward), counting the blocks' projections and
    the output layer (a matmul even when tied); embeddings are lookups, and LayerNorms and
    biases are negligible. Plus 12 * n_layer * seq_len * n_embd for the attention scores
    and their weighted sum (the PaLM paper's formula, appendix B).
    """
    C, L = config.n_embd, config.n_layer
    block_weights = L * (4 * C * C + 2 * C * config.n_inner)
    return 6 * (block_weights + config.vocab_size * C) + 12 * L * seq_len * C


def parameter_counts(config: GPTConfig) -> dict[str, int]:
    """Total and non-embedding parameters of a GPT, built on the meta device: no memory is
    allocated, so even gpt1 is counted instantly."""
    with torch.device("meta"):
        model = GPT(config)
    return {"total": model.num_parameters(), "non_embedding": model.num_parameters(non_embedding=True)}

"""Greedy and beam-search decoding for the sequence-to-sequence baselines.

Both work with any decoder that follows `IncrementalDecoder`: it holds its own state (an
encoder memory and past keys, or LSTM hidden states), returns next-token log-probabilities
for one new token per row, and reorders its rows when beams are reshuffled. The
encoder-decoder Transformer and the LSTM with attention both implement it.
"""

from __future__ import annotations

from typing import Protocol

import torch


class IncrementalDecoder(Protocol):
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row, (N,); return log-probabilities of the next, (N, V)."""

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep (and duplicate) the state rows named by `rows`, (N',)."""


@torch.no_grad()
def greedy_decode(decoder: IncrementalDecoder, bos_id: int, eos_id: int, batch_size: int, max_length: int,
                  device: torch.device | str) -> torch.Tensor:
    """(B, <= max_length) token ids after `bos`; rows that ended are padded with `eos`."""
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    output = []
    for _ in range(max_length):
        tokens = decoder.step(tokens).argmax(dim=-1)  # (B,)
        tokens = torch.where(finished, eos_id, tokens)
        output.append(tokens)
        finished |= tokens == eos_id
        if bool(finished.all()):
            break
    return torch.stack(output, dim=1)


@torch.no_grad()
def beam_search(decoder: IncrementalDecoder, bos_id: int, eos_id: int, batch_size: int, max_length: int,
                num_beams: int = 4, length_penalty: float = 1.0, *, device: torch.device | str) -> torch.Tensor:
    """The highest-scoring hypothesis per row, (B, <= max_length), padded with `eos`.

    `decoder` must already hold `batch_size * num_beams` rows (each source repeated
    `num_beams` times, beams of one source adjacent). Scores are summed log-probabilities
    divided by length ** length_penalty (Wu et al. 2016 without the +5 offset).
    """
    B, K = batch_size, num_beams
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)
    scores = torch.zeros(B, K, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep one until they diverge
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B, K, device=device)
    history = torch.empty(B, K, 0, dtype=torch.long, device=device)
    for _ in range(max_length):
        log_probs = decoder.step(tokens).view(B, K, -1).float()  # (B, K, V)
        V = log_probs.size(-1)
        # A finished beam may only extend with eos, at no cost.
        eos_only = torch.full_like(log_probs[0, 0], float("-inf"))
        eos_only[eos_id] = 0.0
        log_probs = torch.where(finished[..., None], eos_only, log_probs)
        candidates = (scores[..., None] + log_probs).view(B, K * V)
        scores, flat = candidates.topk(K, dim=-1)  # (B, K)
        beam, token = flat // V, flat % V
        history = torch.cat([history.gather(1, beam[..., None].expand(-1, -1, history.size(-1))), token[..., None]], dim=-1)
        was_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_finished).float()
        finished = was_finished | (token == eos_id)
        decoder.reorder((beam + torch.arange(B, device=device)[:, None] * K).view(-1))
        tokens = token.view(-1)
        if bool(finished.all()):
            break
    normalised = scores / lengths.clamp(min=1) ** length_penalty
    best = normalised.argmax(dim=-1)  # (B,)
    return history[torch.arange(B, device=device), best]


class GPTPromptDecoder:
    """`IncrementalDecoder` for a decoder-only GPT continuing (N, P) prompts.

    Prompts are left-padded (mask 0), so every row's next token sits in the last column and
    positions count real tokens only. The first step runs the prompt and the fed token; each
    later step runs one token against the cached keys and values (`genpt.models.gpt.KVCache`).
    """

    def __init__(self, model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor):
        from genpt.models.gpt import KVCache

        self.model = model  # genpt.models.gpt.GPT
        self.pending = prompt_ids  # (N, P): ids not yet run through the model
        self.mask = prompt_mask  # (N, P + fed): every position so far
        self.cache = KVCache(model.config.n_layer, model.config.n_positions)

    @torch.no_grad()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        new = torch.cat([self.pending, tokens[:, None]], dim=1)  # (N, T): the prompt too on the first step
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        hidden = self.model.transformer(new, self.mask, cache=self.cache)  # (N, T, C)
        self.pending = new[:, :0]
        return torch.log_softmax(self.model.lm_head(hidden[:, -1]).float(), dim=-1)  # (N, V)

    def reorder(self, rows: torch.Tensor) -> None:
        self.pending, self.mask = self.pending.index_select(0, rows), self.mask.index_select(0, rows)
        self.cache.reorder(rows)


class DecodesFromSource:
    """`generate` for the encoder-decoders: each builds an `IncrementalDecoder` from its
    encoded sources (`start_decoding`); decoding is then the same for both."""

    def start_decoding(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None) -> IncrementalDecoder:
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        src_ids: torch.Tensor,  # (B, S)
        src_mask: torch.Tensor | None,  # (B, S)
        bos_id: int,
        eos_id: int,
        max_length: int,
        num_beams: int = 1,
        length_penalty: float = 1.0,
    ) -> torch.Tensor:
        """Output ids after bos, (B, <= max_length), padded with eos once a row has ended:
        greedy with one beam, beam search otherwise (the Transformer paper: 4 beams, penalty 0.6).

        Dropout stays as the caller set it: call `eval()` first.
        """
        B, device = src_ids.size(0), src_ids.device
        decoder = self.start_decoding(src_ids, src_mask)  # each source encoded once
        if num_beams == 1:
            return greedy_decode(decoder, bos_id, eos_id, B, max_length, device=device)
        decoder.reorder(torch.arange(B, device=device).repeat_interleave(num_beams))  # beams of a source adjacent
        return beam_search(decoder, bos_id, eos_id, B, max_length, num_beams, length_penalty, device=device)

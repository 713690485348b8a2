"""The LSTM sequence-to-sequence baseline with attention (the paper's "LSTM" rows, Table 5).

    m_1..m_S  = BiLSTM(E x_1..E x_S)                encoder memory, forward and backward halves (2H)
    s_0       = tanh(W_b [h_fwd; h_bwd; c_fwd; c_bwd])   bridge from the encoder's final states
    h_t       = LSTM(E y_{t-1}, h_{t-1})            decoder state (H)
    a_t       = softmax_s(score(h_t, m_s))          attention over real source tokens only
    c_t       = sum_s a_ts m_s                      context (2H)
    h~_t      = tanh(W_c [c_t; h_t])                attentional vector (Luong et al. 2015, eq. 5)
    P(y_t)    = softmax(h~_t E^T)                   output layer tied to the embedding

score is Bahdanau et al. 2015's additive `v^T tanh(W_q h_t + W_k m_s)` or Luong et al. 2015's
multiplicative `h_t^T W_a m_s` (their "general" score: the dot product after mapping the 2H
memory to the decoder's H). Both attention types share Luong's global-attention layout, in
which the current decoder state queries the memory, as OpenNMT does; only the score differs.

The decoder is plain, without Luong's input feeding (h~_{t-1} concatenated to the next input):
without it, teacher forcing runs the whole target through one LSTM call and attends for all
T steps at once, instead of looping over time in Python. The incremental `step` computes the
same function one token at a time, which the tests check.

Sequences are right-padded. Source and target LSTMs run on packed sequences, so a padding
position never reaches a real one (the backward encoder direction would otherwise start in
the padding), and attention gives padded source positions zero weight.

Shapes in comments: B batch, S source length, T target length, E embedding_dim,
H hidden_size, L n_layer, V vocab_size, N decoding rows (B * num_beams).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from genpt.config import NamedConfig
from genpt.errors import GenptError
from genpt.models import ops
from genpt.models.decoding import DecodesFromSource
from genpt.models.gpt import IGNORE_INDEX

AttentionType = Literal["bahdanau", "luong"]
LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)


@dataclass
class LSTMConfig(NamedConfig):
    name: str = "custom"
    vocab_size: int = 8192  # a real run's comes from its tokenizer
    embedding_dim: int = 256
    hidden_size: int = 512  # per direction in the encoder, so its memory is 2 * hidden_size
    n_layer: int = 1  # in the encoder and in the decoder
    dropout: float = 0.1  # on embeddings, between stacked layers, and before the output layer
    attention: AttentionType = "bahdanau"
    # True: one table embeds source and target tokens and is the output layer, as GPT-1 ties
    # W_e. False: separate source and target embeddings and an untied output layer.
    share_embeddings: bool = True
    label_smoothing: float = 0.0
    pad_id: int = 1  # genpt's <|pad|>; fills batches, never reaches a real position

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.check_positive("vocab_size", "embedding_dim", "hidden_size", "n_layer")
        if self.attention not in ("bahdanau", "luong"):
            raise GenptError(f"attention must be 'bahdanau' or 'luong', got {self.attention!r}")
        self.check_probabilities("dropout", "label_smoothing")
        self.check_pad_id()

    kind = "LSTM"

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        return LSTM_PRESETS


LSTM_PRESETS: dict[str, dict[str, Any]] = {
    # The paper's LSTM: "a single layer 2048 unit LSTM" in place of the Transformer (section 5).
    "paper": dict(n_layer=1, hidden_size=2048, embedding_dim=768),
    "small": dict(n_layer=1, hidden_size=512, embedding_dim=256),
    "tiny": dict(n_layer=1, hidden_size=128, embedding_dim=64),
}


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor | None,
             state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
    """`lstm` over (B, T, in) inputs; with `lengths` (B,) the padded steps are skipped.

    A packed run stops each row at its length, so the final states are those of the last
    real token, and the outputs at padded positions are zeros.
    """
    if lengths is None:
        return lstm(x, state)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    outputs, state = lstm(packed, state)
    outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))
    return outputs, state


class Attention(nn.Module):
    """Decoder states query the encoder memory; returns one context vector per query.

    The memory's side of the score (`keys`) is computed once per source, not once per step.
    """

    def __init__(self, kind: AttentionType, hidden_size: int):
        super().__init__()
        self.kind = kind
        H = hidden_size
        self.key_proj = nn.Linear(2 * H, H, bias=False)  # W_k (additive) or W_a (multiplicative)
        if kind == "bahdanau":
            self.query_proj = nn.Linear(H, H)  # W_q, with the score's bias
            self.v = nn.Linear(H, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_proj(memory)  # (B, S, 2H) -> (B, S, H)

    def forward(
        self,
        query: torch.Tensor,  # (B, T, H) decoder states
        keys: torch.Tensor,  # (B, S, H) from `keys(memory)`
        memory: torch.Tensor,  # (B, S, 2H) encoder outputs
        src_mask: torch.Tensor,  # (B, S) bool, True for real tokens
    ) -> torch.Tensor:
        if self.kind == "bahdanau":
            # Additive scores need every (query, key) pair's H features: (B, T, S, H) in memory.
            features = torch.tanh(self.query_proj(query)[:, :, None, :] + keys[:, None, :, :])
            scores = self.v(features).squeeze(-1)  # (B, T, S)
        else:
            scores = query @ keys.transpose(1, 2)  # (B, T, S)
        # -inf before the softmax: padding gets exactly zero weight, whatever its memory holds.
        scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, T, S)
        return weights @ memory  # (B, T, 2H)


class LSTMSeq2Seq(DecodesFromSource, nn.Module):
    def __init__(self, config: LSTMConfig):
        super().__init__()
        self.config = config
        V, E, H, L = config.vocab_size, config.embedding_dim, config.hidden_size, config.n_layer
        between_layers = config.dropout if L > 1 else 0.0  # nn.LSTM warns about dropout with one layer
        self.src_embed = nn.Embedding(V, E)
        self.tgt_embed = self.src_embed if config.share_embeddings else nn.Embedding(V, E)
        self.drop = ops.Dropout(config.dropout)
        self.encoder = nn.LSTM(E, H, L, batch_first=True, bidirectional=True, dropout=between_layers)
        self.bridge = nn.Linear(4 * H, 2 * H)  # W_b: one layer's [h_fwd; h_bwd; c_fwd; c_bwd] -> [h; c]
        self.decoder = nn.LSTM(E, H, L, batch_first=True, dropout=between_layers)
        self.attention = Attention(config.attention, H)
        # W_c maps straight to E rather than Luong's H, so the output layer can be the embedding.
        self.combine = nn.Linear(2 * H + H, E, bias=False)
        self.lm_head = nn.Linear(E, V, bias=False)
        if config.share_embeddings:
            self.lm_head.weight = self.src_embed.weight  # P(y) = softmax(h~ E^T)
        # Luong et al. 2015 (section 4.1): parameters uniform in [-0.1, 0.1]. Embeddings instead
        # get N(0, 1/E), so the tied output layer starts with unit-scale logits: with the
        # uniform init they are ~4x smaller, and the copy test sits for 100+ steps on a plateau
        # before attention finds the alignment (never leaving it in 3 of 4 seeds with Luong's score).
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1)
        for embedding in (self.src_embed, self.tgt_embed):  # the same module twice when shared
            nn.init.normal_(embedding.weight, std=E**-0.5)

    def num_parameters(self) -> int:
        """Parameters counted once each (a shared embedding is also the output layer)."""
        return sum(p.numel() for p in self.parameters())

    # ---- encoder ----------------------------------------------------------------------------

    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> tuple[torch.Tensor, LSTMState]:
        """Encoder memory (B, S, 2H), zero at padding, and the decoder's initial state.

        `src_ids` (B, S) right-padded, `src_mask` (B, S) 1 for real tokens; every source
        needs at least one real token (an empty one would have nothing to attend to).
        """
        lengths = src_mask.sum(dim=1)  # (B,)
        if bool((lengths == 0).any()):
            raise ValueError("every source needs at least one real token")
        x = self.drop(self.src_embed(src_ids))  # (B, S, E)
        memory, (h_n, c_n) = run_lstm(self.encoder, x, lengths)  # (B, S, 2H); (2L, B, H) each
        L, B, H = self.config.n_layer, src_ids.size(0), self.config.hidden_size
        # nn.LSTM orders final states layer-major, forward direction first: (L, 2, B, H).
        both = torch.cat([h_n.view(L, 2, B, H).transpose(1, 2), c_n.view(L, 2, B, H).transpose(1, 2)], dim=-1)
        h_0, c_0 = torch.tanh(self.bridge(both.reshape(L, B, 4 * H))).chunk(2, dim=-1)  # (L, B, H) each
        return memory, (h_0.contiguous(), c_0.contiguous())

    def encode_pooled(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the encoder memory over real tokens, (B, 2H): a sequence feature for task heads."""
        memory, _ = self.encode(src_ids, src_mask)  # (B, S, 2H), zero at padding
        return memory.sum(dim=1) / src_mask.sum(dim=1, keepdim=True).to(memory.dtype)

    # ---- decoder ----------------------------------------------------------------------------

    def output_logits(self, states: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Decoder states (B, T, H) and contexts (B, T, 2H) -> logits (B, T, V)."""
        attentional = torch.tanh(self.combine(torch.cat([context, states], dim=-1)))  # (B, T, E)
        return self.lm_head(self.drop(attentional))

    def decode(
        self,
        tgt_in: torch.Tensor,  # (B, T) previous tokens, starting with bos
        state: LSTMState,  # (L, B, H) each
        memory: torch.Tensor,  # (B, S, 2H)
        keys: torch.Tensor,  # (B, S, H)
        src_mask: torch.Tensor,  # (B, S) bool
        tgt_lengths: torch.Tensor | None = None,  # (B,); None runs every step
    ) -> tuple[torch.Tensor, LSTMState]:
        """Logits (B, T, V) for the next tokens, and the decoder state after the last step."""
        x = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        states, state = run_lstm(self.decoder, x, tgt_lengths, state)  # (B, T, H)
        context = self.attention(states, keys, memory, src_mask)  # (B, T, 2H)
        return self.output_logits(states, context), state

    def forward(
        self,
        src_ids: torch.Tensor,  # (B, S)
        src_mask: torch.Tensor,  # (B, S), 1 for real tokens
        tgt_in: torch.Tensor,  # (B, T) decoder inputs: bos y_1 .. y_{T-1}
        tgt_mask: torch.Tensor | None = None,  # (B, T), 1 for real tokens
        labels: torch.Tensor | None = None,  # (B, T) aligned with tgt_in: y_1 .. y_T (eos), -100 ignored
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: logits (B, T, V) and, given labels, the mean cross-entropy.

        Labels are not shifted: position t is scored against labels[t], the token that
        follows tgt_in[:, :t + 1]. Positions that `tgt_mask` marks as padding score nothing.
        """
        memory, state = self.encode(src_ids, src_mask)
        src_mask = src_mask.bool()
        tgt_lengths = tgt_mask.sum(dim=1) if tgt_mask is not None else None
        logits, _ = self.decode(tgt_in, state, memory, self.attention.keys(memory), src_mask, tgt_lengths)
        loss = None
        if labels is not None:
            if tgt_mask is not None:
                labels = labels.masked_fill(~tgt_mask.bool(), IGNORE_INDEX)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX,
                                   label_smoothing=self.config.label_smoothing)
        return logits, loss

    def language_model_logits(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder alone as a left-to-right language model over (B, T) ids: logits (B, T, V).

        No source: a zero initial state and a zero context, so an auxiliary LM loss on the task
        inputs trains the decoder's LSTM, W_c's state half and the embedding (the paper's
        "LSTM w/ aux LM" row). Position t predicts ids[:, t + 1]; score them with
        `genpt.models.gpt.language_modeling_loss`, which shifts the labels.
        """
        lengths = mask.sum(dim=1) if mask is not None else None
        states, _ = run_lstm(self.decoder, self.drop(self.tgt_embed(ids)), lengths)  # (B, T, H), zero state
        context = states.new_zeros(*states.shape[:2], 2 * self.config.hidden_size)  # (B, T, 2H)
        return self.output_logits(states, context)

    # ---- generation -------------------------------------------------------------------------

    def start_decoding(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> LSTMDecodingState:
        """Encode the sources once; the returned state decodes one token per row per `step`."""
        memory, state = self.encode(src_ids, src_mask)
        return LSTMDecodingState(self, memory, self.attention.keys(memory), src_mask.bool(), state)


class LSTMDecodingState:
    """`genpt.models.decoding.IncrementalDecoder` for `LSTMSeq2Seq`: the LSTM state and the memory."""

    def __init__(self, model: LSTMSeq2Seq, memory: torch.Tensor, keys: torch.Tensor, src_mask: torch.Tensor,
                 state: LSTMState):
        self.model = model
        self.memory = memory  # (N, S, 2H)
        self.keys = keys  # (N, S, H)
        self.src_mask = src_mask  # (N, S) bool
        self.state = state  # (L, N, H) each

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed (N,) tokens; log-probabilities of the next ones, (N, V)."""
        logits, self.state = self.model.decode(tokens[:, None], self.state, self.memory, self.keys, self.src_mask)
        return logits[:, 0].float().log_softmax(dim=-1)

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the rows named by `rows`, (N',): batch is dim 0 of the memory, dim 1 of the state."""
        self.memory, self.keys, self.src_mask = self.memory[rows], self.keys[rows], self.src_mask[rows]
        self.state = (self.state[0][:, rows], self.state[1][:, rows])

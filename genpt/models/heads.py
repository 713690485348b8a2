"""GPT-1 with a task head (paper, section 3.2): the pretrained decoder plus one linear layer.

    h = transformer(s ... e)[extract]            final hidden state at the extract token (C,)
    P(y | x) = softmax(W_y h)                    classification and entailment
    similarity:       W_y (h_AB + h_BA)          the two orderings added element-wise
    multiple choice:  softmax_k(W_y h_k)         one scalar per candidate, softmax across them
    regression:       W_y h                      one output, mean squared error (STS-B)

    L3 = L2(task) + lambda * L1(language modelling on the task inputs), lambda = 0.5

Inputs are (B, K, T): K sequences per example, 1 for single texts and pairs, 2 for
similarity, the number of candidates for multiple choice. Sequences are right-padded, so
the extract token is the last real token of each.

The output layer is named `score` and has no bias, like `OpenAIGPTForSequenceClassification`,
so a fine-tuned classifier exports to `transformers` without any change.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genpt.config import GPTConfig
from genpt.data.types import InputFormat
from genpt.errors import GenptError
from genpt.models import ops
from genpt.models.gpt import GPT, IGNORE_INDEX, at_positions, shift_labels


@dataclass
class TaskOutput:
    logits: torch.Tensor  # (B, num_labels); (B, K) for multiple choice; (B,) for regression
    loss: torch.Tensor | None  # task loss + aux_lm_weight * LM loss, when labels are given
    task_loss: torch.Tensor | None
    lm_loss: torch.Tensor | None


class TaskModel(nn.Module):
    """The task head every architecture shares: sequence features (B, K, C) -> logits.

    Subclasses say how a sequence becomes one feature vector (`sequence_features`) and,
    if they can, how the auxiliary language-modelling loss is computed on the inputs.
    """

    def __init__(self, n_features: int, input_format: InputFormat, num_labels: int, classifier_dropout: float,
                 initializer_range: float, regression: bool = False):
        super().__init__()
        self.input_format = input_format
        self.num_labels = num_labels  # 1 for regression and for multiple choice
        self.regression = regression  # one score, mean squared error (STS-B)
        self.dropout = nn.Dropout(classifier_dropout)
        self.score = nn.Linear(n_features, num_labels, bias=False)  # W_y
        nn.init.normal_(self.score.weight, std=initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,  # (B, K, T)
        attention_mask: torch.Tensor,  # (B, K, T), 1 for real tokens
        labels: torch.Tensor | None = None,  # (B,) class ids, choice ids or float scores
        aux_lm_weight: float = 0.0,
    ) -> TaskOutput:
        B, K, T = input_ids.shape
        flat_ids, flat_mask = input_ids.view(B * K, T), attention_mask.view(B * K, T)
        with_lm_loss = labels is not None and aux_lm_weight > 0
        features, hidden = self.sequence_features(flat_ids, flat_mask, with_lm_loss)  # (B*K, C); what L1 reads, or None
        logits = self.head(features.view(B, K, -1))

        task_loss = lm_loss = loss = None
        if labels is not None:
            task_loss = self.task_loss(logits, labels)
            loss = task_loss
            if with_lm_loss:
                lm_loss = self.language_modeling_loss(hidden, flat_ids, flat_mask)
                loss = task_loss + aux_lm_weight * lm_loss
        return TaskOutput(logits=logits, loss=loss, task_loss=task_loss, lm_loss=lm_loss)

    def sequence_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          with_hidden: bool = True) -> tuple[torch.Tensor, object]:
        """(N, C) features, and what `language_modeling_loss` reads (None unless `with_hidden`)."""
        raise NotImplementedError

    def language_modeling_loss(self, hidden: object, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no language-model head for the auxiliary loss")

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, K, C) sequence features -> the task's logits."""
        if self.input_format == "similarity":
            features = features.sum(dim=1)  # (B, C): h_AB + h_BA, symmetric in A and B
        elif self.input_format != "multiple_choice":
            features = features[:, 0]  # (B, C)
        logits = self.score(self.dropout(features).to(self.score.weight.dtype))
        if self.input_format == "multiple_choice" or self.regression:
            return logits.squeeze(-1)  # (B, K): softmax runs across the candidates; or (B,) scores
        return logits  # (B, num_labels)

    def task_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.regression:
            return F.mse_loss(logits.float(), labels.float())
        return F.cross_entropy(logits.float(), labels.long())

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Class ids, choice ids, or scores for regression."""
        if self.regression:
            return logits.float()
        return logits.argmax(dim=-1)


class GPTForTask(TaskModel):
    """GPT-1: the features are the final hidden state at the extract token."""

    def __init__(self, config: GPTConfig, input_format: InputFormat, num_labels: int, classifier_dropout: float = 0.1,
                 regression: bool = False):
        super().__init__(config.n_embd, input_format, num_labels, classifier_dropout, config.initializer_range, regression)
        self.transformer = GPT(config)

    @property
    def config(self) -> GPTConfig:
        return self.transformer.config

    def sequence_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          with_hidden: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        extract_at = attention_mask.sum(dim=1) - 1  # (N,) last real token: the extract token
        if not with_hidden:  # the head reads one position: the last block computes only that one
            return self.transformer.transformer(input_ids, attention_mask, only_at=extract_at), None  # (N, C)
        hidden = self.transformer.transformer(input_ids, attention_mask)  # (N, T, C)
        return at_positions(hidden, extract_at), hidden

    def language_modeling_loss(self, hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """L1 on the task inputs: next-token loss over real tokens, through the fused kernel."""
        targets = shift_labels(input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)).flatten()  # (N*T,)
        return ops.linear_cross_entropy(hidden.flatten(0, 1), self.transformer.lm_head.weight, targets, IGNORE_INDEX)


class EncoderForTask(TaskModel):
    """The baselines (encoder-decoder Transformer, LSTM): the features are the encoder's
    states mean-pooled over the real tokens of the same transformed input GPT reads.

    The auxiliary LM loss needs a decoder that runs as a language model on its own (the
    LSTM's, for the paper's "LSTM w/ aux LM" row)."""

    def __init__(self, encoder: nn.Module, n_features: int, input_format: InputFormat, num_labels: int,
                 classifier_dropout: float = 0.1, regression: bool = False):
        super().__init__(n_features, input_format, num_labels, classifier_dropout, 0.02, regression)
        self.encoder = encoder

    @property
    def config(self):
        return self.encoder.config

    def sequence_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          with_hidden: bool = True) -> tuple[torch.Tensor, None]:
        return self.encoder.encode_pooled(input_ids, attention_mask), None  # (N, C)

    def language_modeling_loss(self, hidden: None, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if not hasattr(self.encoder, "language_model_logits"):
            raise GenptError(f"--aux_lm_weight: a {type(self.encoder).__name__} has no language-model head; use 0")
        logits = self.encoder.language_model_logits(input_ids, attention_mask)  # (N, T, V)
        targets = shift_labels(input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX))  # (N, T)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)

"""`genpt eval lm`: how good a language model is, on held-out text.

Every token of the text is scored once, with as much context as the model's window allows:
windows of `window` tokens move forward by `stride`, and each window scores only the tokens
no earlier window scored. With `stride < window` every token but the text's first is scored,
each with at least `window - stride` tokens of context. With `stride == window` the windows
do not overlap: a token's context is only what precedes it in its window, and each window's
first token (no context at all) is not scored, as in `transformers`' perplexity guide. Reported: token-level perplexity, and bits per byte (the total loss in bits over the
UTF-8 bytes of the text), which does not depend on the tokenizer, so runs with different
vocabularies compare.

The text is read as pretraining reads it: documents (files, folders, `.gz`, JSON Lines,
Parquet, a `datasets` name), each followed by `<|endoftext|>`, which is scored like any token
but by a model that never learned it (openai-gpt has none: genpt adds it), for which it is
context only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from genpt.config import read_yaml_mapping
from genpt.data.corpus import iter_documents
from genpt.errors import GenptError
from genpt.metrics import load_module
from genpt.models.gpt import GPT
from genpt.special_tokens import ENDOFTEXT


@dataclass
class LanguageModel:
    model: GPT
    tokenizer: Any
    source: str
    untrained_ids: frozenset[int] = frozenset()  # tokens genpt added to a Hugging Face model's vocabulary


def load_language_model(path: str, option: str = "--run") -> LanguageModel:
    """A pretraining run, one of its checkpoints, or a Hugging Face causal LM folder (an
    `openai-gpt`/`gpt2` model, or a genpt export)."""
    from genpt.pretrained import load_pretrained

    config = Path(path) / "config.yaml"
    if config.is_file() and "task" in read_yaml_mapping(config):
        raise GenptError(f"{option} {path}: a fine-tuned run (it has a task head); {LANGUAGE_MODELS}")
    pretrained = load_pretrained(path, option=option)
    heads = [a for a in pretrained.hf_architectures or [] if isinstance(a, str) and a.endswith(TASK_HEADS)]
    if heads:  # transformers would load its fine-tuned body under an LM head without a word
        raise GenptError(f"{option} {path}: a model with a task head ({heads[0]}, as `genpt export` writes a fine-tuned "
                         f"run); {LANGUAGE_MODELS}")
    untrained = frozenset(pretrained.tokenizer.convert_tokens_to_ids(list(pretrained.untrained_tokens)))
    return LanguageModel(pretrained.model.eval(), pretrained.tokenizer, path, untrained)


LANGUAGE_MODELS = "give a pretraining run, one of its checkpoints, or a Hugging Face causal LM folder"
# transformers' heads of GPT-1 and GPT-2 that are not a language model's (a bare body, an LM
# head, or GPT's double heads still are one: genpt ties the LM head to the embedding)
TASK_HEADS = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")


def text_tokens(tokenizer: Any, inputs: list[str], **read_options: Any) -> tuple[list[int], int]:
    """The inputs' documents as one token stream (each followed by <|endoftext|>), and their
    UTF-8 bytes."""
    backend = tokenizer.backend_tokenizer
    backend.encode_special_tokens = True  # a literal "<|endoftext|>" in the text is text
    end = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    tokens, n_bytes = [], 0
    for document in iter_documents(inputs, **read_options):
        for piece in document.pieces:
            tokens += backend.encode(piece, add_special_tokens=False).ids
            n_bytes += len(piece.encode("utf-8"))
        tokens.append(end)
    backend.encode_special_tokens = False
    return tokens, n_bytes


@torch.no_grad()
def score_tokens(model: GPT, tokens: list[int], window: int, stride: int, batch_size: int = 8,
                 device: torch.device | str = "cpu", show_progress: bool = True, unscored: frozenset[int] = frozenset()) -> torch.Tensor:
    """The negative log-likelihood (nats, float64) of every token scored, with sliding windows;
    tokens in `unscored` are context only."""
    never = torch.tensor(sorted(unscored), dtype=torch.long, device=device)
    if not 1 <= stride <= window:
        raise GenptError(f"--stride {stride}: expected 1 to the window ({window})")
    starts = list(range(0, max(len(tokens) - 1, 1), stride))
    windows, scored_until = [], 1  # token 0 has no context: it is never scored
    for start in starts:
        end = min(start + window, len(tokens))
        if end <= scored_until:
            break
        # This window scores tokens [score_from, end): those no earlier window scored, but never
        # its own first token, which has no context in it (so disjoint windows, stride ==
        # window, leave each window's first token unscored).
        windows.append((start, end, max(scored_until, start + 1)))
        scored_until = end
    losses = []
    for first in tqdm(range(0, len(windows), batch_size), desc="scoring", unit="batch", disable=not show_progress):
        group = windows[first : first + batch_size]
        width = max(end - start for start, end, _ in group)
        ids = torch.zeros(len(group), width, dtype=torch.long, device=device)
        targets = torch.full((len(group), width), -100, dtype=torch.long, device=device)
        mask = torch.zeros(len(group), width, dtype=torch.long, device=device)
        for row, (start, end, score_from) in enumerate(group):
            chunk = torch.tensor(tokens[start:end], dtype=torch.long, device=device)
            ids[row, : end - start], mask[row, : end - start] = chunk, 1
            targets[row, score_from - start : end - start] = chunk[score_from - start :]
        targets[torch.isin(targets, never)] = -100
        logits = model(ids, mask if len(group) > 1 and (mask == 0).any() else None).logits.float()  # (B, T, V)
        scored = targets[:, 1:].flatten()
        token_losses = F.cross_entropy(logits[:, :-1].flatten(0, 1), scored, ignore_index=-100, reduction="none")
        losses.append(token_losses[scored != -100].double().cpu())
    return torch.cat(losses) if losses else torch.zeros(0, dtype=torch.float64)


def evaluate_lm(path: str, inputs: list[str], *, window: int | None = None, stride: int | None = None,
                batch_size: int = 8, show_progress: bool = True, **read_options: Any) -> dict[str, Any]:
    """Perplexity and bits per byte of the language model at `path` on `inputs`."""
    lm = load_language_model(path)
    context = lm.model.config.n_positions
    window = context if window is None else window
    if not 2 <= window <= context:
        raise GenptError(f"--window {window}: expected 2 to the model's context ({context})")
    stride = window // 2 if stride is None else stride
    tokens, n_bytes = text_tokens(lm.tokenizer, inputs, **read_options)
    if len(tokens) < 2:
        raise GenptError(f"--input {' '.join(inputs)}: no text to score")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # A separator the model never learned (openai-gpt has no <|endoftext|>) still separates
    # documents, but its made-up probability is not scored.
    losses = score_tokens(lm.model.to(device), tokens, window, stride, batch_size, device, show_progress, lm.untrained_ids)
    scores = load_module("perplexity").compute(predictions=losses.tolist(), n_bytes=n_bytes)  # genpt's evaluate module
    return {"perplexity": scores["perplexity"], "bits_per_byte": scores["bits_per_byte"], "loss": scores["loss"],
            "tokens": scores["tokens"], "bytes": n_bytes, "window": window, "stride": stride, "model": path, "inputs": inputs}

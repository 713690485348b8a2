"""`genpt generate`: sample text from a language model, streamed as it is produced.

The prompt is encoded as plain text, with no special token (as the exported model's tokenizer
encodes it, so `genpt generate`, `GPT.generate` and `transformers` continue a prompt alike),
and continued with the key-value cache; generation stops at `<|endoftext|>`. Each sample prints the prompt,
then its continuation token by token; `--temperature 0` prints exactly the greedy text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TextIO

import torch

from genpt.errors import GenptError
from genpt.eval.lm import load_language_model
from genpt.special_tokens import ENDOFTEXT


def stream_text(tokenizer, prompt_ids: list[int], new_ids: Iterator[int]) -> Iterator[str]:
    """The text each new token adds, decoded with everything before it (byte-level BPE can
    split a character across tokens: a piece is released once it decodes whole)."""
    ids, shown = list(prompt_ids), tokenizer.decode(prompt_ids, skip_special_tokens=True)
    for token in new_ids:
        ids.append(token)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            continue  # half a character so far
        yield text[len(shown):]
        shown = text
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if len(text) > len(shown):
        yield text[len(shown):]


def generate(path: str, prompts: list[str], *, max_new_tokens: int = 64, temperature: float = 0.8, top_k: int | None = 40,
             top_p: float | None = 0.95, num_samples: int = 1, seed: int = 0, out: TextIO = sys.stdout,
             sources: list[str] | None = None) -> list[str]:
    """Write `num_samples` continuations of each prompt to `out` as they are produced; return them
    whole. `sources` names where each prompt came from in errors (default: --prompt); every
    prompt is checked before the first is continued."""
    if max_new_tokens < 1 or num_samples < 1:
        raise GenptError("--max_new_tokens and --num_samples must be at least 1")
    if temperature < 0 or (top_k is not None and top_k < 1) or (top_p is not None and not 0 < top_p <= 1):
        raise GenptError("--temperature must be >= 0, --top_k >= 1 and --top_p in (0, 1]")
    lm = load_language_model(path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = lm.model.to(device)
    end = lm.tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    generator = torch.Generator(device=device).manual_seed(seed)
    encoded = [lm.tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    for prompt_ids, source in zip(encoded, sources or ["--prompt"] * len(prompts)):
        if not prompt_ids:
            raise GenptError(f"{source}: empty; give some text to continue")
        if len(prompt_ids) >= model.config.n_positions:
            raise GenptError(f"{source}: {len(prompt_ids)} tokens, but the model's context is {model.config.n_positions}")
    texts = []
    for prompt, prompt_ids in zip(prompts, encoded):
        context = torch.tensor([prompt_ids], dtype=torch.long, device=device)
        for _ in range(num_samples):
            new = (int(ids[0]) for ids in model.stream(context, max_new_tokens, temperature, top_k, top_p, end, generator)
                   if int(ids[0]) != end)
            out.write(prompt)
            out.flush()
            pieces = [prompt]
            for piece in stream_text(lm.tokenizer, prompt_ids, new):
                out.write(piece)
                out.flush()
                pieces.append(piece)
            out.write("\n")
            texts.append("".join(pieces))
    return texts

"""Load a genpt tokenizer folder (written by `genpt tokenizer train`) for any stage."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from genpt.errors import GenptError
from genpt.special_tokens import ALL as SPECIAL_TOKENS


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder with `AutoTokenizer`, checking it has genpt's special tokens.

    The folder is read locally only: a missing folder is an error here, never a hub lookup.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise GenptError(f"{folder}: no such tokenizer folder")
    if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer_config.json").is_file():
        raise GenptError(
            f"{folder}: not a tokenizer folder (no tokenizer.json); train one with `genpt tokenizer train`"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise GenptError(f"{folder}: could not load the tokenizer ({reason})") from None
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise GenptError(
            f"{folder}: expected a fast (tokenizers-backed) tokenizer, found {type(tokenizer).__name__}"
        )
    vocabulary = tokenizer.get_vocab()
    missing = [token for token in SPECIAL_TOKENS if token not in vocabulary]
    if missing:
        raise GenptError(f"{folder}: the tokenizer lacks genpt's special tokens {', '.join(missing)}")
    return tokenizer

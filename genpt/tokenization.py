"""Load a genpt tokenizer folder (written by `genpt tokenizer train`) for any stage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tokenizers import Tokenizer, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from genpt.errors import GenptError
from genpt.special_tokens import ALL as SPECIAL_TOKENS
from genpt.special_tokens import DELIM, EXTRACT, START


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
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
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


def add_gpt1_templates(tokenizer: Tokenizer) -> None:
    """GPT-1's input transformations as the tokenizer's post-processor: `start text extract`,
    `start a delim b extract`. genpt places these tokens itself; an exported classifier's
    users (`pipeline("text-classification")`) get them from here."""
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{START} $A {EXTRACT}",
        pair=f"{START} $A {DELIM} $B:1 {EXTRACT}:1",
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in (START, DELIM, EXTRACT)],
    )


# Keys transformers 5 writes into tokenizer_config.json that describe how this process loaded
# the tokenizer, not the tokenizer: a folder published with them would tell others to stay offline.
LOAD_TIME_KEYS = ("is_local", "local_files_only")


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: str | Path) -> None:
    """`save_pretrained`, loadable by transformers 4.x too: transformers 5 names the class
    TokenizersBackend, which 4.x lacks, where PreTrainedTokenizerFast loads in both."""
    tokenizer.save_pretrained(str(folder))
    config_path = Path(folder) / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["padding_side"] = tokenizer.padding_side  # transformers 5 leaves it out; a causal LM's is "left"
    for key in LOAD_TIME_KEYS:
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def tokenizer_sha256(tokenizer: PreTrainedTokenizerFast) -> str:
    """A tokenizer's identity: sha256 of its vocabulary, merges and added tokens.

    Two tokenizers with the same size but different merges turn the same text into
    different ids, so a model trained with one is garbage with the other. Templates and
    settings such as `model_max_length` do not change the ids, so they are left out.
    """
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    model = backend.get("model") or {}
    content = {
        "vocab": sorted((model.get("vocab") or {}).items(), key=lambda item: item[1]),
        "merges": [" ".join(merge) if isinstance(merge, list) else merge for merge in model.get("merges") or []],
        "added": sorted((token["id"], token["content"]) for token in backend.get("added_tokens") or []),
    }
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()


def check_same_tokenizer(given: PreTrainedTokenizerFast, given_dir: str | Path, expected: PreTrainedTokenizerFast | str,
                         expected_dir: str | Path) -> None:
    """Refuse a tokenizer whose vocabulary or merges differ from the one a model was trained with.

    `expected` is the model's tokenizer, or its recorded `tokenizer_sha256`.
    """
    expected_hash = expected if isinstance(expected, str) else tokenizer_sha256(expected)
    if tokenizer_sha256(given) != expected_hash:
        raise GenptError(f"--tokenizer {given_dir}: not the tokenizer the model was trained with ({expected_dir}): "
                         "their vocabularies or merges differ; use that tokenizer")

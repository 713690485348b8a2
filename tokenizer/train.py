"""Train GPT-1's byte-level BPE tokenizer with the Hugging Face `tokenizers` library.

`vocab_size` is the TOTAL vocabulary: the 256 byte symbols, the 5 special tokens (ids
0..4, see `genpt.special_tokens`) and the learned merges. GPT-1 used 40,000 merges for
40,478 entries; `vocab_size=40478` gives the same size here (40,217 merges, since the
base alphabet is the 256 bytes rather than GPT-1's characters).

The result is a folder that `transformers.AutoTokenizer.from_pretrained` loads offline,
plus `genpt_tokenizer.json` with the training statistics.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm
from transformers import PreTrainedTokenizerFast

from genpt import __version__
from genpt.atomic import check_output_folder, remove_stale_staging, write_folder_atomically
from genpt.data.corpus import (
    ByteCounter,
    Document,
    Source,
    iter_documents,
    refuse_output_among_inputs,
    resolve_inputs,
)
from genpt.errors import GenptError
from genpt.special_tokens import ALL as SPECIAL_TOKENS
from genpt.special_tokens import DELIM, ENDOFTEXT, EXTRACT, PAD, START
from genpt.tokenization import add_gpt1_templates, load_tokenizer, save_tokenizer
from genpt.tokenizer.config import DEFAULT_STATS_BYTES

BYTE_SYMBOLS = 256
MIN_VOCAB_SIZE = BYTE_SYMBOLS + len(SPECIAL_TOKENS)
STATS_FILE = "genpt_tokenizer.json"
# Batches of pieces let the trainer's worker threads count words while Python reads on.
FEED_BATCH_PIECES = 8


def new_byte_level_bpe() -> Tokenizer:
    """An untrained byte-level BPE: every string encodes, no unknown token is ever needed."""
    tokenizer = Tokenizer(models.BPE())
    # No prefix space: "Hello" and " Hello" stay different tokens, so decoding is exact.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def for_transformers(tokenizer: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """Wrap a trained tokenizer so `save_pretrained` writes a folder `AutoTokenizer` loads."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=START,
        eos_token=ENDOFTEXT,
        pad_token=PAD,
        sep_token=DELIM,
        cls_token=EXTRACT,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,  # "a ." must decode to "a .", not "a."
    )


def train_tokenizer(
    inputs: Sequence[str | Path | Source],
    *,
    output_dir: str | Path,
    vocab_size: int = 8192,
    min_frequency: int = 2,
    model_max_length: int = 512,
    strip_gutenberg: bool = False,
    text_column: str = "text",
    dataset_config: str | None = None,
    split: str = "train",
    show_progress: bool = True,
    exit_on_interrupt: bool = False,
) -> dict[str, Any]:
    """Train a byte-level BPE on `inputs`, save it to `output_dir`, and return statistics.

    Ctrl-C stops it before anything is saved; with `exit_on_interrupt` (the command line) the
    process ends at once even while merges are being learned.

    The corpus is streamed (memory stays flat whatever its size). `output_dir` appears
    only once complete; an older tokenizer there is replaced, anything else is refused.
    """
    _check_options(vocab_size, min_frequency, model_max_length)
    output_dir = Path(output_dir).expanduser()
    refuse_output_among_inputs(output_dir, inputs)
    _check_replaceable(output_dir)
    sources = resolve_inputs(inputs, dataset_config=dataset_config, split=split)

    tokenizer = new_byte_level_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, even unseen ones
        special_tokens=list(SPECIAL_TOKENS),  # first, so they get ids 0..4
        show_progress=False,  # its bars go to stdout and would garble ours
    )
    with tqdm(desc="reading corpus", unit="B", unit_scale=True, disable=not show_progress) as bar:
        counter = ByteCounter(progress=bar.update)
        documents = iter_documents(
            sources, text_column=text_column, strip_gutenberg=strip_gutenberg, on_bytes=counter
        )
        with ctrl_c_watch(exit_at_once=exit_on_interrupt) as interrupted:
            feed = _batches(_pieces(documents), on_end=lambda: bar.set_description_str("learning merges"),
                            interrupted=interrupted)
            try:
                tokenizer.train_from_iterator(feed, trainer=trainer)
            except _Interrupted:
                raise KeyboardInterrupt from None
    seconds = counter.seconds
    _check_special_token_ids(tokenizer)
    add_gpt1_templates(tokenizer)

    stats = {
        "vocab_size": tokenizer.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "merges": tokenizer.get_vocab_size() - MIN_VOCAB_SIZE,
        "min_frequency": min_frequency,
        "model_max_length": model_max_length,
        "special_tokens": list(SPECIAL_TOKENS),
        "sources": len(sources),
        "inputs": [source.name for source in sources[:20]] + (["..."] if len(sources) > 20 else []),
        "strip_gutenberg": strip_gutenberg,
        "bytes_read": counter.bytes,
        "wall_seconds": round(seconds, 3),
        "bytes_per_second": round(counter.bytes / seconds),
        "versions": _versions(),
    }

    def save(folder: Path) -> None:
        save_tokenizer(for_transformers(tokenizer, model_max_length), folder)
        (folder / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")

    _check_replaceable(output_dir)  # again: the folder may have appeared while training
    remove_stale_staging(output_dir.parent, {output_dir.name})  # what killed runs left
    write_folder_atomically(output_dir, save)
    return {**stats, "output_dir": str(output_dir)}


def _check_options(vocab_size: int, min_frequency: int, model_max_length: int) -> None:
    if vocab_size < MIN_VOCAB_SIZE:
        raise GenptError(
            f"--vocab_size {vocab_size} is too small: expected at least {MIN_VOCAB_SIZE} "
            f"({BYTE_SYMBOLS} byte symbols + {len(SPECIAL_TOKENS)} special tokens; the rest are merges)"
        )
    if min_frequency < 1:
        raise GenptError(f"--min_frequency {min_frequency}: expected 1 or more")
    if model_max_length < 1:
        raise GenptError(f"--model_max_length {model_max_length}: expected 1 or more")


def _pieces(documents: Iterable[Document]) -> Iterator[str]:
    for document in documents:
        yield from document.pieces


def _numbered_pieces(documents: Iterable[Document]) -> Iterator[tuple[int, str]]:
    """(document number from 1, piece) for every piece of every document."""
    for number, document in enumerate(documents, start=1):
        for piece in document.pieces:
            yield number, piece


class _Interrupted(Exception):
    """Ctrl-C seen while the trainer reads the corpus (raised through the `tokenizers` trainer)."""


@contextmanager
def ctrl_c_watch(exit_at_once: bool = False) -> Iterator[Callable[[], bool]]:
    """A function that tells whether Ctrl-C was pressed, callable from any thread.

    The `tokenizers` trainer runs with the main thread blocked in Rust, where Python's own
    SIGINT handling waits until training ends (12.7 s on the Gutenberg corpus). A signal
    wake-up pipe is written by the C-level handler at once: while the corpus is read, the
    reading loop sees it and stops; while merges are learned (in Rust, out of Python's
    reach), `exit_at_once` ends the process there and then, status 130. Nothing has been
    written by then: the tokenizer is saved only after training. The command line asks for
    that; a library caller (a notebook) is never killed, and gets KeyboardInterrupt once the
    trainer returns.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end)
    previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: None)  # the pipe carries the news
    seen = threading.Event()

    def watch() -> None:
        while True:
            try:
                data = os.read(read_end, 64)
            except OSError:  # the pipe was closed: training ended
                return
            if not data:
                return
            if signal.SIGINT in data:
                seen.set()
                if exit_at_once:
                    print("\ngenpt tokenizer: interrupted", file=sys.stderr, flush=True)
                    os._exit(130)

    threading.Thread(target=watch, daemon=True).start()
    try:
        yield seen.is_set
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        os.close(write_end)  # the watcher reads the end of the pipe and returns
        os.close(read_end)
        if seen.is_set():
            raise KeyboardInterrupt


def _batches(pieces: Iterable[str], on_end: Callable[[], Any],
             interrupted: Callable[[], bool] = lambda: False) -> Iterator[list[str]]:
    """Group pieces into lists for the trainer, and call `on_end` once all are read; stop at Ctrl-C."""
    batch: list[str] = []
    for piece in pieces:
        batch.append(piece)
        if len(batch) == FEED_BATCH_PIECES:
            if interrupted():
                raise _Interrupted
            yield batch
            batch = []
    if batch:
        yield batch
    on_end()


def _check_special_token_ids(tokenizer: Tokenizer) -> None:
    ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    if ids != list(range(len(SPECIAL_TOKENS))):  # the model and data code rely on ids 0..4
        raise RuntimeError(f"special tokens got ids {ids}, expected 0..{len(SPECIAL_TOKENS) - 1}")


def _versions() -> dict[str, str]:
    return {
        "genpt": __version__,
        "tokenizers": tokenizers.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- output folder


# what a tokenizer folder holds; a folder with anything else (a model's weights, a genpt export,
# the user's notes) is not an earlier tokenizer to replace, even with a tokenizer.json in it
TOKENIZER_FOLDER_FILES = {STATS_FILE, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}


def _check_replaceable(output_dir: Path) -> None:
    """Replace only an empty folder or an earlier tokenizer genpt trained (its STATS_FILE says
    so: a tokenizer downloaded from the hub has the same other files), never anything else."""
    check_output_folder(output_dir, what="a tokenizer folder genpt trained", overwrite_option=None,
                        is_ours=lambda folder: (folder / STATS_FILE).is_file()
                        and all(entry.name in TOKENIZER_FOLDER_FILES for entry in folder.iterdir()))


# --------------------------------------------------------------------------- statistics


def tokenizer_stats(
    tokenizer_dir: str | Path,
    inputs: Sequence[str | Path | Source],
    *,
    max_bytes: int = DEFAULT_STATS_BYTES,
    strip_gutenberg: bool = False,
    text_column: str = "text",
    dataset_config: str | None = None,
    split: str = "train",
) -> dict[str, Any]:
    """How well a tokenizer compresses some text (the first `max_bytes` of it; 0: all).

    Returns the vocabulary size and, on that text: tokens, chars per token, bytes per
    token, tokens per whitespace-separated word, the fraction of tokens that are single
    bytes (unmerged: rare characters, unseen spellings), and the fraction of the
    vocabulary that the text uses.
    """
    tokenizer = load_tokenizer(tokenizer_dir)
    backend = tokenizer.backend_tokenizer
    vocabulary = tokenizer.get_vocab()
    single_byte_ids = {token_id for token, token_id in vocabulary.items() if len(token) == 1}
    counts = {"documents": 0, "chars": 0, "bytes": 0, "words": 0, "tokens": 0, "single_byte_tokens": 0}
    used_ids: set[int] = set()
    documents = iter_documents(
        inputs,
        text_column=text_column,
        dataset_config=dataset_config,
        split=split,
        strip_gutenberg=strip_gutenberg,
    )
    for document_number, piece in _numbered_pieces(documents):
        ids = backend.encode(piece, add_special_tokens=False).ids
        counts["documents"] = document_number
        counts["chars"] += len(piece)
        counts["bytes"] += len(piece.encode("utf-8"))
        counts["words"] += len(piece.split())
        counts["tokens"] += len(ids)
        counts["single_byte_tokens"] += sum(token_id in single_byte_ids for token_id in ids)
        used_ids.update(ids)
        if max_bytes and counts["bytes"] >= max_bytes:
            break
    tokens = max(counts["tokens"], 1)
    return {
        "tokenizer": str(tokenizer_dir),
        "vocab_size": len(vocabulary),
        "model_max_length": tokenizer.model_max_length,
        **counts,
        "chars_per_token": counts["chars"] / tokens,
        "bytes_per_token": counts["bytes"] / tokens,
        "tokens_per_word": counts["tokens"] / max(counts["words"], 1),
        "single_byte_token_fraction": counts["single_byte_tokens"] / tokens,
        "vocab_used_fraction": len(used_ids) / len(vocabulary),
    }


# --------------------------------------------------------------------------- reports


def format_training_summary(stats: dict[str, Any]) -> str:
    """A few lines for the terminal after `train_tokenizer`."""
    merges = f"{stats['merges']:,} merges"
    if stats["vocab_size"] < stats["requested_vocab_size"]:  # too little text for more merges
        merges += f"; {stats['requested_vocab_size']:,} tokens requested"
    stripped = " (Project Gutenberg headers stripped)" if stats["strip_gutenberg"] else ""
    rate = stats["bytes_per_second"] / 1e6
    return "\n".join(
        [
            f"vocabulary   {stats['vocab_size']:,} tokens ({merges})",
            f"read         {stats['bytes_read'] / 1e6:,.1f} MB from {stats['sources']:,} source(s){stripped}",
            f"time         {stats['wall_seconds']:,.1f} s ({rate:,.2f} MB/s)",
            f"saved to     {stats['output_dir']}",
        ]
    )


def format_tokenizer_stats(stats: dict[str, Any]) -> str:
    """A two-column table of `tokenizer_stats` results."""
    rows = [
        ("vocabulary size", f"{stats['vocab_size']:,}"),
        (
            "text measured",
            f"{stats['bytes'] / 1e6:,.2f} MB, {stats['words']:,} words, {stats['documents']:,} document(s)",
        ),
        ("tokens", f"{stats['tokens']:,}"),
        ("chars per token", f"{stats['chars_per_token']:.2f}"),
        ("bytes per token", f"{stats['bytes_per_token']:.2f}"),
        ("tokens per word", f"{stats['tokens_per_word']:.3f}"),
        ("single-byte tokens", f"{stats['single_byte_token_fraction']:.1%}"),
        ("vocabulary used", f"{stats['vocab_used_fraction']:.1%}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

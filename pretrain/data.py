"""Pretraining data: the corpus as one long token stream, and windows drawn from it.

GPT-1 trains on random contiguous windows of a long stream of text (paper, section 4.1).
`prepare_corpus` tokenizes a corpus once into two flat binary files, `train.bin` and
`validation.bin` (raw numpy arrays, uint16 when the vocabulary allows), each document
followed by `<|endoftext|>`. The files are memory-mapped for training, so a corpus of
any size costs no RAM:

    corpus = prepare_corpus(["books/"], "runs/tokenizer", "runs/pretrain/data", strip_gutenberg=True)
    batch = train_batch(corpus.train_tokens(), step, seed=0, rank=0, batch_size=8, seq_len=256)
    for batch in validation_batches(corpus.validation_tokens(), batch_size=8, seq_len=256):
        ...

The validation split is made by document, so no text is in both. A second call with the
same inputs, tokenizer and options finds the prepared folder and returns at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import torch
from tokenizers import Tokenizer
from tqdm import tqdm

from genpt import __version__
from genpt.atomic import check_output_folder, remove_stale_staging, write_folder_atomically
from genpt.data.corpus import (
    ByteCounter,
    Document,
    Source,
    iter_documents,
    resolve_inputs,
)
from genpt.errors import GenptError
from genpt.special_tokens import ALL as SPECIAL_TOKENS
from genpt.special_tokens import ENDOFTEXT
from genpt.tokenization import load_tokenizer

T = TypeVar("T")

TRAIN_FILE = "train.bin"
VALIDATION_FILE = "validation.bin"
META_FILE = "meta.json"
# Bump when the files' layout or content rules change, so older caches are re-prepared.
CACHE_FORMAT = 1

ENDOFTEXT_ID = SPECIAL_TOKENS.index(ENDOFTEXT)
UINT16_MAX_VOCAB = 65_535  # larger vocabularies are stored as uint32

# Documents are encoded in parts of about PART_CHARS characters, BATCH_CHARS at a time:
# enough parts per batch for the tokenizer's threads to share the work evenly, and small
# batches because an Encoding costs a few hundred bytes per token until it is written.
PART_CHARS = 64 << 10
BATCH_CHARS = 2 << 20
# A document with no word break for this long is cut anyway (its encoding may then differ
# from the whole document's at that one place); it keeps memory bounded on odd input.
MAX_UNBROKEN_CHARS = 16 << 20
COPY_BYTES = 8 << 20
SCAN_TOKENS = 1 << 20
# A word end as `split_at_word_ends` cuts there: a non-space character, then a space or line end.
_WORD_END = re.compile(r"\S(?=[ \n])")


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 halves the files (and the page cache they need) whenever the ids fit."""
    return np.dtype(np.uint16 if vocab_size <= UINT16_MAX_VOCAB else np.uint32)


@dataclass
class PreparedCorpus:
    """A prepared corpus folder: two token files and the meta.json that describes them."""

    cache_dir: Path
    train_path: Path
    validation_path: Path
    dtype: np.dtype
    n_train_tokens: int
    n_validation_tokens: int
    meta: dict[str, Any]
    reused: bool  # True when an earlier preparation was found and nothing was read

    def train_tokens(self) -> np.memmap:
        return np.memmap(self.train_path, dtype=self.dtype, mode="r", shape=(self.n_train_tokens,))

    def validation_tokens(self) -> np.memmap:
        return np.memmap(self.validation_path, dtype=self.dtype, mode="r", shape=(self.n_validation_tokens,))

    @cached_property
    def content_sha256(self) -> str:
        """One digest of both token files' bytes: equal exactly when the tokens are.

        Preparations by earlier genpt versions recorded no per-file digests; those are read
        from the files here (a second per 500 MB or so).
        """
        files = [(self.meta[split], path) for split, path in
                 (("train", self.train_path), ("validation", self.validation_path))]
        digests = [entry.get("sha256") or _file_sha256(path) for entry, path in files]
        return hashlib.sha256(" ".join(digests).encode()).hexdigest()


# --------------------------------------------------------------------------- preparation


def prepare_corpus(
    inputs: Sequence[str | Path | Source],
    tokenizer_dir: str | Path,
    cache_dir: str | Path,
    *,
    validation_fraction: float = 0.01,
    validation_inputs: Sequence[str | Path | Source] | None = None,
    strip_gutenberg: bool = False,
    text_column: str = "text",
    dataset_config: str | None = None,
    split: str = "train",
    seed: int = 0,
    show_progress: bool = True,
    must_match: str | None = None,
) -> PreparedCorpus:
    """Tokenize `inputs` into `cache_dir`/{train,validation}.bin, or reuse what is there.

    Validation is `validation_inputs` when given; otherwise each document goes to it with
    probability `validation_fraction` (a hash of `seed` and its index), with at least one
    document in each split. A corpus of one document holds out the end of its text.
    The corpus is streamed and written as it is encoded; `cache_dir` appears only once
    complete, and an earlier preparation there is replaced only when it does not match.

    `must_match` is the `content_sha256` the tokens must have (a resumed run's: its
    checkpoints were trained on them). When the inputs now give other tokens, GenptError,
    and `cache_dir` is left as it was.
    """
    started = time.perf_counter()
    cache_dir, tokenizer_dir = Path(cache_dir).expanduser(), Path(tokenizer_dir).expanduser()
    if validation_inputs is None:
        _check_validation_fraction(validation_fraction)
    read_options = {"text_column": text_column, "dataset_config": dataset_config, "split": split}
    resolve = partial(resolve_inputs, dataset_config=dataset_config, split=split)
    recipe = _Recipe(
        sources=resolve(inputs),
        validation_sources=None if validation_inputs is None else resolve(validation_inputs),
        validation_fraction=validation_fraction,
        seed=seed,
        strip_gutenberg=strip_gutenberg,
        read_options=read_options,
    )
    recipe.check_held_out()
    key = recipe.key(_tokenizer_fingerprint(tokenizer_dir))
    reusable = _reusable(cache_dir, key)
    if reusable is not None:
        _check_same_tokens(reusable, must_match)
        return reusable

    _check_replaceable(cache_dir)
    backend = _plain_text_encoder(tokenizer_dir)
    meta: dict[str, Any] = {}

    def fill(folder: Path) -> None:
        stats = _write_token_files(folder, recipe, backend, show_progress)
        seconds = time.perf_counter() - started
        meta.update(key)
        meta.update(genpt_version=__version__, tokenizer=str(tokenizer_dir.resolve()))
        meta.update(stats)
        _check_same_tokens(_opened(folder, meta, reused=False), must_match)  # before it replaces anything
        meta.update(
            wall_seconds=round(seconds, 3),
            tokens_per_second=round((stats["train"]["tokens"] + stats["validation"]["tokens"]) / seconds),
        )
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    _check_replaceable(cache_dir)  # again: the folder may have appeared meanwhile
    remove_stale_staging(cache_dir.parent, {cache_dir.name})  # what killed preparations left
    write_folder_atomically(cache_dir, fill)
    return _opened(cache_dir, meta, reused=False)


@dataclass(frozen=True)
class _Recipe:
    """What a prepared corpus is made from: its inputs and every option that changes its tokens."""

    sources: list[Source]
    validation_sources: list[Source] | None  # None: split the documents of `sources`
    validation_fraction: float
    seed: int
    strip_gutenberg: bool
    read_options: dict[str, Any]  # text_column, dataset_config, split

    def key(self, tokenizer_sha256: str) -> dict[str, Any]:
        """What meta.json must hold for an earlier preparation to be reused."""
        split_by_hash = self.validation_sources is None
        return {
            "format": CACHE_FORMAT,
            "tokenizer_sha256": tokenizer_sha256,
            "sources": [_fingerprint(source) for source in self.sources],
            "validation_sources": (
                None if split_by_hash else [_fingerprint(source) for source in self.validation_sources]
            ),
            "options": {
                **self.read_options,
                "strip_gutenberg": self.strip_gutenberg,
                # Only the split that is actually made belongs to the key.
                "validation_fraction": self.validation_fraction if split_by_hash else None,
                "seed": self.seed if split_by_hash else None,
            },
        }

    def check_held_out(self) -> None:
        """Validation files must not also be training files."""
        training = {source.path.resolve() for source in self.sources if source.path is not None}
        for source in self.validation_sources or []:
            if source.path is not None and source.path.resolve() in training:
                raise GenptError(
                    f"--validation_inputs: {source.name} is also a training input; "
                    "validation text must be held out"
                )

    def documents(self, on_bytes: Callable[[int], Any]) -> Iterator[tuple[str, Document]]:
        """(split, document) for the training inputs, then for the validation inputs."""
        options = {"strip_gutenberg": self.strip_gutenberg, "on_bytes": on_bytes, **self.read_options}
        for index, document in enumerate(iter_documents(self.sources, **options)):
            held_out = self.validation_sources is None and _goes_to_validation(
                self.seed, index, self.validation_fraction
            )
            yield ("validation" if held_out else "train"), document
        if self.validation_sources is None:
            return
        try:
            for document in iter_documents(self.validation_sources, **options):
                yield "validation", document
        except GenptError as error:
            raise GenptError(f"--validation_inputs: {error}") from None


def _plain_text_encoder(tokenizer_dir: Path) -> Tokenizer:
    """The genpt tokenizer's `tokenizers` backend, set to encode text and nothing else."""
    backend = load_tokenizer(tokenizer_dir).backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    # Text is text: a literal "<|endoftext|>" in a book must not become a document break.
    backend.encode_special_tokens = True
    return backend


def _write_token_files(
    folder: Path, recipe: _Recipe, backend: Tokenizer, show_progress: bool
) -> dict[str, Any]:
    """Encode the corpus into `folder`'s token files; return what meta.json says about them."""
    vocab_size = backend.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab_size)
    # No template (start ... extract): pretraining text is plain documents and <|endoftext|>.
    encode = partial(backend.encode_batch_fast, add_special_tokens=False)
    with tqdm(desc="tokenizing corpus", unit="B", unit_scale=True, disable=not show_progress) as bar:
        counter = ByteCounter(progress=bar.update)
        with (
            _TokenFile(folder / TRAIN_FILE, dtype) as train,
            _TokenFile(folder / VALIDATION_FILE, dtype) as validation,
        ):
            files = {"train": train, "validation": validation}
            _encode_into(_labelled_parts(recipe.documents(counter)), files, encode)
            split_rule = _finish_split(files, recipe, backend)
    return {
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "endoftext_id": ENDOFTEXT_ID,
        "train": {"file": TRAIN_FILE, "tokens": train.tokens, "documents": train.documents,
                  "sha256": _file_sha256(train.path)},
        "validation": {
            "file": VALIDATION_FILE,
            "tokens": validation.tokens,
            "documents": validation.documents,
            "sha256": _file_sha256(validation.path),
        },
        "split_rule": split_rule,
        "bytes_read": counter.bytes,
    }


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(COPY_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _check_same_tokens(corpus: PreparedCorpus, must_match: str | None) -> None:
    """A resumed run must see the tokens it was trained on: its data order is a function of them."""
    if must_match is None or corpus.content_sha256 == must_match:
        return
    raise GenptError(
        f"--input: the corpus now gives other tokens than the run being resumed was trained on "
        f"(token files' sha256 {corpus.content_sha256[:12]}, the run's {must_match[:12]}): its files "
        "or their options changed; resume with the original inputs, or start a new run from a "
        "checkpoint's weights with --init"
    )


def _check_validation_fraction(validation_fraction: float) -> None:
    if not 0 < validation_fraction < 1:
        raise GenptError(
            f"--validation_fraction {validation_fraction}: expected a number between 0 and 1 "
            "(exclusive), or give --validation_inputs"
        )


def _tokenizer_fingerprint(folder: Path) -> str:
    """sha256 of tokenizer.json: any change to the vocabulary or merges changes the tokens."""
    if not folder.is_dir():
        raise GenptError(f"{folder}: no such tokenizer folder")
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise GenptError(
            f"{folder}: not a genpt tokenizer folder (no tokenizer.json); "
            "train one with `genpt tokenizer train`"
        )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fingerprint(source: Source) -> dict[str, Any]:
    """What identifies a source's content without reading it: path, size and mtime."""
    if source.path is None:  # a hub dataset: known by name only
        return {"dataset": source.name}
    stat = source.path.stat()
    return {"path": str(source.path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


# --------------------------------------------------------------------------- the cache


def _reusable(cache_dir: Path, key: dict[str, Any]) -> PreparedCorpus | None:
    """The prepared corpus in `cache_dir` when it was made from exactly `key`, else None."""
    try:
        meta = json.loads((cache_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or any(meta.get(name) != value for name, value in key.items()):
        return None
    try:
        corpus = _opened(cache_dir, meta, reused=True)
        sizes_match = (
            corpus.train_path.stat().st_size == corpus.n_train_tokens * corpus.dtype.itemsize
            and corpus.validation_path.stat().st_size == corpus.n_validation_tokens * corpus.dtype.itemsize
        )
    except (OSError, KeyError, TypeError):
        return None
    return corpus if sizes_match else None


def _opened(cache_dir: Path, meta: dict[str, Any], *, reused: bool) -> PreparedCorpus:
    return PreparedCorpus(
        cache_dir=cache_dir,
        train_path=cache_dir / meta["train"]["file"],
        validation_path=cache_dir / meta["validation"]["file"],
        dtype=np.dtype(meta["dtype"]),
        n_train_tokens=meta["train"]["tokens"],
        n_validation_tokens=meta["validation"]["tokens"],
        meta=meta,
        reused=reused,
    )


def _check_replaceable(cache_dir: Path) -> None:
    """Replace only an earlier prepared corpus (or an empty folder), never unrelated files."""
    check_output_folder(cache_dir, option="--data_cache_dir", what=f"a prepared corpus (with {META_FILE})",
                        overwrite_option=None, is_ours=lambda folder: (folder / META_FILE).is_file())


# --------------------------------------------------------------------------- documents and parts


@dataclass
class _Part:
    text: str
    split: str  # "train" or "validation"
    starts_document: bool
    ends_document: bool


def _goes_to_validation(seed: int, index: int, fraction: float) -> bool:
    """A fixed coin flip per (seed, document index): the same split on every machine and run."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < fraction


def _labelled_parts(documents: Iterable[tuple[str, Document]]) -> Iterator[_Part]:
    """Every document's text as parts, marked with its split and where the document starts and ends."""
    for split, document in documents:
        parts = split_at_word_ends(document.pieces)
        text, first = next(parts, None), True
        while text is not None:  # a document without text yields no part: no <|endoftext|> either
            following = next(parts, None)
            yield _Part(text, split, starts_document=first, ends_document=following is None)
            text, first = following, False


def split_at_word_ends(pieces: Iterable[str], part_chars: int | None = None) -> Iterator[str]:
    """Re-cut a document's text pieces into parts of about `part_chars` characters.

    Every cut falls between a non-space character and a whitespace character. Byte-level
    BPE's pre-tokenizer (GPT-2's regex, no look-behind) always splits there, and the text
    before the cut pre-tokenizes the same whether or not the rest follows, so encoding the
    parts one by one gives exactly the tokens of the whole document. Cutting at line ends
    would not: "\\n\\n" before a word is two pre-tokens, but one at the end of a part.
    """
    part_chars = part_chars or PART_CHARS
    carry = ""  # text after the last cut, waiting for the next piece
    for piece in pieces:
        text = carry + piece if carry else piece
        start = 0
        while (cut := _word_end_cut(text, start, part_chars)) is not None:
            yield text[start:cut]
            start = cut
        carry = text[start:]
        if len(carry) > MAX_UNBROKEN_CHARS:  # no word break at all for megabytes: give up on it
            yield carry
            carry = ""
    if carry:
        yield carry


def _word_end_cut(text: str, start: int, part_chars: int) -> int | None:
    """The last word end within `part_chars` of `start`, else the first one after; None if none."""
    end = min(start + part_chars, len(text) - 1)  # text[cut] must exist: it is the whitespace
    while (space := max(text.rfind(" ", start + 1, end + 1), text.rfind("\n", start + 1, end + 1))) > start:
        if not text[space - 1].isspace():
            return space
        end = space - 1  # inside a run of whitespace: look further left
    if len(text) - start <= part_chars:
        return None  # the rest is short: keep it for the next piece
    following = _WORD_END.search(text, start + part_chars - 1)  # rare: a very long line without spaces
    return None if following is None else following.end()


def _batches(parts: Iterable[_Part], batch_chars: int) -> Iterator[list[_Part]]:
    batch: list[_Part] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part.text)
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# --------------------------------------------------------------------------- encoding and writing


class _TokenFile:
    """A token file written in appended chunks, with its token and document counts."""

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        self.path = path
        self.dtype = dtype
        self.file: BinaryIO = open(path, "wb")
        self.tokens = 0
        self.documents = 0
        self.last_document_start = 0  # in tokens: where the most recent document begins

    def __enter__(self) -> _TokenFile:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.file.close()

    def write(self, ids: Sequence[int]) -> None:
        np.asarray(ids, dtype=self.dtype).tofile(self.file)
        self.tokens += len(ids)

    def start_document(self) -> None:
        self.last_document_start = self.tokens
        self.documents += 1

    def move_tail(self, start: int, target: _TokenFile) -> None:
        """Move tokens [start:] to the end of `target`, in chunks (memory stays flat)."""
        self.file.flush()
        with open(self.path, "rb") as reader:
            reader.seek(start * self.dtype.itemsize)
            shutil.copyfileobj(reader, target.file, COPY_BYTES)
        self.file.truncate(start * self.dtype.itemsize)
        self.file.seek(0, os.SEEK_END)
        target.tokens += self.tokens - start
        self.tokens = start

    def tokens_view(self) -> np.memmap:
        self.file.flush()
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.tokens,))


def _encode_into(
    parts: Iterable[_Part], files: dict[str, _TokenFile], encode_batch: Callable[[list[str]], list[Any]]
) -> None:
    """Encode batches of parts on a worker thread while this one reads and writes the others.

    `encode_batch` runs in Rust on all cores without the GIL, so reading the next batch
    (gzip, UTF-8, Gutenberg stripping) and writing the previous one overlap with it.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder:
        in_flight: deque[tuple[list[_Part], Future]] = deque()
        for batch in _batches(parts, BATCH_CHARS):
            in_flight.append((batch, encoder.submit(encode_batch, [part.text for part in batch])))
            if len(in_flight) > 1:  # one encoding, one queued: the worker never waits for us
                _write_batch(*in_flight.popleft(), files)
        while in_flight:
            _write_batch(*in_flight.popleft(), files)


def _write_batch(batch: list[_Part], encoded: Future, files: dict[str, _TokenFile]) -> None:
    for part, encoding in zip(batch, encoded.result()):
        file = files[part.split]
        if part.starts_document:
            file.start_document()
        file.write(encoding.ids)
        if part.ends_document:
            file.write([ENDOFTEXT_ID])


# --------------------------------------------------------------------------- the split


def _finish_split(files: dict[str, _TokenFile], recipe: _Recipe, backend: Tokenizer) -> str:
    """Make sure neither split is empty, and say in words how the split was made."""
    train, validation = files["train"], files["validation"]
    validation_fraction = recipe.validation_fraction
    if recipe.validation_sources is not None:
        rule = "validation_inputs"
    elif train.documents + validation.documents == 1:
        if validation.tokens:  # the one document was drawn for validation: start from train
            validation.move_tail(0, train)
        cut = _line_start_cut(train.tokens_view(), 1 - validation_fraction, _newline_ids(backend))
        train.move_tail(cut, validation)
        train.documents = validation.documents = 1  # each holds a part of it
        rule = (
            f"one document: its last {validation_fraction:.2%} of tokens (from a line start) "
            "are the validation split"
        )
    else:
        rule = f"by document: hash of (seed, document index) < validation_fraction {validation_fraction}"
        for source, target in ((train, validation), (validation, train)):
            if target.tokens == 0 and source.documents >= 2:  # the coin flips left one split empty
                source.move_tail(source.last_document_start, target)
                source.documents -= 1
                target.documents += 1
                rule += "; the last document was moved so that neither split is empty"
    if train.tokens == 0:
        raise GenptError(
            "the training split is empty: --validation_fraction or --validation_inputs leaves it no text"
        )
    if validation.tokens == 0:
        raise GenptError("the validation split is empty: give --validation_inputs with some text")
    return rule


def _newline_ids(backend: Tokenizer) -> np.ndarray:
    """Ids of the tokens that contain a line break (whitespace pre-tokens, in byte-level BPE)."""
    ids = range(backend.get_vocab_size(with_added_tokens=True))
    return np.array([i for i in ids if "\n" in backend.decode([i], skip_special_tokens=True)], dtype=np.int64)


def _line_start_cut(tokens: np.ndarray, fraction: float, newline_ids: np.ndarray) -> int:
    """The first line start at or after `fraction` of `tokens` (or exactly there), never 0 or the end."""
    target = min(max(int(len(tokens) * fraction), 1), len(tokens) - 1)
    for start in range(target, len(tokens) - 1, SCAN_TOKENS):
        chunk = np.asarray(tokens[start : min(start + SCAN_TOKENS, len(tokens) - 1)])
        hits = np.flatnonzero(np.isin(chunk, newline_ids))
        if len(hits):
            return start + int(hits[0]) + 1
    return target


# --------------------------------------------------------------------------- windows


def train_batch(
    tokens: np.ndarray, step: int, *, seed: int, rank: int, batch_size: int, seq_len: int
) -> torch.LongTensor:
    """`batch_size` random contiguous windows of `seq_len` tokens, shape (batch_size, seq_len).

    The start positions depend only on (seed, rank, step), so a resumed run sees exactly the
    batches it would have seen, and every rank draws its own windows.
    """
    _check_window_options(batch_size, seq_len)
    if len(tokens) < seq_len + 1:
        raise GenptError(
            f"train split has {len(tokens):,} tokens, fewer than the context length + 1 ({seq_len + 1:,}); "
            "use more text or a shorter context"
        )
    rng = np.random.default_rng([seed, rank, step])
    starts = rng.integers(0, len(tokens) - seq_len + 1, size=batch_size)
    windows = np.stack([tokens[start : start + seq_len] for start in starts]).astype(np.int64)
    return torch.from_numpy(windows)


def validation_batches(
    tokens: np.ndarray, *, batch_size: int, seq_len: int, max_tokens: int | None = None
) -> Iterator[torch.LongTensor]:
    """Consecutive, non-overlapping windows from the start of the validation stream.

    Always the same windows (up to `max_tokens`, the last partial window dropped), so
    validation losses of different evaluations and runs compare. The last batch may hold
    fewer than `batch_size` windows.
    """
    _check_window_options(batch_size, seq_len)
    available = len(tokens) if max_tokens is None else min(len(tokens), max_tokens)
    n_windows = available // seq_len
    if n_windows == 0:
        limit = "" if max_tokens is None else f" (--eval_tokens {max_tokens:,})"
        raise GenptError(
            f"validation split has {available:,} tokens{limit}, fewer than one window of the context "
            f"length ({seq_len:,}); use more validation text or a shorter context"
        )
    return _windows(tokens, n_windows, batch_size, seq_len)


def process_share(batches: Iterable[T], rank: int, processes: int) -> Iterator[tuple[T, bool]]:
    """Process `rank`'s share of `batches` (every `processes`-th, from the `rank`-th), each with
    True; then, with False (not to be counted), one of them again until the process has run as
    many batches as the process with the most. Under FSDP every forward pass is a collective:
    a process that ran one batch fewer would leave the others waiting for ever."""
    first, mine, total = None, 0, 0
    for index, batch in enumerate(batches):
        first = batch if first is None else first
        total += 1
        if index % processes == rank:
            mine += 1
            yield batch, True
    for _ in range(-(-total // processes) - mine):  # at most one
        yield first, False


def _windows(tokens: np.ndarray, n_windows: int, batch_size: int, seq_len: int) -> Iterator[torch.LongTensor]:
    for first in range(0, n_windows, batch_size):
        count = min(batch_size, n_windows - first)
        window = np.asarray(tokens[first * seq_len : (first + count) * seq_len], dtype=np.int64)
        yield torch.from_numpy(window.reshape(count, seq_len))


def _check_window_options(batch_size: int, seq_len: int) -> None:
    if batch_size < 1:
        raise GenptError(f"--batch_size {batch_size}: expected 1 or more")
    if seq_len < 1:
        raise GenptError(f"context length {seq_len}: expected 1 or more")

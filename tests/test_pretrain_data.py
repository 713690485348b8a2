"""Pretraining data: exact token streams, the split by document, the cache, and the windows."""

import gzip
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

import genpt.data.corpus
import genpt.pretrain.data as data
from genpt.errors import GenptError
from genpt.pretrain.data import (
    ENDOFTEXT_ID,
    prepare_corpus,
    process_share,
    split_at_word_ends,
    token_dtype,
    train_batch,
    validation_batches,
)
from genpt.resources import default_corpus_dir
from genpt.tokenizer.train import train_tokenizer

# About 1 MB of the embedded books: enough for 1,000 tokens in well under a second.
TRAINING_BOOKS = [
    "Carroll_Alice_s_Adventures_in_Wonderland",
    "Doyle_The_Adventures_of_Sherlock_Holmes",
    "Wilde_The_Picture_of_Dorian_Gray",
]
# Text whose whitespace would be tokenized differently if a document were cut at line ends.
AWKWARD_TEXT = "Para one.\n\n\nPara  two,\ttabbed \n \n  indented\r\nline — “quoted” é\n\n"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("tokenizer_corpus")
    for stem in TRAINING_BOOKS:
        shutil.copy(default_corpus_dir() / f"{stem}.txt.gz", corpus)
    output_dir = tmp_path_factory.mktemp("tokenizer") / "tokenizer"
    train_tokenizer([corpus], output_dir=output_dir, vocab_size=1000, show_progress=False)
    return output_dir


@pytest.fixture(scope="module")
def raw_tokenizer(tokenizer_dir):
    return Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture()
def small_corpus(tmp_path):
    """Twelve small documents of different sizes, with awkward whitespace, as .txt files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "slept", "quietly", "'tis", "42"]
    for number in range(12):
        lines = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(rng.randint(5, 60))]
        (folder / f"doc{number:02d}.txt").write_text(AWKWARD_TEXT + "\n".join(lines) + "\n", encoding="utf-8")
    return folder


def prepare(inputs, tokenizer_dir, cache_dir, **options):
    return prepare_corpus(inputs, tokenizer_dir, cache_dir, show_progress=False, **options)


def documents_in(tokens: np.ndarray) -> list[list[int]]:
    """A token stream cut into its documents (each ends with <|endoftext|>)."""
    assert tokens[-1] == ENDOFTEXT_ID
    ends = np.flatnonzero(np.asarray(tokens) == ENDOFTEXT_ID)
    return [part.tolist() for part in np.split(np.asarray(tokens), ends + 1)[:-1]]


def assert_split_by_document(corpus, expected: list[list[int]]) -> None:
    """Each split is, in order, a subsequence of the expected documents; together they are all of them."""
    train = documents_in(corpus.train_tokens())
    validation = documents_in(corpus.validation_tokens())
    assert len(train) + len(validation) == len(expected)
    for document in expected:
        if train and train[0] == document:
            train.pop(0)
        else:
            assert validation and validation[0] == document
            validation.pop(0)


def encodings(raw_tokenizer, texts: list[str]) -> list[list[int]]:
    """The tokenizer's own encoding of each whole text (no template), then <|endoftext|>."""
    encoded = raw_tokenizer.encode_batch(texts, add_special_tokens=False)
    return [encoding.ids + [ENDOFTEXT_ID] for encoding in encoded]


# --------------------------------------------------------------------------- exact tokens


def test_embedded_books_give_each_books_encoding_then_endoftext(tokenizer_dir, raw_tokenizer, tmp_path):
    corpus = prepare([default_corpus_dir()], tokenizer_dir, tmp_path / "data", validation_fraction=0.3)
    books = sorted(default_corpus_dir().glob("*.txt.gz"))
    texts = [gzip.decompress(path.read_bytes()).decode("utf-8").replace("\r\n", "\n") for path in books]
    assert min(len(text) for text in texts) > 2 * data.PART_CHARS  # every book is encoded in several parts
    expected = encodings(raw_tokenizer, texts)
    assert_split_by_document(corpus, expected)
    assert corpus.meta["train"]["documents"] + corpus.meta["validation"]["documents"] == len(books)
    assert corpus.n_train_tokens + corpus.n_validation_tokens == sum(len(ids) for ids in expected)


def test_small_pieces_and_parts_still_give_whole_document_encodings(
    tokenizer_dir, raw_tokenizer, small_corpus, tmp_path, monkeypatch
):
    monkeypatch.setattr(genpt.data.corpus, "PIECE_BYTES", 97)  # documents arrive in many pieces ...
    monkeypatch.setattr(data, "PART_CHARS", 31)  # ... are re-cut into many parts ...
    monkeypatch.setattr(data, "BATCH_CHARS", 200)  # ... and encoded in many batches
    corpus = prepare([small_corpus], tokenizer_dir, tmp_path / "data", validation_fraction=0.25)
    files = sorted(small_corpus.iterdir())
    texts = [path.read_text(encoding="utf-8").replace("\r\n", "\n") for path in files]
    assert_split_by_document(corpus, encodings(raw_tokenizer, texts))
    assert corpus.meta["validation"]["documents"] >= 1 and corpus.meta["train"]["documents"] >= 1


def test_split_at_word_ends_keeps_the_text_and_its_tokens(raw_tokenizer):
    rng = random.Random(1)
    alphabet = ["word", "x", " ", "  ", "\n", "\n\n", "\t", ".", "’s", "42", "é", " \n", "—"]
    for _ in range(200):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 80)))
        pieces = [text[i : i + 13] for i in range(0, len(text), 13)]
        parts = list(split_at_word_ends(pieces, part_chars=rng.randint(1, 20)))
        assert "".join(parts) == text
        ids = [token for part in parts for token in raw_tokenizer.encode(part, add_special_tokens=False).ids]
        assert ids == raw_tokenizer.encode(text, add_special_tokens=False).ids, repr(text)


def test_literal_special_tokens_in_text_are_encoded_as_text(tokenizer_dir, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in "ab":
        (folder / f"{name}.txt").write_text(f"Text with <|endoftext|> and <|pad|> in it, {name}.\n")
    corpus = prepare([folder], tokenizer_dir, tmp_path / "data")
    stream = np.concatenate([corpus.train_tokens(), corpus.validation_tokens()])
    assert np.count_nonzero(stream == ENDOFTEXT_ID) == 2  # only the two document ends
    assert np.count_nonzero(stream == 1) == 0  # <|pad|>


# --------------------------------------------------------------------------- the split


def test_split_is_deterministic_and_depends_on_the_seed(tokenizer_dir, small_corpus, tmp_path):
    first = prepare([small_corpus], tokenizer_dir, tmp_path / "a", validation_fraction=0.3)
    again = prepare([small_corpus], tokenizer_dir, tmp_path / "b", validation_fraction=0.3)
    other_seed = prepare([small_corpus], tokenizer_dir, tmp_path / "c", validation_fraction=0.3, seed=1)
    assert first.train_path.read_bytes() == again.train_path.read_bytes()
    assert first.validation_path.read_bytes() == again.validation_path.read_bytes()
    assert first.validation_path.read_bytes() != other_seed.validation_path.read_bytes()


def test_every_split_gets_a_document_even_with_a_tiny_fraction(tokenizer_dir, small_corpus, tmp_path):
    corpus = prepare([small_corpus], tokenizer_dir, tmp_path / "data", validation_fraction=1e-9)
    assert corpus.meta["validation"]["documents"] == 1
    assert corpus.meta["train"]["documents"] == 11
    assert "moved" in corpus.meta["split_rule"]


def test_validation_inputs_are_the_validation_split(tokenizer_dir, raw_tokenizer, small_corpus, tmp_path):
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("A held-out text.\nTwo lines.\n", encoding="utf-8")
    corpus = prepare([small_corpus], tokenizer_dir, tmp_path / "data", validation_inputs=[held_out])
    assert corpus.validation_tokens().tolist() == encodings(raw_tokenizer, [held_out.read_text()])[0]
    assert corpus.meta["train"]["documents"] == 12
    with pytest.raises(GenptError, match="--validation_inputs: .*doc03.txt is also a training input"):
        held_in = small_corpus / "doc03.txt"
        prepare([small_corpus], tokenizer_dir, tmp_path / "other", validation_inputs=[held_in])


def test_one_document_holds_out_the_end_of_its_text(tokenizer_dir, raw_tokenizer, tmp_path):
    book = tmp_path / "book.txt"
    text = gzip.decompress((default_corpus_dir() / f"{TRAINING_BOOKS[0]}.txt.gz").read_bytes()).decode()
    book.write_text(text, encoding="utf-8")
    corpus = prepare([book], tokenizer_dir, tmp_path / "data", validation_fraction=0.1)
    expected = encodings(raw_tokenizer, [text.replace("\r\n", "\n")])[0]
    stream = corpus.train_tokens().tolist() + corpus.validation_tokens().tolist()
    assert stream == expected
    assert corpus.n_validation_tokens == pytest.approx(0.1 * len(expected), abs=200)
    assert "\n" in raw_tokenizer.decode([stream[corpus.n_train_tokens - 1]])  # it starts on a new line
    assert corpus.meta["split_rule"].startswith("one document")


# --------------------------------------------------------------------------- token width


def test_uint16_until_65535_ids_then_uint32(tokenizer_dir, small_corpus, tmp_path, monkeypatch):
    assert token_dtype(1000) == np.uint16 and token_dtype(65_535) == np.uint16
    assert token_dtype(65_536) == np.uint32 and token_dtype(200_000) == np.uint32
    narrow = prepare([small_corpus], tokenizer_dir, tmp_path / "narrow")
    monkeypatch.setattr(data, "UINT16_MAX_VOCAB", 500)  # as if the vocabulary were too big for uint16
    wide = prepare([small_corpus], tokenizer_dir, tmp_path / "wide")
    assert (narrow.dtype, wide.dtype) == (np.uint16, np.uint32)
    assert wide.meta["dtype"] == "uint32" and wide.train_path.stat().st_size == 4 * wide.n_train_tokens
    assert np.array_equal(narrow.train_tokens(), wide.train_tokens())


# --------------------------------------------------------------------------- the cache


def test_second_call_reuses_the_folder_without_reading_the_corpus(
    tokenizer_dir, small_corpus, tmp_path, monkeypatch
):
    first = prepare([small_corpus], tokenizer_dir, tmp_path / "data")
    meta_written = (tmp_path / "data" / "meta.json").stat().st_mtime_ns

    def no_reading(*args, **kwargs):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(data, "iter_documents", no_reading)
    monkeypatch.setattr(data, "load_tokenizer", no_reading)
    second = prepare([str(small_corpus)], tokenizer_dir, tmp_path / "data")
    assert (first.reused, second.reused) == (False, True)
    assert (tmp_path / "data" / "meta.json").stat().st_mtime_ns == meta_written
    assert np.array_equal(first.train_tokens(), second.train_tokens())
    assert second.meta["tokenizer_sha256"] == first.meta["tokenizer_sha256"]


def test_changes_to_inputs_tokenizer_or_options_prepare_again(tokenizer_dir, small_corpus, tmp_path):
    cache = tmp_path / "data"
    assert not prepare([small_corpus], tokenizer_dir, cache).reused
    assert prepare([small_corpus], tokenizer_dir, cache).reused

    touched = small_corpus / "doc05.txt"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert not prepare([small_corpus], tokenizer_dir, cache).reused

    with touched.open("a", encoding="utf-8") as file:
        file.write("One more line.\n")
    corpus = prepare([small_corpus], tokenizer_dir, cache)
    assert not corpus.reused
    assert prepare([small_corpus], tokenizer_dir, cache).reused

    other_tokenizer = tmp_path / "other_tokenizer"
    shutil.copytree(tokenizer_dir, other_tokenizer)
    with (other_tokenizer / "tokenizer.json").open("a") as file:
        file.write("\n")  # same vocabulary, other file: the fingerprint changes
    assert not prepare([small_corpus], other_tokenizer, cache).reused

    options = {}
    for name, value in [("validation_fraction", 0.2), ("seed", 3), ("strip_gutenberg", True)]:
        options[name] = value
        assert not prepare([small_corpus], other_tokenizer, cache, **options).reused, name
    assert prepare([small_corpus], other_tokenizer, cache, **options).reused


def test_a_damaged_cache_is_prepared_again(tokenizer_dir, small_corpus, tmp_path):
    corpus = prepare([small_corpus], tokenizer_dir, tmp_path / "data")
    with corpus.train_path.open("ab") as file:
        file.write(b"\0\0")
    assert not prepare([small_corpus], tokenizer_dir, tmp_path / "data").reused


# --------------------------------------------------------------------------- windows


@pytest.fixture()
def stream() -> np.ndarray:
    return (np.arange(10_000) % 997).astype(np.uint16)  # every window of 16 is unique


def test_train_batch_is_a_function_of_seed_rank_and_step(stream):
    batch = train_batch(stream, 7, seed=0, rank=0, batch_size=4, seq_len=16)
    assert batch.shape == (4, 16) and batch.dtype == torch.long
    assert torch.equal(batch, train_batch(stream, 7, seed=0, rank=0, batch_size=4, seq_len=16))
    train_batch(stream, 8, seed=0, rank=0, batch_size=4, seq_len=16)  # other calls change nothing
    assert torch.equal(batch, train_batch(stream, 7, seed=0, rank=0, batch_size=4, seq_len=16))
    assert not torch.equal(batch, train_batch(stream, 8, seed=0, rank=0, batch_size=4, seq_len=16))
    assert not torch.equal(batch, train_batch(stream, 7, seed=0, rank=1, batch_size=4, seq_len=16))
    assert not torch.equal(batch, train_batch(stream, 7, seed=1, rank=0, batch_size=4, seq_len=16))


def test_train_windows_are_contiguous_slices_of_the_stream(stream):
    for step in range(20):
        for row in train_batch(stream, step, seed=0, rank=0, batch_size=8, seq_len=16).numpy():
            start = int(np.flatnonzero(stream == row[0])[0])  # the first token places the window ...
            assert np.array_equal(stream[start : start + 16], row)  # ... and the rest follows it


def test_train_windows_reach_both_ends_of_a_short_stream():
    tokens = np.arange(11, dtype=np.uint16)  # seq_len + 1 tokens: two possible windows
    batches = [train_batch(tokens, step, seed=0, rank=0, batch_size=1, seq_len=10) for step in range(50)]
    assert {int(batch[0, 0]) for batch in batches} == {0, 1}


def test_validation_batches_are_consecutive_whole_windows(stream):
    batches = list(validation_batches(stream, batch_size=4, seq_len=16, max_tokens=1000))
    windows = 1000 // 16  # 62, the last partial one dropped
    assert [len(batch) for batch in batches] == [4] * 15 + [2]
    assert np.array_equal(torch.cat(batches).flatten().numpy(), stream[: windows * 16])
    assert sum(len(batch) for batch in validation_batches(stream, batch_size=3, seq_len=16)) == 10_000 // 16


def test_windows_longer_than_the_stream_are_errors():
    tokens = np.arange(16, dtype=np.uint16)
    too_short = "train split has 16 tokens, fewer than the context length \\+ 1 \\(17\\)"
    with pytest.raises(GenptError, match=too_short):
        train_batch(tokens, 0, seed=0, rank=0, batch_size=1, seq_len=16)
    with pytest.raises(GenptError, match="validation split has 16 tokens, fewer than one window .*\\(17\\)"):
        validation_batches(tokens, batch_size=1, seq_len=17)
    with pytest.raises(GenptError, match="validation split has 8 tokens \\(--eval_tokens 8\\)"):
        validation_batches(tokens, batch_size=1, seq_len=10, max_tokens=8)


def test_a_prepared_corpus_shorter_than_one_window_is_an_error(tokenizer_dir, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.txt").write_text(f"Short {name}.\n")
    corpus = prepare([folder], tokenizer_dir, tmp_path / "data", validation_fraction=0.5)
    with pytest.raises(GenptError, match="train split has \\d+ tokens, fewer than the context length"):
        train_batch(corpus.train_tokens(), 0, seed=0, rank=0, batch_size=2, seq_len=128)
    with pytest.raises(GenptError, match="validation split has \\d+ tokens, fewer than one window"):
        validation_batches(corpus.validation_tokens(), batch_size=2, seq_len=128)


# --------------------------------------------------------------------------- bad input


def assert_nothing_written(parent: Path, cache_name: str = "data") -> None:
    assert not (parent / cache_name).exists()
    assert not [path.name for path in parent.iterdir() if path.name.startswith(f".{cache_name}")]


def empty_files(folder: Path) -> Path:
    (folder / "a.txt").write_text("")
    (folder / "b.txt").write_text(" \n\n")
    return folder


def broken_utf8(folder: Path) -> Path:
    (folder / "doc99.txt").write_bytes(b"Fine text.\nThen \xff\xfe broken.\n")
    return folder


@pytest.mark.parametrize(("corpus", "message"), [
    (empty_files, "no text found"),
    (broken_utf8, "doc99.txt: line 2 .*expected UTF-8"),
])
def test_bad_corpus_is_an_error_and_leaves_nothing_behind(tokenizer_dir, small_corpus, tmp_path, corpus, message):
    folder = small_corpus if corpus is broken_utf8 else tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(GenptError, match=message):
        prepare([corpus(folder)], tokenizer_dir, output / "data")
    assert_nothing_written(output)


def test_failed_preparation_keeps_the_previous_one(tokenizer_dir, small_corpus, tmp_path):
    good = prepare([small_corpus], tokenizer_dir, tmp_path / "data")
    (small_corpus / "doc99.txt").write_bytes(b"\x00binary")
    with pytest.raises(GenptError, match="NUL byte"):
        prepare([small_corpus], tokenizer_dir, tmp_path / "data")
    assert json.loads((tmp_path / "data" / "meta.json").read_text()) == good.meta
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus", "data"]


def test_bad_tokenizer_folder_is_an_error(small_corpus, tmp_path):
    with pytest.raises(GenptError, match="no such tokenizer folder"):
        prepare([small_corpus], tmp_path / "missing", tmp_path / "data")
    not_a_tokenizer = tmp_path / "empty"
    not_a_tokenizer.mkdir()
    with pytest.raises(GenptError, match="not a genpt tokenizer folder"):
        prepare([small_corpus], not_a_tokenizer, tmp_path / "data")
    (not_a_tokenizer / "tokenizer.json").write_text("{}")
    with pytest.raises(GenptError, match="could not load the tokenizer"):
        prepare([small_corpus], not_a_tokenizer, tmp_path / "data")
    assert_nothing_written(tmp_path)


def test_options_and_cache_folder_are_checked(tokenizer_dir, small_corpus, tmp_path):
    for fraction in (0, 1, 1.5, -0.1):
        expected = f"--validation_fraction {fraction}: expected a number between 0 and 1"
        with pytest.raises(GenptError, match=expected):
            prepare([small_corpus], tokenizer_dir, tmp_path / "data", validation_fraction=fraction)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(GenptError, match="not a prepared corpus .*refusing to replace them"):
        prepare([small_corpus], tokenizer_dir, occupied)
    assert (occupied / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("processes", [1, 2, 3, 4])
@pytest.mark.parametrize("total", [1, 2, 5, 8])
def test_each_process_runs_as_many_validation_batches_and_counts_its_share_once(processes, total):
    """Under FSDP each forward pass is a collective: every process runs the same number of
    batches, and the ones it counts, over all processes, are each batch exactly once."""
    shares = [list(process_share(iter(range(total)), rank, processes)) for rank in range(processes)]
    assert len({len(share) for share in shares}) == 1
    assert sorted(b for share in shares for b, counted in share if counted) == list(range(total))

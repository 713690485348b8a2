"""The byte-level BPE tokenizer: lossless round trips, GPT-1 templates, HF loading, CLI."""

import gzip
import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from genpt.cli import main
from genpt.errors import GenptError
from genpt.resources import default_corpus_dir
from genpt.special_tokens import ALL, DELIM, EXTRACT, START
from genpt.tokenization import load_tokenizer
from genpt.tokenizer.train import STATS_FILE, tokenizer_stats, train_tokenizer

SHARED_BOOKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "gutenberg" / "books"
# About 1 MB of the embedded books: enough for 1,000 tokens in well under a second.
TRAINING_BOOKS = [
    "Carroll_Alice_s_Adventures_in_Wonderland",
    "Doyle_The_Adventures_of_Sherlock_Holmes",
    "Wilde_The_Picture_of_Dorian_Gray",
]
MAX_LENGTH = 256  # not the default, to show it is stored


def book_text(stem: str) -> str:
    return gzip.decompress((default_corpus_dir() / f"{stem}.txt.gz").read_bytes()).decode("utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(tokenizer folder, training stats), trained once for the whole module."""
    corpus = tmp_path_factory.mktemp("corpus")
    for stem in TRAINING_BOOKS:
        (corpus / f"{stem}.txt.gz").write_bytes((default_corpus_dir() / f"{stem}.txt.gz").read_bytes())
    output_dir = tmp_path_factory.mktemp("out") / "tokenizer"
    stats = train_tokenizer(
        [corpus], output_dir=output_dir, vocab_size=1000, model_max_length=MAX_LENGTH, show_progress=False
    )
    return output_dir, stats


@pytest.fixture(scope="module")
def hf_tokenizer(trained):
    return AutoTokenizer.from_pretrained(trained[0])


@pytest.fixture(scope="module")
def raw_tokenizer(trained):
    return Tokenizer.from_file(str(trained[0] / "tokenizer.json"))


def non_ascii_lines() -> list[str]:
    """Lines with accented letters, dashes and curly quotes, from an embedded book and the shared corpus."""
    lines = [line for line in book_text("Stoker_Dracula").splitlines() if not line.isascii()][:300]
    if SHARED_BOOKS.is_dir():
        for path in sorted(SHARED_BOOKS.glob("*/*.txt.gz"))[:40]:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
            lines += [line for line in text.splitlines() if not line.isascii()][:50]
    return lines


# --------------------------------------------------------------------------- round trips


def test_encode_then_decode_gives_back_every_line_of_a_book(hf_tokenizer):
    lines = book_text("Austen_Pride_and_Prejudice").splitlines()
    encoded = hf_tokenizer(lines)["input_ids"]  # with the template: start ... extract
    assert all(ids[0] == ALL.index(START) and ids[-1] == ALL.index(EXTRACT) for ids in encoded)
    assert hf_tokenizer.batch_decode(encoded, skip_special_tokens=True) == lines


def test_encode_then_decode_gives_back_non_ascii_text(hf_tokenizer):
    lines = non_ascii_lines()
    for character in "éè—“”‘’":  # the test covers the characters it claims to
        assert any(character in line for line in lines), character
    encoded = hf_tokenizer(lines)["input_ids"]
    assert hf_tokenizer.batch_decode(encoded, skip_special_tokens=True) == lines


def test_encode_then_decode_gives_back_odd_whitespace_and_unseen_scripts(hf_tokenizer):
    text = (
        "  two leading spaces\n\n\ttab, trailing  \r\n日本語, Ελληνικά, emoji 😀 and a lone \u0301 accent\n"
        "it 's a film , is n't it ? "  # tokenized text like SST-2's: no clean-up of spaces
    )
    ids = hf_tokenizer(text)["input_ids"]
    assert hf_tokenizer.decode(ids, skip_special_tokens=True) == text


# --------------------------------------------------------------------------- templates


def test_single_template_is_start_text_extract(hf_tokenizer):
    text = "It was the best of times."
    body = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert hf_tokenizer(text)["input_ids"] == [ALL.index(START), *body, ALL.index(EXTRACT)]


def test_pair_template_puts_delim_between_the_segments(hf_tokenizer):
    premise, hypothesis = "A man is playing a guitar.", "Someone makes music."
    first = hf_tokenizer(premise, add_special_tokens=False)["input_ids"]
    second = hf_tokenizer(hypothesis, add_special_tokens=False)["input_ids"]
    assert hf_tokenizer(premise, hypothesis)["input_ids"] == [
        ALL.index(START),
        *first,
        ALL.index(DELIM),
        *second,
        ALL.index(EXTRACT),
    ]


# --------------------------------------------------------------------------- saved folder


def test_saved_folder_loads_with_autotokenizer_and_encodes_like_tokenizers(
    trained, hf_tokenizer, raw_tokenizer
):
    assert isinstance(hf_tokenizer, PreTrainedTokenizerFast)
    assert hf_tokenizer.model_max_length == MAX_LENGTH
    lines = book_text("Stoker_Dracula").splitlines()[:2000]
    assert hf_tokenizer(lines)["input_ids"] == [
        encoding.ids for encoding in raw_tokenizer.encode_batch(lines)
    ]
    assert hf_tokenizer("a b", "c d")["input_ids"] == raw_tokenizer.encode("a b", "c d").ids


def test_special_tokens_have_ids_0_to_4_in_order(hf_tokenizer, raw_tokenizer):
    assert [raw_tokenizer.token_to_id(token) for token in ALL] == [0, 1, 2, 3, 4]
    assert hf_tokenizer.convert_tokens_to_ids(list(ALL)) == [0, 1, 2, 3, 4]
    assert (hf_tokenizer.bos_token, hf_tokenizer.sep_token, hf_tokenizer.cls_token) == (START, DELIM, EXTRACT)
    assert hf_tokenizer.pad_token_id == ALL.index("<|pad|>") and hf_tokenizer.eos_token_id == 0


def test_vocabulary_size_counts_bytes_specials_and_merges(trained, raw_tokenizer):
    _, stats = trained
    assert raw_tokenizer.get_vocab_size() == stats["vocab_size"] == 1000
    assert stats["merges"] == 1000 - 256 - 5


def test_stats_file_records_the_training(trained):
    output_dir, stats = trained
    recorded = json.loads((output_dir / STATS_FILE).read_text())
    corpus_bytes = sum(len(book_text(stem).encode("utf-8")) for stem in TRAINING_BOOKS)
    assert recorded["bytes_read"] == stats["bytes_read"] == corpus_bytes
    assert recorded["sources"] == 3 and recorded["strip_gutenberg"] is False
    assert recorded["bytes_per_second"] > 0 and recorded["wall_seconds"] > 0
    assert set(recorded["versions"]) >= {"genpt", "tokenizers", "transformers"}


def test_load_tokenizer_checks_the_folder(trained, tmp_path):
    assert load_tokenizer(trained[0]).convert_tokens_to_ids(START) == 2
    with pytest.raises(GenptError, match="no such tokenizer folder"):
        load_tokenizer(tmp_path / "missing")
    with pytest.raises(GenptError, match="not a tokenizer folder"):
        load_tokenizer(tmp_path)


def test_tokenizer_stats_measures_compression(trained):
    stats = tokenizer_stats(trained[0], [default_corpus_dir() / "Austen_Pride_and_Prejudice.txt.gz"])
    assert stats["vocab_size"] == 1000
    assert stats["bytes"] == len(book_text("Austen_Pride_and_Prejudice").encode("utf-8"))
    assert 2.0 < stats["chars_per_token"] < 6.0
    assert 1.0 < stats["tokens_per_word"] < 3.0
    assert 0.0 < stats["single_byte_token_fraction"] < 0.5


def test_existing_tokenizer_is_replaced_but_other_folders_are_not(trained, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(book_text("Carroll_Alice_s_Adventures_in_Wonderland")[:20_000])
    target = tmp_path / "tok"
    train_tokenizer([corpus], output_dir=target, vocab_size=300, show_progress=False)
    train_tokenizer([corpus], output_dir=target, vocab_size=400, show_progress=False)
    assert Tokenizer.from_file(str(target / "tokenizer.json")).get_vocab_size() == 400
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "tiny.txt",
        "tok",
    ]  # no temporary folders left
    with pytest.raises(GenptError, match="not a tokenizer folder genpt trained; refusing to replace them"):
        train_tokenizer([corpus], output_dir=tmp_path, vocab_size=300, show_progress=False)
    (target / "model.safetensors").write_bytes(b"the user's weights")  # a model folder with its tokenizer in it
    with pytest.raises(GenptError, match="not a tokenizer folder genpt trained; refusing to replace them"):
        train_tokenizer([corpus], output_dir=target, vocab_size=300, show_progress=False)
    assert (target / "model.safetensors").read_bytes() == b"the user's weights"
    downloaded = tmp_path / "downloaded"  # a tokenizer of the hub's: the same files, but genpt did not train it
    downloaded.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (downloaded / name).write_bytes((target / name).read_bytes())
    with pytest.raises(GenptError, match="not a tokenizer folder genpt trained"):
        train_tokenizer([corpus], output_dir=downloaded, vocab_size=300, show_progress=False)
    assert sorted(p.name for p in downloaded.iterdir()) == ["tokenizer.json", "tokenizer_config.json"]


def test_too_small_vocabulary_is_an_error(tmp_path):
    with pytest.raises(GenptError, match="--vocab_size 200 is too small: expected at least 261"):
        train_tokenizer([default_corpus_dir()], output_dir=tmp_path / "tok", vocab_size=200)


# --------------------------------------------------------------------------- command line


def test_cli_train_writes_a_loadable_tokenizer(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "book.txt").write_text(book_text("Carroll_Alice_s_Adventures_in_Wonderland")[:50_000])
    output_dir = tmp_path / "tok"
    status = main(
        ["tokenizer", "train", "--input", str(corpus), "--vocab_size", "300", "--output_dir", str(output_dir)]
    )
    assert status == 0
    assert "vocabulary   300 tokens" in capsys.readouterr().out
    assert AutoTokenizer.from_pretrained(output_dir).vocab_size == 300
    assert main(["tokenizer", "stats", "--tokenizer", str(output_dir), "--input", str(corpus)]) == 0
    assert "chars per token" in capsys.readouterr().out


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("good text " * 1000)
    (corpus / "b.txt").write_bytes(b"caf\xe9 in Latin-1\n")
    output_dir = tmp_path / "out" / "tok"
    status = main(
        ["tokenizer", "train", "--input", str(corpus), "--vocab_size", "300", "--output_dir", str(output_dir)]
    )
    assert status == 2
    assert "genpt tokenizer: error:" in capsys.readouterr().err
    assert not output_dir.exists() and not (tmp_path / "out").exists()
    assert (
        main(["tokenizer", "train", "--input", str(tmp_path / "nope.txt"), "--output_dir", str(output_dir)])
        == 2
    )
    assert "nope.txt: no such file or folder" in capsys.readouterr().err

"""Streaming corpus readers: formats, folders, Gutenberg stripping, bounded pieces, errors."""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genpt.data import corpus
from genpt.data.corpus import (
    ByteCounter,
    iter_documents,
    resolve_inputs,
    strip_gutenberg,
)
from genpt.errors import GenptError
from genpt.resources import default_corpus_dir

SHARED_BOOKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "gutenberg" / "books"
EMMA = SHARED_BOOKS / "Austen" / "Emma.txt.gz"


def read_all(inputs, **options) -> list[tuple[str, str]]:
    """(source, full text) of every document."""
    return [(document.source, "".join(document.pieces)) for document in iter_documents(inputs, **options)]


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


# --------------------------------------------------------------------------- inputs


def test_folders_expand_recursively_in_sorted_order_to_supported_files(tmp_path):
    write(tmp_path / "b" / "two.md.gz", "two")
    write(tmp_path / "b" / "one.txt", "one")
    write(tmp_path / "a.jsonl", '{"text": "zero"}\n')
    write(tmp_path / "README", "no extension is plain text")
    write(tmp_path / "table.csv", "skipped,in,folders")
    write(tmp_path / ".git" / "config.txt", "hidden folders are skipped")
    names = [Path(source.name).relative_to(tmp_path).as_posix() for source in resolve_inputs([tmp_path])]
    assert names == ["README", "a.jsonl", "b/one.txt", "b/two.md.gz"]
    assert [text for _, text in read_all([tmp_path])] == ["no extension is plain text", "zero", "one", "two"]


def test_folder_without_supported_files_is_an_error(tmp_path):
    write(tmp_path / "data.csv", "a,b")
    with pytest.raises(GenptError, match=f"{tmp_path}: no supported files"):
        resolve_inputs([tmp_path])


def test_unsupported_file_given_by_name_is_an_error(tmp_path):
    with pytest.raises(GenptError, match=r"data\.csv: unsupported file type"):
        resolve_inputs([write(tmp_path / "data.csv", "a,b")])


def test_gzipped_text_named_by_language_reads_as_text(tmp_path):
    """Parallel corpora name their files by language (Multi30k's train.en.gz): text inside."""
    path = write(tmp_path / "train.en.gz", "A man in an orange hat.\n")
    assert read_all([path]) == [(str(path), "A man in an orange hat.\n")]


def test_missing_local_path_is_an_error_without_trying_the_hub(tmp_path):
    with pytest.raises(GenptError, match=r"nope\.txt: no such file or folder$"):
        iter_documents([str(tmp_path / "nope.txt")])


def test_unknown_name_is_tried_as_a_dataset_and_reported(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        GenptError, match="no such file or folder, and it could not be loaded as a Hugging Face dataset"
    ):
        iter_documents(["genpt_no_such_dataset_xyz"])


# --------------------------------------------------------------------------- formats


def test_plain_and_gzipped_text_read_the_same(tmp_path):
    text = "Première ligne — “quoted”\nsecond line\n"
    plain = write(tmp_path / "book.txt", text)
    zipped = write(tmp_path / "book.txt.gz", text)
    assert read_all([plain]) == [(str(plain), text)]
    assert read_all([zipped]) == [(str(zipped), text)]


def test_windows_line_ends_and_byte_order_mark_are_normalised(tmp_path):
    path = write(tmp_path / "dos.txt", b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert read_all([path]) == [(str(path), "one\ntwo\n")]


def test_large_file_streams_in_bounded_line_aligned_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "PIECE_BYTES", 64)
    lines = [f"line {i}: caf\u00e9 na\u00efve \u2014 \U0001f600\n" for i in range(200)]
    giant_line = "\u00e9" * 500 + "\n"  # no line end for 1,000 bytes: cut between characters
    text = "".join(lines) + giant_line + "tail without newline"
    path = write(tmp_path / "big.txt", text)
    counter = ByteCounter()
    (document,) = iter_documents([path], on_bytes=counter)
    pieces = list(document.pieces)
    assert "".join(pieces) == text
    assert max(len(piece.encode("utf-8")) for piece in pieces) <= 64
    assert all(piece.endswith("\n") for piece in pieces if piece.startswith("line "))
    assert counter.bytes == len(text.encode("utf-8"))


def test_jsonl_rows_are_documents_read_from_text_column(tmp_path):
    rows = [
        {"id": 1, "content": "first row"},
        {"id": 2, "content": "second\nrow"},
        {"id": 3, "content": None},
    ]
    body = "\n".join(json.dumps(row) for row in rows[:2]) + "\n\n" + json.dumps(rows[2]) + "\n"
    path = write(tmp_path / "rows.jsonl.gz", body)
    assert read_all([path], text_column="content") == [
        (f"{path}:1", "first row"),
        (f"{path}:2", "second\nrow"),
        (f"{path}:4", ""),  # line 3 is blank; null text is an empty document
    ]


def test_missing_jsonl_column_names_file_line_and_columns(tmp_path):
    path = write(tmp_path / "rows.jsonl", '{"text": "ok"}\n{"body": "no text here", "id": 7}\n')
    with pytest.raises(GenptError, match=r"rows\.jsonl: line 2: no column 'text' \(available: body, id\)"):
        read_all([path])


def test_invalid_json_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "rows.json", '[{"text": "a JSON array, not JSON Lines"}]\n')
    with pytest.raises(GenptError, match=r"rows\.json: line 1: expected a JSON object"):
        read_all([path])


def test_parquet_rows_are_documents(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": ["alpha", "beta\ngamma", None], "label": [0, 1, 2]}), path)
    assert read_all([path]) == [(f"{path}#1", "alpha"), (f"{path}#2", "beta\ngamma"), (f"{path}#3", "")]
    with pytest.raises(GenptError, match=r"rows\.parquet: no column 'body' \(available: text, label\)"):
        read_all([path], text_column="body")


# --------------------------------------------------------------------------- Gutenberg

HEADER = "The Project Gutenberg EBook of Tests\r\n\r\n*** START OF THIS PROJECT GUTENBERG EBOOK TESTS ***\r\n"
FOOTER = (
    "End of the Project Gutenberg EBook of Tests\r\n\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK TESTS ***\r\nlicense\r\n"
)


def test_gutenberg_header_and_footer_are_stripped(tmp_path):
    body = "Chapter 1\r\n\r\nIt was a dark night.\r\n"
    path = write(tmp_path / "book.txt", HEADER + body + FOOTER)
    assert read_all([path], strip_gutenberg=True) == [(str(path), "Chapter 1\n\nIt was a dark night.\n")]


def test_gutenberg_stripping_is_the_same_in_tiny_pieces(tmp_path, monkeypatch):
    body = "".join(f"line {i} of the story\n" for i in range(100))
    path = write(tmp_path / "book.txt", HEADER + body + FOOTER)
    monkeypatch.setattr(corpus, "PIECE_BYTES", 16)
    monkeypatch.setattr(corpus, "GUTENBERG_HEADER_SEARCH_CHARS", 120)  # the header, then 16-byte pieces
    assert read_all([path], strip_gutenberg=True) == [(str(path), body)]


def test_old_gutenberg_markers_are_recognised():
    old_start = (
        "header\n***START OF THE PROJECT GUTENBERG EBOOK X***\nbody one\n***END OF THE PROJECT GUTENBERG\n"
    )
    small_print = "legal\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nbody two\n"
    assert "".join(strip_gutenberg([old_start])) == "body one\n"
    assert "".join(strip_gutenberg([small_print])) == "body two\n"


def test_text_without_start_marker_is_kept_as_is():
    text = "No header here.\n*** END OF something that is not a footer\n"
    assert "".join(strip_gutenberg(iter([text[:10], text[10:]]))) == text


@pytest.mark.skipif(not EMMA.exists(), reason="the shared Gutenberg corpus (../shared/data) is not here")
def test_gutenberg_stripping_on_a_real_book():
    ((_, text),) = read_all([EMMA], strip_gutenberg=True)
    assert "*** START OF" not in text and "*** END OF" not in text
    assert "Project Gutenberg" not in text
    assert text.lstrip().startswith("Produced by")
    assert "Emma Woodhouse, handsome, clever, and rich" in text[:1000]
    assert text.rstrip().endswith("FINIS")


def test_embedded_books_are_already_stripped():
    for source, text in read_all([default_corpus_dir()]):
        assert "gutenberg" not in text.lower(), source
        assert len(text) > 100_000, source


# --------------------------------------------------------------------------- errors


def test_non_utf8_file_error_names_file_line_and_byte(tmp_path):
    path = write(tmp_path / "latin1.txt", "first line\nna\u00efve".encode("latin-1"))
    with pytest.raises(
        GenptError, match=r"latin1\.txt: line 2 \(byte 13\): expected UTF-8 text, found byte 0xef"
    ):
        read_all([path])


def test_binary_file_is_an_error(tmp_path):
    path = write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(GenptError, match=r"image\.txt: byte 8: NUL byte; this looks like a binary"):
        read_all([path])


def test_corrupt_gzip_is_an_error(tmp_path):
    path = write(tmp_path / "broken.txt.gz", b"")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(GenptError, match=r"broken\.txt\.gz: not a valid gzip file"):
        read_all([path])


def test_empty_corpus_is_an_error(tmp_path):
    write(tmp_path / "blank.txt", "  \n\n\t\n")
    write(tmp_path / "empty.md", "")
    with pytest.raises(
        GenptError, match=r"no text found in .*blank\.txt, .*empty\.md: every document is empty"
    ):
        read_all([tmp_path])


def test_byte_counter_counts_every_byte_read(tmp_path):
    write(tmp_path / "a.txt", "abc\n")
    write(tmp_path / "b.txt.gz", "\u00e9t\u00e9\n")  # 6 bytes once decompressed
    write(tmp_path / "c.jsonl", '{"text": "x"}\n')
    counter = ByteCounter()
    read_all([tmp_path], on_bytes=counter)
    assert counter.bytes == 4 + 6 + 14
    assert counter.bytes_per_second > 0

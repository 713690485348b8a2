"""Streaming corpus readers shared by the stages that read raw text.

An input is a file, a folder (searched recursively) or a Hugging Face dataset name.
Whatever its size, text is read in line-aligned pieces of at most `PIECE_BYTES`, so a
10 GB single-file corpus never sits in memory:

    for document in iter_documents(["books/", "extra.jsonl"], strip_gutenberg=True):
        for piece in document.pieces:
            ...

A plain text file is one document; every JSON Lines line, Parquet row or dataset row is
one document (its `text_column`). Windows line ends (\\r\\n) become \\n everywhere so the
vocabulary does not learn two spellings of every line break.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from genpt.atomic import refuse_nested
from genpt.errors import GenptError

# Pieces are at most this size: big enough that per-piece overhead vanishes, small enough
# that memory stays flat.
PIECE_BYTES = 1 << 20

TEXT_SUFFIXES = (".txt", ".text", ".md", ".tokens", "")
JSONL_SUFFIXES = (".jsonl", ".json")
PARQUET_SUFFIX = ".parquet"
SUPPORTED_FILES = (
    "plain text (.txt, .text, .md, .tokens or no extension), JSON Lines (.jsonl, .json), "
    ".parquet, or gzipped text or JSON Lines (.gz)"
)

# A Project Gutenberg header ends on its START line; 1990s files end it with the
# "small print" instead. The footer starts at the END line or at the "End of the Project
# Gutenberg EBook ..." line that often comes just before it.
_GUTENBERG_HEADER_END = re.compile(
    r"^[ \t]*(\*{3}[ \t]*START OF|\*END\*?[ \t]*THE SMALL PRINT)[^\n]*\n?",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_FOOTER_START = re.compile(
    r"^[ \t]*(\*{3}[ \t]*END OF|End of (the |this )?Project Gutenberg)",
    re.IGNORECASE | re.MULTILINE,
)
# The header marker must appear within this many characters, or the text is kept as is.
GUTENBERG_HEADER_SEARCH_CHARS = PIECE_BYTES

Format = Literal["text", "jsonl", "parquet", "dataset"]


@dataclass(kw_only=True)
class CorpusOptions:
    """Where unlabeled text comes from: the same options for the tokenizer and pretraining."""

    inputs: list[str] = field(default_factory=list)  # files, folders (searched recursively) or a Hugging Face dataset name
    strip_gutenberg: bool = False  # remove Project Gutenberg headers and footers
    text_column: str = "text"  # the JSON Lines / Parquet / dataset column that holds the text
    dataset_config: str | None = None  # configuration of a Hugging Face dataset
    split: str = "train"  # split of a Hugging Face dataset

    def read_options(self) -> dict[str, Any]:
        """The keyword arguments of `iter_documents` / `resolve_inputs` (all but the inputs)."""
        return {"strip_gutenberg": self.strip_gutenberg, "text_column": self.text_column,
                "dataset_config": self.dataset_config, "split": self.split}


CORPUS_FLAGS = {"inputs": "input"}  # the field `inputs` is the option --input


@dataclass(frozen=True)
class Source:
    """One input to read: a local file, or a Hugging Face dataset opened for streaming."""

    name: str  # how messages and Document.source refer to it
    format: Format
    path: Path | None = None
    compressed: bool = False  # gzip
    dataset: Any = None  # a streaming `datasets.IterableDataset` when format == "dataset"


@dataclass
class Document:
    """One document: where it comes from, and its text as a lazy, one-shot stream of pieces.

    A plain text file is opened only when its pieces are read, and closed after them.
    """

    source: str  # file, "file:line" (JSON Lines) or "file#row" (Parquet, datasets)
    pieces: Iterator[str]


class ByteCounter:
    """Counts bytes as they are read (pass it as `on_bytes`) and reports the read rate."""

    def __init__(self, progress: Callable[[int], Any] | None = None) -> None:
        self.bytes = 0
        self.started = time.perf_counter()
        self._progress = progress  # e.g. a tqdm bar's `update`

    def __call__(self, count: int) -> None:
        self.bytes += count
        if self._progress is not None:
            self._progress(count)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / max(self.seconds, 1e-9)


# --------------------------------------------------------------------------- inputs


def refuse_output_among_inputs(output_dir: str | Path, inputs: Sequence[str | Path | Source], option: str = "--output_dir") -> None:
    """An output folder inside an input folder would be read as text by the next command given
    that folder (and one holding it would be replaced with the corpus in it): refused."""
    for item in inputs:
        if not isinstance(item, Source) and Path(item).expanduser().is_dir():
            refuse_nested(output_dir, item, option=option, source_option="--input")


def resolve_inputs(
    inputs: Sequence[str | Path | Source], *, dataset_config: str | None = None, split: str = "train"
) -> list[Source]:
    """Turn files, folders (recursively, in sorted order) and dataset names into sources.

    A string that is not an existing path is loaded with `datasets.load_dataset(...,
    streaming=True)`; sources given as `Source` pass through unchanged.
    """
    if not inputs:
        raise GenptError(f"no input given; expected files or folders of {SUPPORTED_FILES}, or a dataset name")
    sources: list[Source] = []
    for item in inputs:
        if isinstance(item, Source):
            sources.append(item)
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            sources.extend(_folder_sources(path))
        elif path.exists():
            sources.append(_file_source(path))
        else:
            sources.append(_dataset_source(str(item), dataset_config, split))
    return sources


def _file_format(path: Path) -> tuple[Format, bool] | None:
    """(format, gzipped) from the file name, or None when the type is not supported."""
    name = path.name.lower()
    compressed = name.endswith(".gz")
    suffix = Path(name.removesuffix(".gz")).suffix
    if suffix in TEXT_SUFFIXES:
        return "text", compressed
    if suffix in JSONL_SUFFIXES:
        return "jsonl", compressed
    if suffix == PARQUET_SUFFIX and not compressed:
        return "parquet", False
    if compressed and suffix not in (PARQUET_SUFFIX, ".tar"):  # train.en.gz: parallel corpora name text by language
        return "text", True
    return None


def _file_source(path: Path) -> Source:
    file_format = _file_format(path)
    if file_format is None:
        raise GenptError(f"{path}: unsupported file type; expected {SUPPORTED_FILES}")
    return Source(name=str(path), format=file_format[0], path=path, compressed=file_format[1])


def _folder_sources(folder: Path) -> list[Source]:
    """The supported files under `folder`, sorted so every run reads the same order."""

    def hidden(path: Path) -> bool:  # .git, .DS_Store and friends are never corpus files
        return any(part.startswith(".") for part in path.relative_to(folder).parts)

    files = sorted(path for path in folder.rglob("*") if path.is_file() and not hidden(path))
    sources = [_file_source(path) for path in files if _file_format(path) is not None]
    if not sources:
        raise GenptError(f"{folder}: no supported files in this folder; expected {SUPPORTED_FILES}")
    return sources


def _looks_like_local_path(name: str) -> bool:
    """True when `name` is clearly meant as a file or folder, not a hub id like "owner/name".

    Saves a long series of network retries on a typo such as `data/boks`.
    """
    path = Path(name)
    return (
        name.startswith((".", "/", "~", "\\"))
        or len(path.parts) > 2
        or (path.suffix != "" and _file_format(path) is not None)
        or (len(path.parts) == 2 and Path(path.parts[0]).exists())
    )


def _dataset_source(name: str, dataset_config: str | None, split: str) -> Source:
    if _looks_like_local_path(name):
        raise GenptError(f"{name}: no such file or folder")
    try:
        import datasets  # imported here: slow to import and only needed for hub inputs

        dataset = datasets.load_dataset(name, dataset_config, split=split, streaming=True)
    except Exception as error:  # any failure means "not loadable": say why in one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise GenptError(
            f"{name}: no such file or folder, and it could not be loaded as a Hugging Face dataset ({reason})"
        ) from None
    label = f"{name}:{dataset_config}" if dataset_config else name
    return Source(name=f"{label}[{split}]", format="dataset", dataset=dataset)


# --------------------------------------------------------------------------- documents


def iter_documents(
    inputs: Sequence[str | Path | Source],
    *,
    text_column: str = "text",
    dataset_config: str | None = None,
    split: str = "train",
    strip_gutenberg: bool = False,
    on_bytes: Callable[[int], Any] | None = None,
) -> Iterator[Document]:
    """Stream the documents of all inputs, in order.

    Inputs are resolved now, so a missing path fails before any work starts. `on_bytes`
    (e.g. a `ByteCounter`) is called with the number of bytes read as reading proceeds.
    Raises GenptError at the end when the inputs hold no non-whitespace text at all.
    """
    sources = resolve_inputs(inputs, dataset_config=dataset_config, split=split)
    return _documents(sources, text_column, strip_gutenberg, on_bytes or (lambda count: None))


def _documents(
    sources: list[Source], text_column: str, strip: bool, on_bytes: Callable[[int], Any]
) -> Iterator[Document]:
    empty_check = _EmptyCorpusCheck(sources)
    for source in sources:
        for document in _source_documents(source, text_column, on_bytes):
            pieces = strip_gutenberg(document.pieces) if strip else document.pieces
            yield Document(document.source, empty_check.watch(pieces))
    empty_check.documents_done()


class _EmptyCorpusCheck:
    """Raises GenptError once everything has been read, if no document held any text.

    Callers may hold documents and read their pieces later, even after the document
    stream has ended, so the check runs when the last of those ends: the stream, or the
    last unfinished document.
    """

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self.found_text = False
        self.unfinished = 0  # documents handed out whose pieces are not all read yet
        self.stream_done = False

    def watch(self, pieces: Iterable[str]) -> Iterator[str]:
        self.unfinished += 1
        return self._watching(pieces)

    def _watching(self, pieces: Iterable[str]) -> Iterator[str]:
        for piece in pieces:
            self.found_text = self.found_text or (piece != "" and not piece.isspace())
            yield piece
        self.unfinished -= 1
        self._check()

    def documents_done(self) -> None:
        self.stream_done = True
        self._check()

    def _check(self) -> None:
        if self.stream_done and self.unfinished == 0 and not self.found_text:
            names = ", ".join(source.name for source in self.sources[:3]) + (
                ", ..." if len(self.sources) > 3 else ""
            )
            raise GenptError(f"no text found in {names}: every document is empty or whitespace")


def _source_documents(source: Source, text_column: str, on_bytes: Callable[[int], Any]) -> Iterator[Document]:
    if source.format == "text":
        return iter([Document(source.name, _text_file_pieces(source, on_bytes))])
    if source.format == "jsonl":
        return _jsonl_documents(source, text_column, on_bytes)
    if source.format == "parquet":
        return _parquet_documents(source, text_column, on_bytes)
    return _dataset_documents(source, text_column, on_bytes)


@contextlib.contextmanager
def _open_binary(source: Source) -> Iterator[BinaryIO]:
    """Open a local source for reading bytes, turning I/O and gzip failures into GenptError."""
    try:
        with (gzip.open if source.compressed else open)(source.path, "rb") as stream:
            yield stream
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:  # EOFError: truncated gzip
        raise GenptError(f"{source.name}: not a valid gzip file ({error})") from None
    except OSError as error:
        raise GenptError(f"{source.name}: cannot read it ({error.strerror or error})") from None


def _text_file_pieces(source: Source, on_bytes: Callable[[int], Any]) -> Iterator[str]:
    """The text of a file in line-aligned pieces, checked to be UTF-8 as it is read."""
    offset, line = 0, 1  # where the next piece starts in the file, for error messages
    pending = b""  # the part of the last block after its last line end
    with _open_binary(source) as stream:
        while True:
            block = stream.read(PIECE_BYTES - len(pending))  # never empty before the end
            _check_not_binary(block, source.name, offset + len(pending))
            data = pending + block
            cut = len(data) if not block else _piece_end(data)
            raw, pending = data[:cut], data[cut:]
            if raw:
                on_bytes(len(raw))
                yield _decode(raw, source.name, offset, line)
                offset += len(raw)
                line += raw.count(b"\n")
            if not block:
                return


def _piece_end(data: bytes) -> int:
    """Where to cut `data`: after its last line end, else never inside a UTF-8 character."""
    newline = data.rfind(b"\n")
    if newline >= 0:
        return newline + 1
    cut = len(data)  # one line longer than a block: cut it, backing off a partial character
    while cut > len(data) - 3 and (data[cut - 1] & 0xC0) == 0x80:  # continuation bytes
        cut -= 1
    if cut > 0 and data[cut - 1] >= 0xC0:  # the lead byte of the character being cut
        cut -= 1
    return cut or len(data)


def _check_not_binary(block: bytes, name: str, offset: int) -> None:
    """Text never holds NUL bytes; binary files (and UTF-16) nearly always do."""
    nul = block.find(b"\x00")
    if nul >= 0:
        raise GenptError(
            f"{name}: byte {offset + nul}: NUL byte; this looks like a binary (or UTF-16) file, "
            "expected UTF-8 text"
        )


def _decode(raw: bytes, name: str, offset: int, line: int) -> str:
    """Decode a piece read at byte `offset` (on `line`) of file `name`, or say where it is not UTF-8."""
    start = 3 if offset == 0 and raw.startswith(b"\xef\xbb\xbf") else 0  # skip a UTF-8 byte order mark
    try:
        text = raw[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        bad = start + error.start
        bad_line = line + raw.count(b"\n", 0, bad)
        raise GenptError(
            f"{name}: line {bad_line} (byte {offset + bad}): expected UTF-8 text, found byte 0x{raw[bad]:02x}"
        ) from None
    return text.replace("\r\n", "\n")


def _jsonl_documents(source: Source, text_column: str, on_bytes: Callable[[int], Any]) -> Iterator[Document]:
    offset = 0
    with _open_binary(source) as stream:
        for line_number, raw in enumerate(stream, start=1):
            on_bytes(len(raw))
            where = f"{source.name}: line {line_number}"
            if raw.strip():
                row = _parse_json_line(raw, where, offset)
                text = _row_text(row, text_column, where)
                yield Document(f"{source.name}:{line_number}", _split_text(text))
            offset += len(raw)


def _parse_json_line(raw: bytes, where: str, offset: int) -> Mapping[str, Any]:
    try:
        line = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise GenptError(f"{where} (byte {offset + error.start}): expected UTF-8 text") from None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise GenptError(
            f"{where}: not valid JSON ({error.msg}); expected one JSON object per line"
        ) from None
    if not isinstance(row, dict):
        raise GenptError(f"{where}: expected a JSON object, found {type(row).__name__}")
    return row


def _row_text(row: Mapping[str, Any], text_column: str, where: str) -> str:
    if text_column not in row:
        raise GenptError(_missing_column(where, text_column, list(row)))
    text = row[text_column]
    if text is None:  # a missing value is an empty document, as in datasets/pandas
        return ""
    if not isinstance(text, str):
        raise GenptError(f"{where}: column '{text_column}' holds {type(text).__name__}, expected text")
    return text.replace("\r\n", "\n")


def _missing_column(where: str, text_column: str, available: Sequence[Any]) -> str:
    names = ", ".join(map(str, available)) or "none"
    return f"{where}: no column '{text_column}' (available: {names}); choose one with --text_column"


def _split_text(text: str) -> Iterator[str]:
    """A row's text in line-aligned pieces of at most PIECE_BYTES characters."""
    start = 0
    while len(text) - start > PIECE_BYTES:
        end = text.rfind("\n", start, start + PIECE_BYTES) + 1 or start + PIECE_BYTES
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def _parquet_documents(
    source: Source, text_column: str, on_bytes: Callable[[int], Any]
) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.path)
    except (pa.ArrowException, OSError) as error:
        raise GenptError(f"{source.name}: not a valid Parquet file ({error})") from None
    schema = parquet.schema_arrow
    if text_column not in schema.names:
        raise GenptError(_missing_column(source.name, text_column, schema.names))
    column_type = schema.field(text_column).type
    if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
        raise GenptError(f"{source.name}: column '{text_column}' holds {column_type}, expected text (string)")
    row = 0
    # Batches keep memory bounded by the batch, not the file.
    for batch in parquet.iter_batches(batch_size=1024, columns=[text_column]):
        column = batch.column(0)
        on_bytes(pc.sum(pc.binary_length(column)).as_py() or 0)
        for text in column.to_pylist():
            row += 1
            yield Document(f"{source.name}#{row}", _split_text((text or "").replace("\r\n", "\n")))


def _dataset_documents(
    source: Source, text_column: str, on_bytes: Callable[[int], Any]
) -> Iterator[Document]:
    for row_number, row in enumerate(source.dataset, start=1):
        text = _row_text(row, text_column, f"{source.name}: row {row_number}")
        on_bytes(len(text.encode("utf-8")))
        yield Document(f"{source.name}#{row_number}", _split_text(text))


# --------------------------------------------------------------------------- Gutenberg


def strip_gutenberg(pieces: Iterable[str]) -> Iterator[str]:
    """Drop a Project Gutenberg header and footer from a stream of text pieces.

    Everything up to and including the "*** START OF ..." line goes (older files:
    "***START OF", or the "*END*THE SMALL PRINT" line), and everything from the
    "*** END OF ..." (or "End of the Project Gutenberg ...") line on. Without a header
    marker in the first GUTENBERG_HEADER_SEARCH_CHARS characters, the text is kept as is.
    Reading stops at the footer.
    """
    pieces = iter(pieces)
    head = _take_chars(pieces, GUTENBERG_HEADER_SEARCH_CHARS)
    header = _GUTENBERG_HEADER_END.search(head)
    if header is None:  # not a Gutenberg text (or an unusual one): keep everything
        if head:
            yield head
        yield from pieces
        return
    yield from _until_gutenberg_footer([head[header.end() :]], pieces)


def _take_chars(pieces: Iterator[str], count: int) -> str:
    """Join pieces from the front of `pieces` until at least `count` characters (or the end)."""
    taken: list[str] = []
    size = 0
    while size < count and (piece := next(pieces, None)) is not None:
        taken.append(piece)
        size += len(piece)
    return "".join(taken)


def _until_gutenberg_footer(*streams: Iterable[str]) -> Iterator[str]:
    carry = ""  # a trailing partial line, searched with the piece that completes it
    for piece in (piece for stream in streams for piece in stream):
        text = carry + piece
        # Search whole lines only, so a marker is never split across two pieces; a giant
        # line with no line end is searched as it is rather than growing without bound.
        cut = text.rfind("\n") + 1 or (len(text) if len(text) > PIECE_BYTES else 0)
        lines, carry = text[:cut], text[cut:]
        footer = _GUTENBERG_FOOTER_START.search(lines)
        if footer is not None:
            if footer.start():
                yield lines[: footer.start()]
            return
        if lines:
            yield lines
    footer = _GUTENBERG_FOOTER_START.search(carry)
    rest = carry[: footer.start()] if footer is not None else carry
    if rest:
        yield rest

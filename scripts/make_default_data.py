"""Regenerate genpt/default_data/ (the embedded demo data) from the shared data folder.

    python scripts/make_default_data.py [DATA_DIR]           # DATA_DIR default: ../shared/data
    python scripts/make_default_data.py --check [DATA_DIR]   # verify the files in the repo

The output is deterministic, byte for byte: the books are stripped with genpt's own
Gutenberg stripper and gzipped without a time stamp or file name; the SST-2 slice is a
seeded sample of the original rows, kept in their original order.
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import hashlib
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path

from genpt.data.corpus import iter_documents

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
OUTPUT_DIR = REPO_ROOT / "genpt" / "default_data"

# (author folder, book file stem) under gutenberg/books/: six authors, about 3.6 MB of text.
BOOKS = [
    ("Austen", "Pride_and_Prejudice"),
    ("Bronte", "Jane_Eyre_An_Autobiography"),
    ("Carroll", "Alice_s_Adventures_in_Wonderland"),
    ("Doyle", "The_Adventures_of_Sherlock_Holmes"),
    ("Stoker", "Dracula"),
    ("Wilde", "The_Picture_of_Dorian_Gray"),
]
SST2_TRAIN_ROWS = 5000
SST2_SEED = 1234

# The volunteers' credit at the top of a book ("Produced by ...", up to the first blank
# line) can name Project Gutenberg or its email domain; drop it with the header so no
# trademark remains.
VOLUNTEER_CREDIT = re.compile(
    r"\A(Produced by|Transcribed from|E-?text prepared by) .*?\n\n+", re.DOTALL | re.IGNORECASE
)


def make_book(source: Path, target: Path) -> None:
    document = next(iter_documents([source], strip_gutenberg=True))
    text = VOLUNTEER_CREDIT.sub("", "".join(document.pieces).strip("\n")).strip("\n") + "\n"
    if "gutenberg" in text.lower() or "pglaf" in text.lower():
        raise SystemExit(f"{source}: Project Gutenberg is still named in the text after stripping")
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        gz.write(text.encode("utf-8"))


def make_sst2(glue_dir: Path, target_dir: Path) -> None:
    lines = (glue_dir / "SST-2" / "train.tsv").read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    chosen = sorted(random.Random(SST2_SEED).sample(range(len(rows)), SST2_TRAIN_ROWS))
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / "train.tsv").write_bytes(header + b"".join(rows[index] for index in chosen))
    shutil.copyfile(glue_dir / "SST-2" / "dev.tsv", target_dir / "dev.tsv")
    shutil.copyfile(glue_dir / "SST-2" / "test.tsv", target_dir / "test.tsv")  # unlabelled: for submission files


def make_all(data_dir: Path, output_dir: Path) -> list[Path]:
    books_dir = output_dir / "books"
    books_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for author, stem in BOOKS:
        target = books_dir / f"{author}_{stem}.txt.gz"
        make_book(data_dir / "gutenberg" / "books" / author / f"{stem}.txt.gz", target)
        made.append(target)
    make_sst2(data_dir / "glue", output_dir / "glue" / "SST-2")
    made += [output_dir / "glue" / "SST-2" / "train.tsv", output_dir / "glue" / "SST-2" / "dev.tsv",
             output_dir / "glue" / "SST-2" / "test.tsv"]
    return made


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--check", action="store_true", help="compare a fresh build with the files in the repo"
    )
    args = parser.parse_args()
    if not (args.data_dir / "gutenberg").is_dir():
        parser.error(f"{args.data_dir}: not the shared data folder (no gutenberg/ inside)")

    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = [path.relative_to(scratch) for path in make_all(args.data_dir, Path(scratch))]
            stale = [
                name
                for name in fresh
                if not (OUTPUT_DIR / name).is_file()
                or not filecmp.cmp(Path(scratch) / name, OUTPUT_DIR / name, shallow=False)
            ]
        for name in stale:
            print(f"differs: {OUTPUT_DIR.relative_to(REPO_ROOT) / name}")
        print(f"{len(fresh) - len(stale)} of {len(fresh)} files match")
        return 1 if stale else 0

    for path in make_all(args.data_dir, OUTPUT_DIR):
        data = path.read_bytes()
        size = len(gzip.decompress(data)) if path.suffix == ".gz" else len(data)
        md5 = hashlib.md5(data).hexdigest()
        print(f"{path.relative_to(REPO_ROOT)}  {len(data):>9,} bytes  ({size:,} as text)  md5 {md5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Paths to the small data sets embedded in the package (see genpt/default_data/README.md).

They let `genpt demo` and the tests run with no download: a few public-domain books for
pretraining and the tokenizer, and a slice of GLUE SST-2 for fine-tuning.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "default_data"


def default_corpus_dir() -> Path:
    """Folder of gzipped plain-text books, Project Gutenberg headers already removed."""
    return DEFAULT_DATA_DIR / "books"


def default_glue_dir() -> Path:
    """Folder laid out like GLUE's `glue_data/`: `SST-2/train.tsv` (a 5,000-row slice), `SST-2/dev.tsv` and `SST-2/test.tsv`."""
    return DEFAULT_DATA_DIR / "glue"

"""Corpus preparation throughput: `prepare_corpus` against the tokenizer's own `encode_batch`.

`prepare_corpus` reads (gzip, UTF-8, Project Gutenberg stripping), encodes and writes the
whole corpus; the baseline is the tokenizer alone, encoding the same text, already in
memory, in the same parts and batches. The ratio says how much of the tokenizer's speed
survives the pipeline (target: 80% or more). Peak RSS is the process's high-water mark
after `prepare_corpus`, measured before the baseline loads the text into memory.

    python bench/prepare_corpus.py --tokenizer /tmp/gb_tok8k
    python bench/prepare_corpus.py --tokenizer runs/tok --input genpt/default_data/books --no_strip_gutenberg
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from genpt.data.corpus import iter_documents
from genpt.pretrain.data import BATCH_CHARS, prepare_corpus, split_at_word_ends
from genpt.tokenization import load_tokenizer

DEFAULT_INPUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "gutenberg" / "books"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def time_prepare(inputs: list[str], tokenizer_dir: str, strip_gutenberg: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as folder:
        started = time.perf_counter()
        corpus = prepare_corpus(
            inputs, tokenizer_dir, Path(folder) / "data", strip_gutenberg=strip_gutenberg, show_progress=False
        )
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "tokens": corpus.n_train_tokens + corpus.n_validation_tokens,
        "documents": corpus.meta["train"]["documents"] + corpus.meta["validation"]["documents"],
        "bytes": corpus.meta["bytes_read"],
        "peak_rss_mb": peak_rss_mb(),
    }


def text_batches(inputs: list[str], strip_gutenberg: bool) -> list[list[str]]:
    """The corpus in memory, cut into the same parts and batches as `prepare_corpus` uses."""
    batches, batch, size = [], [], 0
    for document in iter_documents(inputs, strip_gutenberg=strip_gutenberg):
        for part in split_at_word_ends(document.pieces):
            batch.append(part)
            size += len(part)
            if size >= BATCH_CHARS:
                batches.append(batch)
                batch, size = [], 0
    return batches + ([batch] if batch else [])


def time_encoding(encode, batches: list[list[str]]) -> dict:
    """Encode every batch (results dropped as they come, as a pipeline would) and time only that."""
    tokens = 0
    started = time.perf_counter()
    for batch in batches:
        tokens += sum(len(encoding.ids) for encoding in encode(batch, add_special_tokens=False))
    return {"seconds": time.perf_counter() - started, "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder (genpt tokenizer train)")
    parser.add_argument(
        "--input", nargs="+", default=[str(DEFAULT_INPUT)], help=f"corpus (default: {DEFAULT_INPUT})"
    )
    parser.add_argument("--no_strip_gutenberg", action="store_true", help="keep Project Gutenberg headers")
    args = parser.parse_args()
    strip = not args.no_strip_gutenberg

    prepared = time_prepare(args.input, args.tokenizer, strip)

    backend = load_tokenizer(args.tokenizer).backend_tokenizer
    backend.encode_special_tokens = True  # as prepare_corpus encodes: text is text
    batches = text_batches(args.input, strip)
    baseline = time_encoding(backend.encode_batch, batches)
    fast = time_encoding(backend.encode_batch_fast, batches)
    # The prepared stream also holds one <|endoftext|> per document.
    assert baseline["tokens"] + prepared["documents"] == prepared["tokens"], (baseline, prepared)

    megabytes = prepared["bytes"] / 1e6
    documents = prepared["documents"]
    print(f"corpus: {', '.join(args.input)} ({megabytes:,.1f} MB of text, {documents:,} documents)")
    print(f"tokenizer: {args.tokenizer} ({backend.get_vocab_size():,} tokens)\n")
    print("| measurement | seconds | tokens | tokens/s | MB/s | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [
        ("prepare_corpus (read + encode + write)", prepared, f"{prepared['peak_rss_mb']:,.0f} MB"),
        ("encode_batch, text in memory", baseline, ""),
        ("encode_batch_fast, text in memory", fast, ""),
    ]
    for name, result, rss in rows:
        rate = result["tokens"] / result["seconds"]
        print(
            f"| {name} | {result['seconds']:.2f} | {result['tokens']:,} | {rate:,.0f} | "
            f"{megabytes / result['seconds']:.2f} | {rss} |"
        )
    # Same text, so the throughput ratio is the ratio of times.
    print(f"\nprepare / encode_batch throughput: {baseline['seconds'] / prepared['seconds']:.1%}")
    print(f"prepare / encode_batch_fast throughput: {fast['seconds'] / prepared['seconds']:.1%}")


if __name__ == "__main__":
    main()

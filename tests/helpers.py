"""What several test files share: real corpora on disk, and Ctrl-C at a known point of a run
(a real SIGINT, no mocks) for the exact-resume tests."""

import gzip
import json
import os
import signal
import threading
import time
from pathlib import Path


def interrupt_after_step(run: Path, step: int) -> threading.Thread:
    """Press Ctrl-C (SIGINT to this process) once `run`'s metrics.jsonl has logged `step`."""

    def watch() -> None:
        log = run / "metrics.jsonl"
        while True:
            for line in log.read_text().splitlines() if log.is_file() else []:
                try:
                    logged = json.loads(line)["step"]
                except ValueError:  # a line still being written
                    continue
                if logged >= step:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def write_books(folder: Path, *names: str) -> Path:
    """The embedded demo books `names`, unzipped into `folder` as plain text files."""
    from genpt.resources import default_corpus_dir

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        with gzip.open(default_corpus_dir() / f"{name}.txt.gz", "rt", encoding="utf-8") as book:
            (folder / f"{name}.txt").write_text(book.read(), encoding="utf-8")
    return folder

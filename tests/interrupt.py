"""Ctrl-C at a known point of a run, for the exact-resume tests: a real SIGINT, no mocks."""

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

"""Atomic outputs: readers see the old result or the complete new one, never half of one.

Every stage writes its folders and files through these two functions, so an error or an
interruption midway leaves nothing half-written behind.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def _staging_name(target: Path, suffix: str) -> Path:
    # Hidden, unique, beside the target (same file system, so the rename is atomic).
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.{suffix}")


def write_folder_atomically(output_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Let `fill` populate a temporary sibling folder, then rename it to `output_dir`.

    An existing `output_dir` is replaced only once the new folder is complete; callers
    decide beforehand whether replacing it is allowed.
    """
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_name(output_dir, "tmp")
    staging.mkdir()  # with the user's umask, unlike mkdtemp's private 0700
    retired = staging.with_name(staging.name + ".old")
    try:
        fill(staging)
        if output_dir.exists():
            os.replace(output_dir, retired)
        try:
            os.replace(staging, output_dir)
        except OSError:
            if retired.exists():
                os.replace(retired, output_dir)  # put the old one back
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return output_dir


def write_file_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Let `write` create a temporary sibling file, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_name(path, "tmp")
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path

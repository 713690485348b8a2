"""Atomic outputs: readers see the old result or the complete new one, never half of one.

Every stage writes its folders and files through these two functions, so an error or an
interruption midway leaves nothing half-written behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genpt.errors import GenptError


def _staging_name(target: Path, suffix: str) -> Path:
    # Hidden, unique, beside the target (same file system, so the rename is atomic).
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.{suffix}")


_STAGING = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(\.old)?$")


def remove_stale_staging(folder: str | Path, targets: set[str] | None = None) -> list[Path]:
    """Remove what killed writers left in `folder`: staging names of `_staging_name`'s exact
    form whose process is gone (only those staging `targets`, when given). Returns them."""
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not is_stale_staging(entry, targets):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def is_stale_staging(entry: Path, targets: set[str] | None = None) -> bool:
    """Whether `entry` is what a killed writer left: a staging name of `_staging_name`'s exact
    form (staging one of `targets`, when given) whose process is gone."""
    match = _STAGING.match(entry.name)
    return bool(match) and (targets is None or match["target"] in targets) and not _alive(int(match["pid"]))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def write_folder_atomically(output_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Let `fill` populate a temporary sibling folder, then rename it to `output_dir`.

    An existing `output_dir` is replaced only once the new folder is complete (keeping its
    permissions); callers decide beforehand whether replacing it is allowed.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        # Never replace a file with a folder: the guard of each command refuses it earlier.
        raise GenptError(f"{output_dir}: exists and is not a folder; refusing to replace it")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_name(output_dir, "tmp")
    staging.mkdir()  # with the user's umask, unlike mkdtemp's private 0700
    retired = staging.with_name(staging.name + ".old")
    try:
        fill(staging)
        if output_dir.exists():
            os.chmod(staging, stat.S_IMODE(output_dir.stat().st_mode))  # a folder the user made keeps its mode
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


def write_json_atomically(path: str | Path, values: Any) -> Path:
    """`values` as standard JSON (indented), written atomically: how genpt writes its result
    files. JSON has no NaN or infinity: an undefined score (Pearson's r of constant
    predictions) is written as null, which every JSON reader parses; Python's `json` alone
    would write `NaN`, which strict readers (JavaScript's JSON.parse, jq 1.6) refuse."""
    text = json.dumps(_finite_or_none(values), indent=2, allow_nan=False) + "\n"
    return write_file_atomically(path, lambda p: p.write_text(text))


def json_line(record: dict[str, Any]) -> str:
    """One JSON Lines record, standard JSON like write_json_atomically's: a non-finite number (a
    gradient norm that overflowed in fp16, say) is null, never `Infinity` or `NaN`."""
    return json.dumps(_finite_or_none(record), allow_nan=False) + "\n"


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def check_output_folder(output_dir: str | Path, *, is_ours: Callable[[Path], bool], what: str, overwrite: bool = False,
                        option: str = "--output_dir", overwrite_option: str | None = "--overwrite_output_dir",
                        replaces: bool = True) -> None:
    """Refuse to write `output_dir` unless it is absent, empty, or `what` genpt wrote there before.

    An earlier output of the same kind (`is_ours`) is replaced only with `overwrite`; pass
    `overwrite_option=None` where replacing it needs no flag (a tokenizer folder, say).
    Anything else, a file or a folder of the user's, is never touched. `replaces`: the command
    replaces the folder as a whole (not the demo, which writes inside it), so it must not be
    the one it runs in.
    """
    output_dir = Path(output_dir)
    here = Path.cwd().resolve()
    if replaces and output_dir.resolve() in (here, *here.parents):  # it would pull the folder away from under the shell
        raise GenptError(f"{option} {output_dir}: the folder genpt runs in (or one above it); name a folder inside it, "
                         f"e.g. {output_dir / 'out'}")
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise GenptError(f"{option} {output_dir}: exists and is not a folder; choose another path")
    if not any(output_dir.iterdir()):
        return
    if not is_ours(output_dir):
        raise GenptError(f"{option} {output_dir}: holds files that are not {what}; refusing to replace them "
                         "(choose another folder, or empty this one)")
    if not overwrite and overwrite_option is not None:
        raise GenptError(f"{option} {output_dir}: already holds {what}; pass {overwrite_option} to replace it, "
                         "or choose another folder")


# Lists the files genpt wrote into a folder that may also hold the user's own (an evaluation's
# --output_dir): only those are ever replaced there.
OUTPUTS_RECORD = "genpt_outputs.json"


def recorded_outputs(folder: str | Path) -> set[str]:
    """The names genpt recorded writing in `folder` (none where it has no readable record)."""
    try:
        names = json.loads((Path(folder) / OUTPUTS_RECORD).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {name for name in names if isinstance(name, str)}


def refuse_foreign_outputs(folder: str | Path, names: list[str], option: str = "--output_dir") -> set[str]:
    """Refuse, one line, a `folder` where a file of one of these names exists that genpt did not
    write (checked before the work; nothing is written). The user's other files there are fine.
    Returns the names genpt recorded there."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GenptError(f"{option} {folder}: exists and is not a folder; choose another path")
    ours = recorded_outputs(folder)
    theirs = [name for name in names if (folder / name).exists() and name not in ours]
    if (folder / OUTPUTS_RECORD).is_dir():
        theirs.append(OUTPUTS_RECORD)
    if theirs:
        raise GenptError(f"{option} {folder}: its {theirs[0]} is not listed as genpt's in {OUTPUTS_RECORD} (the user's, "
                         "or a genpt before that list); refusing to replace it (choose another folder, or move it)")
    return ours


def claim_outputs(folder: str | Path, names: list[str], option: str = "--output_dir", removed: tuple[str, ...] = ()) -> Path:
    """Record `names` as genpt's in `folder` (after `refuse_foreign_outputs`), just before they
    are written: only recorded files are ever replaced or removed there later. `removed`: earlier
    outputs of genpt's this call deletes (only those recorded), no longer listed."""
    ours = refuse_foreign_outputs(folder, names, option)
    folder = Path(folder)
    for name in removed:
        if name in ours:
            (folder / name).unlink(missing_ok=True)
    record = {"files": sorted((ours - set(removed)) | set(names))}
    # recorded first, written after: a run stopped between the two leaves a name with no file
    write_file_atomically(folder / OUTPUTS_RECORD, lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    return folder


def refuse_nested(output_dir: str | Path, source: str | Path, *, option: str = "--output_dir", source_option: str,
                  inside_ok: bool = False) -> None:
    """Refuse an output folder that is, holds, or (unless `inside_ok`) lies inside the folder it
    is made from: starting again there would delete what it is made from."""
    output, origin = Path(output_dir).expanduser().resolve(), Path(source).expanduser().resolve()
    if output == origin or output in origin.parents:
        raise GenptError(f"{option} {output_dir}: must not be or hold {source_option} {source}; choose a folder of its own")
    if origin in output.parents and not inside_ok:
        raise GenptError(f"{option} {output_dir}: must lie outside {source_option} {source}; choose a folder of its own")

"""Runs made of other runs (`genpt compare`, `genpt eval layers`): each part is an ordinary
`genpt finetune` run folder, run in a process of its own, as a user would run it. Stages
never import each other; this starts the command instead. A finished (or checkpointed) part
is reused only when it is the run asked for: the same options, the same pretraining.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genpt.atomic import write_file_atomically
from genpt.config import read_yaml_mapping
from genpt.errors import GenptError


@dataclass
class Subrun:
    """One run a long command makes: its options, its folder, and where its options file goes."""

    options: dict[str, Any]
    folder: Path
    configs_dir: Path


def ensure_all_finished(runs: list[Subrun], jobs: int = 1, show_progress: bool = True, command: str = "finetune") -> None:
    """ensure_finished for each run, `jobs` at a time. Several at a time share the CPU cores:
    each run gets cores / jobs threads (unless OMP_NUM_THREADS is set) and no progress bar
    (lines from several would interleave); a line says when each starts and finishes. After a
    failure, Ctrl-C or SIGTERM no run starts, the running ones stop as one would alone (Ctrl-C
    reaches them too, SIGTERM is passed on: each saves a checkpoint), and then the error or the
    interrupt is raised."""
    if jobs == 1:
        with interrupts_noted(f"genpt: waiting for the {command} run to stop (it saves a checkpoint on Ctrl-C or SIGTERM; "
                              "run the same command again to continue)") as interrupts:
            for i, run in enumerate(runs, start=1):
                ensure_finished(run.options, run.folder, run.configs_dir, show_progress, command, position=(i, len(runs)))
                if interrupts:  # `kill -INT` to this process alone: the run has finished; start no other
                    raise KeyboardInterrupt
        return
    threads = None if "OMP_NUM_THREADS" in os.environ else max(1, (os.cpu_count() or 1) // jobs)
    waiting, running, failures = list(enumerate(runs, start=1)), {}, []
    with interrupts_noted(f"genpt: waiting for the running {command} runs to stop (each saves a checkpoint on Ctrl-C or "
                          "SIGTERM; run the same command again to continue)") as interrupts, ThreadPoolExecutor(jobs) as pool:
        while waiting or running:
            while waiting and len(running) < jobs and not (interrupts or failures):
                i, run = waiting.pop(0)
                running[pool.submit(ensure_finished, run.options, run.folder, run.configs_dir, False, command,
                                    (i, len(runs)), threads)] = run
            if not running:
                break
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                if future.exception() is not None:
                    failures.append(future.exception())
                elif future.result():  # not for a run finished before this call
                    say(f"genpt: {command} {run.folder.name} finished")
    if interrupts or any(isinstance(error, KeyboardInterrupt) for error in failures):
        raise KeyboardInterrupt
    if failures:
        raise failures[0]


def check_jobs(jobs: int, what: str = "cells") -> None:
    """--jobs, checked before a long command writes anything."""
    if jobs < 1:
        raise GenptError(f"--jobs must be at least 1 ({what} run at a time), got {jobs}")


# What the main thread has noted while a long command waits on its runs (None outside that),
# and the runs it waits on, for a SIGTERM to pass on. No lock: a handler that took one could
# wait forever on the main thread it interrupted. The handler notes a SIGTERM before it reads
# the set; a run joins the set before it reads the notes.
_NOTED: dict[str, list[int] | None] = {"interrupts": None}
_RUNNING: set[subprocess.Popen] = set()


@contextmanager
def interrupts_noted(message: str) -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM only add themselves to the list (and print `message`
    once), where Python would raise KeyboardInterrupt between any two statements or die: a
    long command waiting on its runs must not leave them going on alone. SIGTERM (a job
    scheduler's notice, `kill PID`) is passed on to the runs, which checkpoint and stop; SIGINT
    is not (Ctrl-C in a terminal reaches them already; `kill -INT` to this process alone lets
    them finish). The runs keep the default handling: a handler set in Python does not survive
    exec (SIG_IGN would, so it is not used). Inside one already (from any thread: the runs of
    --jobs each wait in one), this is that one's list."""
    if _NOTED["interrupts"] is not None:
        yield _NOTED["interrupts"]
        return
    interrupts: list[int] = []

    def note(signum: int, frame: Any) -> None:
        if not interrupts:  # os.write: a buffered stream must not be re-entered from a handler
            os.write(2, (message + "\n").encode())
        interrupts.append(signum)
        if signum == signal.SIGTERM:
            for process in tuple(_RUNNING):
                process.send_signal(signal.SIGTERM)  # nothing, once it has been waited for

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, note)
    except ValueError:  # not the main thread, where no signal arrives anyway
        pass
    if not previous:
        yield interrupts
        return
    _NOTED["interrupts"] = interrupts
    try:
        yield interrupts
    finally:
        for signum, handler in previous.items():  # None: a handler set outside Python
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        _NOTED["interrupts"] = None


def ensure_finished(options: dict[str, Any], folder: Path, configs_dir: Path, show_progress: bool = True,
                    command: str = "finetune", position: tuple[int, int] | None = None, threads: int | None = None) -> bool:
    """Run `genpt COMMAND --config <options>` into `folder` unless it has finished already
    (its eval_results.json exists). An interrupted run resumes where it stopped; Ctrl-C stops
    the whole (exit 130), so running the same command again continues it. `position`, (i, n):
    this is run i of the n a long command makes, which its start line says. `threads`: the
    run's OMP_NUM_THREADS (default: as this process has it). Returns whether it ran."""
    check_reusable(options, folder, configs_dir, command=command)
    if is_finished(folder):
        return False
    if _NOTED["interrupts"]:  # a run of --jobs whose turn came as the command was stopped
        raise KeyboardInterrupt
    where = f" (run {position[0]} of {position[1]})" if position else ""
    say(f"genpt: {command} {folder.name}{where}")
    config_file = configs_dir / f"{folder.name}.yaml"
    new_folders = [f for f in reversed(config_file.parents) if not f.exists()]  # outermost first
    earlier = config_file.read_bytes() if config_file.is_file() else None
    new_run = not folder.exists()
    write_file_atomically(config_file, lambda p: p.write_text(yaml.safe_dump(options, sort_keys=False)))
    argv = [sys.executable, "-m", "genpt", command, "--config", str(config_file), "--output_dir", str(folder)]
    argv += ["--resume", "auto"] if has_checkpoint(folder) else ["--overwrite_output_dir"]
    env = {**os.environ, **({} if show_progress else {"TQDM_DISABLE": "1"}),
           **({} if threads is None else {"OMP_NUM_THREADS": str(threads)})}
    returncode, interrupted = run_through_interrupts(argv, env, command)
    # Exit 2 before the run folder exists: the run refused its input and wrote nothing, nor does
    # this call. (Exit 2 from a started run, a loss gone NaN say, keeps the file: it is how the run began.)
    if returncode == 2 and new_run and not folder.exists():
        _take_back(config_file, earlier, new_folders)
        raise GenptError(f"the {command} run {folder.name} refused its input (its error is above); nothing was written")
    if returncode in (130, -signal.SIGINT) or (interrupted and returncode == -signal.SIGTERM):
        raise KeyboardInterrupt  # (a run that had not reached its first step dies of a SIGTERM)
    if returncode != 0:
        raise GenptError(f"the {command} run in {folder} failed (exit {returncode}); its command: "
                         f"{' '.join(map(shlex.quote, argv))}")
    return True


def say(line: str) -> None:
    """One line in one write: runs started side by side print from several threads."""
    print(line + "\n", end="", flush=True)


def run_through_interrupts(argv: list[str], env: dict[str, str], command: str) -> tuple[int, bool]:
    """Run `argv` to its end, Ctrl-C or not: (its exit status, whether this process was
    interrupted). Ctrl-C in a terminal reaches the whole foreground job, the run as well: it saves
    a checkpoint and exits 130, which takes longer than the quarter second `subprocess.run`
    grants before it kills the run (and the steps since its last checkpoint with it). An
    interrupt sent to this process alone (`kill -INT`) lets the run finish; SIGTERM is passed
    on to it. Either way the caller then stops."""
    with (interrupts_noted(f"genpt: waiting for the {command} run to stop (it saves a checkpoint on Ctrl-C or SIGTERM; "
                           "run the same command again to continue)") as interrupts,
          subprocess.Popen(argv, env=env) as process):
        _RUNNING.add(process)
        if signal.SIGTERM in interrupts:  # it came while the run started
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(), bool(interrupts)
        finally:
            _RUNNING.discard(process)


def _take_back(config_file: Path, earlier: bytes | None, new_folders: list[Path]) -> None:
    """Put back what ensure_finished wrote before its run refused: the options file as it was
    (or none), and the folders made for it, where nothing else has arrived since."""
    if earlier is None:
        config_file.unlink(missing_ok=True)
    else:
        write_file_atomically(config_file, lambda p: p.write_bytes(earlier))
    for folder in reversed(new_folders):  # innermost first
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def check_reusable(options: dict[str, Any], folder: Path, configs_dir: Path, ignore: tuple[str, ...] = (),
                   command: str = "finetune") -> None:
    """A finished (or checkpointed) run is reused only if it is the run asked for: made with
    these options (a call that asks for 5 epochs must not be answered with a run of 3), and
    from the pretraining its --init holds now (not from weights since resumed or made again).
    `ignore`: options not known yet (a rate a search has still to choose)."""
    if is_finished(folder) or has_checkpoint(folder):
        check_same_options(options, folder, configs_dir, ignore, command)
        check_same_pretraining(folder)


# Options that add files to a run without changing what it computes: a run made with them is
# still the run asked for without them (a search's runs, made with a task's --predict before
# they dropped it, say).
EXTRA_OUTPUTS = ("predict",)


def check_same_options(options: dict[str, Any], folder: Path, configs_dir: Path, ignore: tuple[str, ...] = (),
                       command: str = "finetune") -> None:
    """Each option asked for against the run's own config.yaml (every option, local paths made
    absolute); an option the run was started with (configs_dir/NAME.yaml) and not asked for now
    is a difference too: leaving out a budget asks for the whole training set."""
    run_config = folder / "config.yaml"
    if not run_config.is_file():
        return
    made = read_yaml_mapping(run_config).get(command) or {}
    given_file = configs_dir / f"{folder.name}.yaml"
    given = read_yaml_mapping(given_file) if given_file.is_file() else {}
    wanted = yaml.safe_load(yaml.safe_dump(options))  # as a config file holds them
    changed = []
    for key in sorted(set(wanted) | set(given)):
        if key in ignore:
            continue
        if wanted.get(key) is None and given.get(key) is not None and key not in EXTRA_OUTPUTS:
            changed.append(f"{key} {given[key]!r} (not asked now)")
        elif wanted.get(key) is not None and key in made and not _same_option(made[key], wanted[key]):
            changed.append(f"{key} {made[key]!r} (asked now: {wanted[key]!r})")
    if changed:
        raise GenptError(f"{folder}: made with {', '.join(changed)} ({run_config}); remove the folder (or pass another "
                         "--output_dir) to make it with this call's options")


def check_same_pretraining(folder: Path) -> None:
    start = pretraining_record(folder)
    now = pretraining_now(start.get("init")) if start else None
    if now is not None and same_pretraining(start, now) is False:
        raise GenptError(f"{folder}: started from {start['init']} at {_state(start)} (its pretraining.json); it is now at "
                         f"{_state(now)}. Remove the folder (or pass another --output_dir) to fine-tune from its new weights")


def _state(record: dict[str, Any]) -> str:
    return f"step {record['step']:,} ({record['tokens_seen']:,} tokens)"  # same_pretraining found both


def _same_option(made: Any, wanted: Any) -> bool:
    """Equal, or a path asked for (relative to here) that is the folder the run used (absolute)."""
    if made == wanted:
        return True
    if not (isinstance(made, str) and isinstance(wanted, str)):
        return False
    path = Path(wanted).expanduser()
    return path.exists() and str(path.resolve()) == made


def is_finished(folder: Path) -> bool:
    return (folder / "eval_results.json").is_file()


def has_checkpoint(folder: Path) -> bool:
    """An unfinished run that ensure_finished resumes rather than starts again."""
    return any((folder / "checkpoints").glob("step-*"))


# Together they tell one saved state of a pretraining run from another (same step, new seed: other time).
PRETRAINING_IDENTITY = ("step", "tokens_seen", "elapsed_seconds")


def pretraining_record(folder: Path) -> dict[str, Any] | None:
    """What the fine-tuned run in `folder` recorded of its --init's pretraining when it started
    ({"init", "step", "tokens_seen", "elapsed_seconds", "stop_reason"}); None for runs that have
    no record (from scratch, from a Hugging Face model, or made before 2026-12-07)."""
    return _read_json(folder / "pretraining.json")  # genpt.pretrained.PRETRAINING_FILE; importing it would import torch


def pretraining_now(init: str | None) -> dict[str, Any] | None:
    """The pretraining run `init`'s trainer_state.json as it is now; None when `init` is
    scratch, a Hugging Face model, or a folder that is no longer there."""
    if not init or init == "scratch":
        return None
    return _read_json(Path(init) / "trainer_state.json")


def same_pretraining(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    """Whether two records are of one saved state; None when either lacks a field to tell."""
    if any(key not in a or key not in b for key in PRETRAINING_IDENTITY):
        return None
    return all(a[key] == b[key] for key in PRETRAINING_IDENTITY)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise GenptError(f"{path}: not valid JSON ({error})") from None

"""Runs made of other runs (`genpt compare`, `genpt eval layers`): each part is an ordinary
`genpt finetune` run folder, run in a process of its own, as a user would run it. Stages
never import each other; this starts the command instead.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from genpt.atomic import write_file_atomically
from genpt.errors import GenptError


def ensure_finished(options: dict[str, Any], folder: Path, configs_dir: Path, show_progress: bool = True,
                    command: str = "finetune", position: tuple[int, int] | None = None) -> None:
    """Run `genpt COMMAND --config <options>` into `folder` unless it has finished already
    (its eval_results.json exists). An interrupted run resumes where it stopped; Ctrl-C stops
    the whole (exit 130), so running the same command again continues it. `position`, (i, n):
    this is run i of the n a long command makes, which its start line says."""
    if is_finished(folder):
        return
    where = f" (run {position[0]} of {position[1]})" if position else ""
    print(f"genpt: {command} {folder.name}{where}", flush=True)
    configs_dir.mkdir(parents=True, exist_ok=True)
    config_file = configs_dir / f"{folder.name}.yaml"
    write_file_atomically(config_file, lambda p: p.write_text(yaml.safe_dump(options, sort_keys=False)))
    argv = [sys.executable, "-m", "genpt", command, "--config", str(config_file), "--output_dir", str(folder)]
    argv += ["--resume", "auto"] if has_checkpoint(folder) else ["--overwrite_output_dir"]
    env = {**os.environ, **({} if show_progress else {"TQDM_DISABLE": "1"})}
    done = subprocess.run(argv, env=env)
    if done.returncode == 130:
        raise KeyboardInterrupt
    if done.returncode != 0:
        raise GenptError(f"the {command} run in {folder} failed (exit {done.returncode}); its command: "
                         f"{' '.join(map(shlex.quote, argv))}")


def is_finished(folder: Path) -> bool:
    return (folder / "eval_results.json").is_file()


def has_checkpoint(folder: Path) -> bool:
    """An unfinished run that ensure_finished resumes rather than starts again."""
    return any((folder / "checkpoints").glob("step-*"))

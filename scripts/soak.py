"""Soak test: kill `genpt pretrain` and `genpt finetune` with SIGKILL at random moments, resume
each time, and check that the run that finally finishes equals an uninterrupted one bit for
bit, and that no staging folder of a killed write is left behind.

    python scripts/soak.py                       # 20 kills of each, about 10 minutes on 2 cores
    python scripts/soak.py --kills 5 --seed 1

Each command runs as a user would run it: a killed run is continued with `--resume auto`
(and, when it was killed before its first checkpoint, started again). Prints one JSON line
per stage and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT / "genpt" / "default_data" / "books"
GLUE = ROOT / "genpt" / "default_data" / "glue"


def genpt(*args: str) -> list[str]:
    return [sys.executable, "-m", "genpt", *args]


def pretrain_command(tokenizer: Path, corpus: Path, output: Path) -> list[str]:
    return genpt("pretrain", "--preset", "tiny", "--tokenizer", str(tokenizer), "--input", str(corpus), "--output_dir",
                 str(output), "--max_steps", "150", "--batch_size", "8", "--seq_len", "64", "--warmup_steps", "10",
                 "--eval_steps", "25", "--save_steps", "3", "--eval_tokens", "4096", "--mixed_precision", "no",
                 "--logging_steps", "5")


def finetune_command(init: Path, output: Path) -> list[str]:
    return genpt("finetune", "--task", "sst2", "--data_dir", str(GLUE), "--init", str(init), "--output_dir", str(output),
                 "--max_train_samples", "600", "--max_eval_samples", "200", "--num_train_epochs", "3", "--learning_rate",
                 "3e-4", "--save_steps", "3", "--mixed_precision", "no", "--logging_steps", "5")


def run_to_completion(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def soak(command: list[str], output: Path, kills: int, rng: random.Random, env: dict[str, str], max_delay: float) -> dict:
    """Kill `command` `kills` times at random moments, resuming each time; then let it finish."""
    killed = attempts = 0
    while True:
        has_checkpoint = any((output / "checkpoints").glob("step-*"))
        resume = ["--resume", "auto"] if has_checkpoint else (["--overwrite_output_dir"] if "finetune" in command else [])
        process = subprocess.Popen(command + resume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        attempts += 1
        if killed < kills:
            try:
                process.wait(timeout=rng.uniform(0.5, max_delay))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
                continue
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"attempt {attempts} failed (exit {process.returncode}):\n{stderr[-2000:]}")
        if killed >= kills:
            return {"kills": killed, "attempts": attempts}


def weights_equal(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    x, y = load_file(a), load_file(b)
    return x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) for k in x)


def staging_left(folder: Path) -> list[str]:
    """Hidden staging names (`.NAME.PID.HEX.tmp[.old]`) anywhere in the run or beside it."""
    found = [p for p in folder.rglob(".*") if ".tmp" in p.name]
    found += [p for p in folder.parent.glob(f".{folder.name}.*")]
    return [str(p) for p in found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per stage")
    parser.add_argument("--seed", type=int, default=0, help="seeds the moments of the kills")
    parser.add_argument("--work", help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        corpus = work / "corpus"
        corpus.mkdir(exist_ok=True)
        for book in ("Carroll_Alice_s_Adventures_in_Wonderland", "Wilde_The_Picture_of_Dorian_Gray"):
            (corpus / f"{book}.txt").write_text(gzip.open(BOOKS / f"{book}.txt.gz", "rt", encoding="utf-8").read())
        tokenizer = work / "tokenizer"
        run_to_completion(genpt("tokenizer", "train", "--input", str(corpus), "--vocab_size", "1000", "--output_dir",
                                str(tokenizer)), env)
        ok = True
        stages = {
            "pretrain": lambda out: pretrain_command(tokenizer, corpus, out),
            "finetune": lambda out: finetune_command(work / "pretrain-whole", out),
        }
        for stage, command in stages.items():
            whole, killed = work / f"{stage}-whole", work / f"{stage}-killed"
            started = time.perf_counter()
            run_to_completion(command(whole), env)
            uninterrupted = time.perf_counter() - started
            result = soak(command(killed), killed, args.kills, rng, env, max_delay=max(1.0, uninterrupted))
            result.update(stage=stage, uninterrupted_seconds=round(uninterrupted, 1),
                          weights_equal=weights_equal(whole / "model.safetensors", killed / "model.safetensors"),
                          staging_left=staging_left(killed))
            if stage == "finetune":
                result["predictions_equal"] = (whole / "predictions_dev.tsv").read_bytes() == (killed / "predictions_dev.tsv").read_bytes()
            ok &= result["weights_equal"] and not result["staging_left"] and result.get("predictions_equal", True)
            print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

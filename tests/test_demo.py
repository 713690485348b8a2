"""`genpt demo` on a reduced budget: every step runs and leaves its outputs."""

import json
import math
import os
import signal
import subprocess
import sys
import time

from safetensors.torch import load_file
from transformers import AutoTokenizer

from genpt.cli import main


def test_demo_runs_end_to_end_on_a_small_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output_dir", str(out), "--vocab_size", "1000", "--pretrain_steps", "12",
                 "--finetune_epochs", "1", "--max_train_samples", "200"]) == 0
    printed = capsys.readouterr().out
    assert "zero-shot SST-2 accuracy" in printed and "against chance 50.0" in printed
    for step in ("tokenizer", "pretrain", "zero-shot", "finetune (pretrained)", "finetune (scratch)", "evaluate", "export",
                 "reload in transformers", "pretraining bought"):
        assert step in printed, step
    # every stage left its outputs, and the export scored the dev set exactly as genpt did
    for run in ("sst2-pretrained", "sst2-scratch"):
        assert json.loads((out / run / "eval_results.json").read_text())["eval_samples"] == 872
        assert len((out / run / "SST-2.tsv").read_text().splitlines()) == 1822
    genpt_accuracy = json.loads((out / "eval" / "eval_results.json").read_text())["accuracy"]
    assert f"transformers pipeline: accuracy {genpt_accuracy:.3f} (same as genpt)" in printed
    for folder in ("genpt-tiny", "genpt-tiny-sst2"):
        assert (out / "export" / folder / "model.safetensors").is_file() and (out / "export" / folder / "README.md").is_file()
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert len(tokenizer) == 1000
    state = json.loads((out / "pretrain" / "trainer_state.json").read_text())
    assert state["step"] == 12 and state["best_val_loss"] < math.log(1000) - 0.2  # learnt more than uniform
    assert load_file(out / "pretrain" / "model.safetensors")["wte.weight"].shape == (1000, 128)
    assert (out / "pretrain" / "loss_curve.png").stat().st_size > 10_000
    demo = json.loads((out / "demo.json").read_text())  # marks the folder as the demo's, so a second demo may replace it
    assert demo["finished"] and [s["step"] for s in demo["steps"]][-1] == "reload in transformers"


def test_ctrl_c_during_pretraining_stops_the_demo_there(tmp_path):
    out = tmp_path / "demo"
    process = subprocess.Popen([sys.executable, "-m", "genpt", "demo", "--output_dir", str(out), "--vocab_size", "1000",
                                "--pretrain_steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 240
    while not (out / "pretrain" / "metrics.jsonl").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # until pretraining has logged its first steps
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "genpt demo: interrupted" in err
    assert not (out / "sst2-pretrained").exists()  # no fine-tuning from a half-trained model

"""`genpt demo` on a reduced budget: every step runs and leaves its outputs."""

import json
import math

from safetensors.torch import load_file
from transformers import AutoTokenizer

from genpt.cli import main


def test_demo_runs_end_to_end_on_a_small_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output_dir", str(out), "--vocab_size", "1000", "--pretrain_steps", "12"]) == 0
    printed = capsys.readouterr().out
    assert "demo finished" in printed and "tokenizer" in printed and "pretrain" in printed
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert len(tokenizer) == 1000
    state = json.loads((out / "pretrain" / "trainer_state.json").read_text())
    assert state["step"] == 12 and state["best_val_loss"] < math.log(1000) + 0.3  # near-uniform or better
    losses = [json.loads(line)["loss"] for line in (out / "pretrain" / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses[-1] < losses[0]
    assert load_file(out / "pretrain" / "model.safetensors")["wte.weight"].shape == (1000, 128)
    assert (out / "pretrain" / "loss_curve.png").stat().st_size > 10_000

"""scripts/pair_probe.py: the measurements behind the whole-set table's reading of STS-B."""

import runpy
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
GLUE = ROOT.parent / "shared" / "data" / "glue"  # STS-B and MRPC: not embedded
probe = runpy.run_path(str(ROOT / "scripts" / "pair_probe.py"))


def test_word_overlap_is_a_strong_baseline_on_the_real_dev_sets():
    if not (GLUE / "STS-B").is_dir():
        pytest.skip("needs ../shared/data/glue")
    assert probe["jaccard"]("A man is dancing.", "a man is DANCING!") == 1.0
    assert probe["jaccard"]("A man is dancing.", "A woman sings.") == pytest.approx(1 / 6)
    overlap = probe["overlap_baselines"](GLUE)
    assert 60 < overlap["stsb_dev_pearson"] < 70  # 65.0: word overlap alone clears issue 14's STS-B bar
    assert 0 < overlap["mrpc_threshold_from_train"] < 1
    assert overlap["mrpc_dev_accuracy"] > 68.4  # above the all-positive accuracy


def test_the_copying_probe_tells_a_model_that_copies_from_one_that_does_not():
    untrained = probe["GPT"](probe["GPTConfig"](vocab_size=64, n_positions=32, n_layer=2, n_head=2, n_embd=64))
    windows = torch.randint(0, 64, (16, 16), generator=torch.Generator().manual_seed(0), device="cpu")
    once, again = probe["once_and_again"](untrained, windows)
    assert again == pytest.approx(once, abs=0.3)  # nothing learnt: the repeat is as hard as the first reading
    trained = probe["copying_control"](steps=300)
    assert trained["loss_once"] == pytest.approx(trained["chance"], abs=0.3)  # random tokens cannot be predicted...
    assert trained["loss_again"] < 1.0  # ...until they repeat: the model copies from its context

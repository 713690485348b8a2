"""scripts/pair_probe.py: the measurements behind the whole-set table's reading of the pair tasks."""

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
    stretches = torch.randint(0, 64, (16, 32), generator=torch.Generator(device="cpu").manual_seed(0), device="cpu")
    once, again = probe["once_and_again"](untrained, stretches)
    assert again == pytest.approx(once, abs=0.1)  # nothing learnt: the text's own copy does not help
    trained = probe["copying_control"](steps=400)
    # Random tokens cannot be predicted from other random tokens (below chance would mean
    # the model saw the tokens it predicts)...
    assert trained["loss_once"] > trained["chance"] - 0.3
    # ...but after themselves they can: the model copies. Scoring the half's first token too
    # (which follows the half's end, not its copy) would add about chance / 16 = 0.26.
    assert trained["loss_again"] < 0.2  # 0.08 measured

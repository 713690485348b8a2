"""The baselines on GLUE tasks: `genpt finetune --arch transformer|lstm` with GPT's tools."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from genpt.cli import main
from genpt.models.architectures import baseline_config, build_task_model
from genpt.resources import default_corpus_dir, default_glue_dir
from genpt.tokenizer.train import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("baselines") / "tokenizer"
    train_tokenizer([default_corpus_dir()], output_dir=folder, vocab_size=1000, show_progress=False)
    return folder


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_baseline_fine_tunes_evaluates_and_reloads(tmp_path, tokenizer_dir, arch):
    run = tmp_path / arch
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--arch", arch, "--init", "scratch",
                 "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--max_train_samples", "128", "--max_eval_samples", "60",
                 "--num_train_epochs", "1", "--max_seq_length", "48", "--mixed_precision", "no", "--output_dir", str(run)]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["arch"] == arch and config["finetune"]["aux_lm_weight"] == (0.0 if arch == "transformer" else 0.5)
    rows = (run / "predictions_dev.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction\tlabel" and len(rows) == 61
    lm_losses = [json.loads(line).get("lm_loss") for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert all((loss > 0) == (arch == "lstm") for loss in lm_losses)  # the paper's "LSTM w/ aux LM"
    assert main(["eval", "--run", str(run), "--data_dir", str(default_glue_dir()), "--max_eval_samples", "60",
                 "--output_dir", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "predictions_dev.tsv").read_bytes() == (run / "predictions_dev.tsv").read_bytes()


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_similarity_rule_is_symmetric_for_the_baselines(arch):
    torch.manual_seed(0)
    model = build_task_model(arch, baseline_config(arch, "tiny", 50, 1), "similarity", 1, regression=True).eval()
    ab, ba = [2, 10, 11, 12, 3, 20, 21, 4], [2, 20, 21, 3, 10, 11, 12, 4]
    ids = lambda first, second: torch.tensor([[first, second]])  # noqa: E731
    mask = torch.ones(1, 2, 8, dtype=torch.long)
    torch.testing.assert_close(model(ids(ab, ba), mask).logits, model(ids(ba, ab), mask).logits, rtol=0, atol=1e-6)


def test_baseline_misuse_is_a_clear_error(tmp_path, tokenizer_dir, capsys):
    base = ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--tokenizer", str(tokenizer_dir),
            "--preset", "tiny", "--output_dir", str(tmp_path / "out")]
    for extra, expected in ((["--arch", "lstm", "--init", str(tmp_path)], "--init scratch"),
                            (["--arch", "transformer", "--init", "scratch", "--aux_lm_weight", "0.5"], "language-model head"),
                            (["--arch", "lstm", "--init", "scratch", "--preset", "huge"], "--preset huge")):
        assert main(base + extra) == 2
        assert expected in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

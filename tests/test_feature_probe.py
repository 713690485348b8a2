"""scripts/feature_probe.py: a linear probe on frozen GPT features, fitted and scored on two
disjoint parts of the training set, never on dev."""

import json
import runpy
import shutil
from pathlib import Path

import pytest

from genpt.data import tasks as task_registry
from genpt.resources import default_glue_dir
from genpt.tokenizer.train import train_tokenizer
from helpers import write_books

ROOT = Path(__file__).resolve().parents[1]
STORY_CLOZE = ROOT.parent / "shared" / "data" / "story_cloze"


@pytest.fixture(scope="module")
def script() -> dict:
    return runpy.run_path(str(ROOT / "scripts" / "feature_probe.py"))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("probe")
    corpus = write_books(root / "corpus", "Carroll_Alice_s_Adventures_in_Wonderland")
    train_tokenizer([corpus], output_dir=root / "tokenizer", vocab_size=1000, show_progress=False)
    return root / "tokenizer"


def test_the_probe_fits_and_scores_on_disjoint_parts_of_the_training_set_without_dev(script, tokenizer, tmp_path, capsys):
    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    shutil.copy(default_glue_dir() / "SST-2" / "train.tsv", glue / "train.tsv")  # no dev.tsv: dev cannot be read
    output = tmp_path / "probe.json"
    argv = ["--task", "sst2", "--data_dir", str(tmp_path / "glue"), "--init", "scratch", "--tokenizer", str(tokenizer),
            "--preset", "tiny", "--held_out_percentage", "20", "--output", str(output)]
    assert script["main"](argv) == 0
    (record,) = json.loads(output.read_text())
    train = task_registry.read_split(task_registry.get_task("sst2"), "train", data_dir=tmp_path / "glue")
    fit, held_out = task_registry.hold_out(train, 20)
    assert {id(e) for e in fit}.isdisjoint(id(e) for e in held_out) and len(fit) + len(held_out) == len(train)
    assert (record["fit_examples"], record["held_out_examples"]) == (len(fit), len(held_out)) == (4000, 1000)
    assert record["metric"] == "accuracy" and 0 <= record["held_out"] <= 100 and record["pretraining_tokens"] == 0
    assert "scratch: sst2 held-out accuracy" in capsys.readouterr().out
    # the same seed draws the same weights and the same held-out part: the same probe
    assert script["main"](argv) == 0
    (again,) = json.loads(output.read_text())
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in record.items() if k != "seconds"}
    # --max_train_samples: a random draw of the training set, of which the percentage is held out
    assert script["main"]([*argv, "--max_train_samples", "500"]) == 0
    (drawn,) = json.loads(output.read_text())
    assert (drawn["fit_examples"], drawn["held_out_examples"], drawn["train_examples"]) == (400, 100, 500)


@pytest.mark.skipif(not STORY_CLOZE.is_dir(), reason="../shared/data/story_cloze not present")
def test_a_multiple_choice_task_is_one_line_and_exit_2(script, tokenizer, tmp_path, capsys):
    output = tmp_path / "probe.json"
    assert script["main"](["--task", "story_cloze", "--data_dir", str(STORY_CLOZE), "--init", "scratch",
                           "--tokenizer", str(tokenizer), "--preset", "tiny", "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("feature_probe.py: --task story_cloze") and "\n" not in error
    assert not output.exists()

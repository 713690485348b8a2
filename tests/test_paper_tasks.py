"""The rest of the paper's tasks (issue 19): RACE, SNLI, SciTail, and MNLI / QQP / QNLI end to
end. The data sets are not on this machine: each test writes a few examples in the original
layout, then reads, fine-tunes, evaluates and predicts as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_books

from genpt.cli import main
from genpt.data.tasks import TASKS, read_split
from genpt.data.transformations import SpecialIds, encode_examples
from genpt.errors import GenptError
from genpt.metrics import accuracy
from genpt.tokenization import load_tokenizer
from genpt.tokenizer.train import train_tokenizer

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"
FAST = ["--num_train_epochs", "1", "--batch_size", "8", "--mixed_precision", "no", "--max_seq_length", "64"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("paper-tasks")
    corpus = write_books(root / "corpus", "Carroll_Alice_s_Adventures_in_Wonderland")
    train_tokenizer([corpus], output_dir=root / "tok", vocab_size=600, show_progress=False)
    assert main(["pretrain", "--preset", "tiny", "--tokenizer", str(root / "tok"), "--input", str(corpus), "--max_steps", "4",
                 "--batch_size", "4", "--seq_len", "64", "--eval_steps", "4", "--eval_tokens", "2048", "--warmup_steps", "2",
                 "--mixed_precision", "no", "--output_dir", str(root / "run")]) == 0
    return root / "run"


def write_race(root: Path) -> Path:
    """RACE/{train,dev,test}/{middle,high}/N.txt, one JSON object each."""
    for split in ("train", "dev", "test"):
        for level in ("middle", "high"):
            folder = root / "RACE" / split / level
            folder.mkdir(parents=True)
            for number in range(3):
                record = {"id": f"{level}{number}.txt",
                          "article": " ".join(["The cat sat on the mat and looked at the garden for a long time."] * 12),
                          "questions": [f"Where did the cat sit {number}?", "What did it look at?"],
                          "options": [["the mat", "a tree", "the roof", "a box"], ["a car", "the garden", "a dog", "the sea"]]}
                if split != "test":
                    record["answers"] = ["A", "B"]
                (folder / f"{number}.txt").write_text(json.dumps(record))
    return root


def results_match_predictions(run_dir: Path, metric_key: str = "accuracy") -> float:
    rows = [line.split("\t") for line in (run_dir / "predictions_dev.tsv").read_text().splitlines()[1:]]
    recomputed = accuracy([r[1] for r in rows], [r[2] for r in rows])
    assert recomputed == pytest.approx(json.loads((run_dir / "eval_results.json").read_text())[metric_key])
    return recomputed


def test_race_reads_every_level_and_never_cuts_the_question_or_an_option(tmp_path, run):
    data = write_race(tmp_path / "data")
    examples = read_split(TASKS["race"], "train", data_dir=data)
    assert len(examples) == 12 and [e.label for e in examples[:2]] == [0, 1]
    assert len(read_split(TASKS["race-middle"], "validation", data_dir=data)) == 6
    assert {e.id.split("/")[0] for e in read_split(TASKS["race-high"], "test", data_dir=data)} == {"high"}
    assert all(e.label is None for e in read_split(TASKS["race"], "test", data_dir=data))
    tokenizer = load_tokenizer(run / "tokenizer")
    ids = SpecialIds.from_tokenizer(tokenizer)
    sequences = encode_examples(examples[:1], "multiple_choice", tokenizer, 48)[0]
    question = tokenizer(" " + examples[0].text_b, add_special_tokens=False)["input_ids"]
    assert len(sequences) == 4  # every option scored
    for sequence, option in zip(sequences, examples[0].choices):
        answer = tokenizer(option, add_special_tokens=False)["input_ids"]
        assert len(sequence) == 48 and sequence[0] == ids.start and sequence[-1] == ids.extract
        delim = sequence.index(ids.delim)
        assert sequence[delim - len(question) : delim] == question and sequence[delim + 1 : -1] == answer

    out = tmp_path / "ft"
    assert main(["finetune", "--task", "race", "--data_dir", str(data), "--init", str(run), "--predict", "test", *FAST,
                 "--output_dir", str(out)]) == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["eval_samples"] == 12 and {"middle_accuracy", "high_accuracy"} <= set(results)
    assert results["accuracy"] == pytest.approx((results["middle_accuracy"] + results["high_accuracy"]) / 2)
    results_match_predictions(out)
    assert len((out / "race.tsv").read_text().splitlines()) == 13


@pytest.mark.parametrize(("text", "message"), [
    ('{"article": "a", "questions": ["q"], "answers": ["A"]}', "no 'options'"),
    ('{"article": "a", "questions": ["q"], "options": [["a", "b", "c", "d"]], "answers": ["E"]}', "answer 'E' is not one of"),
    ('{"article": "a", "questions": ["q"], "options": [["a", "b"]], "answers": ["A"]}', "expected 4"),
    ("not json", "not valid JSON"),
])
def test_bad_race_files_are_one_line(tmp_path, text, message):
    folder = tmp_path / "RACE" / "train" / "middle"
    folder.mkdir(parents=True)
    (folder / "1.txt").write_text(text)
    (tmp_path / "RACE" / "train" / "high").mkdir()
    (tmp_path / "RACE" / "train" / "high" / "1.txt").write_text(text)
    with pytest.raises(GenptError, match=message) as caught:
        read_split(TASKS["race"], "train", data_dir=tmp_path)
    assert "\n" not in str(caught.value) and "1.txt" in str(caught.value)


def write_snli(root: Path) -> Path:
    folder = root / "snli_1.0"
    folder.mkdir(parents=True)
    labels = ["entailment", "neutral", "contradiction", "-"]
    for split in ("train", "dev", "test"):
        lines = [json.dumps({"sentence1": f"A man walks {i}.", "sentence2": f"A person moves {i}.", "gold_label": labels[i % 4]})
                 for i in range(24)]
        (folder / f"snli_1.0_{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_snli_drops_unlabelled_pairs_and_runs_end_to_end(tmp_path, run, capsys):
    data = write_snli(tmp_path / "data")
    train = read_split(TASKS["snli"], "train", data_dir=data)
    assert len(train) == 18 and [e.label for e in train[:3]] == [0, 1, 2]
    assert "dropped 6 pair(s)" in capsys.readouterr().err
    out = tmp_path / "ft"
    assert main(["finetune", "--task", "snli", "--data_dir", str(data), "--init", str(run), *FAST, "--output_dir", str(out)]) == 0
    assert json.loads((out / "eval_results.json").read_text())["eval_samples"] == 18
    results_match_predictions(out)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence1": "a", "sentence2": "b", "gold_label": "entailment"}\nnot json\n')
    with pytest.raises(GenptError, match="bad.jsonl line 2: not valid JSON"):
        read_split(TASKS["snli"], "train", file=bad)


def write_scitail(root: Path) -> Path:
    folder = root / "SciTailV1.1" / "tsv_format"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        rows = [f"Plants need light {i}.\tPlants use sunlight {i}.\t{'entails' if i % 2 else 'neutral'}" for i in range(20)]
        (folder / f"scitail_1.0_{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_scitail_reads_the_original_tsv_and_runs_end_to_end(tmp_path, run):
    data = write_scitail(tmp_path / "data")
    assert [e.label for e in read_split(TASKS["scitail"], "train", data_dir=data)[:2]] == [1, 0]
    out = tmp_path / "ft"
    assert main(["finetune", "--task", "scitail", "--data_dir", str(data), "--init", str(run), *FAST, "--output_dir", str(out)]) == 0
    results_match_predictions(out)
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tcontradicts\n")
    with pytest.raises(GenptError, match="bad.tsv line 1: label 'contradicts' is not one of 'entails', 'neutral'"):
        read_split(TASKS["scitail"], "train", file=bad)


def write_glue_task(root: Path, name: str) -> Path:
    """Small files in the GLUE layout (glue_data/<TASK>/...)."""
    if name == "mnli":
        folder = root / "MNLI"
        folder.mkdir(parents=True)
        header = "index\tsentence1\tsentence2\tgold_label\n"
        labels = ("entailment", "neutral", "contradiction")
        rows = "".join(f"{i}\tThe dog runs {i}.\tAn animal moves {i}.\t{labels[i % 3]}\n" for i in range(18))
        for file in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
            (folder / file).write_text(header + rows)
        for file in ("test_matched.tsv", "test_mismatched.tsv"):
            (folder / file).write_text("index\tsentence1\tsentence2\n" + "".join(f"{i}\tA {i}.\tB {i}.\n" for i in range(5)))
    elif name == "qqp":
        folder = root / "QQP"
        folder.mkdir(parents=True)
        header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        rows = "".join(f"{i}\t{2 * i}\t{2 * i + 1}\tHow do I cook {i}?\tWhat is cooking {i}?\t{i % 2}\n" for i in range(16))
        (folder / "train.tsv").write_text(header + rows)
        (folder / "dev.tsv").write_text(header + rows)
        (folder / "test.tsv").write_text("id\tquestion1\tquestion2\n" + "".join(f"{i}\tQ {i}?\tR {i}?\n" for i in range(4)))
    return root


@pytest.mark.parametrize("task", ["mnli", "qqp"])
def test_mnli_and_qqp_run_end_to_end_with_submission_files(tmp_path, run, task):
    data = write_glue_task(tmp_path / "glue", task)
    out = tmp_path / "ft"
    assert main(["finetune", "--task", task, "--data_dir", str(data), "--init", str(run), "--predict", "test", *FAST,
                 "--output_dir", str(out)]) == 0
    results = json.loads((out / "eval_results.json").read_text())
    if task == "mnli":  # matched and mismatched, as GLUE reports them
        assert {"accuracy", "mismatched_accuracy"} <= set(results)
        assert (out / "MNLI-m.tsv").is_file() and (out / "MNLI-mm.tsv").is_file()
    else:
        assert {"f1", "accuracy"} <= set(results) and len((out / "QQP.tsv").read_text().splitlines()) == 5
    assert main(["compare", "--runs", str(out), "--output_dir", str(tmp_path / "table")]) == 0  # compare takes them


@pytest.mark.skipif(not (GLUE / "QNLI" / "dev.tsv").is_file(), reason="../shared/data/glue/QNLI not present")
def test_qnli_trained_on_a_small_file_scores_the_real_dev_file_and_predicts_the_real_test_file(tmp_path, run):
    dev_lines = (GLUE / "QNLI" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "glue" / "QNLI"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("\n".join(dev_lines[:41]) + "\n")  # a small training file in the GLUE layout
    out = tmp_path / "ft"
    assert main(["finetune", "--task", "qnli", "--train_file", str(folder / "train.tsv"), "--validation_file",
                 str(GLUE / "QNLI" / "dev.tsv"), "--test_file", str(GLUE / "QNLI" / "test.tsv"), "--predict", "test",
                 "--max_eval_samples", "64", "--init", str(run), *FAST, "--output_dir", str(out)]) == 0
    assert len((out / "QNLI.tsv").read_text().splitlines()) == 5464  # every real test question predicted
    assert main(["eval", "--run", str(out), "--validation_file", str(GLUE / "QNLI" / "dev.tsv"), "--max_eval_samples", "200",
                 "--output_dir", str(tmp_path / "eval")]) == 0
    scored = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert scored["eval_samples"] == 200
    results_match_predictions(tmp_path / "eval")


def test_the_hub_copies_map_to_the_same_examples(monkeypatch):
    import sys
    import types

    tables = {
        ("ehovy/race", "middle"): [{"example_id": "m1", "article": " A ", "question": "Q?", "options": ["a", "b", "c", "d"],
                                    "answer": "C"}],
        ("stanfordnlp/snli", None): [{"premise": "P", "hypothesis": "H", "label": 2},
                                     {"premise": "P2", "hypothesis": "H2", "label": -1}],
        ("allenai/scitail", "tsv_format"): [{"premise": "P", "hypothesis": "H", "label": "entails"}],
    }
    calls = []

    def load_dataset(path, name, split):
        calls.append((path, name, split))
        return tables[path, name]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    race = read_split(TASKS["race-middle"], "validation")
    assert race[0].text_a == "A" and race[0].text_b == "Q?" and race[0].choices == ("a", "b", "c", "d") and race[0].label == 2
    snli = read_split(TASKS["snli"], "train")
    assert [(e.text_a, e.label) for e in snli] == [("P", 2)]  # label -1 dropped
    assert read_split(TASKS["scitail"], "test")[0].label == 0
    assert calls == [("ehovy/race", "middle", "validation"), ("stanfordnlp/snli", None, "train"),
                     ("allenai/scitail", "tsv_format", "test")]

"""Fine-tuning: input transformations, task heads, `genpt finetune` / `genpt eval` on real GLUE data."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import interrupt_after_step
from safetensors.torch import load_file

from genpt.checkpoint import list_checkpoints, read_state, save_state_dict
from genpt.cli import main
from genpt.config import GPTConfig
from genpt.data.tasks import Example, get_task, read_split
from genpt.data.transformations import (
    SpecialIds,
    encode_examples,
    transform,
    truncate_longest_first,
)
from genpt.models.gpt import GPT
from genpt.models.heads import GPTForTask
from genpt.pretrained import load_pretrained
from genpt.resources import default_corpus_dir, default_glue_dir
from genpt.tokenization import load_tokenizer
from genpt.tokenizer.train import train_tokenizer

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"
needs_glue = pytest.mark.skipif(not GLUE.is_dir(), reason="../shared/data/glue not present")
TINY = GPTConfig(name="test", vocab_size=1000, n_positions=64, n_layer=2, n_head=2, n_embd=32, n_inner=128)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("finetune") / "tokenizer"
    train_tokenizer([default_corpus_dir()], output_dir=folder, vocab_size=1000, show_progress=False)
    return folder


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


# ---- input transformations ---------------------------------------------------------------


def test_each_transformation_gives_the_papers_sequence(tokenizer):
    ids = SpecialIds.from_tokenizer(tokenizer)
    a, b = tokenizer("The cat sat.", add_special_tokens=False)["input_ids"], tokenizer("It slept.", add_special_tokens=False)["input_ids"]
    c = tokenizer("It ran.", add_special_tokens=False)["input_ids"]
    s, d, e = ids.start, ids.delim, ids.extract
    assert transform([a], "single", ids, 64) == [[s, *a, e]]
    assert transform([a, b], "pair", ids, 64) == [[s, *a, d, *b, e]]
    assert transform([a, b], "similarity", ids, 64) == [[s, *a, d, *b, e], [s, *b, d, *a, e]]
    assert transform([a, [], b, c], "multiple_choice", ids, 64) == [[s, *a, d, *b, e], [s, *a, d, *c, e]]
    # the same examples through the reader-facing path
    examples = [Example(0, "The cat sat.", "It slept."), Example(1, "The cat sat.", choices=("It slept.", "It ran."))]
    assert encode_examples(examples[:1], "similarity", tokenizer, 64)[0] == [[s, *a, d, *b, e], [s, *b, d, *a, e]]
    assert encode_examples(examples[1:], "multiple_choice", tokenizer, 64)[0] == [[s, *a, d, *b, e], [s, *a, d, *c, e]]


def test_single_and_pair_equal_the_tokenizers_own_template(tokenizer):
    """The saved tokenizer's post-processor builds `s A e` / `s A $ B e` too: both agree,
    truncation included (ours: longest first, the tokenizer's `longest_first`)."""
    ids = SpecialIds.from_tokenizer(tokenizer)
    long_a = "It was the best of times, it was the worst of times, it was the age of wisdom. " * 3
    short_b = "A tale of two cities."
    for max_length in (12, 20, 33, 64):
        for first, second in ((long_a, short_b), (short_b, long_a), (long_a, long_a)):
            expected = tokenizer(first, second, truncation="longest_first", max_length=max_length)["input_ids"]
            got = transform([tokenizer(t, add_special_tokens=False)["input_ids"] for t in (first, second)], "pair", ids, max_length)
            assert got == [expected]
        expected = tokenizer(long_a, truncation=True, max_length=max_length)["input_ids"]
        assert transform([tokenizer(long_a, add_special_tokens=False)["input_ids"]], "single", ids, max_length) == [expected]


def test_truncation_never_drops_special_tokens(tokenizer):
    ids = SpecialIds.from_tokenizer(tokenizer)
    for la, lb in ((50, 3), (3, 50), (40, 40), (0, 70)):
        first, second = list(range(10, 10 + la)), list(range(200, 200 + lb))
        for seq in transform([first, second], "pair", ids, 16):
            assert len(seq) <= 16 and seq[0] == ids.start and seq[-1] == ids.extract and seq.count(ids.delim) == 1
    assert truncate_longest_first([1] * 10, [2] * 3, 9) == ([1] * 6, [2] * 3)
    assert truncate_longest_first([1] * 5, [2] * 5, 7) == ([1] * 3, [2] * 4)  # on a tie the second keeps more


# ---- heads --------------------------------------------------------------------------------


def _batch(sequences: list[list[list[int]]], pad: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    K, T = len(sequences[0]), max(len(s) for ex in sequences for s in ex)
    ids = torch.full((len(sequences), K, T), pad)
    mask = torch.zeros_like(ids)
    for b, ex in enumerate(sequences):
        for k, s in enumerate(ex):
            ids[b, k, : len(s)], mask[b, k, : len(s)] = torch.tensor(s), 1
    return ids, mask


def test_similarity_is_symmetric():
    torch.manual_seed(0)
    model = GPTForTask(TINY, "similarity", num_labels=2).eval()
    ab, ba = [2, 10, 11, 12, 3, 20, 21, 4], [2, 20, 21, 3, 10, 11, 12, 4]
    one = model(*_batch([[ab, ba]])).logits
    swapped = model(*_batch([[ba, ab]])).logits
    torch.testing.assert_close(one, swapped, rtol=0, atol=1e-6)


def test_multiple_choice_normalises_across_candidates():
    torch.manual_seed(0)
    model = GPTForTask(TINY, "multiple_choice", num_labels=1).eval()
    candidates = [[2, 10, 11, 3, 30, 4], [2, 10, 11, 3, 31, 32, 33, 4], [2, 10, 11, 3, 34, 4]]
    ids, mask = _batch([candidates])
    output = model(ids, mask, labels=torch.tensor([1]))
    assert output.logits.shape == (1, 3)
    probabilities = output.logits.softmax(-1)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(1))
    torch.testing.assert_close(output.task_loss, -probabilities[0, 1].log())
    reordered = model(*_batch([[candidates[2], candidates[0], candidates[1]]])).logits  # scores follow their candidate
    torch.testing.assert_close(reordered[0], output.logits[0, [2, 0, 1]], rtol=0, atol=1e-6)


def test_padding_and_batch_neighbours_never_change_a_prediction():
    torch.manual_seed(0)
    model = GPTForTask(TINY, "pair", num_labels=3).eval()
    short, long = [2, 10, 3, 11, 4], [2, *range(20, 40), 3, 50, 4]
    alone = model(*_batch([[short]])).logits
    batched = model(*_batch([[short], [long]])).logits
    torch.testing.assert_close(batched[:1], alone, rtol=0, atol=1e-6)


def test_aux_lm_loss_is_the_language_models_loss_on_the_inputs():
    torch.manual_seed(0)
    model = GPTForTask(TINY, "single", num_labels=2).eval()
    ids, mask = _batch([[[2, 10, 11, 12, 4]], [[2, 13, 4]]])
    output = model(ids, mask, labels=torch.tensor([0, 1]), aux_lm_weight=0.5)
    flat_ids, flat_mask = ids[:, 0], mask[:, 0]
    expected = model.transformer(flat_ids, flat_mask, labels=flat_ids.masked_fill(flat_mask == 0, -100)).loss
    torch.testing.assert_close(output.lm_loss, expected)
    torch.testing.assert_close(output.loss, output.task_loss + 0.5 * expected)



@pytest.mark.parametrize("input_format", ["single", "similarity", "multiple_choice"])
@pytest.mark.parametrize("training", [True, False])
def test_heads_without_the_aux_lm_give_the_logits_of_the_full_pass(input_format, training):
    """Without L1 the last block computes only the extract token; with it, every position:
    the logits agree, in training (dropout off) and in prediction without gradients, where
    3-32 rows take `ops.Linear`'s decoding path."""
    torch.manual_seed(0)
    config = GPTConfig(**{**TINY.to_dict(), "embd_pdrop": 0.0, "attn_pdrop": 0.0, "resid_pdrop": 0.0})
    model = GPTForTask(config, input_format, num_labels=1 if input_format == "multiple_choice" else 3,
                       classifier_dropout=0.0).train(training)
    texts = [[2, 10, 11, 12, 3, 20, 4], [2, 30, 3, 31, 32, 33, 34, 35, 4], [2, 40, 3, 41, 4]]
    ids, mask = _batch([texts[i:] + texts[:i] for i in range(3)] * 2)  # 6 examples of K=3 sequences
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.set_grad_enabled(training):
        one_position = model(ids, mask, labels, aux_lm_weight=0.0)
        every_position = model(ids, mask, labels, aux_lm_weight=0.5)
    assert one_position.lm_loss is None and every_position.lm_loss is not None
    torch.testing.assert_close(one_position.logits, every_position.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(one_position.task_loss, every_position.task_loss, rtol=0, atol=1e-5)

def test_hugging_face_folder_imports_with_equal_logits(tmp_path, tokenizer_dir, tokenizer):
    """--init HF_DIR: an openai-gpt folder (built from a config, no download) converts exactly."""
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    torch.manual_seed(0)
    hf = OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()
    hf.save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(str(tmp_path / "hf"))
    loaded = load_pretrained(str(tmp_path / "hf"))
    ids = torch.randint(0, len(tokenizer), (2, 16))
    torch.testing.assert_close(loaded.model.eval()(ids).logits, hf(ids).logits, rtol=0, atol=1e-5)


# ---- the commands on real data -----------------------------------------------------------


@pytest.fixture(scope="module")
def sst2_run(tmp_path_factory, tokenizer_dir) -> Path:
    """A short fine-tune from scratch on the embedded SST-2 slice, scored on the real dev set."""
    run = tmp_path_factory.mktemp("runs") / "sst2"
    status = main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", "scratch",
                   "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--learning_rate", "3e-4", "--aux_lm_weight", "0",
                   "--max_train_samples", "4000", "--num_train_epochs", "2", "--batch_size", "16", "--max_seq_length", "64",
                   "--mixed_precision", "no", "--predict", "test", "--output_dir", str(run)])
    assert status == 0
    return run


def test_finetune_writes_its_outputs_and_beats_the_majority_class(sst2_run):
    dev = read_split(get_task("sst2"), "validation", data_dir=default_glue_dir())
    majority = max(sum(e.label == c for e in dev) for c in (0, 1)) / len(dev)
    results = json.loads((sst2_run / "eval_results.json").read_text())
    assert results["eval_samples"] == len(dev) == 872
    assert results["accuracy"] > majority + 0.05, (results, majority)
    rows = (sst2_run / "predictions_dev.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction\tlabel" and len(rows) == 873
    assert [r.split("\t")[2] for r in rows[1:]] == [str(e.label) for e in dev]  # file order, labels as in the file
    accuracy = sum(r.split("\t")[1] == r.split("\t")[2] for r in rows[1:]) / len(dev)
    assert accuracy == pytest.approx(results["accuracy"])
    submission = (sst2_run / "SST-2.tsv").read_text().splitlines()
    assert submission[0] == "index\tprediction" and len(submission) == 1822
    assert {r.split("\t")[1] for r in submission[1:]} <= {"0", "1"}
    metrics = [json.loads(line) for line in (sst2_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics if "eval_accuracy" in m] == [1, 2]
    assert (sst2_run / "training_curve.png").stat().st_size > 0
    # scored on dev, the run keeps its last epoch: the best on dev would be chosen on dev itself
    assert results["epoch"] == 2 and results["kept_epoch"] == "last" and results["evaluated_on"] == "dev"
    last = [m for m in metrics if "eval_accuracy" in m][-1]
    assert results["accuracy"] == pytest.approx(last["eval_accuracy"], abs=1e-6)


def test_eval_reproduces_the_runs_predictions(sst2_run, tmp_path, capsys):
    assert main(["eval", "--run", str(sst2_run), "--task", "sst2", "--data_dir", str(default_glue_dir()),
                 "--output_dir", str(tmp_path)]) == 0
    assert (tmp_path / "predictions_dev.tsv").read_bytes() == (sst2_run / "predictions_dev.tsv").read_bytes()
    expected = json.loads((sst2_run / "eval_results.json").read_text())["accuracy"]
    assert json.loads((tmp_path / "eval_results.json").read_text())["accuracy"] == expected


@needs_glue
def test_similarity_and_regression_run_on_sts_b(tmp_path, sst2_run):
    """STS-B: the two-orderings transformation with the regression head, from a fine-tuned run's
    tokenizer; writes scores in [0, 5]-ish and Pearson/Spearman."""
    run = tmp_path / "stsb"
    assert main(["finetune", "--task", "stsb", "--data_dir", str(GLUE), "--init", "scratch", "--tokenizer",
                 str(sst2_run / "tokenizer"), "--preset", "tiny", "--max_train_samples", "64", "--max_eval_samples", "50",
                 "--num_train_epochs", "1", "--max_seq_length", "48", "--mixed_precision", "no", "--output_dir", str(run)]) == 0
    results = json.loads((run / "eval_results.json").read_text())
    assert set(results) == {"pearson", "spearmanr", "epoch", "kept_epoch", "eval_samples", "evaluated_on"}
    rows = (run / "predictions_dev.tsv").read_text().splitlines()[1:]
    assert len(rows) == 50 and all(float(r.split("\t")[1]) == float(r.split("\t")[1]) for r in rows)


def test_custom_task_from_csv(tmp_path, tokenizer_dir):
    rows = ["review,stars"] + [f"{'great fine lovely' if i % 2 else 'awful bad poor'} {i},{'good' if i % 2 else 'bad'}" for i in range(40)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "dev.csv").write_text("\n".join(rows[:11]) + "\n")
    run = tmp_path / "run"
    assert main(["finetune", "--task", "custom", "--task_type", "classification", "--train_file", str(tmp_path / "train.csv"),
                 "--validation_file", str(tmp_path / "dev.csv"), "--text_column", "review", "--label_column", "stars",
                 "--init", "scratch", "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--num_train_epochs", "1",
                 "--mixed_precision", "no", "--output_dir", str(run)]) == 0
    config = (run / "config.yaml").read_text()
    assert "- bad\n  - good" in config  # the label names, sorted, travel with the run
    labels = [r.split("\t")[2] for r in (run / "predictions_dev.tsv").read_text().splitlines()[1:]]
    assert labels == ["good" if i % 2 else "bad" for i in range(10)]
    assert main(["eval", "--run", str(run), "--validation_file", str(tmp_path / "dev.csv")]) == 0


def test_custom_predictions_carry_the_id_column(tmp_path, tokenizer_dir):
    """--id_column: predictions files (dev, test, and `genpt eval`'s) name each row by its id,
    so they join back to the user's data whatever order it comes in."""
    rows = ["id,text,label"] + [f"doc-{97 - i},{'great fine' if i % 2 else 'awful bad'} {i},{'good' if i % 2 else 'bad'}"
                                for i in range(24)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "dev.csv").write_text("\n".join(rows[:9]) + "\n")
    (tmp_path / "test.csv").write_text("id,text\nx7,great fine\nx3,awful bad\n")
    run = tmp_path / "run"
    assert main(["finetune", "--task", "custom", "--task_type", "classification", "--train_file", str(tmp_path / "train.csv"),
                 "--validation_file", str(tmp_path / "dev.csv"), "--test_file", str(tmp_path / "test.csv"),
                 "--predict", "test", "--id_column", "id", "--init", "scratch", "--tokenizer", str(tokenizer_dir),
                 "--preset", "tiny", "--num_train_epochs", "1", "--mixed_precision", "no", "--output_dir", str(run)]) == 0
    dev = [line.split("\t") for line in (run / "predictions_dev.tsv").read_text().splitlines()]
    assert dev[0] == ["id", "prediction", "label"]
    assert [(r[0], r[2]) for r in dev[1:]] == [(f"doc-{97 - i}", "good" if i % 2 else "bad") for i in range(8)]
    test = [line.split("\t")[0] for line in (run / "custom.tsv").read_text().splitlines()]
    assert test == ["id", "x7", "x3"]
    assert main(["eval", "--run", str(run), "--validation_file", str(tmp_path / "dev.csv"), "--output_dir",
                 str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "predictions_dev.tsv").read_bytes() == (run / "predictions_dev.tsv").read_bytes()


# ---- bad input ----------------------------------------------------------------------------


def _fails(capsys, args: list[str], *expected: str) -> None:
    assert main(args) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0, message  # one line
    for part in expected:
        assert part in message, message


def test_bad_input_is_one_clear_line_and_leaves_nothing(tmp_path, capsys, tokenizer_dir, sst2_run):
    base = ["--init", "scratch", "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--mixed_precision", "no"]
    out = tmp_path / "out"
    _fails(capsys, ["finetune", "--task", "sst3", "--data_dir", str(default_glue_dir()), *base, "--output_dir", str(out)], "sst3", "sst2")
    # a label outside the task's label set, named with its file and line
    bad = tmp_path / "bad" / "SST-2"
    bad.mkdir(parents=True)
    (bad / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\t7\n")
    (bad / "dev.tsv").write_text("sentence\tlabel\nok film\t1\n")
    _fails(capsys, ["finetune", "--task", "sst2", "--data_dir", str(bad.parent), *base, "--output_dir", str(out)], "train.tsv", "line 3", "7")
    # a missing column
    (bad / "train.tsv").write_text("text\tlabel\ngood film\t1\n")
    _fails(capsys, ["finetune", "--task", "sst2", "--data_dir", str(bad.parent), *base, "--output_dir", str(out)], "train.tsv", "sentence")
    # an empty split
    (bad / "train.tsv").write_text("sentence\tlabel\n")
    _fails(capsys, ["finetune", "--task", "sst2", "--data_dir", str(bad.parent), *base, "--output_dir", str(out)], "train.tsv")
    # a pretrained run and a tokenizer that do not belong together
    other = tmp_path / "tok500"
    train_tokenizer([default_corpus_dir()], output_dir=other, vocab_size=500, show_progress=False)
    pretrained = tmp_path / "pretrained"
    pretrained.mkdir()
    (pretrained / "config.yaml").write_text(yaml.safe_dump({"model": TINY.to_dict()}))
    save_state_dict(GPT(TINY).state_dict(), pretrained / "model.safetensors")
    _fails(capsys, ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(pretrained),
                    "--tokenizer", str(other), "--output_dir", str(out)], "1000", "500", "do not belong together")
    assert not out.exists()
    # eval: a run whose tokenizer was swapped, and a task the run was not trained on
    broken = tmp_path / "broken"
    shutil.copytree(sst2_run, broken)
    shutil.rmtree(broken / "tokenizer")
    shutil.copytree(other, broken / "tokenizer")
    _fails(capsys, ["eval", "--run", str(broken), "--data_dir", str(default_glue_dir())], "tokenizer", "500")
    _fails(capsys, ["eval", "--run", str(sst2_run), "--task", "rte", "--data_dir", str(default_glue_dir())], "sst2")


def test_mnli_scores_matched_and_mismatched_and_writes_both_submissions(tmp_path, tokenizer_dir):
    """MNLI (absent from ../shared) in its GLUE layout: both dev sets scored, both test files written."""
    prefix = "index\tpromptID\tpairID\tgenre\ts1_bp\ts2_bp\ts1_p\ts2_p\tsentence1\tsentence2"
    labels = ("entailment", "neutral", "contradiction")

    def rows(count: int, labelled: int) -> str:
        lines = []
        for i in range(count):
            fields = [str(i), "1", f"{i}e", "fiction", "(", "(", "(", "(", f"A man walks {i}.", f"Someone moves {i}."]
            lines.append("\t".join(fields + [labels[i % 3]] * labelled))
        return "\n".join(lines) + "\n"

    root = tmp_path / "glue" / "MNLI"
    root.mkdir(parents=True)
    (root / "train.tsv").write_text(f"{prefix}\tlabel1\tgold_label\n" + rows(12, 2))
    for part, count in (("matched", 5), ("mismatched", 7)):
        (root / f"dev_{part}.tsv").write_text(f"{prefix}\tlabel1\tgold_label\n" + rows(count, 2))
        (root / f"test_{part}.tsv").write_text(f"{prefix}\n" + rows(count + 1, 0))
    run = tmp_path / "run"
    assert main(["finetune", "--task", "mnli", "--data_dir", str(tmp_path / "glue"), "--init", "scratch", "--tokenizer",
                 str(tokenizer_dir), "--preset", "tiny", "--num_train_epochs", "1", "--mixed_precision", "no",
                 "--predict", "test", "--output_dir", str(run)]) == 0
    results = json.loads((run / "eval_results.json").read_text())
    assert results["eval_samples"] == 5 and results["mismatched_eval_samples"] == 7
    assert 0 <= results["mismatched_accuracy"] <= 1
    assert len((run / "predictions_dev_mismatched.tsv").read_text().splitlines()) == 8
    for name, count in (("MNLI-m.tsv", 6), ("MNLI-mm.tsv", 8)):
        predicted = [r.split("\t")[1] for r in (run / name).read_text().splitlines()[1:]]
        assert len(predicted) == count and set(predicted) <= set(labels)


def test_resumed_fine_tune_continues_exactly(tmp_path, tokenizer_dir, capsys):
    """Stopped by Ctrl-C mid-epoch (with dropout on) and resumed: every later loss, the dev
    scores, the best weights and the predictions equal the uninterrupted run's, bit for bit."""
    common = ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", "scratch", "--tokenizer",
              str(tokenizer_dir), "--preset", "tiny", "--max_train_samples", "96", "--max_eval_samples", "40",
              "--batch_size", "16", "--num_train_epochs", "2", "--learning_rate", "1e-3", "--logging_steps", "1",
              "--save_total_limit", "10", "--mixed_precision", "no"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*common, "--output_dir", str(whole)]) == 0
    assert not (whole / "checkpoints").exists()  # a finished run keeps none
    interrupt_after_step(cut, 4)
    assert main([*common, "--output_dir", str(cut)]) == 130
    stopped = read_state(list_checkpoints(cut / "checkpoints")[-1])["step"]
    assert 4 <= stopped < 12 and not (cut / "eval_results.json").exists()
    other = tmp_path / "other" / "SST-2"  # other training data is another run, not this one continued
    other.mkdir(parents=True)
    for split in ("train", "dev"):
        (other / f"{split}.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    other_data = [str(other.parent) if a == str(default_glue_dir()) else a for a in common]
    capsys.readouterr()
    assert main([*other_data, "--output_dir", str(cut), "--resume", "auto"]) == 2
    assert "data_dir was" in capsys.readouterr().err
    # Mark the lines logged before the stop: a resumed run keeps them, a restarted one would rewrite them.
    rows = [json.loads(line) for line in (cut / "metrics.jsonl").read_text().splitlines()]
    (cut / "metrics.jsonl").write_text("".join(json.dumps({**r, "before_stop": True}) + "\n" for r in rows))
    assert main([*common, "--output_dir", str(cut)]) == 2  # an unfinished run is never silently restarted
    assert main([*common, "--output_dir", str(cut), "--resume", "auto"]) == 0
    resumed = [json.loads(line) for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed if r.get("before_stop")] == [r["step"] for r in rows]
    assert max(r["step"] for r in rows) == stopped

    def trajectory(run: Path) -> list[dict]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("examples_per_s", "train_seconds", "before_stop")} for r in rows]

    assert trajectory(cut) == trajectory(whole)
    assert [r["step"] for r in trajectory(cut) if "loss" in r] == list(range(1, 13))
    assert (cut / "predictions_dev.tsv").read_bytes() == (whole / "predictions_dev.tsv").read_bytes()
    ours, theirs = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    changed = common[:]
    changed[changed.index("1e-3")] = "2e-3"
    shutil.rmtree(cut / "checkpoints" / "step-00000006", ignore_errors=True)
    assert main([*changed, "--output_dir", str(whole), "--resume", str(whole / "checkpoints" / "step-00000004")]) == 2


@pytest.mark.parametrize("arch", ["gpt", "transformer", "lstm"])
def test_two_process_ddp_fine_tune_shards_batches_and_gathers_every_prediction(tmp_path, tokenizer_dir, arch):
    """Under torchrun (gloo, CPU) each process takes its share of every batch; the dev set's
    predictions come back whole, in file order, equal to a one-process `genpt eval` of the run.
    The baselines too, whose decoders a classifier never runs (DDP must not wait for them)."""
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "genpt", "finetune", "--task", "sst2", "--arch", arch, "--data_dir", str(default_glue_dir()), "--init", "scratch",
               "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--max_train_samples", "128", "--max_eval_samples", "101",
               "--batch_size", "16", "--num_train_epochs", "1", "--logging_steps", "1", "--mixed_precision", "no",
               "--output_dir", str(run)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert [r["examples_seen"] for r in steps] == [32, 64, 96, 128]  # 2 processes x 16 per step
    assert main(["eval", "--run", str(run), "--data_dir", str(default_glue_dir()), "--max_eval_samples", "101",
                 "--output_dir", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "predictions_dev.tsv").read_bytes() == (run / "predictions_dev.tsv").read_bytes()


def test_the_held_out_split_never_overlaps_what_the_run_trains_on(tmp_path, tokenizer_dir):
    """--validation_split_percentage scores on examples the run never trains on, the same draw
    for every seed, and never reads the dev file."""
    from genpt.data.tasks import hold_out

    examples = read_split(get_task("sst2"), "train", data_dir=default_glue_dir())[:400]
    kept, held = hold_out(examples, 10)
    assert len(held) == 40 and len(kept) == 360
    assert not {e.index for e in kept} & {e.index for e in held}
    assert hold_out(examples, 10)[1] == held  # a fixed draw, whatever the training seed
    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    shutil.copy(default_glue_dir() / "SST-2" / "train.tsv", glue / "train.tsv")  # no dev.tsv at all
    run = tmp_path / "run"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(glue.parent), "--init", "scratch", "--tokenizer",
                 str(tokenizer_dir), "--preset", "tiny", "--max_train_samples", "400", "--validation_split_percentage", "10",
                 "--num_train_epochs", "1", "--mixed_precision", "no", "--seed", "7", "--output_dir", str(run)]) == 0
    scored = [int(line.split("\t")[0]) for line in (run / "predictions_dev.tsv").read_text().splitlines()[1:]]
    assert scored == [e.index for e in held]
    results = json.loads((run / "eval_results.json").read_text())
    assert results["evaluated_on"] == "held-out 10% of the training set"
    assert results["kept_epoch"] == "best"  # selecting on held-out training data is what the split is for


@needs_glue
def test_a_drawn_budget_samples_every_genre_of_sts_b_where_the_first_examples_hold_one():
    """GLUE files are ordered by source: STS-B's first 1,000 training pairs are all MSRvid
    captions. --train_subset random draws from the whole file, the same draw every time."""
    from genpt.data.tasks import first_or_drawn

    examples = read_split(get_task("stsb"), "train", data_dir=GLUE)
    genres = [line.split("\t")[2] for line in (GLUE / "STS-B" / "train.tsv").read_text().splitlines()[1:]]
    assert len(genres) == len(examples)
    first, drawn = first_or_drawn(examples, 1000, "first"), first_or_drawn(examples, 1000, "random")
    assert {genres[e.index] for e in first} == {"MSRvid"}
    assert {genres[e.index] for e in drawn} == set(genres) and len(set(genres)) == 6
    assert len(drawn) == 1000 and len({e.index for e in drawn}) == 1000
    assert [e.index for e in drawn] == sorted(e.index for e in drawn)  # kept in file order
    assert first_or_drawn(examples, 1000, "random") == drawn  # a fixed draw, whatever the seed
    share = sum(genres[e.index] == "headlines" for e in drawn) / 1000
    assert abs(share - genres.count("headlines") / len(genres)) < 0.05  # in proportion to the file


def test_a_run_with_a_drawn_budget_trains_and_holds_out_only_drawn_examples(tmp_path, tokenizer_dir):
    from genpt.data.tasks import first_or_drawn, hold_out

    examples = read_split(get_task("sst2"), "train", data_dir=default_glue_dir())
    drawn = first_or_drawn(examples, 200, "random")
    assert max(e.index for e in drawn) > 1000  # not the first 200
    run = tmp_path / "run"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", "scratch", "--tokenizer",
                 str(tokenizer_dir), "--preset", "tiny", "--max_train_samples", "200", "--train_subset", "random",
                 "--validation_split_percentage", "10", "--num_train_epochs", "1", "--mixed_precision", "no",
                 "--output_dir", str(run)]) == 0
    scored = [int(line.split("\t")[0]) for line in (run / "predictions_dev.tsv").read_text().splitlines()[1:]]
    assert scored == [e.index for e in hold_out(drawn, 10)[1]]
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert steps[-1]["examples_seen"] == 180  # the other 90% of the draw, one epoch

"""The eval stage (issue 17): language-model scoring, zero-shot heuristics, layers transferred,
generation; each against an independent computation or a model whose preferences are known."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import write_books
from safetensors.torch import load_file

from genpt.cli import main
from genpt.eval.lm import load_language_model, score_tokens, text_tokens
from genpt.eval.zeroshot import best_threshold, evaluate_zeroshot
from genpt.models.gpt import GPT
from genpt.resources import default_glue_dir
from genpt.tokenizer.train import train_tokenizer

PRETRAIN = ["--preset", "tiny", "--batch_size", "8", "--seq_len", "64", "--mixed_precision", "no", "--eval_steps", "100",
            "--eval_tokens", "2048", "--warmup_steps", "20", "--learning_rate", "3e-3"]


@pytest.fixture(scope="module")
def books_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    corpus = write_books(root / "corpus", "Carroll_Alice_s_Adventures_in_Wonderland")
    train_tokenizer([corpus], output_dir=root / "tok", vocab_size=600, show_progress=False)
    run = root / "run"
    assert main(["pretrain", *PRETRAIN, "--tokenizer", str(root / "tok"), "--input", str(corpus), "--max_steps", "40",
                 "--save_steps", "10", "--save_total_limit", "1", "--keep_checkpoints", "log", "--output_dir", str(run)]) == 0
    return run


def test_keep_checkpoints_log_keeps_log_spaced_steps(books_run):
    kept = sorted(p.name for p in (books_run / "checkpoints").iterdir())
    assert kept == ["step-00000010", "step-00000020", "step-00000040"]  # 10 x 1, 2, 4; 30 pruned


def test_perplexity_equals_transformers_loss_on_the_export(books_run, tmp_path):
    text = tmp_path / "held_out.txt"
    write_books(tmp_path / "other", "Wilde_The_Picture_of_Dorian_Gray")
    text.write_text((tmp_path / "other" / "Wilde_The_Picture_of_Dorian_Gray.txt").read_text()[:20_000])
    assert main(["eval", "lm", "--run", str(books_run), "--input", str(text), "--stride", "64", "--window", "64",
                 "--output_dir", str(tmp_path / "out")]) == 0
    ours = json.loads((tmp_path / "out" / "eval_lm.json").read_text())
    assert main(["export", "--run", str(books_run), "--output_dir", str(tmp_path / "hub")]) == 0
    lm = load_language_model(str(books_run))
    tokens, n_bytes = text_tokens(lm.tokenizer, [str(text)])
    assert n_bytes == len(text.read_text().encode("utf-8")) and ours["bytes"] == n_bytes
    script = tmp_path / "hf.py"
    script.write_text(f"""
import json, torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({str(tmp_path / 'hub')!r}).eval()
tokens = json.load(open({str(tmp_path / 'tokens.json')!r}))
total, count = 0.0, 0
with torch.no_grad():
    for start in range(0, len(tokens) - 1, 64):
        window = torch.tensor([tokens[start:start + 64]])
        if window.size(1) < 2:
            break
        n = window.size(1) - 1
        total += model(window, labels=window).loss.item() * n
        count += n
json.dump({{"total": total, "count": count}}, open({str(tmp_path / 'hf.json')!r}, "w"))
""")
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True, timeout=300)
    hf = json.loads((tmp_path / "hf.json").read_text())
    # stride = window: non-overlapping windows, each scoring all but its first token
    assert ours["tokens"] == hf["count"]
    assert ours["perplexity"] == pytest.approx(math.exp(hf["total"] / hf["count"]), rel=1e-4)
    assert ours["bits_per_byte"] == pytest.approx(hf["total"] / math.log(2) / n_bytes, rel=1e-4)


def test_with_a_stride_every_token_is_scored_once(books_run):
    lm = load_language_model(str(books_run))
    tokens = list(range(5, 205))
    for window, stride in ((64, 16), (64, 1), (64, 63)):
        assert len(score_tokens(lm.model, tokens, window, stride, show_progress=False)) == len(tokens) - 1  # all but the first
    disjoint = score_tokens(lm.model, tokens, 64, 64, show_progress=False)
    assert len(disjoint) == len(tokens) - math.ceil(len(tokens) / 64)  # disjoint windows: each window's first token has no context
    # overlapping windows give every token more context: a lower loss than disjoint windows
    lm_text = load_language_model(str(books_run))
    book = text_tokens(lm_text.tokenizer, [str(next((books_run.parent / "corpus").iterdir()))])[0][:3000]
    disjoint = score_tokens(lm.model, book, 64, 64, show_progress=False)
    sliding = score_tokens(lm.model, book, 64, 16, show_progress=False)
    assert sliding.mean() < disjoint.mean()


# ---- zero-shot: a model that has learned one answer ------------------------------------------------


@pytest.fixture(scope="module")
def opinionated_run(tmp_path_factory) -> Path:
    """Pretrained on text where every sentence is very positive and every story ends well."""
    root = tmp_path_factory.mktemp("opinion")
    lines = []
    for i in range(400):
        lines.append(f"The film number {i} was good and it was very positive.")
        lines.append(f"Sam went out on day {i}. Sam met a friend. They talked. Then they all lived happily.")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "text.txt").write_text("\n".join(lines) + "\n")
    train_tokenizer([corpus], output_dir=root / "tok", vocab_size=400, show_progress=False)
    run = root / "run"
    assert main(["pretrain", *PRETRAIN, "--tokenizer", str(root / "tok"), "--input", str(corpus), "--max_steps", "300",
                 "--save_steps", "100", "--save_total_limit", "5", "--validation_fraction", "0.2", "--output_dir", str(run)]) == 0
    return run


def test_zeroshot_heuristics_pick_what_the_model_prefers(opinionated_run, tmp_path):
    glue = tmp_path / "glue"
    (glue / "SST-2").mkdir(parents=True)
    (glue / "SST-2" / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"the film {i} was fine\t1\n" for i in range(20)))
    cloze = tmp_path / "cloze"
    cloze.mkdir()
    header = "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\n"
    rows = [f"s{i},Sam went out on day {i}.,Sam met a friend.,They talked.,It rained.,"
            + ("Then they all lived happily.,The moon sank in green soup.,1" if i % 2 else "The moon sank in green soup.,Then they all lived happily.,2")
            for i in range(30)]
    (cloze / "cloze_test_val__spring2016 - cloze_test_ALL_val.csv").write_text(header + "\n".join(rows) + "\n")
    summary = evaluate_zeroshot(str(opinionated_run), ["sst2", "story_cloze"], glue_dir=str(glue), story_cloze_dir=str(cloze),
                                checkpoints="all", output_dir=str(tmp_path / "out"), show_progress=False)
    assert summary["tasks"]["sst2"]["score"] == 100.0  # " positive" after "very", every time
    assert summary["tasks"]["story_cloze"]["score"] == 100.0
    steps = list(summary["tasks"]["sst2"]["by_step"])
    assert steps == sorted(steps, key=int) and steps[-1] == "300"  # checkpoints in step order, the final model last
    assert {"zeroshot.json", "zeroshot.md", "zeroshot.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    # the final model alone, into the same folder: no curve, and not the earlier call's beside it
    evaluate_zeroshot(str(opinionated_run), ["sst2"], glue_dir=str(glue), checkpoints="final", output_dir=str(tmp_path / "out"),
                      show_progress=False)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"zeroshot.json", "genpt_outputs.json"}
    (tmp_path / "out" / "zeroshot.md").write_text("the user's, added since")  # no longer genpt's: kept
    evaluate_zeroshot(str(opinionated_run), ["sst2"], glue_dir=str(glue), checkpoints="final", output_dir=str(tmp_path / "out"),
                      show_progress=False)
    assert (tmp_path / "out" / "zeroshot.md").read_text() == "the user's, added since"


def test_the_cola_threshold_is_chosen_on_train_only():
    import numpy as np

    train_scores, train_labels = np.array([-5.0, -4.0, -1.0, -0.5]), [0, 0, 1, 1]
    threshold = best_threshold(train_scores, train_labels)
    assert -4.0 <= threshold < -1.0  # separates the training labels; dev never enters the choice


# ---- layers transferred -----------------------------------------------------------------------------


def test_transfer_layers_keeps_the_first_blocks_and_reinitialises_the_rest(books_run, tmp_path):
    pretrained = load_file(books_run / "model.safetensors")
    config = yaml.safe_load((books_run / "config.yaml").read_text())["model"]
    from genpt.config import GPTConfig

    torch.manual_seed(42)
    fresh = GPT(GPTConfig.from_dict(config)).state_dict()
    for n in (0, config["n_layer"]):
        run = tmp_path / f"layers{n}"
        assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(books_run),
                     "--transfer_layers", str(n), "--max_steps", "1", "--learning_rate", "1e-12", "--max_train_samples", "8",
                     "--max_eval_samples", "8", "--mixed_precision", "no", "--seed", "42", "--output_dir", str(run)]) == 0
        weights = load_file(run / "model.safetensors")
        for name, value in weights.items():
            if not name.startswith("transformer."):
                continue
            key = name.removeprefix("transformer.")
            block = int(key.split(".")[1]) if key.startswith("h.") else -1
            expected = fresh[key] if block >= n else pretrained[key]
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-6, msg=f"{key} with {n} blocks transferred")


def test_layers_sweep_writes_the_curve(books_run, tmp_path, capsys):
    argv = ["eval", "layers", "--init", str(books_run), "--task", "sst2", "--layers", "0,3", "--data_dir",
            str(default_glue_dir()), "--max_train_samples", "32", "--num_train_epochs", "1", "--output_dir", str(tmp_path)]
    assert main([*argv, "--jobs", "0"]) == 2 and "--jobs must be at least 1" in capsys.readouterr().err
    assert main([*argv, "--jobs", "2"]) == 0  # the two fine-tunes side by side
    summary = json.loads((tmp_path / "layers.json").read_text())
    assert list(summary["scores"]) == ["0", "3"] and (tmp_path / "layers.png").stat().st_size > 1000
    assert summary["chance"] == 50.0  # SST-2: a coin over two classes, drawn on the chart
    for n in (0, 3):
        results = json.loads((tmp_path / "runs" / f"sst2-layers{n}" / "eval_results.json").read_text())
        assert summary["scores"][str(n)] == round(100 * results["accuracy"], 3)


def test_an_undefined_layer_score_is_null_in_the_json_and_a_dash_in_the_table(tmp_path):
    """STS-B's Pearson of a fine-tune that predicts one value is undefined (NaN): layers.json
    holds null (JSON has no NaN), layers.md a dash, and the chart still draws, from chance up."""
    from genpt.eval.layers import write_outputs

    summary = {"init": "runs/mini", "task": "stsb", "metric": "pearson", "n_layer": 4, "chance": 0.0,
               "scores": {"0": math.nan, "4": 21.5}}
    write_outputs(summary, tmp_path)
    assert json.loads((tmp_path / "layers.json").read_text(), parse_constant=lambda name: 1 / 0)["scores"] == {"0": None, "4": 21.5}
    assert (tmp_path / "layers.md").read_text().splitlines()[2:] == ["| 0 | – |", "| 4 | 21.5 |"]
    assert (tmp_path / "layers.png").stat().st_size > 1000


def test_chance_levels_follow_the_task():
    from genpt.data.tasks import get_task

    assert [get_task(t).chance_score for t in ("sst2", "race", "story_cloze", "cola", "stsb", "mrpc")] == [50.0, 25.0, 50.0, 0.0, 0.0, None]


# ---- generation ----------------------------------------------------------------------------------------


def test_greedy_generation_equals_gpt_generate_and_the_export(books_run, tmp_path, capsys):
    prompt = "Alice was"
    assert main(["generate", "--run", str(books_run), "--prompt", prompt, "--temperature", "0", "--max_new_tokens", "12"]) == 0
    printed = capsys.readouterr().out.removesuffix("\n")
    lm = load_language_model(str(books_run))
    ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    end = lm.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    ours = lm.model.generate(torch.tensor([ids]), 12, temperature=0.0, eos_token_id=end)[0].tolist()
    assert printed == lm.tokenizer.decode(ours, skip_special_tokens=True)
    assert main(["export", "--run", str(books_run), "--output_dir", str(tmp_path / "hub")]) == 0
    capsys.readouterr()
    assert main(["generate", "--run", str(tmp_path / "hub"), "--prompt", prompt, "--temperature", "0",
                 "--max_new_tokens", "12"]) == 0
    assert capsys.readouterr().out.removesuffix("\n") == printed


def test_a_multiple_choice_question_is_read_after_its_context(opinionated_run):
    """RACE's question (text_b) continues its article in zero-shot scoring, as in fine-tuning:
    the choices score as they do after the article and question written as one text."""
    from genpt.data.types import Example
    from genpt.eval.zeroshot import choice_logprobs

    lm = load_language_model(str(opinionated_run))
    choices = ("Then they all lived happily.", "The moon sank in green soup.")
    asked = Example(0, "Sam went out on day 3. Sam met a friend.", "How did the day end?", choices, 0)
    written_as_one = Example(0, "Sam went out on day 3. Sam met a friend. How did the day end?", None, choices, 0)
    article_alone = Example(0, "Sam went out on day 3. Sam met a friend.", None, choices, 0)
    ours, one, alone = choice_logprobs(lm, [asked, written_as_one, article_alone])
    assert ours == pytest.approx(one, abs=1e-6) and ours != pytest.approx(alone, abs=1e-3)


def test_generate_checks_every_prompt_of_a_file_before_it_writes_one(books_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The house stood\n\n" + "word " * 400 + "\n")
    assert main(["generate", "--run", str(books_run), "--prompt_file", str(prompts), "--max_new_tokens", "4"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{prompts}:3: " in err and "tokens, but the model's context is" in err
    prompts.write_text("\n  \n")
    assert main(["generate", "--run", str(books_run), "--prompt_file", str(prompts)]) == 2
    assert "no prompts" in capsys.readouterr().err
    prompts.write_text("The house stood\n\nIt was\n")
    assert main(["generate", "--run", str(books_run), "--prompt_file", str(prompts), "--max_new_tokens", "4"]) == 0
    out = capsys.readouterr().out  # (a continuation may hold line breaks of its own)
    assert out.startswith("The house stood") and "\nIt was" in out and out.endswith("\n")


def test_eval_stage_bad_input_is_one_line(books_run, tmp_path, capsys):
    finetuned = tmp_path / "ft"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(books_run),
                 "--max_train_samples", "8", "--max_eval_samples", "8", "--num_train_epochs", "1", "--output_dir",
                 str(finetuned)]) == 0
    capsys.readouterr()
    for argv, message in (
        (["eval", "lm", "--run", str(finetuned), "--input", str(books_run / "config.yaml")], "a fine-tuned run"),
        (["generate", "--run", str(finetuned), "--prompt", "x"], "a fine-tuned run"),
        (["eval", "zeroshot", "--run", str(books_run), "--tasks", "sst2"], "pass --glue_dir"),
        (["eval", "zeroshot", "--run", str(books_run), "--tasks", "rte", "--glue_dir", "x"], "no zero-shot heuristic"),
        (["eval", "zeroshot", "--run", "someone/not-downloaded", "--tasks", "sst2", "--glue_dir", str(default_glue_dir())],
         "hub cannot be reached"),  # a hub name is loaded (or its absence said), not taken for a vanished checkpoint
        (["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(books_run), "--transfer_layers",
          "9", "--output_dir", str(tmp_path / "x")], "only 3 blocks"),
        (["eval", "lm", "--run", str(books_run), "--input", str(books_run.parent / "corpus"), "--stride", "999"], "--stride 999"),
    ):
        assert main(argv) == 2, argv
        errors = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("genpt ")]
        assert len(errors) == 1 and message in errors[0], (argv, errors)


def test_eval_writes_inside_its_run_and_beside_the_users_files_never_over_them(books_run, tmp_path, capsys):
    run = tmp_path / "ft"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(books_run),
                 "--max_train_samples", "8", "--max_eval_samples", "16", "--num_train_epochs", "1", "--output_dir", str(run)]) == 0
    accuracy = json.loads((run / "eval_results.json").read_text())["accuracy"]
    inside = run / "eval-mine"  # as the --help example does
    for _ in range(2):  # the second call replaces what the first wrote
        assert main(["eval", "--run", str(run), "--max_eval_samples", "16", "--output_dir", str(inside)]) == 0
    assert {p.name for p in inside.iterdir()} == {"eval_results.json", "predictions_dev.tsv", "genpt_outputs.json"}
    assert json.loads((inside / "eval_results.json").read_text())["accuracy"] == accuracy
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    assert main(["eval", "--run", str(run), "--max_eval_samples", "16", "--output_dir", str(mine)]) == 0
    assert (mine / "notes.txt").read_text() == "the user's" and (mine / "eval_results.json").is_file()
    theirs = tmp_path / "theirs"  # results of the user's own, under the name genpt would write
    theirs.mkdir()
    (theirs / "predictions_dev.tsv").write_text("the user's")
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--output_dir", str(theirs)]) == 2
    assert "its predictions_dev.tsv is not listed as genpt's" in capsys.readouterr().err
    assert [p.name for p in theirs.iterdir()] == ["predictions_dev.tsv"]
    assert (theirs / "predictions_dev.tsv").read_text() == "the user's"


def test_metrics_load_offline_as_evaluate_modules_and_match_sklearn():
    import evaluate
    from scipy.stats import pearsonr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    from genpt.metrics import module_path

    predictions, references = [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 1]
    mrpc = evaluate.load(module_path("glue"), "mrpc").compute(predictions=predictions, references=references)
    assert mrpc == pytest.approx({"f1": f1_score(references, predictions), "accuracy": accuracy_score(references, predictions)})
    cola = evaluate.load(module_path("glue"), "cola").compute(predictions=predictions, references=references)
    assert cola["matthews_correlation"] == pytest.approx(matthews_corrcoef(references, predictions))
    scores, gold = [0.5, 2.0, 3.5, 4.0], [1.0, 2.2, 3.0, 4.8]
    stsb = evaluate.load(module_path("glue"), "stsb").compute(predictions=scores, references=gold)
    assert stsb["pearson"] == pytest.approx(pearsonr(scores, gold)[0])
    cloze = evaluate.load(module_path("story_cloze")).compute(predictions=[0, 1, 1], references=[0, 1, 0])
    assert cloze["accuracy"] == pytest.approx(2 / 3)
    nll = [2.0, 1.0, 3.0]
    ppl = evaluate.load(module_path("perplexity")).compute(predictions=nll, n_bytes=12)
    assert ppl["perplexity"] == pytest.approx(math.exp(2.0)) and ppl["bits_per_byte"] == pytest.approx(6 / math.log(2) / 12)

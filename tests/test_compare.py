"""`genpt compare`: runs every system on the same tasks and budget, or collects finished runs,
and writes the Table 5-style comparison and its chart."""

import contextlib
import copy
import gzip
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from genpt.baselines.compare import markdown_table, plot_comparison, rows_from_json
from genpt.cli import main
from genpt.errors import GenptError
from genpt.resources import default_corpus_dir, default_glue_dir
from genpt.tokenizer.train import train_tokenizer


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory) -> Path:
    """A real (if very short) `genpt pretrain` run of the tiny preset: its tokenizer and weights."""
    root = tmp_path_factory.mktemp("compare")
    corpus = root / "corpus"
    corpus.mkdir()
    with gzip.open(default_corpus_dir() / "Carroll_Alice_s_Adventures_in_Wonderland.txt.gz", "rt", encoding="utf-8") as book:
        (corpus / "alice.txt").write_text(book.read(), encoding="utf-8")
    train_tokenizer([corpus], output_dir=root / "tokenizer", vocab_size=1000, show_progress=False)
    run = root / "pretrained"
    assert main(["pretrain", "--preset", "tiny", "--tokenizer", str(root / "tokenizer"), "--input", str(corpus),
                 "--output_dir", str(run), "--max_steps", "4", "--batch_size", "4", "--seq_len", "64",
                 "--eval_steps", "4", "--eval_tokens", "2048", "--warmup_steps", "2", "--mixed_precision", "no"]) == 0
    return run


ROOT = Path(__file__).resolve().parents[1]
HEADLINE = ROOT / "docs" / "results" / "comparison.json"  # recipes/compare.yaml: whole training sets
THOUSAND = ROOT / "docs" / "results" / "thousand" / "comparison.json"  # the earlier tables: 1,000 examples per task
GLUE = ROOT.parent / "shared" / "data" / "glue"  # MRPC: the package embeds SST-2 only


def finetune_run(pretrained_run: Path, output_dir: Path, *options: str) -> Path:
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--output_dir", str(output_dir),
                 "--max_train_samples", "48", "--max_eval_samples", "40", "--num_train_epochs", "1", "--batch_size", "16",
                 "--mixed_precision", "no", *options]) == 0
    return output_dir


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_compare_collects_two_runs_into_a_table_and_chart(pretrained_run, tmp_path, capsys):
    tokenizer = str(pretrained_run / "tokenizer")
    gpt = finetune_run(pretrained_run, tmp_path / "runs" / "gpt", "--init", str(pretrained_run))
    lstm = finetune_run(pretrained_run, tmp_path / "lstm", "--arch", "lstm", "--init", "scratch", "--tokenizer", tokenizer,
                        "--preset", "tiny")
    # a folder of runs may hold an evaluation's output folder (the README's runs/rte/eval-mine): not a run
    assert main(["eval", "--run", str(gpt), "--max_eval_samples", "8", "--output_dir", str(gpt / "eval-mine")]) == 0
    output = tmp_path / "table"
    assert main(["compare", "--runs", str(tmp_path / "runs"), str(lstm), "--output_dir", str(output)]) == 0
    markdown = (output / "comparison.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| model"))
    assert header == "| model | params | pretraining | train time | Avg | SST-2 (acc) |"
    rows = table_rows(markdown)
    assert list(rows) == ["GPT, pretrained, aux LM", "LSTM w/ attention, aux LM, no pretraining"]
    for label, run in (("GPT, pretrained, aux LM", gpt), ("LSTM w/ attention, aux LM, no pretraining", lstm)):
        accuracy = json.loads((run / "eval_results.json").read_text())["accuracy"]
        assert rows[label][4] == f"{100 * accuracy:.1f}" == rows[label][3]  # one task: the average is that score
        assert re.fullmatch(r"\d+(\.\d)?[Mk]", rows[label][0]) and re.fullmatch(r"\d+ s|\d+\.\d min", rows[label][2])
    assert rows["GPT, pretrained, aux LM"][0] != rows["LSTM w/ attention, aux LM, no pretraining"][0]
    pretraining = json.loads((pretrained_run / "trainer_state.json").read_text())
    assert pretraining["tokens_seen"] == 4 * 4 * 64  # the fixture's run: 4 steps of 4 x 64 tokens
    assert rows["GPT, pretrained, aux LM"][1] == f"1k tokens, {pretraining['elapsed_seconds']:.0f} s"
    assert rows["LSTM w/ attention, aux LM, no pretraining"][1] == "none"
    values = json.loads((output / "comparison.json").read_text())
    assert values["train_examples"] == {"sst2": "first 48"}  # finetune_run's --max_train_samples, in file order
    systems = {s["label"]: s for s in values["systems"]}
    assert systems["GPT, pretrained, aux LM"]["pretraining_tokens"] == 1024
    assert systems["LSTM w/ attention, aux LM, no pretraining"]["pretraining_tokens"] == 0
    image = matplotlib.image.imread(output / "comparison.png")
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert "GPT, pretrained, aux LM" in capsys.readouterr().out
    assert main(["compare", "--runs", str(gpt), "--output_dir", str(output)]) == 0  # its own table: replaced
    mine = tmp_path / "mine"  # a table of the user's, under compare's name: never replaced
    mine.mkdir()
    (mine / "comparison.md").write_text("the user's")
    assert main(["compare", "--runs", str(gpt), "--output_dir", str(mine)]) == 2
    assert "its comparison.md is not listed as genpt's" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["comparison.md"] and (mine / "comparison.md").read_text() == "the user's"


def test_compare_runs_each_system_once_and_reuses_finished_runs(pretrained_run, tmp_path, capsys):
    args = ["compare", "--init", str(pretrained_run), "--tasks", "sst2", "--budget", "32", "--glue_dir",
            str(default_glue_dir()), "--systems", "gpt", "gpt-scratch", "transformer", "--num_train_epochs", "1",
            "--mixed_precision", "no", "--output_dir", str(tmp_path)]
    assert main(args) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["sst2-gpt-scratch-seed42", "sst2-gpt-seed42", "sst2-transformer-seed42"]
    started = [line for line in capsys.readouterr().out.splitlines() if line.startswith("genpt: finetune")]
    assert started == ["genpt: finetune sst2-gpt-seed42 (run 1 of 3)", "genpt: finetune sst2-gpt-scratch-seed42 (run 2 of 3)",
                       "genpt: finetune sst2-transformer-seed42 (run 3 of 3)"]
    options = {name: yaml.safe_load((tmp_path / "runs" / name / "config.yaml").read_text()) for name in runs}
    assert {o["finetune"]["max_train_samples"] for o in options.values()} == {32}  # the same budget for every row
    assert {o["finetune"]["mixed_precision"] for o in options.values()} == {"no"}  # and the same precision
    assert {o["finetune"]["train_subset"] for o in options.values()} == {"random"}  # the same drawn examples
    assert options["sst2-gpt-scratch-seed42"]["finetune"]["init"] == "scratch"
    assert options["sst2-gpt-scratch-seed42"]["model"]["name"] == "tiny"  # the pretraining run's preset
    assert options["sst2-transformer-seed42"]["arch"] == "transformer"
    rows = table_rows((tmp_path / "comparison.md").read_text())
    assert list(rows) == ["GPT, pretrained, aux LM", "GPT, no pretraining", "Transformer enc-dec, no pretraining"]
    weights = tmp_path / "runs" / "sst2-gpt-seed42" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert main(args) == 0  # a second call trains nothing: the finished runs are reused
    assert weights.stat().st_mtime_ns == before
    assert "genpt: finetune" not in capsys.readouterr().out
    more_epochs = [*args[:-2], "--num_train_epochs", "2", *args[-2:]]  # but not for a call that asks for other options
    assert main(more_epochs) == 2
    captured = capsys.readouterr()
    assert "sst2-gpt-seed42: made with num_train_epochs 1 (asked now: 2)" in captured.err
    assert "genpt: finetune" not in captured.out and weights.stat().st_mtime_ns == before
    budget = args.index("--budget")
    whole_sets = args[:budget] + args[budget + 2:]  # no budget: every training example
    assert main(whole_sets) == 2
    assert "made with max_train_samples 32 (not asked now)" in capsys.readouterr().err


def test_jobs_run_cells_side_by_side_with_the_results_of_one_at_a_time(pretrained_run, tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the same threads either way, so the same floating-point sums
    args = ["compare", "--init", str(pretrained_run), "--tasks", "sst2", "--budget", "32", "--glue_dir", str(default_glue_dir()),
            "--systems", "gpt", "gpt-no-aux", "--num_train_epochs", "1", "--mixed_precision", "no"]
    assert main([*args, "--jobs", "2", "--output_dir", str(tmp_path / "side_by_side")]) == 0
    out, err = capfd.readouterr()
    assert "finetune: " not in err  # the runs side by side draw no progress bars (they would interleave)
    lines = [line for line in out.splitlines() if line.startswith("genpt: finetune")]
    started = [i for i, line in enumerate(lines) if line.endswith(" of 2)")]
    finished = [i for i, line in enumerate(lines) if line.endswith(" finished")]
    assert len(started) == len(finished) == 2 and started[1] < finished[0]  # the second began before the first ended
    assert main([*args, "--jobs", "2", "--output_dir", str(tmp_path / "side_by_side")]) == 0  # reused: nothing runs, or says so
    assert "genpt: finetune" not in capfd.readouterr().out
    assert main([*args, "--output_dir", str(tmp_path / "one_at_a_time")]) == 0
    for cell in ("sst2-gpt-seed42", "sst2-gpt-no-aux-seed42"):
        results = [json.loads((tmp_path / way / "runs" / cell / "eval_results.json").read_text()) for way in ("side_by_side", "one_at_a_time")]
        assert results[0] == results[1]
    assert main([*args, "--jobs", "0", "--output_dir", str(tmp_path / "none")]) == 2
    assert "--jobs must be at least 1" in capfd.readouterr().err and not (tmp_path / "none").exists()


@contextlib.contextmanager
def comparison_job(pretrained_run: Path, output_dir: Path, *task_options: str, systems: tuple[str, ...] = ("gpt",),
                   jobs: int = 1) -> Iterator[subprocess.Popen]:
    """`genpt compare` of GPT cells on 64 SST-2 examples, as a terminal starts a job: in a
    process group of its own, which Ctrl-C signals as a whole. Whatever of the job is left at
    the end is killed, so a failed test leaves nothing training on."""
    argv = [sys.executable, "-m", "genpt", "compare", "--init", str(pretrained_run), "--tasks", "sst2", "--budget", "64",
            "--glue_dir", str(default_glue_dir()), "--systems", *systems, "--jobs", str(jobs), "--num_train_epochs", "1",
            "--mixed_precision", "no", "--task_options", "sst2.max_eval_samples=16", "sst2.logging_steps=1", *task_options,
            "--output_dir", str(output_dir)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"})
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 240
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1][-2000:]
    assert condition(), "not reached in 4 minutes"


def test_ctrl_c_stops_a_comparison_without_losing_the_running_cells_steps(pretrained_run, tmp_path):
    # An interrupt to compare alone (kill -INT): the running cell finishes, then compare stops.
    # (subprocess.run killed the cell a quarter second later: no steps, no eval_results.json.)
    cell = tmp_path / "alone" / "runs" / "sst2-gpt-seed42"
    with comparison_job(pretrained_run, tmp_path / "alone") as process:
        wait_for(lambda: (cell / "config.yaml").is_file(), process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err[-2000:]
    assert (cell / "eval_results.json").is_file() and not (tmp_path / "alone" / "comparison.md").exists()
    assert "genpt: waiting for the finetune run to stop" in err and "genpt compare: interrupted" in err
    # Ctrl-C in a terminal signals the whole job: each running cell (two, with --jobs 2) saves a
    # checkpoint at the step it reached and exits 130; compare waits for them, starts no other
    # cell, then stops too.
    cells = [tmp_path / "jobs" / "runs" / f"sst2-{system}-seed42" for system in ("gpt", "gpt-no-aux")]
    with comparison_job(pretrained_run, tmp_path / "jobs", "sst2.max_steps=100000", systems=("gpt", "gpt-no-aux", "gpt-scratch"),
                        jobs=2) as process:
        wait_for(lambda: all((c / "metrics.jsonl").is_file() and '"loss"' in (c / "metrics.jsonl").read_text() for c in cells),
                 process)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=240)
    assert process.returncode == 130, err[-2000:]
    assert out.count("stopping after this step") == 2 and "Traceback" not in err
    assert "genpt: waiting for the running finetune runs to stop" in err
    for cell in cells:
        assert_stopped_with_a_checkpoint(cell)
    assert not (tmp_path / "jobs" / "runs" / "sst2-gpt-scratch-seed42").exists()


def test_sigterm_to_a_comparison_stops_its_running_cell_with_a_checkpoint(pretrained_run, tmp_path):
    # A job scheduler's notice before it kills, or `kill PID`, sent to compare alone: compare
    # passes it on, the cell saves a checkpoint at its step and exits, and so does compare.
    cell = tmp_path / "runs" / "sst2-gpt-seed42"
    with comparison_job(pretrained_run, tmp_path, "sst2.max_steps=100000", systems=("gpt", "gpt-no-aux")) as process:
        wait_for(lambda: (cell / "metrics.jsonl").is_file() and '"loss"' in (cell / "metrics.jsonl").read_text(), process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=240)
    assert process.returncode == 130, err[-2000:]
    assert "stopping after this step (SIGTERM" in out and "Traceback" not in err
    assert "genpt: waiting for the finetune run to stop (it saves a checkpoint on Ctrl-C or SIGTERM" in err
    assert_stopped_with_a_checkpoint(cell)
    assert not (tmp_path / "runs" / "sst2-gpt-no-aux-seed42").exists()  # the next cell never starts


def assert_stopped_with_a_checkpoint(cell: Path) -> None:
    logged = [json.loads(line)["step"] for line in (cell / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert max(p.name for p in (cell / "checkpoints").iterdir()) == f"step-{logged[-1]:08d}"  # the step it stopped at
    assert not (cell / "eval_results.json").exists()


def pretrain_tiny(run: Path, steps: int) -> None:
    """The fixture's pretraining (its corpus and tokenizer), `steps` steps of 4 x 64 tokens."""
    root = run.parent
    assert main(["pretrain", "--preset", "tiny", "--tokenizer", str(root / "tokenizer"), "--input", str(root / "corpus"),
                 "--output_dir", str(run), "--max_steps", str(steps), "--batch_size", "4", "--seq_len", "64",
                 "--eval_steps", str(steps), "--eval_tokens", "2048", "--warmup_steps", "2", "--mixed_precision", "no"]) == 0


def test_a_row_credits_the_pretraining_its_runs_started_from(pretrained_run, tmp_path, capsys):
    """A pretraining run can change after fine-tunes started from it (resumed after an interruption,
    or made again, longer, in the same folder). Each fine-tune records what
    it started from (pretraining.json); the table credits that, compare refuses to reuse runs
    of the old weights, and a row never mixes runs of two amounts of pretraining."""
    pretraining = pretrained_run.parent / "pretraining-goes-on"
    shutil.rmtree(pretraining, ignore_errors=True)
    shutil.copytree(pretrained_run, pretraining)
    out = tmp_path / "compare"
    args = ["compare", "--init", str(pretraining), "--tasks", "sst2", "--budget", "32", "--glue_dir", str(default_glue_dir()),
            "--systems", "gpt", "--seeds", "1", "--num_train_epochs", "1", "--mixed_precision", "no", "--task_options",
            "sst2.max_eval_samples=40", "--output_dir", str(out)]
    assert main(args) == 0
    early = out / "runs" / "sst2-gpt-seed1"
    record = json.loads((early / "pretraining.json").read_text())
    assert (record["init"], record["step"], record["tokens_seen"]) == (str(pretraining), 4, 4 * 4 * 64)

    shutil.rmtree(pretraining)  # pretrained again, longer, in the same folder: 2,048 tokens
    pretrain_tiny(pretraining, 8)
    capsys.readouterr()
    assert main(args) == 2  # the finished run is of the old weights: not reused, and nothing runs
    captured = capsys.readouterr()
    assert "sst2-gpt-seed1" in captured.err and "1,024" in captured.err and "2,048" in captured.err
    assert "genpt: finetune" not in captured.out

    assert main(["compare", "--runs", str(early), "--output_dir", str(tmp_path / "table")]) == 0
    values = json.loads((tmp_path / "table" / "comparison.json").read_text())
    assert values["systems"][0]["pretraining_tokens"] == 1024  # what it started from, not what the run has now

    late = finetune_run(pretraining, out / "runs" / "late", "--init", str(pretraining), "--seed", "2",
                        "--max_train_samples", "32", "--train_subset", "random")
    assert json.loads((late / "pretraining.json").read_text())["tokens_seen"] == 2048
    assert main(["compare", "--runs", str(out / "runs"), "--output_dir", str(tmp_path / "mixed")]) == 2
    error = capsys.readouterr().err
    assert str(early) in error and str(late) in error and "1,024" in error and "2,048" in error
    assert not (tmp_path / "mixed").exists()

    (early / "pretraining.json").unlink()  # as a run made before the record existed,
    shutil.rmtree(pretraining)  # whose --init is gone: its pretraining is unknown, and not compared
    assert main(["compare", "--runs", str(out / "runs"), "--output_dir", str(tmp_path / "unknown")]) == 0
    values = json.loads((tmp_path / "unknown" / "comparison.json").read_text())
    assert values["systems"][0]["pretraining_tokens"] == 2048


def test_seeds_aggregate_and_the_search_chooses_on_held_out_training_data(pretrained_run, tmp_path, capsys):
    """--seeds runs each cell per seed and the JSON's mean and std are those of the seeds'
    scores; --learning_rates trains once per rate with part of the training set held out, and
    the dev runs use the rate that scored best there."""
    args = ["compare", "--init", str(pretrained_run), "--tasks", "sst2", "--budget", "48", "--glue_dir",
            str(default_glue_dir()), "--systems", "gpt", "--num_train_epochs", "1", "--seeds", "1,2,3",
            "--learning_rates", "1e-5", "3e-3", "--selection_split_percentage", "25", "--task_options",
            "sst2.max_eval_samples=60", "sst2.batch_size=16", "--output_dir", str(tmp_path)]
    assert main(args) == 0
    selection = json.loads((tmp_path / "selection.json").read_text())["choices"][0]
    held_out = {}
    for rate in ("1e-05", "0.003"):
        folder = tmp_path / "selection" / f"sst2-gpt-seed1-lr{float(rate):g}"
        results = json.loads((folder / "eval_results.json").read_text())
        assert results["evaluated_on"] == "held-out 25% of the training set" and results["eval_samples"] == 12
        held_out[float(rate)] = results["accuracy"]
        assert selection["held_out_scores"][f"{float(rate):g}"] == round(100 * results["accuracy"], 2)
    chosen = max(held_out, key=held_out.get)
    assert selection["chosen_learning_rate"] == chosen
    values = json.loads((tmp_path / "comparison.json").read_text())
    system = values["systems"][0]
    assert values["tasks"] == ["sst2"] and system["name"] == "gpt" and system["pretrained"] and system["aux_lm"]
    scores = []
    for seed in (1, 2, 3):
        run = tmp_path / "runs" / f"sst2-gpt-seed{seed}"
        config = yaml.safe_load((run / "config.yaml").read_text())["finetune"]
        assert config["learning_rate"] == chosen and config["seed"] == seed and config["validation_split_percentage"] is None
        results = json.loads((run / "eval_results.json").read_text())
        assert results["evaluated_on"] == "dev" and results["eval_samples"] == 60
        scores.append(100 * results["accuracy"])
    assert system["scores"]["sst2"] == [round(v, 4) for v in scores]
    assert system["mean"]["sst2"] == round(statistics.fmean(scores), 4)
    assert system["std"]["sst2"] == round(statistics.stdev(scores), 4)
    cell = table_rows((tmp_path / "comparison.md").read_text())["GPT, pretrained, aux LM"][4]
    assert cell == f"{statistics.fmean(scores):.1f} ± {statistics.stdev(scores):.1f}"
    # the JSON alone draws the same table (docs/results.md's is drawn from it)
    assert markdown_table(*rows_from_json(values)) in (tmp_path / "comparison.md").read_text()
    # a second call reuses all of it: the dev runs' rate is the one the finished search chose
    capsys.readouterr()
    assert main(args) == 0
    assert "genpt: finetune" not in capsys.readouterr().out
    # a search run started with a task's --predict (as compare passed it on before 2026-12-07)
    # is still the run asked for: test predictions change no score
    options_file = tmp_path / "configs" / "selection" / "sst2-gpt-seed1-lr0.003.yaml"
    options_file.write_text(options_file.read_text() + "predict:\n- test\n")
    assert main(args) == 0
    assert "genpt: finetune" not in capsys.readouterr().out


@pytest.mark.skipif(not (GLUE / "MRPC").is_dir(), reason="../shared/data/glue/MRPC not present")
def test_the_json_keeps_a_tasks_other_metrics_seed_by_seed(pretrained_run, tmp_path):
    """The table shows MRPC's F1 (Table 5's metric), and the issue's MRPC target also reads its
    accuracy: comparison.json keeps every other metric a cell reported, per seed, with the
    mean, and the JSON alone gives them back."""
    runs = [finetune_run(pretrained_run, tmp_path / "runs" / f"mrpc-seed{seed}", "--task", "mrpc",
                         "--data_dir", str(GLUE), "--init", str(pretrained_run), "--seed", str(seed)) for seed in (1, 2)]
    assert main(["compare", "--runs", str(tmp_path / "runs"), "--output_dir", str(tmp_path / "table")]) == 0
    values = json.loads((tmp_path / "table" / "comparison.json").read_text())
    (system,) = values["systems"]
    accuracies = [100 * json.loads((run / "eval_results.json").read_text())["accuracy"] for run in runs]
    f1s = [100 * json.loads((run / "eval_results.json").read_text())["f1"] for run in runs]
    assert values["metrics"] == {"mrpc": "f1"} and system["scores"]["mrpc"] == [round(v, 4) for v in f1s]
    assert system["other_scores"] == {"mrpc": {"accuracy": [round(v, 4) for v in accuracies]}}
    assert system["other_mean"] == {"mrpc": {"accuracy": round(statistics.fmean(accuracies), 4)}}
    (row,), _ = rows_from_json(values)
    assert row.other_scores == system["other_scores"]


def test_the_documented_tables_are_the_ones_the_json_renders():
    """docs/results.md's Table 5 and pretraining sweep are rendered from the committed JSON
    (scripts/results_table.py), never typed."""
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "results_table.py"))
    assert script["main"](["--check"]) == 0
    for path in (HEADLINE, THOUSAND):  # each seed's score is there (the headline's as its cells finish), and the means are theirs
        values = json.loads(path.read_text())
        for system in values["systems"]:
            for task in values["tasks"]:
                assert 0 < len(system["scores"][task]) <= len(system["seeds"])
                assert system["mean"][task] == pytest.approx(statistics.fmean(system["scores"][task]), abs=1e-3)
    assert set(json.loads(HEADLINE.read_text())["kept_epoch"].values()) == {"last"}


def test_an_undefined_score_is_null_in_the_json_and_a_dash_in_the_table(tmp_path):
    """Pearson's r of constant predictions is undefined (NaN); JSON has no NaN, so
    comparison.json holds null, and the table drawn again from it shows the cell as undefined."""
    from genpt.atomic import write_json_atomically

    values = json.loads(THOUSAND.read_text())
    values["systems"][0]["scores"]["stsb"][1] = math.nan
    path = write_json_atomically(tmp_path / "comparison.json", values)
    text = path.read_text()
    assert "NaN" not in text and json.loads(text)["systems"][0]["scores"]["stsb"][1] is None
    rows, tasks = rows_from_json(json.loads(text))
    stsb = table_rows(markdown_table(rows, tasks))[rows[0].label][4 + tasks.index("stsb")]
    assert stsb == "–" and math.isnan(rows[0].scores["stsb"][1])
    plot_comparison(rows, tasks, tmp_path / "comparison.png", "one undefined score")
    assert matplotlib.image.imread(tmp_path / "comparison.png").shape[0] > 200


def test_combining_a_rerun_of_some_rows_keeps_the_other_rows_in_table_order(tmp_path):
    """A longer pretraining run reruns the pretrained rows only; the rows from scratch are taken
    from the earlier comparison, and the table keeps its row order."""
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "results_table.py"))
    old = json.loads(THOUSAND.read_text())
    rerun = {**old, "systems": [dict(s, average=99.0) for s in old["systems"] if s["name"] in ("gpt-no-aux", "gpt")][::-1]}
    combined = script["combine"](rerun, old)
    assert [s["name"] for s in combined["systems"]] == [s["name"] for s in old["systems"]]
    assert {s["name"] for s in combined["systems"] if s["average"] == 99.0} == {"gpt", "gpt-no-aux"}  # the rerun's rows
    assert combined["systems"][2] == old["systems"][2]  # gpt-scratch, as it was
    with pytest.raises(SystemExit, match="other tasks"):
        script["combine"]({**rerun, "tasks": ["sst2"]}, old)


def test_the_sweep_is_its_own_experiment_with_one_scratch_row():
    """The sweep's points come from docs/results/sweep/ only (one fine-tuning budget), ordered by
    pretraining tokens from the row trained from scratch; two different scratch rows are refused."""
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "results_table.py"))
    sweeps = [json.loads(p.read_text()) for p in sorted((ROOT / "docs" / "results" / "sweep").glob("*.json"))]
    points, tasks, seeds = script["sweep_points"](sweeps)
    assert points[0]["tokens"] == 0 and [p["tokens"] for p in points] == sorted(p["tokens"] for p in points)
    assert len(points) == 1 + sum(s["name"] == "gpt" for sweep in sweeps for s in sweep["systems"])
    other = copy.deepcopy(sweeps[0])
    scratch = next(s for s in other["systems"] if s["name"] == "gpt-scratch")
    scratch["scores"][tasks[0]][0] += 1.0
    with pytest.raises(SystemExit, match="one GPT-from-scratch row"):
        script["sweep_points"]([*sweeps, other])


def test_a_table_never_puts_runs_that_saw_other_training_examples_side_by_side(pretrained_run, tmp_path, capsys):
    """The first 48 SST-2 sentences beside a random draw of 48 are two experiments, not two rows
    of one: collecting them is refused with both folders named, and so is combining two
    comparisons, or sweeping over comparisons, of different budgets."""
    first = finetune_run(pretrained_run, tmp_path / "runs" / "first", "--init", str(pretrained_run))
    drawn = finetune_run(pretrained_run, tmp_path / "runs" / "drawn", "--init", "scratch", "--preset", "tiny",
                         "--tokenizer", str(pretrained_run / "tokenizer"), "--train_subset", "random")
    assert main(["compare", "--runs", str(tmp_path / "runs"), "--output_dir", str(tmp_path / "table")]) == 2
    error = capsys.readouterr().err
    assert "first 48" in error and "random 48" in error and str(first) in error and str(drawn) in error
    assert not (tmp_path / "table" / "comparison.json").exists()
    assert main(["compare", "--runs", str(drawn), "--output_dir", str(tmp_path / "table")]) == 0
    drawn_values = json.loads((tmp_path / "table" / "comparison.json").read_text())
    assert drawn_values["train_examples"] == {"sst2": "random 48"}

    committed = json.loads(THOUSAND.read_text())
    assert set(committed["train_examples"].values()) == {"first 1000"}  # the tables up to 2026-12-05
    results_table_refuses_a_mix("train_examples", "random 1000", "other examples")


def results_table_refuses_a_mix(field: str, other: str, message: str) -> dict:
    """results_table.py's --combine and sweep refuse the committed comparison beside a copy
    whose cells all had `other` as their `field`; returns the script's namespace."""
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "results_table.py"))
    committed = json.loads(THOUSAND.read_text())
    changed = {**committed, field: {t: other for t in committed["tasks"]}}
    with pytest.raises(SystemExit, match=message):
        script["combine"](changed, committed)
    sweeps = [json.loads(p.read_text()) for p in sorted((ROOT / "docs" / "results" / "sweep").glob("*.json"))]
    with pytest.raises(SystemExit, match=message):
        script["sweep_points"]([*sweeps, {**sweeps[0], field: changed[field]}])
    return script


def test_a_table_never_sets_a_best_epoch_on_dev_beside_a_last_epoch(pretrained_run, tmp_path, capsys):
    """Runs made before 2026-12-06 kept their best epoch on dev (their eval_results.json has no
    kept_epoch); today's keep the last. A table of both would favour the old rows: collecting
    them is refused with both folders named, and so is combining such comparisons."""
    import shutil

    new = finetune_run(pretrained_run, tmp_path / "runs" / "new", "--init", str(pretrained_run))
    results = json.loads((new / "eval_results.json").read_text())
    assert results["kept_epoch"] == "last"
    old = tmp_path / "runs" / "old"
    shutil.copytree(new, old)
    del results["kept_epoch"]  # as a run made before the field existed wrote it
    (old / "eval_results.json").write_text(json.dumps(results))
    assert main(["compare", "--runs", str(tmp_path / "runs"), "--output_dir", str(tmp_path / "table")]) == 2
    error = capsys.readouterr().err
    assert "kept its best epoch" in error and "kept its last epoch" in error and str(old) in error and str(new) in error
    assert not (tmp_path / "table" / "comparison.json").exists()
    assert main(["compare", "--runs", str(new), "--output_dir", str(tmp_path / "table")]) == 0
    assert json.loads((tmp_path / "table" / "comparison.json").read_text())["kept_epoch"] == {"sst2": "last"}
    assert "each run's last epoch" in (tmp_path / "table" / "comparison.md").read_text()

    committed = json.loads(THOUSAND.read_text())
    assert set(committed["kept_epoch"].values()) == {"best"}  # the tables up to 2026-12-06
    script = results_table_refuses_a_mix("kept_epoch", "last", "kept other epochs")
    rerun = {**committed, "kept_epoch": {t: "last" for t in committed["tasks"]}}
    with pytest.raises(SystemExit, match="kept other epochs"):  # the draw, too, of two budgets
        script["draw_rows"]([rerun, {**committed, "train_examples": {t: "all" for t in committed["tasks"]}}])


def test_the_targets_are_judged_on_the_better_pretrained_row_once_every_seed_is_in():
    """The whole-set table's targets: each against the better of the two pretrained rows, met or
    missed by how much once every cell it needs has the recipe's seeds, pending before."""
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "results_table.py"))
    values = json.loads(THOUSAND.read_text())  # three seeds of every cell (the judging is the headline's)
    systems = {s["name"]: s for s in values["systems"]}

    def verdicts(values: dict) -> dict[str, str]:
        lines = script["targets_table"](values, [1, 2, 3]).splitlines()[2:]
        return {line.split(" | ")[0].removeprefix("| "): line.split(" | ")[-1].removesuffix(" |") for line in lines}

    gain = max(systems[n]["average"] for n in ("gpt", "gpt-no-aux")) - systems["gpt-scratch"]["average"]
    stsb = max(systems[n]["mean"]["stsb"] for n in ("gpt", "gpt-no-aux"))
    story_cloze = max(systems[n]["mean"]["story_cloze"] for n in ("gpt", "gpt-no-aux"))
    judged = verdicts(values)
    assert judged["Avg >= GPT from scratch + 10"] == (f"met ({gain - 10:+.1f})" if gain >= 10 else f"**missed by {10 - gain:.1f}**")
    assert judged["STS-B Pearson >= 60"] == f"**missed by {60 - stsb:.1f}**"
    assert judged["Story Cloze accuracy >= 65"] == f"met ({story_cloze - 65:+.1f})"
    gpt = next(s for s in values["systems"] if s["name"] == "gpt")
    gpt["scores"]["stsb"].pop()  # a seed still running
    partial = verdicts(values)
    assert partial["STS-B Pearson >= 60"].startswith("pending") and partial["Avg >= GPT from scratch + 10"].startswith("pending")
    assert partial["Story Cloze accuracy >= 65"] == judged["Story Cloze accuracy >= 65"]


def test_the_draw_table_sets_one_pretraining_run_on_two_budgets_side_by_side():
    """The draw's table: each budget's rows, and the pretrained GPT's gain over GPT from scratch
    seed by seed; two comparisons of the same budget are refused."""
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "results_table.py"))
    first = json.loads((ROOT / "docs" / "results" / "sweep" / "mini2k.json").read_text())
    other = copy.deepcopy(first)
    other["train_examples"] = {t: "random 1000" for t in first["tasks"]}
    gpt = next(s for s in other["systems"] if s["name"] == "gpt")
    gpt["scores"] = {t: [v + 1.0 for v in values] for t, values in gpt["scores"].items()}
    rows, tasks = script["draw_rows"]([first, other])
    gains = [row for row in rows if row.get("signed")]
    assert [row["budget"] for row in gains] == ["first 1000", "random 1000"]
    systems = {s["name"]: s for s in first["systems"]}
    for task in tasks:
        expected = [a - b for a, b in zip(systems["gpt"]["scores"][task], systems["gpt-scratch"]["scores"][task])]
        assert gains[0]["row"].scores[task] == pytest.approx(expected)
        assert gains[1]["row"].scores[task] == pytest.approx([v + 1.0 for v in expected])
    table = script["draw_table"](rows, tasks)
    average_gain = statistics.fmean(statistics.fmean(gains[0]["row"].scores[t]) for t in tasks)
    assert f"| first 1000 | 1, 2, 3 | {average_gain:+.1f} ± " in table
    assert f"| random 1000 | 1, 2, 3 | {average_gain + 1.0:+.1f} ± " in table
    with pytest.raises(SystemExit, match="a budget of its own"):
        script["draw_rows"]([first, first])


def test_compare_bad_input_is_one_clear_line(pretrained_run, tmp_path, capsys):
    assert main(["compare", "--runs", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["compare", "--tasks", "sst2", "--output_dir", str(tmp_path / "o")]) == 2
    assert "--init is required" in capsys.readouterr().err
    for extra, message in ((["--tasks", "squad"], "--tasks squad"), (["--seeds", "1,1"], "different seeds"),
                           (["--task_options", "sst2.lr"], "TASK.OPTION=VALUE"),
                           (["--task_options", "squad.learning_rate=1e-4"], "squad is not a task genpt compare runs")):
        assert main(["compare", "--tasks", "sst2", "--budget", "8", "--init", str(pretrained_run), "--glue_dir",
                     str(default_glue_dir()), *extra, "--output_dir", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "comparison.md").exists()
    assert main(["compare", "--tasks", "sst2", "--init", str(pretrained_run), "--glue_dir", str(tmp_path / "glu"),
                 "--output_dir", str(tmp_path / "o")]) == 2  # a mistyped folder: refused before a run's options are written
    assert f"--glue_dir {tmp_path / 'glu'}: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    bad = tmp_path / "glue" / "SST-2"  # a folder that exists, with a file the fine-tune refuses
    bad.mkdir(parents=True)
    shutil.copy(default_glue_dir() / "SST-2" / "dev.tsv", bad / "dev.tsv")
    (bad / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t7\n")
    assert main(["compare", "--tasks", "sst2", "--systems", "gpt", "--init", str(pretrained_run), "--glue_dir",
                 str(bad.parent), "--output_dir", str(tmp_path / "o")]) == 2
    assert "refused its input" in capsys.readouterr().err  # the fine-tune's own line went to the terminal's stderr
    assert not (tmp_path / "o").exists()  # nor the run's options the refused fine-tune was given


def test_none_on_the_command_line_unsets_a_budget_the_config_sets(capsys):
    """`--config recipes/compare_laptop.yaml --budget none` is the laptop recipe on whole training
    sets; an option that cannot be null still refuses "none", naming the option."""
    recipe = str(ROOT / "recipes" / "compare_laptop.yaml")
    assert compare_config("--config", recipe).budget == 1000
    assert compare_config("--config", recipe, "--budget", "none").budget is None
    assert compare_config("--config", recipe, "--budget", "200").budget == 200
    with pytest.raises(SystemExit):  # argparse's refusal, exit status 2
        compare_config("--num_train_epochs", "none")
    assert "argument --num_train_epochs: expected an integer, got 'none'" in capsys.readouterr().err


def compare_config(*argv: str):
    """The CompareConfig `genpt compare` builds from these command-line options."""
    import argparse

    from genpt.baselines.config import CompareConfig
    from genpt.options import add_config_option, add_options, config_from_cli

    parser = argparse.ArgumentParser()
    add_config_option(parser)
    add_options(parser, CompareConfig)
    return config_from_cli(CompareConfig, parser.parse_args(list(argv)))


def test_a_recipe_keeps_its_task_options_when_a_run_narrows_its_tasks():
    """recipes/compare.yaml caps SST-2 (sst2.max_train_samples); running one of its other tasks
    alone (--tasks cola, a cell at a time on two cores) must not refuse that option, and SST-2's
    cells must still get it."""
    from genpt.baselines.compare import finetune_options
    from genpt.baselines.config import SYSTEMS

    recipe = str(ROOT / "recipes" / "compare.yaml")
    for task, expected in (("cola", None), ("sst2", 20000)):
        config = compare_config("--config", recipe, "--tasks", task)
        options = finetune_options(config, SYSTEMS["gpt"], task, 1, 3e-4)
        assert options.get("max_train_samples") == expected
        assert options["train_subset"] == "random"


def test_train_time_is_one_seed_of_each_task_while_seeds_are_still_arriving(tmp_path):
    """A row's train time is the sum over its tasks of each task's mean over its seeds: a table
    tabulated while seed 2 has reached only one task still shows one seed's time, not half."""
    from genpt.baselines.compare import Cell, rows_of

    def cell(task: str, seed: int, seconds: float) -> Cell:
        return Cell("GPT, no pretraining", task, seed, 0.5, seconds, 1000, tmp_path / f"{task}-{seed}")

    (row,), _ = rows_of([cell("cola", 1, 60.0), cell("cola", 2, 80.0), cell("sst2", 1, 300.0)])
    assert row.seconds == pytest.approx(70.0 + 300.0)
    (row,), _ = rows_of([cell("cola", 1, 60.0), cell("cola", 2, 80.0), cell("sst2", 1, 300.0), cell("sst2", 2, 100.0)])
    assert row.seconds == pytest.approx((60.0 + 80.0 + 300.0 + 100.0) / 2)


def test_a_row_never_mixes_two_pretraining_runs_of_as_many_tokens(tmp_path):
    """Two pretraining runs of one recipe (another seed, say) reach the same token count; a row
    holding fine-tunes of both would be two models in one row: their times tell them apart."""
    from genpt.baselines.compare import Cell, rows_of

    def cell(task: str, pretraining_seconds: float) -> Cell:
        return Cell("GPT, pretrained, aux LM", task, 1, 0.5, 60.0, 1000, tmp_path / task, pretraining_tokens=4096,
                    pretraining_seconds=pretraining_seconds)

    (row,), _ = rows_of([cell("cola", 812.25), cell("sst2", 812.25)])
    assert (row.pretraining_tokens, row.pretraining_seconds) == (4096, 812.25)
    with pytest.raises(GenptError, match=r"4,096 tokens \(812.25 s.*4,096 tokens \(790.5 s"):
        rows_of([cell("cola", 812.25), cell("sst2", 790.5)])
    (row,), _ = rows_of([cell("cola", 812.25), cell("sst2", math.nan)])  # unknown: not compared
    assert row.pretraining_seconds == 812.25

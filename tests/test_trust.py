"""Nothing lost, nothing silently wrong: each test was a reproduced bug (issue 13)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import write_books

from genpt.cli import main
from genpt.metrics import pearson
from genpt.resources import default_corpus_dir, default_glue_dir
from genpt.tokenizer.train import train_tokenizer

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"
needs_glue = pytest.mark.skipif(not GLUE.is_dir(), reason="../shared/data/glue not present")
PRETRAIN_FAST = ["--preset", "tiny", "--batch_size", "4", "--seq_len", "64", "--mixed_precision", "no", "--logging_steps", "1",
                 "--eval_steps", "4", "--save_steps", "4", "--eval_tokens", "2048", "--warmup_steps", "2"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_books(tmp_path_factory.mktemp("corpus"), "Carroll_Alice_s_Adventures_in_Wonderland")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, corpus) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "tokenizer"
    train_tokenizer([corpus], output_dir=folder, vocab_size=600, show_progress=False)
    return folder


@pytest.fixture(scope="module")
def other_tokenizer_dir(tmp_path_factory) -> Path:
    """The same size, other merges: trained on another book."""
    folder = tmp_path_factory.mktemp("other") / "tokenizer"
    train_tokenizer([default_corpus_dir() / "Austen_Pride_and_Prejudice.txt.gz"], output_dir=folder, vocab_size=600,
                    show_progress=False)
    return folder


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory, corpus, tokenizer_dir) -> Path:
    run = tmp_path_factory.mktemp("pretrain") / "run"
    assert main(["pretrain", *PRETRAIN_FAST, "--tokenizer", str(tokenizer_dir), "--input", str(corpus),
                 "--max_steps", "8", "--output_dir", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def sst2_run(tmp_path_factory, pretrained_run) -> Path:
    run = tmp_path_factory.mktemp("sst2") / "run"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(pretrained_run),
                 "--max_train_samples", "64", "--max_eval_samples", "64", "--num_train_epochs", "1", "--mixed_precision", "no",
                 "--output_dir", str(run)]) == 0
    return run


# ---- export never deletes what it did not write ------------------------------------------------


def test_export_refuses_folders_and_files_it_did_not_write(tmp_path, pretrained_run, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    run_before = snapshot(pretrained_run)
    for target in (mine, a_file, pretrained_run, pretrained_run / "export"):
        assert main(["export", "--run", str(pretrained_run), "--output_dir", str(target)]) == 2
        message = capsys.readouterr().err.strip()
        assert message.count("\n") == 0 and "--output_dir" in message
    assert (mine / "notes.txt").read_text() == "my notes" and [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert a_file.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "mine"]  # no hidden leftovers
    assert snapshot(pretrained_run) == run_before


def test_export_replaces_an_earlier_export_only_when_asked(tmp_path, pretrained_run, capsys):
    hub = tmp_path / "hub"
    assert main(["export", "--run", str(pretrained_run), "--output_dir", str(hub)]) == 0
    before = snapshot(hub)
    assert main(["export", "--run", str(pretrained_run), "--output_dir", str(hub)]) == 2
    assert "--overwrite_output_dir" in capsys.readouterr().err
    assert snapshot(hub) == before
    assert main(["export", "--run", str(pretrained_run), "--output_dir", str(hub), "--overwrite_output_dir"]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    empty.chmod(0o750)  # not the mode genpt would give a folder of its own
    assert main(["export", "--run", str(pretrained_run), "--output_dir", str(empty)]) == 0
    assert (empty / "model.safetensors").is_file() and empty.stat().st_mode & 0o777 == 0o750  # the user's folder's mode
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")  # a link to where the user keeps large files
    assert main(["export", "--run", str(pretrained_run), "--output_dir", str(tmp_path / "link")]) == 0
    assert (tmp_path / "link").is_symlink() and (tmp_path / "elsewhere" / "model.safetensors").is_file()


def test_export_refuses_the_folder_it_runs_in(tmp_path, pretrained_run, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for target in (".", "./", str(tmp_path)):
        assert main(["export", "--run", str(pretrained_run), "--output_dir", target]) == 2
        message = capsys.readouterr().err.strip()
        assert message.count("\n") == 0 and "the folder genpt runs in" in message
    assert list(tmp_path.iterdir()) == []


def test_unfinished_run_is_refused_or_exported_with_a_warning(tmp_path, sst2_run, capsys):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(sst2_run, unfinished)
    (unfinished / "eval_results.json").unlink()  # what a fine-tune killed before its end leaves
    assert main(["export", "--run", str(unfinished), "--output_dir", str(tmp_path / "hub")]) == 2
    assert "unfinished" in capsys.readouterr().err and not (tmp_path / "hub").exists()
    assert main(["export", "--run", str(unfinished), "--output_dir", str(tmp_path / "hub"), "--allow_unfinished"]) == 0
    assert "**Unfinished:**" in (tmp_path / "hub" / "README.md").read_text()


def test_a_checkpoint_mid_run_exports_only_as_unfinished(tmp_path, pretrained_run, capsys):
    """A pretraining checkpoint folder looks like a run (config.yaml, model.safetensors), but its
    weights are of a step before the run's last: exported, its model card must say so."""
    checkpoint = pretrained_run / "checkpoints" / "step-00000004"  # of the run's 8 steps
    assert main(["export", "--run", str(checkpoint), "--output_dir", str(tmp_path / "hub")]) == 2
    error = capsys.readouterr().err
    assert "a checkpoint from mid-run at step 4 of the run's 8" in error and "once the run has finished" in error
    assert not (tmp_path / "hub").exists()
    assert main(["export", "--run", str(checkpoint), "--output_dir", str(tmp_path / "hub"), "--allow_unfinished"]) == 0
    assert "a checkpoint from mid-run at step 4 of the run's 8" in (tmp_path / "hub" / "README.md").read_text()
    assert main(["export", "--run", str(pretrained_run / "checkpoints" / "step-00000008"),
                 "--output_dir", str(tmp_path / "last")]) == 0  # the last step's checkpoint is the run's weights
    # A run that --max_time_minutes stopped at step 4 (its trainer_state.json says so) is finished there:
    stopped = tmp_path / "stopped"
    shutil.copytree(pretrained_run, stopped)
    state = json.loads((stopped / "trainer_state.json").read_text())
    (stopped / "trainer_state.json").write_text(json.dumps({**state, "step": 4, "stop_reason": "max_time_minutes"}))
    assert main(["export", "--run", str(stopped / "checkpoints" / "step-00000004"), "--output_dir", str(tmp_path / "timed")]) == 0


def test_export_errors_name_exports_own_options(tmp_path, capsys):
    broken = tmp_path / "run"
    broken.mkdir()
    (broken / "config.yaml").write_text(yaml.safe_dump({"model": {"n_layer": 2}}))
    assert main(["export", "--run", str(broken), "--output_dir", str(tmp_path / "hub")]) == 2
    message = capsys.readouterr().err
    assert "--run" in message and "--init" not in message and "--tokenizer" not in message


# ---- the exported language model is prompted with plain text ----------------------------------


def test_exported_lm_generates_what_genpt_generates(tmp_path, pretrained_run):
    from genpt.pretrained import load_pretrained

    hub = tmp_path / "hub"
    assert main(["export", "--run", str(pretrained_run), "--output_dir", str(hub)]) == 0
    prompt = "The house was"
    code = f"""
from transformers import AutoTokenizer, pipeline
tokenizer = AutoTokenizer.from_pretrained({str(hub)!r})
generate = pipeline("text-generation", model={str(hub)!r})
text = generate({prompt!r}, max_new_tokens=12, do_sample=False)[0]["generated_text"]
result = {{"ids": tokenizer({prompt!r})["input_ids"], "text": text}}
"""
    script = tmp_path / "plain.py"
    script.write_text(code + f"\nimport json\nopen({str(tmp_path / 'out.json')!r}, 'w').write(json.dumps(result))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "out.json").read_text())

    pretrained = load_pretrained(str(pretrained_run))
    plain = pretrained.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert result["ids"] == plain  # no start / extract around the prompt
    model = pretrained.model.eval()
    eos = pretrained.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    ours = model.generate(torch.tensor([plain]), 12, temperature=0.0, eos_token_id=eos)[0].tolist()
    ours = ours[: ours.index(eos) + 1] if eos in ours[len(plain):] else ours
    assert result["text"] == pretrained.tokenizer.decode(ours, skip_special_tokens=True)


# ---- a tokenizer is known by its content ------------------------------------------------------


def test_finetune_refuses_another_tokenizer_of_the_same_size(tmp_path, pretrained_run, other_tokenizer_dir, capsys):
    out = tmp_path / "ft"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(pretrained_run),
                 "--tokenizer", str(other_tokenizer_dir), "--max_train_samples", "16", "--output_dir", str(out)]) == 2
    message = capsys.readouterr().err
    assert str(other_tokenizer_dir) in message and "tokenizer" in message and "differ" in message
    assert not out.exists()


def test_resume_refuses_another_tokenizer_and_writes_nothing(tmp_path, corpus, tokenizer_dir, other_tokenizer_dir, capsys):
    run = tmp_path / "run"
    common = [*PRETRAIN_FAST, "--input", str(corpus), "--max_steps", "8", "--output_dir", str(run)]
    assert main(["pretrain", *common, "--tokenizer", str(tokenizer_dir)]) == 0
    before = snapshot(run)
    assert main(["pretrain", *common, "--tokenizer", str(other_tokenizer_dir), "--resume", "auto"]) == 2
    assert "differ" in capsys.readouterr().err
    assert snapshot(run) == before


def test_rejected_resume_leaves_config_yaml_alone(tmp_path, corpus, tokenizer_dir, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", *PRETRAIN_FAST, "--tokenizer", str(tokenizer_dir), "--input", str(corpus), "--max_steps", "8",
                 "--output_dir", str(run)]) == 0
    before = snapshot(run)
    assert main(["pretrain", "--preset", "mini", "--tokenizer", str(tokenizer_dir), "--input", str(corpus),
                 "--output_dir", str(run), "--resume", "auto"]) == 2
    assert "model config differs" in capsys.readouterr().err
    assert snapshot(run) == before


def test_resume_with_only_the_output_dir_continues_the_run(tmp_path, corpus, tokenizer_dir, monkeypatch):
    """The hint printed after Ctrl-C works; and config.yaml is read from another folder."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    common = [*PRETRAIN_FAST, "--tokenizer", str(tokenizer_dir), "--input", str(corpus), "--max_steps", "8"]
    assert main(["pretrain", *common, "--output_dir", str(whole)]) == 0
    shutil.copytree(whole, cut)
    for later in ("checkpoints/step-00000008", "best", "model.safetensors", "trainer_state.json"):
        path = cut / later
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    monkeypatch.chdir(tmp_path.parent)  # relative paths in config.yaml would break here
    assert main(["pretrain", "--output_dir", str(cut), "--resume", "auto"]) == 0
    from safetensors.torch import load_file

    a, b = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    config = yaml.safe_load((cut / "config.yaml").read_text())
    assert Path(config["data"]["tokenizer"]).is_absolute() and all(Path(i).is_absolute() for i in config["data"]["inputs"])



def _interrupted_copy(tmp_path: Path, corpus_files: Path, tokenizer_dir: Path) -> tuple[Path, Path, list[str]]:
    """A finished 8-step run and a copy of it cut back to its step-4 checkpoint."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    common = [*PRETRAIN_FAST, "--tokenizer", str(tokenizer_dir), "--input", str(corpus_files), "--max_steps", "8"]
    assert main(["pretrain", *common, "--output_dir", str(whole)]) == 0
    shutil.copytree(whole, cut)
    for later in ("checkpoints/step-00000008", "best", "model.safetensors", "trainer_state.json"):
        path = cut / later
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return whole, cut, common


def test_resume_after_the_corpus_was_copied_again_continues_exactly(tmp_path, corpus, tokenizer_dir):
    """New modification times re-prepare the corpus; the same tokens let the run go on."""
    books = Path(shutil.copytree(corpus, tmp_path / "books"))
    whole, cut, common = _interrupted_copy(tmp_path, books, tokenizer_dir)
    for book in books.iterdir():
        os.utime(book, ns=(book.stat().st_atime_ns, book.stat().st_mtime_ns + 10**9))
    assert main(["pretrain", *common, "--output_dir", str(cut), "--resume", "auto"]) == 0
    meta = json.loads((cut / "data" / "meta.json").read_text())
    assert [s["mtime_ns"] for s in meta["sources"]] == [b.stat().st_mtime_ns for b in sorted(books.iterdir())]
    from safetensors.torch import load_file
    a, b = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_corpus_that_changed_and_writes_nothing(tmp_path, corpus, tokenizer_dir, capsys):
    books = Path(shutil.copytree(corpus, tmp_path / "books"))
    _, cut, common = _interrupted_copy(tmp_path, books, tokenizer_dir)
    before = snapshot(cut)
    book = next(books.iterdir())
    book.write_bytes(book.read_bytes()[: book.stat().st_size // 2])  # a user edits a book
    assert main(["pretrain", *common, "--output_dir", str(cut), "--resume", "auto"]) == 2
    message = capsys.readouterr().err
    assert "--input" in message and "other tokens than the run being resumed" in message
    assert snapshot(cut) == before


# ---- fine-tuning and evaluation ---------------------------------------------------------------


def test_finished_finetune_keeps_no_checkpoints_and_a_rerun_says_finished(tmp_path, sst2_run, pretrained_run, capsys):
    assert not (sst2_run / "checkpoints").exists()
    config = yaml.safe_load((sst2_run / "config.yaml").read_text())["finetune"]
    assert main(["finetune", "--task", "sst2", "--data_dir", config["data_dir"], "--init", str(pretrained_run),
                 "--output_dir", str(sst2_run)]) == 2
    message = capsys.readouterr().err
    assert "already holds a fine-tuned model" in message and "unfinished" not in message


def test_eval_reads_the_data_the_run_recorded(tmp_path, sst2_run, monkeypatch):
    monkeypatch.chdir(tmp_path)  # and from another folder: the recorded data_dir is absolute
    assert main(["eval", "--run", str(sst2_run), "--output_dir", str(tmp_path / "eval"), "--max_eval_samples", "64"]) == 0
    ours = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert ours["accuracy"] == json.loads((sst2_run / "eval_results.json").read_text())["accuracy"]


@needs_glue
def test_regression_predictions_recompute_to_the_reported_metric(tmp_path, pretrained_run):
    run = tmp_path / "stsb"
    assert main(["finetune", "--task", "stsb", "--data_dir", str(GLUE), "--init", str(pretrained_run), "--max_train_samples",
                 "64", "--max_eval_samples", "200", "--num_train_epochs", "1", "--mixed_precision", "no",
                 "--output_dir", str(run)]) == 0
    rows = [line.split("\t") for line in (run / "predictions_dev.tsv").read_text().splitlines()[1:]]
    recomputed = pearson(np.array([float(r[1]) for r in rows]), np.array([float(r[2]) for r in rows]))
    assert recomputed == json.loads((run / "eval_results.json").read_text())["pearson"]
    # A dev file of one sentence pair, scored differently each time: the model predicts one
    # value for all, so the correlations are undefined (NaN, as scipy says), and
    # eval_results.json is still JSON, which has no NaN: they are null there.
    header, first, *rest = (GLUE / "STS-B" / "dev.tsv").read_text().splitlines()[:41]
    one_pair = tmp_path / "one_pair.tsv"
    one_pair.write_text("\n".join([header] + [first.rsplit("\t", 1)[0] + "\t" + line.rsplit("\t", 1)[1] for line in [first, *rest]]) + "\n")
    assert main(["eval", "--run", str(run), "--validation_file", str(one_pair), "--output_dir", str(tmp_path / "eval")]) == 0

    def no_constants(name: str):
        raise AssertionError(f"{name} is not JSON")

    results = json.loads((tmp_path / "eval" / "eval_results.json").read_text(), parse_constant=no_constants)
    assert results["pearson"] is None and results["spearmanr"] is None


class Killed(BaseException):
    """kill -9 at a chosen moment: nothing below main() catches it, and nothing after it runs."""


@pytest.mark.parametrize("stage", ["pretrain", "pretrain from another run's checkpoint", "finetune"])
def test_a_run_killed_while_it_wrote_its_folder_starts_again(tmp_path, corpus, tokenizer_dir, pretrained_run, stage,
                                                             monkeypatch):
    """Killed after config.yaml and before tokenizer/, a new run left a config.yaml alone, which
    the same command then refused as the user's ("not a genpt run"). The run marks its folder
    first now, so the command starts it again."""
    import genpt.finetune.train
    import genpt.pretrain.train

    out = tmp_path / "run"
    if stage.startswith("pretrain"):
        command = ["pretrain", *PRETRAIN_FAST, "--max_steps", "4", "--tokenizer", str(tokenizer_dir), "--input",
                   str(corpus), "--output_dir", str(out)]
        if stage != "pretrain":  # the fixture's run (8 steps) continued from its step 4 in a new folder
            command[command.index("--max_steps") + 1] = "8"
            command += ["--resume", str(pretrained_run / "checkpoints" / "step-00000004")]
    else:
        command = ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(pretrained_run),
                   "--max_train_samples", "16", "--max_eval_samples", "16", "--num_train_epochs", "1",
                   "--mixed_precision", "no", "--output_dir", str(out)]
    module = genpt.pretrain.train if stage.startswith("pretrain") else genpt.finetune.train

    def kill(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(module, "write_folder_atomically", kill)  # the tokenizer/ copy
        with pytest.raises(Killed):
            main(command)
    assert (out / "config.yaml").is_file() and not (out / "tokenizer").exists()
    assert main(command) == 0
    assert (out / "model.safetensors").is_file() and (out / "tokenizer" / "tokenizer.json").is_file()


def test_a_folder_holding_only_what_a_killed_run_left_is_started_afresh(tmp_path, corpus, tokenizer_dir, capsys):
    """kill -9 while the first run tokenized its corpus leaves a hidden staging folder of a dead
    process: the same command again starts the run there (and clears it). A live writer's staging
    folder is content: refused."""
    out = tmp_path / "run"
    dead = out / ".data.4999999.0a1b2c3d.tmp"  # above any pid_max: no such process
    dead.mkdir(parents=True)
    (dead / "train.bin").write_bytes(b"\0" * 100)
    command = ["pretrain", *PRETRAIN_FAST, "--max_steps", "4", "--tokenizer", str(tokenizer_dir), "--input", str(corpus),
               "--output_dir", str(out)]
    assert main(command) == 0
    assert not dead.exists() and (out / "model.safetensors").is_file()

    busy = tmp_path / "busy"
    (busy / f".data.{os.getpid()}.0a1b2c3d.tmp").mkdir(parents=True)  # a writer still running
    assert main([*command[:-1], str(busy)]) == 2
    assert "not a genpt run" in capsys.readouterr().err


def test_a_non_finite_metric_is_null_in_metrics_jsonl_and_the_log_resumes(tmp_path):
    """fp16 training logs an infinite gradient norm on the steps its loss scaler skips; Python's
    json would write `Infinity`, which strict JSON readers (jq, JavaScript) refuse."""
    from genpt.engine import MetricsLog, read_jsonl
    from genpt.plots import plot_finetune_curves, plot_loss_curves

    log = MetricsLog(tmp_path, active=True, resume_step=None, tag="train")
    log.write({"step": 1, "loss": 5.0, "grad_norm": float("inf")})
    log.write({"step": 2, "loss": float("nan"), "val_loss": 4.5})
    log.close()

    def strict(constant):
        raise ValueError(f"not standard JSON: {constant}")

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line, parse_constant=strict) for line in lines] == [
        {"step": 1, "loss": 5.0, "grad_norm": None}, {"step": 2, "loss": None, "val_loss": 4.5}]
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 5.0, "grad_norm": Infinity}\n')  # as genpt wrote it before
    resumed = MetricsLog(tmp_path, active=True, resume_step=1, tag="train")  # rewrites the lines up to its step
    resumed.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text(), parse_constant=strict) == {"step": 1, "loss": 5.0, "grad_norm": None}
    assert read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 5.0, "grad_norm": None}]
    assert plot_loss_curves(read_jsonl(tmp_path / "metrics.jsonl") + [{"step": 2, "val_loss": None}],
                            tmp_path / "curve.png").stat().st_size > 0
    assert plot_finetune_curves([{"step": 1, "loss": None, "task_loss": 0.7}, {"step": 2, "loss": 0.6, "eval_pearson": None}],
                                tmp_path / "finetune.png", "pearson").stat().st_size > 0

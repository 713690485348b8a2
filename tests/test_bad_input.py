"""Bad input, one table (issue 13): every kind exits with status 2 and one line that names the
file, line or option and says what was expected, and leaves the output folder as it was (or
absent). Each case builds its own bad input on disk; the commands are the real `genpt` ones.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import write_books

from genpt.cli import main
from genpt.resources import default_glue_dir
from genpt.tokenizer.train import train_tokenizer

GLUE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"  # STS-B: not embedded
PRETRAIN = ["--preset", "tiny", "--batch_size", "4", "--seq_len", "64", "--mixed_precision", "no", "--eval_steps", "4",
            "--save_steps", "4", "--eval_tokens", "2048", "--warmup_steps", "2", "--max_steps", "8"]


@dataclass
class Inputs:
    """What the cases build on: a scratch folder, a corpus, a tokenizer and a finished run."""

    tmp: Path
    corpus: Path
    tokenizer: Path
    other_tokenizer: Path  # the same size, other merges
    run: Path

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def copy_run(self, name: str = "copy") -> Path:
        return Path(shutil.copytree(self.run, self.tmp / name))

    def copy_corpus(self) -> Path:
        return Path(shutil.copytree(self.corpus, self.tmp / "books"))

    def pretrain(self, *extra: str, output: str = "out") -> list[str]:
        return ["pretrain", *PRETRAIN, "--tokenizer", str(self.tokenizer), "--input", str(self.corpus), *extra,
                "--output_dir", str(self.tmp / output)]

    def finetune(self, *extra: str, output: str = "out") -> list[str]:
        return ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(self.run),
                "--max_train_samples", "16", *extra, "--output_dir", str(self.tmp / output)]


@dataclass
class Case:
    kind: str
    build: Callable[[Inputs], list[str]]  # the command line (it may write the bad input first)
    message: str  # a part of the one line
    watched: str = "out"  # the output folder that must stay as it was


def config_with(inputs: Inputs, text: str) -> str:
    return str(inputs.file("bad.yaml", text))


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def checkpoint_of(run: Path) -> Path:
    return sorted((run / "checkpoints").iterdir())[-1]


class Boom:
    def __reduce__(self):  # what a malicious pickle does when loaded unsafely
        return (os.system, ("echo pwned > /tmp/genpt_pwned",))


def malicious_hf_folder(inputs: Inputs) -> Path:
    folder = inputs.tmp / "hf"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "openai-gpt", "vocab_size": 600, "n_positions": 64, "n_embd": 32, '
                                        '"n_layer": 1, "n_head": 2}')
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    return folder


CASES = [
    # -- text inputs ------------------------------------------------------------------------------
    Case("empty corpus file", lambda i: ["tokenizer", "train", "--input", str(i.file("empty.txt", "")), "--output_dir",
                                         str(i.tmp / "out")], "no text"),
    Case("binary corpus file", lambda i: ["tokenizer", "train", "--input", str(i.file("bin.txt", b"abc\x00\x01\x02")),
                                          "--output_dir", str(i.tmp / "out")], "NUL byte"),
    Case("Latin-1 corpus file", lambda i: ["tokenizer", "train", "--input", str(i.file("latin.txt", b"caf\xe9 au lait\n")),
                                           "--output_dir", str(i.tmp / "out")], "UTF-8"),
    Case("missing input path", lambda i: ["tokenizer", "train", "--input", str(i.tmp / "no" / "such.txt"),
                                          "--output_dir", str(i.tmp / "out")], "such.txt"),
    Case("tokenizer written inside its corpus folder", lambda i: ["tokenizer", "train", "--input", str(i.copy_corpus()),
                                                                  "--output_dir", str(i.tmp / "books" / "tok")],
         "must lie outside --input", watched="books"),
    Case("run written inside its corpus folder", lambda i: i.pretrain("--input", str(i.copy_corpus()), output="books/run"),
         "must lie outside --input", watched="books"),
    Case("corpus too small for its validation split", lambda i: i.pretrain("--input", str(i.file("small/t.txt", "a few words.\n" * 30))),
         "validation"),
    # -- configs ------------------------------------------------------------------------------------
    Case("invalid YAML", lambda i: ["pretrain", "--config", config_with(i, "model: [unclosed"), "--output_dir", str(i.tmp / "out")],
         "not valid YAML"),
    Case("unknown config key", lambda i: ["pretrain", "--config", config_with(i, "model: {n_layers: 2}"), "--output_dir",
                                          str(i.tmp / "out")], "unknown key 'n_layers'"),
    Case("config value of the wrong type (2.5 layers)", lambda i: ["pretrain", "--config", config_with(i, "model: {n_layer: 2.5}"),
                                                                   "--output_dir", str(i.tmp / "out")], "n_layer: expected an integer"),
    Case("config value of the wrong type (batch_size abc)",
         lambda i: ["pretrain", "--config", config_with(i, "model: {name: tiny, n_layer: 2, n_head: 2, n_embd: 32}\n"
                                                           "training: {batch_size: abc}"), "--output_dir", str(i.tmp / "out")],
         "batch_size: expected an integer"),
    Case("config value that is not a number (n_layer abc)",
         lambda i: ["finetune", "--config", config_with(i, "task: sst2\ninit: scratch\nlearning_rate: fast\n"),
                    "--output_dir", str(i.tmp / "out")], "learning_rate: expected a number"),
    # -- options ------------------------------------------------------------------------------------
    Case("zero batch size", lambda i: i.pretrain("--batch_size", "0"), "--batch_size must be at least 1"),
    Case("negative learning rate", lambda i: i.pretrain("--learning_rate", "-1e-3"), "--learning_rate must be positive"),
    Case("Adam beta out of range", lambda i: i.pretrain("--adam_beta1", "1.5"), "--adam_beta1 must be in [0, 1)"),
    Case("no tokenizer", lambda i: [a for a in i.pretrain() if a not in ("--tokenizer", str(i.tokenizer))],
         "--tokenizer is required"),
    Case("fewer validation tokens than a window", lambda i: i.pretrain("--eval_tokens", "32"),
         "--eval_tokens 32 is fewer than one window of --seq_len 64"),
    Case("context too long", lambda i: i.pretrain("--seq_len", "999"), "--seq_len 999 is longer than the model's context"),
    Case("test predictions from a run scored on held-out training data",
         lambda i: i.finetune("--validation_split_percentage", "20", "--predict", "test"), "reads no test data"),
    Case("fine-tune resumed from another run's checkpoint", lambda i: i.finetune("--resume", str(i.file(
        "other/checkpoints/step-00000003/trainer_state.json", '{"step": 3}').parent)), "a checkpoint of another run folder"),
    Case("a regression scored on one held-out example", lambda i: i.finetune("--task", "stsb", "--data_dir", str(GLUE_DIR),
                                                                               "--validation_split_percentage", "5"),
         "scoring a regression needs at least 2"),
    Case("fine-tuning context too long", lambda i: i.finetune("--max_seq_length", "999"), "--max_seq_length 999"),
    Case("output_dir is a file (pretrain)", lambda i: i.pretrain(output="afile") if i.file("afile", "mine") else [],
         "is not a folder", watched="afile"),
    Case("output_dir is a file (finetune)", lambda i: i.finetune(output="afile") if i.file("afile", "mine") else [],
         "is not a folder", watched="afile"),
    Case("output_dir holds the user's files", lambda i: i.finetune(output="mine") if i.file("mine/notes.txt", "x") else [],
         "not a genpt run", watched="mine"),
    Case("--config read from the output folder, the user's own", lambda i: ["finetune", "--config", str(i.file(
        "mine/config.yaml", f"task: sst2\ninit: {i.run}\ndata_dir: {default_glue_dir()}\nmax_train_samples: 16\n")),
        "--output_dir", str(i.tmp / "mine")], "not a genpt run", watched="mine"),
    Case("--overwrite_output_dir over the user's config.yaml and checkpoints/",
         lambda i: i.finetune("--overwrite_output_dir", output="mine") if (
             i.file("mine/config.yaml", "task: sst2\n"), i.file("mine/checkpoints/step-00000001/epoch1.pt", "mine")) else [],
         "not a genpt run", watched="mine"),
    Case("an option's value of the wrong type", lambda i: ["eval", "--run", str(i.run), "--batch_size", "abc"],
         "argument --batch_size: expected an integer, got 'abc'"),
    Case("a misspelt option", lambda i: ["tokenizer", "train", "--input", str(i.corpus), "--vocab_szie", "300",
                                         "--output_dir", str(i.tmp / "out")], "unrecognized arguments: --vocab_szie"),
    Case("an unknown option before any command", lambda i: ["--verbose"], "genpt: error: unrecognized arguments: --verbose"),
    Case("an unknown option of a command group", lambda i: ["tokenizer", "--verbose"],
         "genpt tokenizer: error: unrecognized arguments: --verbose"),
    Case("a command group without its command", lambda i: ["tokenizer"], "genpt tokenizer: error: the following arguments are required: COMMAND"),
    Case("zero batch size (eval)", lambda i: ["eval", "--run", str(i.run), "--batch_size", "0"], "--batch_size must be at least 1"),
    Case("a window of 0 (eval lm)", lambda i: ["eval", "lm", "--run", str(i.run), "--input", str(i.corpus), "--window", "0"],
         "--window must be at least 1"),
    Case("negative --max_bytes (tokenizer stats)", lambda i: ["tokenizer", "stats", "--tokenizer", str(i.tokenizer), "--input",
                                                              str(i.corpus), "--max_bytes", "-1"], "--max_bytes must be >= 0"),
    # -- tasks ---------------------------------------------------------------------------------------
    Case("unknown task", lambda i: i.finetune("--task", "squad"), "unknown task 'squad'"),
    Case("missing column", lambda i: ["finetune", "--task", "custom", "--task_type", "classification", "--train_file",
                                      str(i.file("d.csv", "sentence,label\nhi,1\nho,0\n")), "--validation_file",
                                      str(i.tmp / "d.csv"), "--init", str(i.run), "--output_dir", str(i.tmp / "out")],
         "no column 'text'"),
    Case("a custom task's column option on a named task", lambda i: i.finetune("--id_column", "idx"),
         "--id_column describes the columns of a custom task's files; --task sst2 reads its own format"),
    Case("an id column named as the predictions' own", lambda i: ["finetune", "--task", "custom", "--task_type",
         "classification", "--train_file", str(i.file("d.csv", "text,label\nhi,1\nho,0\n")), "--id_column", "label",
         "--init", str(i.run), "--output_dir", str(i.tmp / "out")], "--id_column 'label': it heads a column"),
    Case("bad label", lambda i: i.finetune("--train_file", str(i.file("SST-2/train.tsv", "sentence\tlabel\ngood\t1\nbad\t7\n"))),
         "line 3: label '7'"),
    Case("score out of range", lambda i: i.finetune("--task", "stsb", "--train_file", str(i.file(
        "STS-B/train.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t9.5\n")), "--validation_file", str(i.tmp / "STS-B/train.tsv")),
         "score '9.5' is not a number in [0, 5]"),
    # -- models and checkpoints -------------------------------------------------------------------------
    Case("size-mismatched tokenizer", lambda i: i.finetune("--tokenizer", str(i.tmp / "tok300")) if train_tokenizer(
        [i.corpus], output_dir=i.tmp / "tok300", vocab_size=300, show_progress=False) else [], "do not belong together"),
    Case("same-size tokenizer with other merges", lambda i: i.finetune("--tokenizer", str(i.other_tokenizer)), "differ"),
    Case("--init a missing checkpoint folder", lambda i: ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()),
                                                       "--init", str(i.tmp / "run" / "checkpoints" / "step-00000100"),
                                                       "--output_dir", str(i.tmp / "out")], "no such folder"),
    Case("truncated safetensors", lambda i: ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init",
                                             str(_with(i.copy_run(), lambda r: truncated(r / "model.safetensors"))),
                                             "--output_dir", str(i.tmp / "out")], "model.safetensors"),
    Case("pickle disguised as safetensors", lambda i: ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()),
                                                       "--init", str(_with(i.copy_run(), lambda r: (r / "model.safetensors")
                                                                           .write_bytes(pickle.dumps(Boom())))),
                                                       "--output_dir", str(i.tmp / "out")], "not a complete safetensors"),
    Case("malicious pytorch_model.bin behind --init", lambda i: ["finetune", "--task", "sst2", "--data_dir",
                                                                 str(default_glue_dir()), "--init", str(malicious_hf_folder(i)),
                                                                 "--output_dir", str(i.tmp / "out")], "--init"),
    Case("truncated optimizer state", lambda i: ["pretrain", "--output_dir", str(_with(i.copy_run("out"), lambda r: (
        truncated(checkpoint_of(r) / "optimizer.pt"), (r / "model.safetensors").unlink()))), "--resume", "auto"],
         "optimizer.pt: corrupted or truncated"),
    Case("resume a checkpoint without its optimizer state into a new folder",
         lambda i: i.pretrain("--resume", str(_with(i.copy_run("copy"), lambda r: (checkpoint_of(r) / "optimizer.pt").unlink())
                                             / "checkpoints" / checkpoint_of(i.run).name)), "optimizer.pt"),
    Case("resume a run whose --max_time_minutes is spent", lambda i: i.pretrain(
        "--resume", str(checkpoint_of(i.run)), "--max_time_minutes", "0.0001"), "pass a larger --max_time_minutes"),
    Case("resume with another model", lambda i: ["pretrain", "--preset", "mini", "--tokenizer", str(i.tokenizer), "--input",
                                                 str(i.corpus), "--output_dir", str(i.copy_run("out")), "--resume", "auto"],
         "model config differs from the checkpoint's"),
    Case("a text column the corpus does not have (found while it is read)",
         lambda i: i.pretrain("--input", str(i.file("lines/c.jsonl", '{"text": "a line of text."}\n' * 50)), "--text_column", "body",
                              output="nest/run"), "no column 'body'", watched="nest"),
    Case("resume another run's checkpoint into the user's folder",
         lambda i: i.pretrain("--resume", str(checkpoint_of(i.run)), output="mine") if i.file("mine/notes.txt", "x") else [],
         "holds files that are not a genpt run", "mine"),
    Case("demo over a folder holding the user's tokenizer",
         lambda i: ["demo", "--output_dir", str(Path(shutil.copytree(i.tokenizer, i.tmp / "mine" / "tokenizer")).parent)],
         "not a genpt demo", watched="mine"),
    Case("demo with a vocabulary too small", lambda i: ["demo", "--vocab_size", "100", "--output_dir", str(i.tmp / "out")],
         "--vocab_size 100 is too small"),
    Case("demo with no pretraining steps", lambda i: ["demo", "--pretrain_steps", "0", "--output_dir", str(i.tmp / "out")],
         "--pretrain_steps must be at least 1"),
    Case("a Hugging Face folder of another architecture", lambda i: i.finetune("--init", str(hf_config_folder(
        i, "bert", {"model_type": "bert", "vocab_size": 600, "hidden_size": 32}))), "a bert model; genpt loads openai-gpt and gpt2"),
    Case("a Hugging Face folder without a tokenizer", lambda i: i.finetune("--init", str(hf_config_folder(
        i, "gpt2", {"model_type": "gpt2", "vocab_size": 600, "n_positions": 64, "n_embd": 32, "n_layer": 1, "n_head": 2}))),
         "no tokenizer files in the folder; pass --tokenizer DIR"),
    # a relative path whose first folder exists here (tests/, run from the repository) is not a hub id
    Case("a mistyped run path (not a hub id)", lambda i: i.finetune("--init", os.path.join(
        os.path.relpath(Path(__file__).parent), "no-such-run")), "no such folder"),
    Case("pretrain --init a Hugging Face folder, refused after its tokenizer is saved",
         lambda i: ["pretrain", "--init", str(tiny_hf_folder(i)), "--input", str(i.corpus), "--seq_len", "32", "--eval_tokens",
                    "10", "--mixed_precision", "no", "--output_dir", str(i.tmp / "mine")] if (i.tmp / "mine").mkdir() is None else [],
         "--eval_tokens 10 is fewer than one window", watched="mine"),
    # -- export and eval ---------------------------------------------------------------------------------
    Case("export over the user's folder", lambda i: ["export", "--run", str(i.run), "--output_dir",
                                                     str(i.file("mine/notes.txt", "x").parent)], "not a genpt export", "mine"),
    Case("export to a name the hub would refuse", lambda i: ["export", "--run", str(i.run), "--output_dir", str(i.tmp / "hub"),
                                                             "--push_to_hub", "my model"], "not a hub repository name"),
    Case("export a translation run", lambda i: ["export", "--run", str(_with(i.copy_run("s2s"), lambda r: (r / "config.yaml").write_text(
        yaml.safe_dump({**yaml.safe_load((r / "config.yaml").read_text()), "seq2seq": {"source_lang": "en", "target_lang": "de"}})))),
        "--output_dir", str(i.tmp / "hub")], "a genpt seq2seq (translation) run"),
    Case("export into its own run", lambda i: ["export", "--run", str(i.copy_run("out")), "--output_dir", str(i.tmp / "out")],
         "must not be or hold --run"),
    Case("export --overwrite_output_dir over an export the user added files to",
         lambda i: ["export", "--run", str(i.run), "--output_dir", str(i.tmp / "hub"), "--overwrite_output_dir"] if (
             main(["export", "--run", str(i.run), "--output_dir", str(i.tmp / "hub")]) == 0
             and i.file("hub/.gitattributes", "*.safetensors filter=lfs")) else [], "not a genpt export", "hub"),
    Case("eval over the user's eval_results.json", lambda i: ["eval", "--run", str(i.run), "--output_dir", str(
        i.file("mine/eval_results.json", "{}").parent)], "its eval_results.json is not listed as genpt's", "mine"),
    Case("eval lm over the user's eval_lm.json", lambda i: ["eval", "lm", "--run", str(i.run), "--input", str(i.corpus),
                                                           "--output_dir", str(i.file("mine/eval_lm.json", "{}").parent)],
         "its eval_lm.json is not listed as genpt's", "mine"),
    Case("eval zeroshot over the user's zeroshot.md", lambda i: ["eval", "zeroshot", "--run", str(i.run), "--checkpoints", "all",
                                                                 "--output_dir", str(i.file("mine/zeroshot.md", "my notes").parent)], "its zeroshot.md is not listed as genpt's", "mine"),
    Case("eval into its own run", lambda i: ["eval", "--run", str(i.copy_run("out")), "--output_dir", str(i.tmp / "out")],
         "must not be or hold --run"),
    Case("fine-tune over its own --init", lambda i: i.finetune("--init", str(i.copy_run("out")), "--overwrite_output_dir"),
         "must not be or hold --init"),
    Case("eval given two sources", lambda i: ["eval", "--run", str(i.run), "--data_dir", "x", "--validation_file", "y"],
         "give one"),
    Case("a negative clip norm (seq2seq)", lambda i: ["seq2seq", "--arch", "lstm", "--data_dir", str(i.tmp), "--max_grad_norm",
                                                       "-1", "--output_dir", str(i.tmp / "out")], "--max_grad_norm must be positive"),
    Case("seq2seq from a language to itself", lambda i: ["seq2seq", "--arch", "lstm", "--data_dir", str(i.tmp), "--source_lang",
                                                         "en", "--target_lang", "en", "--output_dir", str(i.tmp / "out")],
         "expected two languages"),
]


def tiny_hf_folder(inputs: Inputs) -> Path:
    """An openai-gpt folder (weights and the shared tokenizer) as transformers saves it."""
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    from genpt.tokenization import load_tokenizer

    folder = inputs.tmp / "hf"
    tokenizer = load_tokenizer(inputs.tokenizer)
    OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1,
                                         n_head=2)).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    return folder


def hf_config_folder(inputs: Inputs, name: str, config: dict) -> Path:
    """A Hugging Face folder with its config.json only: refused before any weights are read."""
    folder = inputs.tmp / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _with(path: Path, change: Callable[[Path], object]) -> Path:
    change(path)
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    root = tmp_path_factory.mktemp("bad-input")
    corpus = write_books(root / "corpus", "Carroll_Alice_s_Adventures_in_Wonderland")
    tokenizer, other = root / "tok", root / "other"
    train_tokenizer([corpus], output_dir=tokenizer, vocab_size=600, show_progress=False)
    train_tokenizer([write_books(root / "austen", "Austen_Pride_and_Prejudice")], output_dir=other, vocab_size=600,
                    show_progress=False)
    run = root / "run"
    assert main(["pretrain", *PRETRAIN, "--tokenizer", str(tokenizer), "--input", str(corpus), "--output_dir", str(run)]) == 0
    return corpus, tokenizer, other, run


def error_lines(captured: str) -> list[str]:
    """The lines genpt printed as errors (progress bars aside); there must be no traceback."""
    assert "Traceback" not in captured, captured[-3000:]
    return [line for line in captured.replace("\r", "\n").splitlines() if line.startswith(("genpt ", "genpt:"))]


def snapshot(path: Path) -> dict[str, bytes] | bytes | None:
    if not path.exists():
        return None
    if path.is_file():
        return path.read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, shared, tmp_path, capsys):
    inputs = Inputs(tmp_path, *shared)
    argv = case.build(inputs)
    watched = tmp_path / case.watched
    before = snapshot(watched)
    run_before = snapshot(inputs.run)
    assert main(argv) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("genpt" if argv[0].startswith("-") else f"genpt {argv[0]}"), lines
    assert case.message in lines[0], lines[0]
    assert snapshot(watched) == before
    assert snapshot(inputs.run) == run_before
    assert not Path("/tmp/genpt_pwned").exists()


def mounted_tmpfs(folder: Path, options: str, what: str):
    """A tmpfs at `folder` for the test's life; skips where mounting needs a root we lack."""
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip(f"cannot mount {what} here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB file system: room for the run's files, not for its checkpoints."""
    yield from mounted_tmpfs(tmp_path / "disk", "size=3m", "a small file system")


@pytest.fixture
def read_only_disk(tmp_path):
    yield from mounted_tmpfs(tmp_path / "ro", "ro,size=1m", "a read-only file system")


def test_a_full_disk_during_a_checkpoint_is_one_line_and_the_run_survives(shared, small_disk, capsys):
    corpus, tokenizer, _, _ = shared
    run = small_disk / "run"
    status = main(["pretrain", *PRETRAIN, "--tokenizer", str(tokenizer), "--input", str(corpus), "--output_dir", str(run),
                   "--data_cache_dir", str(small_disk.parent / "data")])
    lines = error_lines(capsys.readouterr().err)
    assert status == 2 and len(lines) == 1, lines
    assert "could not write the checkpoint" in lines[0] and "the run is intact" in lines[0]
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no half-written checkpoint


@pytest.mark.parametrize("command", ["tokenizer", "pretrain", "finetune", "export"])
def test_a_read_only_disk_is_one_line(command, shared, read_only_disk, capsys):
    corpus, tokenizer, _, run = shared
    out = str(read_only_disk / "out")
    argv = {"tokenizer": ["tokenizer", "train", "--input", str(corpus), "--vocab_size", "300", "--output_dir", out],
            "pretrain": ["pretrain", *PRETRAIN, "--tokenizer", str(tokenizer), "--input", str(corpus), "--output_dir", out],
            "finetune": ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(run),
                         "--max_train_samples", "16", "--output_dir", out],
            "export": ["export", "--run", str(run), "--output_dir", out]}[command]
    assert main(argv) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "Read-only file system" in lines[0], lines

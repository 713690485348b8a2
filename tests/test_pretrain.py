"""`genpt pretrain`: exact resume, reproduction from config.yaml, DDP, metrics, bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import write_books
from safetensors.torch import load_file

from genpt.cli import main
from genpt.pretrain.config import TrainingConfig
from genpt.pretrain.train import lr_multiplier
from genpt.tokenizer.train import train_tokenizer

# Small enough that a run takes seconds: the tiny preset on 64-token windows.
FAST = ["--preset", "tiny", "--batch_size", "4", "--seq_len", "64", "--mixed_precision", "no",
        "--logging_steps", "1", "--eval_steps", "4", "--save_steps", "4", "--eval_tokens", "2048", "--warmup_steps", "2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_books(tmp_path_factory.mktemp("corpus"), "Carroll_Alice_s_Adventures_in_Wonderland",
                       "Wilde_The_Picture_of_Dorian_Gray")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, corpus) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "tokenizer"
    train_tokenizer([corpus], output_dir=folder, vocab_size=1000, show_progress=False)
    return folder


def pretrain(*args: str) -> int:
    return main(["pretrain", *args])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def test_resumed_run_continues_exactly(tmp_path, corpus, tokenizer):
    common = [*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "8"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert pretrain(*common, "--output_dir", str(whole)) == 0
    # Interrupt the same run after step 4: everything written after that checkpoint is gone.
    shutil.copytree(whole, cut)
    for later in ("checkpoints/step-00000008", "best", "model.safetensors", "trainer_state.json"):
        path = cut / later
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert pretrain(*common, "--output_dir", str(cut), "--resume", "auto") == 0

    assert metrics(cut) == [{k: v for k, v in r.items() if k not in ("tokens_per_s", "mfu", "elapsed_s", "train_s")} | {
        k: r2[k] for k in ("tokens_per_s", "mfu", "elapsed_s", "train_s") if k in r2} for r, r2 in zip(metrics(whole), metrics(cut))]
    losses = lambda run: [(r["step"], r.get("loss"), r.get("val_loss")) for r in metrics(run)]
    assert losses(cut) == losses(whole)  # every later loss, bit for bit
    assert [r["step"] for r in metrics(cut) if "loss" in r] == list(range(1, 9))  # no duplicates
    ours, theirs = weights(whole), weights(cut)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_config_yaml_reproduces_the_run(tmp_path, corpus, tokenizer):
    first, again = tmp_path / "first", tmp_path / "again"
    assert pretrain(*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "3",
                    "--output_dir", str(first)) == 0
    assert pretrain("--config", str(first / "config.yaml"), "--output_dir", str(again)) == 0
    assert all(torch.equal(a, b) for a, b in zip(weights(first).values(), weights(again).values()))
    # The run folder is complete and self-describing.
    for name in ("config.yaml", "tokenizer/tokenizer.json", "best/model.safetensors", "loss_curve.png",
                 "checkpoints/step-00000003/optimizer.pt", "trainer_state.json"):
        assert (first / name).exists(), name
    assert (first / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((first / "tensorboard").glob("events.out.tfevents.*"))  # TensorBoard is in the test extra


def test_training_lowers_the_loss_and_logs_computed_throughput(tmp_path, corpus, tokenizer):
    run = tmp_path / "run"
    assert pretrain(*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "24",
                    "--learning_rate", "3e-3", "--output_dir", str(run)) == 0
    rows = metrics(run)
    train = [r for r in rows if "loss" in r]
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    assert train[-1]["loss"] < train[0]["loss"] - 1.0
    assert val[-1] < val[0]
    speeds = [r["tokens_per_s"] for r in train]
    assert len(set(speeds)) > 1 and min(speeds) > 0  # measured each time, not a constant
    ratios = [r["mfu"] / r["tokens_per_s"] for r in train]
    # MFU = tokens/s x FLOPs per token / the peak measured at start: one ratio, up to rounding
    assert max(ratios) == pytest.approx(min(ratios), rel=0.02)
    assert 0 < max(r["mfu"] for r in train) < 1.5
    assert rows[-1]["step"] == 24 and json.loads((run / "trainer_state.json").read_text())["stop_reason"] == "max_steps"


def test_two_process_ddp_sees_different_data_and_ends_in_sync(tmp_path, corpus, tokenizer):
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "genpt", "pretrain", *FAST, "--tokenizer", str(tokenizer), "--input", str(corpus),
               "--max_steps", "4", "--output_dir", str(run)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["world_size"] == 2
    assert state["tokens_seen"] == 4 * 2 * 4 * 64  # steps x processes x batch x window
    first, second = state["processes"]
    assert first["weights_checksum"] == second["weights_checksum"]
    assert first["data_hash"] != second["data_hash"]


def test_two_processes_start_from_a_hugging_face_folder(tmp_path, corpus, tokenizer):
    """Under DDP, --init from a Hugging Face folder: one process saves its tokenizer into the
    run folder while the others wait (each saving it at once raced to rename the same folder)."""
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    from genpt.tokenization import load_tokenizer

    hf, run = tmp_path / "hf", tmp_path / "ddp"
    hf_tokenizer = load_tokenizer(tokenizer)
    OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=len(hf_tokenizer), n_positions=64, n_embd=32, n_layer=1,
                                         n_head=2)).save_pretrained(hf)
    hf_tokenizer.save_pretrained(str(hf))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "genpt", "pretrain", *FAST, "--init", str(hf), "--input", str(corpus), "--max_steps", "2",
               "--output_dir", str(run)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(load_tokenizer(run / "tokenizer")) == len(hf_tokenizer)
    assert [p.name for p in run.iterdir() if ".tmp" in p.name] == []  # no staging folder left behind
    first, second = json.loads((run / "trainer_state.json").read_text())["processes"]
    assert first["weights_checksum"] == second["weights_checksum"]


def error_of(capsys, *args: str) -> str:
    assert pretrain(*args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    assert len(errors) == 1 and lines[-1] == errors[0], lines[-3:]  # exactly one line, the last
    assert errors[0].startswith("genpt pretrain: error: ")
    return errors[0]


def test_bad_inputs_are_one_line_errors_leaving_nothing(tmp_path, corpus, tokenizer, capsys):
    base = [*FAST, "--tokenizer", str(tokenizer), "--max_steps", "2"]
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    assert "empty" in error_of(capsys, *base, "--input", str(empty), "--output_dir", str(tmp_path / "a")).lower()
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 100)
    assert "latin1.txt" in error_of(capsys, *base, "--input", str(latin1), "--output_dir", str(tmp_path / "b"))
    assert not (tmp_path / "b" / "model.safetensors").exists()
    assert "context" in error_of(capsys, *base, "--input", str(corpus), "--seq_len", "4096", "--output_dir", str(tmp_path / "c"))
    assert "no such tokenizer" in error_of(capsys, *FAST, "--tokenizer", str(tmp_path / "nope"), "--input", str(corpus),
                                           "--output_dir", str(tmp_path / "d"))


def test_vocabulary_mismatch_and_bad_resumes_are_errors(tmp_path, corpus, tokenizer, capsys):
    run = tmp_path / "run"
    common = [*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "4"]
    assert pretrain(*common, "--output_dir", str(run)) == 0
    config = (run / "config.yaml").read_text()
    (tmp_path / "other.yaml").write_text(config.replace("vocab_size: 1000", "vocab_size: 1234").replace("name: tiny", "name: mine"))
    assert "vocab_size 1234" in error_of(capsys, "--config", str(tmp_path / "other.yaml"), "--output_dir", str(tmp_path / "o"))
    assert "already holds a run" in error_of(capsys, *common, "--output_dir", str(run))
    assert "learning_rate" in error_of(capsys, *common, "--learning_rate", "1e-2", "--output_dir", str(run), "--resume", "auto")
    checkpoint = run / "checkpoints" / "step-00000004"
    weights_file = checkpoint / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:1000])  # truncated
    message = error_of(capsys, *common, "--max_steps", "4", "--output_dir", str(run), "--resume", str(checkpoint))
    assert "model.safetensors" in message
    assert "not a checkpoint folder" in error_of(capsys, *common, "--output_dir", str(run), "--resume", str(tmp_path / "missing"))


def test_corrupted_optimizer_state_is_an_error(tmp_path, corpus, tokenizer, capsys):
    run = tmp_path / "run"
    common = [*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "4"]
    assert pretrain(*common, "--output_dir", str(run)) == 0
    (run / "checkpoints" / "step-00000004" / "optimizer.pt").write_bytes(b"not a torch file")
    assert "optimizer.pt: corrupted or truncated" in error_of(capsys, *common, "--output_dir", str(run), "--resume", "auto")


def test_a_compiled_run_saves_weights_that_load_and_resume(tmp_path, corpus, tokenizer):
    """`--torch_compile` once saved every weight as "_orig_mod.NAME": nothing could load them."""
    from genpt.pretrained import load_pretrained

    run = tmp_path / "compiled"
    common = [*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "6", "--torch_compile"]
    assert pretrain(*common, "--output_dir", str(run)) == 0
    assert not [name for name in weights(run) if "_orig_mod" in name]
    load_pretrained(str(run))  # strict: every weight by its own name
    shutil.rmtree(run / "checkpoints" / "step-00000006")
    (run / "model.safetensors").unlink()
    assert pretrain(*common, "--output_dir", str(run), "--resume", "auto") == 0  # from step-00000004


def test_gradient_accumulation_counts_every_micro_batch(tmp_path, corpus, tokenizer):
    run = tmp_path / "accumulated"
    assert pretrain(*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "3",
                    "--gradient_accumulation_steps", "3", "--output_dir", str(run)) == 0
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["tokens_seen"] == 3 * 3 * 4 * 64  # steps x micro-batches x batch x window
    lrs = [r["lr"] for r in metrics(run) if "lr" in r]
    schedule = TrainingConfig(max_steps=3, warmup_steps=2, learning_rate=1e-3)  # the tiny preset's lr
    expected = [1e-3 * lr_multiplier(step, schedule) for step in (1, 2, 3)]
    assert lrs == pytest.approx(expected)  # the schedule steps once per optimizer step, not per micro-batch


def test_ctrl_c_saves_a_checkpoint_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path, corpus, tokenizer, capsys):
    import signal
    import time

    common = [*FAST, "--tokenizer", str(tokenizer), "--input", str(corpus), "--max_steps", "150", "--save_steps", "1000"]
    command = [sys.executable, "-m", "genpt", "pretrain", *common]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert pretrain(*common, "--output_dir", str(whole)) == 0

    process = subprocess.Popen([*command, "--output_dir", str(cut)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (cut / "metrics.jsonl").exists():
        time.sleep(0.05)
    while time.time() < deadline and len((cut / "metrics.jsonl").read_text().splitlines()) < 5:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # Ctrl-C between (or during) steps
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-1000:]
    state = json.loads((cut / "trainer_state.json").read_text())
    assert state["stop_reason"] == "interrupted" and 5 <= state["step"] < 150
    assert (cut / "checkpoints" / f"step-{state['step']:08d}" / "optimizer.pt").exists()
    from genpt.pretrained import load_pretrained  # fine-tuning from it works, and says what it starts from

    capsys.readouterr()
    load_pretrained(str(cut))
    assert f"interrupted at step {state['step']:,} of 150;" in capsys.readouterr().err

    result = subprocess.run([*command, "--output_dir", str(cut), "--resume", "auto"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1000:]
    train_losses = lambda run: [(r["step"], r["loss"]) for r in metrics(run) if "loss" in r]
    assert train_losses(cut) == train_losses(whole)
    ours, theirs = weights(whole), weights(cut)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    load_pretrained(str(cut))  # finished now: nothing to say
    assert "interrupted" not in capsys.readouterr().err

def test_sigterm_stops_a_run_like_ctrl_c_and_more_of_them_change_nothing(capfd):
    # A scheduler may signal every process of a job, and genpt compare passes its own on too:
    # the second SIGTERM must not abort the checkpoint the first asked for. Ctrl-C still aborts.
    import signal

    from genpt.training import stop_on_interrupt

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_interrupt("genpt pretrain") as interrupted:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupted["flag"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert capfd.readouterr().out.count("genpt pretrain: stopping after this step (SIGTERM; Ctrl-C aborts)") == 1
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize("preset", ["gpt1", "mini", "tiny", None])
def test_every_default_schedule_reaches_its_peak_and_anneals(preset):
    """A preset's (or --init alone's) warm-up ends early in its run: the learning rate then
    peaks and anneals, where a warm-up as long as the run would only ever rise."""
    from genpt.pretrain.config import training_defaults

    t = training_defaults(preset)
    assert t.warmup_steps <= t.max_steps // 10, (t.warmup_steps, t.max_steps)
    assert lr_multiplier(t.warmup_steps, t) == 1.0 and lr_multiplier(t.max_steps - 1, t) < 1e-3


def test_fp16_loss_scale_survives_a_checkpoint(tmp_path):
    """In fp16 on a GPU the gradient scaler halves its scale at each overflow and skips that
    step; a resumed run must go on from the scale it had, not from 65,536 again (which skips
    other steps: not the same run). accelerate makes no scaler on a CPU, so the test gives the
    Accelerator the one it makes on a GPU: a real `torch.amp.GradScaler`."""
    from accelerate import Accelerator

    from genpt import checkpoint as ckpt
    from genpt.training import adamw, reset_accelerate_state, save_training_checkpoint

    def training_parts(init_scale: float):
        reset_accelerate_state()
        accelerator = Accelerator(cpu=True)
        accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1, device="cpu")
        optimizer = adamw(model, lr=0.1, weight_decay=0.01, device=torch.device("cpu"))  # genpt's: fused
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        return accelerator, model, optimizer, scheduler

    accelerator, model, optimizer, scheduler = training_parts(2.0 ** 126)
    model, optimizer = accelerator.prepare(model, optimizer)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    accelerator.backward(model(torch.full((2, 4), 8.0, device="cpu")).square().sum())  # x 2^126: overflows
    optimizer.step()
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert accelerator.scaler.get_scale() == 2.0 ** 125
    save_training_checkpoint(accelerator, model, optimizer, scheduler, tmp_path, {"step": 1}, keep=1)

    accelerator, model, optimizer, scheduler = training_parts(2.0 ** 16)
    ckpt.restore_training_state(tmp_path / ckpt.checkpoint_name(1), model, optimizer, scheduler, accelerator)
    assert accelerator.scaler.get_scale() == 2.0 ** 125

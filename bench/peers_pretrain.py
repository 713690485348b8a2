"""Pretraining against nanoGPT's `train.py`, side by side, on the same token files.

nanoGPT (karpathy/nanoGPT, MIT) is run unmodified from `../shared/peers/nanoGPT` when that
folder is present (the bench says so and stops when it is not). Both sides train the `mini`
shape (4 layers, 384 wide, 6 heads, context 256, biases, dropout 0.1) on genpt's prepared
`train.bin` (nanoGPT reads it as its own `train.bin` / `val.bin` with a `meta.pkl`), batch
8 x 256, lr 1e-3 after 100 warm-up steps, cosine to 0, weight decay 0.01, Adam betas
(0.9, 0.999), clipping 1.0, for N steps. Each side runs at its best default on the machine:
nanoGPT in fp32 (its `train.py` autocasts on CUDA only), genpt with `--mixed_precision auto`
(bf16 where the CPU has it); genpt also in fp32. genpt runs both blocks: the paper's post-LN
and `prenorm` (nanoGPT's is pre-LN).

Reported, per N:
  - tokens/s (median of the timed steps; nanoGPT's own per-iteration times);
  - the validation loss of every final model, computed by ONE evaluator (genpt's, on the
    same fixed validation windows): nanoGPT's checkpoint is loaded into genpt's `GPT`
    (`prenorm=True`, exact GELU, the same names);
  - time to target: the training time each genpt run took to reach nanoGPT's final
    validation loss (interpolated between genpt's evaluations), against nanoGPT's time for
    its N steps.

    python bench/peers_pretrain.py                       # N = 600 and 2000, about 2 hours on 2 cores
    python bench/peers_pretrain.py --steps 300 --input genpt/default_data/books
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = ROOT.parent / "shared" / "peers" / "nanoGPT"
SHAPE = dict(n_layer=4, n_head=6, n_embd=384, block_size=256)


def nanogpt_run(workdir: Path, data: Path, vocab_size: int, steps: int, log: Path) -> dict:
    """nanoGPT's train.py, unmodified, on genpt's token files; its per-iteration times."""
    dataset = workdir / "data" / "genpt"
    dataset.mkdir(parents=True, exist_ok=True)
    for ours, theirs in (("train.bin", "train.bin"), ("validation.bin", "val.bin")):
        target = dataset / theirs
        if not target.exists():
            target.symlink_to(data / ours)
    (dataset / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": vocab_size}))
    configurator = workdir / "configurator.py"  # train.py reads it from the folder it runs in
    if not configurator.exists():
        configurator.symlink_to(NANOGPT / "configurator.py")
    args = [f"--{k}={v}" for k, v in dict(
        dataset="genpt", device="cpu", compile=False, dtype="float32", batch_size=8, gradient_accumulation_steps=1,
        dropout=0.1, bias=True, learning_rate=1e-3, max_iters=steps, lr_decay_iters=steps, warmup_iters=100, min_lr=0.0,
        weight_decay=0.01, beta1=0.9, beta2=0.999, grad_clip=1.0, eval_interval=steps, eval_iters=1, log_interval=1,
        out_dir=str(workdir / "out"), always_save_checkpoint=True, wandb_log=False, **SHAPE).items()]
    with log.open("w") as output:
        subprocess.run([sys.executable, str(NANOGPT / "train.py"), *args], cwd=workdir, stdout=output, stderr=subprocess.STDOUT,
                       check=True)
    times = [float(m) / 1000 for m in re.findall(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", log.read_text(), re.M)]
    return {"step_seconds": times[1:], "checkpoint": workdir / "out" / "ckpt.pt"}


def nanogpt_as_genpt(checkpoint: Path, vocab_size: int):
    """nanoGPT's final weights in genpt's `GPT` (pre-LN, exact GELU): the same function."""
    from genpt.config import GPTConfig
    from genpt.models.gpt import GPT

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    state = {k.removeprefix("_orig_mod.").removeprefix("transformer."): v for k, v in state.items()}
    config = GPTConfig(name="nanogpt", vocab_size=vocab_size, n_positions=SHAPE["block_size"], n_layer=SHAPE["n_layer"],
                       n_head=SHAPE["n_head"], n_embd=SHAPE["n_embd"], activation="gelu", prenorm=True)
    model = GPT(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


@torch.no_grad()
def validation_loss(model, validation_tokens, eval_tokens: int) -> float:
    """The one evaluator: mean next-token loss on genpt's fixed validation windows."""
    from genpt.pretrain.data import validation_batches

    total, count = 0.0, 0
    for batch in validation_batches(validation_tokens, batch_size=8, seq_len=SHAPE["block_size"], max_tokens=eval_tokens):
        total += model(batch, labels=batch, return_logits=False).loss.item() * batch.size(0)
        count += batch.size(0)
    return total / count


def genpt_run(run_dir: Path, tokenizer: str, inputs: list[str], data: Path, steps: int, precision: str, prenorm: bool,
              strip: bool) -> dict:
    from genpt.cli import main

    argv = ["pretrain", "--preset", "mini", "--tokenizer", tokenizer, "--input", *inputs, "--data_cache_dir", str(data),
            "--output_dir", str(run_dir), "--max_steps", str(steps), "--batch_size", "8", "--learning_rate", "1e-3",
            "--warmup_steps", "100", "--weight_decay", "0.01", "--mixed_precision", precision, "--logging_steps", "10",
            "--eval_steps", str(max(10, steps // 10)), "--save_steps", str(steps), "--eval_tokens", str(1 << 17)]
    if strip:
        argv.append("--strip_gutenberg")
    if prenorm:  # the pre-LN block, through a config with the model's one change
        import yaml

        from genpt.config import GPTConfig

        config = run_dir.parent / f"{run_dir.name}.yaml"
        config.write_text(yaml.safe_dump({"model": {**GPTConfig.from_name("mini").to_dict(), "prenorm": True}}))
        argv = [a for a in argv if a not in ("--preset", "mini")] + ["--config", str(config)]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "tokens_per_s" in r][1:]
    train_s = {r["step"]: r["train_s"] for r in rows if "train_s" in r}
    evals = [(r["step"], r["val_loss"], train_s.get(r["step"])) for r in rows if "val_loss" in r]
    return {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in timed), "evals": evals}


def genpt_contenders() -> list[tuple[str, str, str, bool]]:
    """genpt's runs, (label, folder, precision, prenorm): both blocks at the default precision,
    and the post-LN block in fp32 unless the default already is fp32 on this machine (a CPU
    without bf16 instructions), where that run would repeat the first one."""
    from genpt.training import resolve_mixed_precision

    auto = resolve_mixed_precision("auto")
    label = "auto = fp32" if auto == "no" else f"auto = {auto}"
    contenders = [(f"genpt post-LN {label}", "genpt-post-LN-auto", "auto", False),
                  (f"genpt pre-LN {label}", "genpt-pre-LN-auto", "auto", True)]
    return contenders if auto == "no" else [*contenders, ("genpt post-LN fp32", "genpt-post-LN-fp32", "no", False)]


def time_to(target: float, evals: list[tuple[int, float, float]]) -> float | None:
    """Training seconds at which the validation loss first reached `target` (linear between evaluations)."""
    previous = None
    for step, loss, seconds in evals:
        if seconds is None or loss is None:  # a loss that was not finite is null in metrics.jsonl
            continue
        if loss <= target:
            if previous is None:
                return seconds
            (loss0, seconds0) = previous
            return seconds0 + (seconds - seconds0) * (loss0 - target) / max(loss0 - loss, 1e-12)
        previous = (loss, seconds)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[600, 2000])
    parser.add_argument("--input", nargs="+", default=[str(ROOT.parent / "shared" / "data" / "gutenberg" / "books")])
    parser.add_argument("--tokenizer", help="tokenizer folder (default: an 8,192-token one trained on --input)")
    parser.add_argument("--no_strip_gutenberg", action="store_true")
    parser.add_argument("--work", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    if not (NANOGPT / "train.py").is_file():
        print(f"bench/peers_pretrain.py: nanoGPT not found at {NANOGPT} (../shared/peers/nanoGPT); nothing to compare", file=sys.stderr)
        return 2
    from genpt.pretrain.data import prepare_corpus
    from genpt.pretrained import load_pretrained
    from genpt.tokenization import load_tokenizer
    from genpt.tokenizer.train import train_tokenizer

    strip = not args.no_strip_gutenberg
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        tokenizer = args.tokenizer or str(work / "tokenizer")
        if not args.tokenizer and not (work / "tokenizer").exists():
            train_tokenizer(args.input, output_dir=tokenizer, vocab_size=8192, strip_gutenberg=strip, show_progress=False)
        vocab_size = len(load_tokenizer(tokenizer))
        data = work / "data"
        corpus = prepare_corpus(args.input, tokenizer, data, strip_gutenberg=strip, show_progress=False)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; mini shape, batch 8 x 256, "
              f"{corpus.n_train_tokens:,} training tokens")
        print("| N | contender | tokens/s | final val loss (one evaluator) | time to nanoGPT's loss | nanoGPT's time | speed-up (time) |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for steps in args.steps:
            nano = nanogpt_run(work / f"nanogpt-{steps}", data, vocab_size, steps, work / f"nanogpt-{steps}.log")
            nano_seconds = sum(nano["step_seconds"])
            target = validation_loss(nanogpt_as_genpt(nano["checkpoint"], vocab_size), corpus.validation_tokens(), 1 << 17)
            nano_rate = 8 * 256 / statistics.median(nano["step_seconds"])
            print(f"| {steps} | nanoGPT fp32 | {nano_rate:,.0f} | {target:.4f} | {nano_seconds:,.0f} s | {nano_seconds:,.0f} s | 1.00x |",
                  flush=True)
            for name, folder, precision, prenorm in genpt_contenders():
                run_dir = work / f"{folder}-{steps}"
                result = genpt_run(run_dir, tokenizer, args.input, data, steps, precision, prenorm, strip)
                final = validation_loss(load_pretrained(str(run_dir)).model.eval(), corpus.validation_tokens(), 1 << 17)
                reached = time_to(target, result["evals"])
                shown = f"{reached:,.0f} s" if reached is not None else "not reached"
                speedup = f"{nano_seconds / reached:.2f}x" if reached else "–"
                print(f"| {steps} | {name} | {result['tokens_per_s']:,.0f} ({result['tokens_per_s'] / nano_rate:.2f}x) | "
                      f"{final:.4f} | {shown} | {nano_seconds:,.0f} s | {speedup} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

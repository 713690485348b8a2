"""End-to-end pretraining throughput: `genpt pretrain` against a `transformers` Trainer run.

Both train the same-size GPT-1 (post-LN) model on the same prepared token file, with the
same batch, precision, optimizer (fused AdamW), schedule and clipping; both draw their
batches with `genpt.pretrain.data.train_batch`. Throughput is measured the same way for
both: wall time between the ends of optimizer steps, data loading and optimizer included,
after warm-up steps, evaluation and checkpointing excluded (neither evaluates or saves
inside the timed steps). Both run with `genpt.perf.keep_freed_memory` applied (genpt's
training loops apply it; the script applies it first, so the Trainer has it too). Each
contender runs `--rounds` times in alternating order, and its best median counts.

    python bench/pretrain.py                                  # mini preset, embedded books, fp32 and bf16, 2 rounds
    python bench/pretrain.py --input ../shared/data/gutenberg/books --strip_gutenberg
    python bench/pretrain.py --device cuda --precisions bf16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from genpt.config import GPTConfig
from genpt.convert import to_hf_model
from genpt.models.gpt import GPT
from genpt.perf import keep_freed_memory
from genpt.pretrain.config import DataConfig, RunConfig, TrainingConfig
from genpt.pretrain.data import prepare_corpus, train_batch
from genpt.pretrain.train import pretrain
from genpt.resources import default_corpus_dir
from genpt.tokenization import load_tokenizer
from genpt.tokenizer.train import train_tokenizer


def genpt_tokens_per_second(run: RunConfig, workdir: Path, warmup: int) -> float:
    """Median tokens/s over the logged steps after warm-up (logging every step)."""
    output_dir = workdir / f"genpt-{run.training.mixed_precision}"
    pretrain(run, output_dir, show_progress=False)
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r and r["step"] > warmup]
    return statistics.median(speeds)


class WindowDataset(torch.utils.data.Dataset):
    """The exact windows genpt draws, one sequence per item, in step order."""

    def __init__(self, tokens, steps: int, batch_size: int, seq_len: int, seed: int):
        self.tokens, self.batch_size, self.seq_len, self.seed = tokens, batch_size, seq_len, seed
        self.length = steps * batch_size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        step, row = divmod(index, self.batch_size)
        window = train_batch(self.tokens, step, seed=self.seed, rank=0, batch_size=self.batch_size, seq_len=self.seq_len)[row]
        return {"input_ids": window, "labels": window}


def trainer_tokens_per_second(run: RunConfig, tokens, workdir: Path, warmup: int) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    t = run.training
    step_ends: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            step_ends.append(time.perf_counter())

    torch.manual_seed(t.seed)
    model = to_hf_model(GPT(run.model))
    arguments = TrainingArguments(
        output_dir=str(workdir / f"trainer-{t.mixed_precision}"),
        per_device_train_batch_size=t.batch_size,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type="cosine",
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        optim="adamw_torch_fused",
        bf16=t.mixed_precision == "bf16",
        use_cpu=not torch.cuda.is_available(),  # --device cpu hides the GPUs from both contenders
        dataloader_num_workers=0,
        logging_steps=10**9,
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        seed=t.seed,
        disable_tqdm=True,
    )
    dataset = WindowDataset(tokens, t.max_steps, t.batch_size, t.seq_len, t.seed)
    Trainer(model=model, args=arguments, train_dataset=dataset, callbacks=[StepTimer()]).train()
    durations = [b - a for a, b in zip(step_ends[warmup:], step_ends[warmup + 1 :])]
    return t.batch_size * t.seq_len / statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", default=[str(default_corpus_dir())])
    parser.add_argument("--strip_gutenberg", action="store_true")
    parser.add_argument("--tokenizer", help="tokenizer folder (default: train an 8,192-token one on --input)")
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"], choices=["no", "bf16"])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each contender, in alternating order; the best counts")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before CUDA starts: both contenders train on the CPU
    elif not torch.cuda.is_available():
        sys.exit("bench/pretrain.py: --device cuda, but this machine has no CUDA GPU")
    keep_freed_memory()  # the same allocator setting for both contenders

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tokenizer = args.tokenizer or str(workdir / "tokenizer")
        if not args.tokenizer:
            train_tokenizer(args.input, output_dir=tokenizer, vocab_size=8192, strip_gutenberg=args.strip_gutenberg, show_progress=False)
        data = DataConfig(inputs=args.input, tokenizer=tokenizer, strip_gutenberg=args.strip_gutenberg, cache_dir=str(workdir / "data"))
        corpus = prepare_corpus(args.input, tokenizer, workdir / "data", strip_gutenberg=args.strip_gutenberg, show_progress=False)
        train_tokens = corpus.train_tokens()
        model = GPTConfig.from_name(args.preset, vocab_size=len(load_tokenizer(tokenizer)))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; preset {args.preset}, "
              f"batch {args.batch_size} x {model.n_positions} tokens, {args.steps} steps ({args.warmup} warm-up)")
        print("| precision | genpt pretrain tokens/s | HF Trainer (OpenAIGPTLMHeadModel) tokens/s | genpt speed-up |")
        print("|---|---:|---:|---:|")
        for precision in args.precisions:
            training = TrainingConfig(
                max_steps=args.steps, batch_size=args.batch_size, seq_len=model.n_positions, learning_rate=6e-4,
                warmup_steps=5, mixed_precision=precision, logging_steps=1, eval_steps=10**9, save_steps=10**9, eval_tokens=4096,
            )
            run = RunConfig(model, training, data)
            contenders = {
                "genpt": lambda folder: genpt_tokens_per_second(run, folder, args.warmup),
                "trainer": lambda folder: trainer_tokens_per_second(run, train_tokens, folder, args.warmup),
            }
            best = dict.fromkeys(contenders, 0.0)
            for round_index in range(args.rounds):  # alternating, so drift in the machine's speed hits both alike
                for name in list(contenders)[:: 1 if round_index % 2 == 0 else -1]:
                    best[name] = max(best[name], contenders[name](workdir / f"round{round_index}"))
            ours, theirs = best["genpt"], best["trainer"]
            print(f"| {'fp32' if precision == 'no' else precision} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

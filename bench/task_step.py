"""Fine-tuning-step throughput: genpt's classifier against `OpenAIGPTForSequenceClassification`.

One step is what `genpt finetune` does per batch without the auxiliary LM loss: forward
through GPT-1's post-LN body to the extract token, the linear head, cross-entropy, backward,
clipping at 1.0 and a fused AdamW update, on the same right-padded batch of token ids
(batch 32; real lengths drawn between half the width and the width, as in length-grouped
batches of SST-2, which run 10-60 tokens wide), from the same weights:

  genpt                  `GPTForTask`: the last block computes only the extract token
  genpt, every position  the same model with the last block computing every position,
                         as before; shows what that saves
  OpenAIGPTForSequenceClassification   the `transformers` model genpt's classifiers export to

Each contender runs alone in a fresh process (as in `bench/model_step.py`), for `--rounds`
rounds in alternating order; each round reports its median step and the best round counts.
Before timing, each worker checks that its model gives genpt's logits (eval mode; within
1e-4) and stops if it does not; the table shows the largest difference. The "bound" column divides the HF step by genpt's time in matmuls: the speed-up
if everything but genpt's matmuls took no time. This is the step of `bench/finetune.py`
without the data loading and the Trainer around it, and its ratio moves far less from run
to run on a shared machine.

    python bench/task_step.py                      # widths 16, 32 and 64, fp32
    python bench/task_step.py --widths 32 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

from genpt.config import GPTConfig
from genpt.convert import to_hf_config, to_hf_state_dict
from genpt.models.heads import GPTForTask
from genpt.perf import keep_freed_memory
from model_step import MATMUL_OPS  # bench/, beside this script: the same matmul accounting

CONTENDERS = ("genpt", "genpt, every position", "OpenAIGPTForSequenceClassification")
BATCH_SIZE, PAD_ID = 32, 0


def build(label: str, preset: str) -> torch.nn.Module:
    """The contender's model, from the same seeded genpt classifier."""
    torch.manual_seed(0)
    ours = GPTForTask(GPTConfig.from_name(preset), "single", num_labels=2)
    if label.startswith("genpt"):
        return ours
    from transformers import OpenAIGPTForSequenceClassification

    hf_config = to_hf_config(ours.config, pad_token_id=PAD_ID)
    hf_config.num_labels = 2
    if ours.config.prenorm:
        raise SystemExit(f"--preset {preset}: a pre-LN model has no OpenAIGPTForSequenceClassification twin")
    theirs = OpenAIGPTForSequenceClassification(hf_config)
    body = to_hf_state_dict(ours.transformer.state_dict(), ours.config)
    theirs.transformer.load_state_dict({k.removeprefix("transformer."): v for k, v in body.items() if k != "lm_head.weight"})
    theirs.score.load_state_dict(ours.score.state_dict())
    return theirs


def batch(preset: str, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, T) token ids right-padded with PAD_ID, their mask, and labels: the same in every worker."""
    generator = torch.Generator(device="cpu").manual_seed(width)
    vocab_size = GPTConfig.from_name(preset).vocab_size
    input_ids = torch.randint(1, vocab_size, (BATCH_SIZE, width), generator=generator)
    lengths = torch.randint(width // 2, width + 1, (BATCH_SIZE,), generator=generator)
    mask = (torch.arange(width, device="cpu")[None, :] < lengths[:, None]).long()  # (B, T)
    labels = torch.randint(0, 2, (BATCH_SIZE,), generator=generator)
    return input_ids.masked_fill(mask == 0, PAD_ID), mask, labels


def logits(label: str, model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor,
           labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, 2) logits and the loss, each model called as its training code calls it."""
    if label == "genpt":
        out = model(input_ids[:, None], mask[:, None], labels)  # (B, K=1, T): no aux LM, one position
        return out.logits, out.loss
    if label == "genpt, every position":
        features, _ = model.sequence_features(input_ids, mask, with_hidden=True)  # (B, C) from the full (B, T, C)
        out = model.head(features[:, None])
        return out, model.task_loss(out, labels) if labels is not None else None
    out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
    return out.logits, out.loss


def measure(label: str, preset: str, width: int, steps: int, warmup: int) -> tuple[float, float, float]:
    """Median seconds of one step, seconds of matmuls per step, and the largest difference
    from the reference logits (run inside a worker process)."""
    keep_freed_memory()
    model = build(label, preset)
    input_ids, mask, labels = batch(preset, width)
    with torch.no_grad():
        reference = build("genpt", preset).eval()
        difference = (logits(label, model.eval(), input_ids, mask)[0] - logits("genpt", reference, input_ids, mask)[0]).abs().max()
    if difference > 1e-4:
        raise SystemExit(f"{label}: logits differ from genpt's by {float(difference):.2e}; the weights did not carry over")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=6.25e-5, weight_decay=0.01, fused=True)

    def train_step() -> None:
        loss = logits(label, model, input_ids, mask, labels)[1]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        train_step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    profiled_steps = 3
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(profiled_steps):
            train_step()
    matmul_us = sum(e.self_cpu_time_total for e in profiler.key_averages() if e.key in MATMUL_OPS)
    return statistics.median(times), matmul_us / 1e6 / profiled_steps, float(difference)


def measure_in_fresh_process(label: str, preset: str, width: int, steps: int, warmup: int) -> tuple[float, float, float]:
    command = [sys.executable, __file__, "--worker", label, preset, str(width), str(steps), str(warmup)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    step, matmuls, difference = result.stdout.strip().splitlines()[-1].split()
    return float(step), float(matmuls), float(difference)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        label, preset, width, steps, warmup = sys.argv[2:7]
        print(*measure(label, preset, int(width), int(steps), int(warmup)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--widths", nargs="+", type=int, default=[16, 32, 64], help="padded batch widths, in tokens")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}, batch {BATCH_SIZE}, fp32, "
          f"median of {args.steps} steps, best of {args.rounds} rounds")
    print("| width | model | step (ms) | matmuls (ms) | logits' largest difference | speed-up over HF | bound |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for width in args.widths:
        best = {label: (float("inf"), float("inf"), 0.0) for label in CONTENDERS}
        for round_index in range(args.rounds):
            order = CONTENDERS if round_index % 2 == 0 else CONTENDERS[::-1]
            for label in order:
                best[label] = min(best[label], measure_in_fresh_process(label, args.preset, width, args.steps, args.warmup))
        theirs = best[CONTENDERS[-1]][0]
        for label in CONTENDERS:
            step, matmuls, difference = best[label]
            ratios = f"{theirs / step:.2f}x | {theirs / matmuls:.2f}x" if label.startswith("genpt") else " | "
            print(f"| {width} | {label} | {1000 * step:.1f} | {1000 * matmuls:.1f} | {difference:.1e} | {ratios} |", flush=True)


if __name__ == "__main__":
    main()

"""Training-step throughput: the genpt GPT against its `transformers` twins, side by side.

One step is forward (with the LM loss), backward and an AdamW update, on the same batch,
with the same optimizer settings, for:
  genpt post-LN   vs  OpenAIGPTLMHeadModel  (GPT-1 blocks)
  genpt pre-LN    vs  GPT2LMHeadModel       (GPT-2 blocks)
Each HF model is built by `genpt.convert.to_hf_model` from the genpt model, so the two
compute the same function from the same weights. Each model is called the way its own
training code calls it: genpt with `return_logits=False` (the loss comes from the fused
output-layer-and-loss kernel; genpt's pretraining loop calls it so), `transformers` with
`labels=` as `Trainer` does. Steps run round-robin across the
models so that drift in the machine's speed hits all of them alike, and the median step
time is reported. The fp32 `torch.mm` peak (4096 x 4096) is measured in the same run, and
the model FLOPs utilisation (MFU) of each row is relative to it.

    python bench/model_step.py                      # mini and a context-512 config, fp32 and bf16
    python bench/model_step.py --configs mini --precisions fp32 --steps 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from dataclasses import dataclass

import torch

from genpt.config import GPTConfig
from genpt.convert import to_hf_model
from genpt.model import GPT, training_flops_per_token
from genpt.perf import matmul_peak_flops

# name -> (config, batch size). "ctx512" keeps mini's width at GPT-1's context length.
BENCH_CONFIGS = {
    "mini": (GPTConfig.from_name("mini"), 8),
    "ctx512": (GPTConfig(**{**GPTConfig.from_name("mini").to_dict(), "n_positions": 512, "name": "ctx512"}), 4),
}


@dataclass
class Contender:
    label: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    times: list[float]


def make_contenders(config: GPTConfig) -> list[Contender]:
    contenders = []
    for prenorm, twin in ((False, "OpenAIGPTLMHeadModel"), (True, "GPT2LMHeadModel")):
        torch.manual_seed(0)
        ours = GPT(GPTConfig(**{**config.to_dict(), "prenorm": prenorm}))
        theirs = to_hf_model(ours)
        for label, model in ((f"genpt {'pre' if prenorm else 'post'}-LN", ours), (twin, theirs)):
            model.train()
            # Identical optimizer for everyone: PyTorch's fused AdamW, genpt's training default.
            optimizer = torch.optim.AdamW(model.parameters(), lr=2.5e-4, weight_decay=0.01, fused=True)
            contenders.append(Contender(label, model, optimizer, []))
    return contenders


def train_step(contender: Contender, input_ids: torch.Tensor, precision: str) -> float:
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    start = time.perf_counter()
    with autocast:
        if isinstance(contender.model, GPT):  # genpt's training call: no (B, T, V) logits kept
            loss = contender.model(input_ids, labels=input_ids, return_logits=False).loss
        else:
            loss = contender.model(input_ids, labels=input_ids).loss
    loss.backward()
    contender.optimizer.step()
    contender.optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def run(config_name: str, precision: str, steps: int, warmup: int) -> list[dict]:
    config, batch_size = BENCH_CONFIGS[config_name]
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, config.vocab_size, (batch_size, config.n_positions), generator=generator)
    contenders = make_contenders(config)
    for step in range(warmup + steps):
        for contender in contenders:  # round-robin, so drift affects all alike
            seconds = train_step(contender, input_ids, precision)
            if step >= warmup:
                contender.times.append(seconds)
    tokens = input_ids.numel()
    flops_per_step = training_flops_per_token(config, config.n_positions) * tokens
    rows = []
    for contender in contenders:
        median = statistics.median(contender.times)
        rows.append(
            dict(config=config_name, precision=precision, model=contender.label, ms=1000 * median,
                 tokens_per_s=tokens / median, flops_per_s=flops_per_step / median)
        )
    # Speed-up of each genpt row over the twin that follows it.
    for ours, theirs in zip(rows[0::2], rows[1::2]):
        ours["speedup"] = theirs["ms"] / ours["ms"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(BENCH_CONFIGS), choices=list(BENCH_CONFIGS))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    peak = 0.0
    rows = []
    for config_name in args.configs:
        for precision in args.precisions:
            peak = max(peak, matmul_peak_flops())
            rows += run(config_name, precision, args.steps, args.warmup)
            print(f"done: {config_name} {precision}", flush=True)
    peak = max(peak, matmul_peak_flops())
    print(f"\nfp32 torch.mm 4096x4096 peak (best over the run): {peak / 1e9:.1f} GFLOP/s\n")
    print("| config | precision | model | ms/step | tokens/s | MFU (of fp32 mm peak) | genpt speed-up |")
    print("|---|---|---|---:|---:|---:|---:|")
    for row in rows:
        mfu = row["flops_per_s"] / peak
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else ""
        print(f"| {row['config']} | {row['precision']} | {row['model']} | {row['ms']:.0f} | "
              f"{row['tokens_per_s']:.0f} | {100 * mfu:.1f}% | {speedup} |")


if __name__ == "__main__":
    main()

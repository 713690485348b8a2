"""Training-step throughput: the genpt GPT against its `transformers` twins, side by side.

One step is forward (with the LM loss), backward and an AdamW update, on the same batch,
with the same optimizer settings, for:
  genpt post-LN   vs  OpenAIGPTLMHeadModel  (GPT-1 blocks)
  genpt pre-LN    vs  GPT2LMHeadModel       (GPT-2 blocks)
Each HF model is built by `genpt.convert.to_hf_model` from the genpt model, so the two
compute the same function from the same weights. Each model is called the way its own
training code calls it: genpt with `return_logits=False` (the loss comes from the fused
output-layer-and-loss kernel; genpt's pretraining loop calls it so), `transformers` with
`labels=` as `Trainer` does.

Every contender runs alone in a fresh process (models sharing one process slow each other
through the memory allocator, the eager-attention HF model most), for `--rounds` rounds
whose order alternates so that drift in the machine's speed hits all alike; each round
reports its median step, and the best round counts. The fp32 `torch.mm` peak (4096 x 4096) is measured in the same run, and
the model FLOPs utilisation (MFU) of each row is relative to it. Every worker applies
`genpt.perf.keep_freed_memory` (genpt's training loops do), so all contenders run with the
same allocator setting.

Each worker also profiles a few steps and sums the time spent in matrix multiplications
(`mm`, `addmm`, `addmm_`, `bmm`, `baddbmm`). For a genpt row, the "bound" column divides the twin's
step time by genpt's matmul time: the speed-up genpt would reach if everything except its
matmuls took no time at all.

    python bench/model_step.py                      # mini and a context-512 config, fp32 and bf16
    python bench/model_step.py --configs mini --precisions fp32 --rounds 1
    python bench/model_step.py --device cuda --configs mini gpt1 --precisions bf16 --compile

On a GPU (`--device cuda`) the matmul column sums the matmul kernels' device time, and
`--compile` also times each contender under `torch.compile`.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time

import torch

from genpt.config import GPTConfig
from genpt.convert import to_hf_model
from genpt.models.gpt import GPT, training_flops_per_token
from genpt.perf import keep_freed_memory, matmul_peak_flops

# name -> (config, batch size). "ctx512" keeps mini's width at GPT-1's context length.
BENCH_CONFIGS = {
    "mini": (GPTConfig.from_name("mini"), 8),
    "ctx512": (GPTConfig(**{**GPTConfig.from_name("mini").to_dict(), "n_positions": 512, "name": "ctx512"}), 4),
    "gpt1": (GPTConfig.from_name("gpt1"), 32),  # the paper's model, at half its 64-sequence batch: for GPUs
}
DEFAULT_CONFIGS = ("mini", "ctx512")


CONTENDERS = ("genpt post-LN", "OpenAIGPTLMHeadModel", "genpt pre-LN", "GPT2LMHeadModel")


def build(label: str, config: GPTConfig, device: torch.device) -> torch.nn.Module:
    """The contender's model; HF twins are converted from the same-seeded genpt model."""
    prenorm = label in ("genpt pre-LN", "GPT2LMHeadModel")
    torch.manual_seed(0)
    ours = GPT(GPTConfig(**{**config.to_dict(), "prenorm": prenorm}))
    return (ours if label.startswith("genpt") else to_hf_model(ours)).to(device).train()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm")


def measure(label: str, config_name: str, precision: str, steps: int, warmup: int, device_name: str = "cpu",
            compiled: bool = False) -> tuple[float, float]:
    """Median seconds of one training step of one contender, and the seconds of matmuls in
    one step (run inside a worker process)."""
    keep_freed_memory()
    device = torch.device(device_name)
    config, batch_size = BENCH_CONFIGS[config_name]
    model = build(label, config, device)
    # Identical optimizer for everyone: PyTorch's fused AdamW, genpt's training default.
    optimizer = torch.optim.AdamW(model.parameters(), lr=2.5e-4, weight_decay=0.01, fused=True)
    generator = torch.Generator(device="cpu").manual_seed(0)
    input_ids = torch.randint(0, config.vocab_size, (batch_size, config.n_positions), generator=generator).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    forward = torch.compile(model) if compiled else model

    def train_step() -> None:
        with autocast:
            if isinstance(model, GPT):  # genpt's training call: no (B, T, V) logits kept
                loss = forward(input_ids, labels=input_ids, return_logits=False).loss
            else:
                loss = forward(input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times = []
    for step in range(warmup + steps):
        synchronize(device)
        start = time.perf_counter()
        train_step()
        synchronize(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    profiled_steps = 3
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as profiler:
        for _ in range(profiled_steps):
            train_step()
        synchronize(device)
    events = [e for e in profiler.key_averages() if e.key in MATMUL_OPS]
    matmul_us = sum(e.self_device_time_total if device.type == "cuda" else e.self_cpu_time_total for e in events)
    return statistics.median(times), matmul_us / 1e6 / profiled_steps


def measure_in_fresh_process(label: str, config_name: str, precision: str, steps: int, warmup: int, device: str = "cpu",
                             compiled: bool = False) -> tuple[float, float]:
    command = [sys.executable, __file__, "--worker", label, config_name, precision, str(steps), str(warmup), device,
               str(int(compiled))]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    step, matmuls = result.stdout.strip().splitlines()[-1].split()
    return float(step), float(matmuls)


def run(config_name: str, precision: str, steps: int, warmup: int, rounds: int, device: str = "cpu",
        compiled: bool = False) -> list[dict]:
    config, batch_size = BENCH_CONFIGS[config_name]
    best = {label: (float("inf"), float("inf")) for label in CONTENDERS}  # (step, its matmuls), fastest step
    for round_index in range(rounds):
        order = CONTENDERS if round_index % 2 == 0 else CONTENDERS[::-1]
        for label in order:
            best[label] = min(best[label], measure_in_fresh_process(label, config_name, precision, steps, warmup, device, compiled))
    tokens = batch_size * config.n_positions
    flops_per_step = training_flops_per_token(config, config.n_positions) * tokens
    rows = [dict(config=config_name + (" compiled" if compiled else ""), precision=precision, model=label, ms=1000 * best[label][0],
                 matmul_ms=1000 * best[label][1], tokens_per_s=tokens / best[label][0],
                 flops_per_s=flops_per_step / best[label][0]) for label in CONTENDERS]
    for ours, theirs in zip(rows[0::2], rows[1::2]):  # each genpt row against the twin after it
        ours["speedup"] = theirs["ms"] / ours["ms"]
        ours["bound"] = theirs["ms"] / ours["matmul_ms"]
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        label, config_name, precision, steps, warmup, device, compiled = sys.argv[2:9]
        print(*measure(label, config_name, precision, int(steps), int(warmup), device, compiled == "1"))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), choices=list(BENCH_CONFIGS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compile", action="store_true", help="also time every contender under torch.compile")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench/model_step.py: --device cuda, but this machine has no CUDA GPU")
    rows, peaks = benchmark(args.configs, args.precisions, args.steps, args.warmup, args.rounds, args.device, args.compile)
    print(f"\ntorch.mm 4096x4096 peak (best over the run): fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, "
          f"bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s\n")
    print("| config | precision | model | ms/step | of which matmuls | tokens/s | MFU (of the same precision's mm peak) "
          "| genpt speed-up | bound (twin ms / genpt matmul ms) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mfu = row["mfu"]
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else ""
        bound = f"{row['bound']:.2f}x" if "bound" in row else ""
        print(f"| {row['config']} | {row['precision']} | {row['model']} | {row['ms']:.0f} | {row['matmul_ms']:.0f} | "
              f"{row['tokens_per_s']:.0f} | {100 * mfu:.1f}% | {speedup} | {bound} |")


def benchmark(configs: list[str], precisions: list[str], steps: int, warmup: int, rounds: int, device: str = "cpu",
              compile_too: bool = False) -> tuple[list[dict], dict[str, float]]:
    """Every row (with its MFU against the same precision's measured matmul peak), and the peaks."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}", flush=True)
    peaks = {"fp32": 0.0, "bf16": 0.0}
    rows = []
    for config_name in configs:
        for precision in precisions:
            for compiled in (False, True) if compile_too else (False,):
                peaks["fp32"] = max(peaks["fp32"], matmul_peak_flops(device))
                peaks["bf16"] = max(peaks["bf16"], matmul_peak_flops(device, dtype=torch.bfloat16))
                rows += run(config_name, precision, steps, warmup, rounds, device, compiled)
                print(f"done: {config_name} {precision}{' compiled' if compiled else ''}", flush=True)
    peaks["fp32"] = max(peaks["fp32"], matmul_peak_flops(device))
    for row in rows:
        row["mfu"] = row["flops_per_s"] / peaks[row["precision"]]
    return rows, peaks


if __name__ == "__main__":
    main()

"""The GPU check: everything a lent CUDA GPU must confirm, in under 8 minutes, as one JSON.

    python bench/gpu_check.py --output gpu_check.json            # on a CUDA machine
    python bench/gpu_check.py --smoke --output /tmp/smoke.json   # the same steps, tiny, on a CPU

It runs, each in its own process and time budget (a failure is recorded, and the next step
still runs):
  a. the step benchmark (`bench/model_step.py`) for `mini` and `gpt1` in bf16, eager and
     compiled, with MFU against the measured bf16 matmul peak (target: gpt1 >= 50%);
  b. 200 steps of `genpt pretrain --preset gpt1 --torch_compile` on the Gutenberg books;
  c. `genpt finetune` on SST-2 for 200 steps from that run;
  d. `GPT.generate` (greedy and sampled) and GPT beam-search decoding on the GPU, with the
     greedy tokens compared against the same model's on the CPU;
  e. fp16 (older GPUs' `auto`), then FSDP (`docs/accelerate_fsdp.yaml`, on as many GPUs as
     there are): a short run, and the same run interrupted after its first checkpoint and
     resumed; the final weights must be bitwise equal (and, under FSDP, load into a plain `GPT`);
  f. with two GPUs, a 2-process DDP `accelerate launch` pretraining, checking that the
     processes end with the same weights.
Without CUDA (and without --smoke) it exits at once with a one-line message and status 2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # model_step.py beside this file


def run_genpt(*args: str, timeout: float, launcher: list[str] | None = None) -> dict[str, Any]:
    """A `genpt` command in its own process: its status, seconds and the tail of its output."""
    command = [*(launcher or [sys.executable]), "-m", "genpt", *args]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s", "command": " ".join(command)}
    result = {"ok": done.returncode == 0, "seconds": round(time.perf_counter() - started, 1), "command": " ".join(command)}
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout)[-2000:]
    return result


def step_benchmark(smoke: bool, device: str) -> dict[str, Any]:
    from model_step import benchmark

    configs = ["mini"] if smoke else ["mini", "gpt1"]
    rows, peaks = benchmark(configs, ["bf16"], steps=2 if smoke else 10, warmup=1 if smoke else 3, rounds=1, device=device,
                            compile_too=not smoke)
    return {"bf16_matmul_peak_tflops": round(peaks["bf16"] / 1e12, 2),
            "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]}


def pretrain(work: Path, data: Path, smoke: bool) -> dict[str, Any]:
    books = data / "gutenberg" / "books" if not smoke else ROOT / "genpt" / "default_data" / "books"
    tokenizer = work / "tokenizer"
    result = {"tokenizer": run_genpt("tokenizer", "train", "--input", str(books), "--strip_gutenberg", "--vocab_size",
                                     "1000" if smoke else "40478", "--output_dir", str(tokenizer), timeout=180)}
    run = work / "pretrain"
    preset = ["--preset", "tiny", "--max_steps", "20", "--eval_steps", "10"] if smoke else \
        ["--preset", "gpt1", "--max_steps", "200", "--batch_size", "32", "--eval_steps", "100", "--torch_compile"]
    result["pretrain"] = run_genpt("pretrain", *preset, "--warmup_steps", "20", "--save_steps", "200", "--tokenizer",
                                   str(tokenizer), "--input", str(books), "--strip_gutenberg", "--output_dir", str(run),
                                   timeout=90 if smoke else 240)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] if (run / "metrics.jsonl").exists() else []
    speeds = sorted(r["tokens_per_s"] for r in rows if "tokens_per_s" in r)[len(rows) // 4:]
    result["median_tokens_per_s"] = speeds[len(speeds) // 2] if speeds else None
    result["mfu"] = [r["mfu"] for r in rows if "mfu" in r][-1:] or None
    result["val_loss"] = [r["val_loss"] for r in rows if "val_loss" in r]
    return result


def finetune(work: Path, data: Path, smoke: bool) -> dict[str, Any]:
    glue = data / "glue" if not smoke else ROOT / "genpt" / "default_data" / "glue"
    run = work / "sst2"
    result = run_genpt("finetune", "--task", "sst2", "--data_dir", str(glue), "--init", str(work / "pretrain"),
                       "--max_steps", "20" if smoke else "200", "--max_seq_length", "128", "--output_dir", str(run),
                       timeout=120 if smoke else 150)
    if (run / "eval_results.json").exists():
        result["eval_results"] = json.loads((run / "eval_results.json").read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        result["examples_per_s"] = [r["examples_per_s"] for r in rows if "examples_per_s" in r][-1]
    return result


def decoding(work: Path, device: str) -> dict[str, Any]:
    """Greedy, sampled and beam-search decoding on `device`; greedy tokens equal the CPU's."""
    from genpt.models.decoding import GPTPromptDecoder, beam_search
    from genpt.pretrained import load_pretrained

    pretrained = load_pretrained(str(work / "pretrain"))
    model = pretrained.model.eval()
    ids = pretrained.tokenizer(["It was a dark and stormy night", "The house was"], add_special_tokens=False)["input_ids"]
    width = min(map(len, ids))
    prompt = torch.tensor([row[:width] for row in ids], device="cpu")
    on_cpu = model.generate(prompt, 32, temperature=0.0)
    model = model.to(device)
    started = time.perf_counter()
    on_device = model.generate(prompt.to(device), 32, temperature=0.0)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    generator = torch.Generator(device=device).manual_seed(0)
    sampled = model.generate(prompt.to(device), 32, temperature=0.8, top_k=40, top_p=0.95, generator=generator)
    mask = torch.ones_like(prompt, device=device)
    decoder = GPTPromptDecoder(model, prompt.to(device), mask)
    decoder.reorder(torch.arange(prompt.size(0), device=device).repeat_interleave(4))
    beams = beam_search(decoder, prompt[0, -1].item(), 0, prompt.size(0), 16, 4, 0.6, device=device)
    return {"greedy_tokens_equal_cpu": bool(torch.equal(on_cpu, on_device.cpu())), "greedy_tokens_per_s":
            round(on_device.numel() / seconds, 1), "sampled_shape": list(sampled.shape), "beam_shape": list(beams.shape),
            "device_of_outputs": [on_device.device.type, sampled.device.type, beams.device.type]}


def fsdp(work: Path) -> dict[str, Any]:
    """Train, checkpoint, resume exactly and save loadable weights under FSDP."""
    import yaml

    config = yaml.safe_load((ROOT / "docs" / "accelerate_fsdp.yaml").read_text())
    config["num_processes"] = torch.cuda.device_count()
    config_file = work / "fsdp.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = resumes_exactly(work, "fsdp", "bf16", launcher=["accelerate", "launch", "--config_file", str(config_file)])
    if "resumed_weights_equal" in result:
        from genpt.pretrained import load_pretrained

        result["weights_load"] = type(load_pretrained(str(work / "fsdp_whole")).model).__name__
    return result


def resumes_exactly(work: Path, name: str, precision: str, launcher: list[str] | None = None) -> dict[str, Any]:
    """A 40-step run, and the same run cut after its step-20 checkpoint and resumed: the final
    weights must be bitwise equal (fp16 also resumes its gradient scaler's loss scale). A GPU's
    kernels may not be deterministic (attention's backward adds with atomics), so the run is
    also made a second time: if it differs from itself, the resumed run may differ by as much."""
    import shutil

    from safetensors.torch import load_file

    common = ["--preset", "mini", "--max_steps", "40", "--warmup_steps", "5", "--eval_steps", "20", "--save_steps", "20",
              "--mixed_precision", precision, "--tokenizer", str(work / "tokenizer"), "--input",
              str(ROOT / "genpt" / "default_data" / "books")]
    whole, cut = work / f"{name}_whole", work / f"{name}_cut"
    result = {"whole": run_genpt("pretrain", *common, "--output_dir", str(whole), timeout=150, launcher=launcher)}
    if not result["whole"]["ok"]:
        return result
    shutil.copytree(whole, cut)
    for later in ("checkpoints/step-00000040", "best", "model.safetensors", "trainer_state.json"):
        path = cut / later
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    result["resumed"] = run_genpt("pretrain", *common, "--output_dir", str(cut), "--resume", "auto", timeout=150, launcher=launcher)
    if result["resumed"]["ok"]:
        a, b = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
        result["resumed_weights_equal"] = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        result["resumed_max_abs_diff"] = max_abs_diff(a, b)
    if not result.get("resumed_weights_equal", True):
        again = work / f"{name}_again"
        result["again"] = run_genpt("pretrain", *common, "--output_dir", str(again), timeout=150, launcher=launcher)
        if result["again"]["ok"]:
            result["run_to_run_max_abs_diff"] = max_abs_diff(load_file(whole / "model.safetensors"),
                                                             load_file(again / "model.safetensors"))
    return result


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float | None:
    if a.keys() != b.keys():
        return None
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def two_processes(work: Path) -> dict[str, Any]:
    run = work / "ddp"
    result = run_genpt("pretrain", "--preset", "mini", "--max_steps", "50", "--warmup_steps", "10", "--eval_steps", "50",
                       "--tokenizer", str(work / "tokenizer"), "--input", str(ROOT / "genpt" / "default_data" / "books"),
                       "--output_dir", str(run), timeout=150,
                       launcher=["accelerate", "launch", "--multi_gpu", "--num_processes", "2"])
    if (run / "trainer_state.json").exists():
        processes = json.loads((run / "trainer_state.json").read_text())["processes"]
        result["weights_in_sync"] = len({p["weights_checksum"] for p in processes}) == 1
        result["different_data"] = len({p["data_hash"] for p in processes}) == len(processes)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="gpu_check.json", help="the JSON of figures (written after every step)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder with gutenberg/ and glue/")
    parser.add_argument("--work", default="gpu_check_runs", help="where the runs go")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, on the CPU if there is no GPU: checks the script")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        print("bench/gpu_check.py: no CUDA GPU on this machine; nothing to check (run it where a GPU is lent)", file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    work, data = Path(args.work), Path(args.data)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                               "gpus": torch.cuda.device_count(), "torch": torch.__version__, "smoke": args.smoke}
    steps = [("step_benchmark", lambda: step_benchmark(args.smoke, device)),
             ("pretrain", lambda: pretrain(work, data, args.smoke)),
             ("finetune", lambda: finetune(work, data, args.smoke)),
             ("decoding", lambda: decoding(work, device))]
    if device == "cuda":
        steps.append(("fp16_resume", lambda: resumes_exactly(work, "fp16", "fp16")))
        steps.append(("fsdp", lambda: fsdp(work)))
    if torch.cuda.device_count() >= 2:
        steps.append(("two_processes", lambda: two_processes(work)))
    started = time.perf_counter()
    for name, step in steps:
        print(f"gpu_check: {name} ...", flush=True)
        try:
            results[name] = step()
        except Exception as error:  # noqa: BLE001 - record it, and go on to the next check
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]}
        results["seconds"] = round(time.perf_counter() - started, 1)
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

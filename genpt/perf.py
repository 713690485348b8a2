"""The machine's practical matmul ceiling, against which model FLOPs utilisation is measured."""

from __future__ import annotations

import time

import torch


def matmul_peak_flops(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                      size: int = 4096, repeats: int = 8) -> float:
    """FLOP/s of a square `torch.mm` of `dtype` on `device`: the best of `repeats` runs.

    The best rather than the mean, because a shared machine's speed drifts and MFU should
    never be flattered by a slow moment during this measurement.
    """
    device = torch.device(device)
    # A private generator: measuring must not move the global RNG, or a resumed training
    # run would draw different dropout masks than the run it continues.
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, generator=generator).to(dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(dtype)
    torch.mm(a, b)  # warm-up: library initialisation, clocks
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best

"""Performance helpers: the machine's practical matmul ceiling (against which model FLOPs
utilisation is measured) and a CPU allocator setting for training loops."""

from __future__ import annotations

import ctypes
import ctypes.util
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
    # A GPU does one in well under a millisecond: time several between syncs, or the launch
    # and the sync would be counted as the matmul's time (and flatter the MFU measured against it).
    per_timing = 10 if device.type == "cuda" else 1
    torch.mm(a, b)  # warm-up: library initialisation, clocks
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(per_timing):
            torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - start) / per_timing)
    return 2 * size**3 / best


# glibc's mallopt parameters (malloc.h); see mallopt(3).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems
_TOP_PAD = 64 * 1024 * 1024
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the system.

    A training step frees and re-allocates the same multi-megabyte activations every step.
    By default glibc maps each one afresh and unmaps it when freed, so every step pays
    again for page faults and for the kernel zeroing the pages: on a CPU that made
    elementwise kernels (GELU, softmax, dropout) several times slower inside a step than
    alone, about 5% of a `mini` step. This is what PyTorch's CPU performance guide gets from
    jemalloc or tcmalloc, done with the allocator already loaded. The price is that the
    process keeps its peak memory until it exits. Returns False (and changes nothing)
    where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX),  # blocks up to 32 MB come from the heap
            (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),  # and freed heap is kept, not trimmed
            (_M_TOP_PAD, _TOP_PAD),  # the heap grows in large steps
        )
    )

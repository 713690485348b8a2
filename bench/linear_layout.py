"""A decoding step's matmuls: `nn.Linear`'s (out, in) weight against an (in, out) copy.

A decoding step multiplies a few rows by every weight of the model. This times, for the
`mini` preset's five weight shapes, `F.linear` (what `nn.Linear` runs: the weight read
transposed) against `genpt.models.ops.Linear` without gradients (a contiguous (in, out)
copy, what `transformers`' GPT-2 `Conv1D` stores), for 1 to 64 rows, fp32. It chose
`ops.Linear.MIN_ROWS` and `MAX_ROWS`: the row counts at which the copy is faster for a
block's four weights together and for the LM head. Times are the median of `--repeats`
calls after 5 untimed ones; each cell is `F.linear` / the copy (speed-up).

    python bench/linear_layout.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from genpt.config import GPTConfig
from genpt.models import ops


def median_ms(run, repeats: int) -> float:
    for _ in range(5):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    config = GPTConfig.from_name(args.preset)
    C, inner, V = config.n_embd, config.n_inner, config.vocab_size
    shapes = {"c_attn": (C, 3 * C, True), "attn c_proj": (C, C, True), "c_fc": (C, inner, True),
              "mlp c_proj": (inner, C, True), "lm_head": (C, V, False)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}, fp32")
    print("| weight (in x out) | " + " | ".join(f"{n} rows" for n in args.rows) + " |")
    print("|---|" + "---:|" * len(args.rows))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, (n_in, n_out, bias) in shapes.items():
            layer = ops.Linear(n_in, n_out, bias=bias)
            cells = []
            for rows in args.rows:
                x = torch.randn(rows, n_in)
                standard = median_ms(lambda: F.linear(x, layer.weight, layer.bias), args.repeats)
                layer.MIN_ROWS, layer.MAX_ROWS = 1, rows  # the copy's path at every row count
                copied = median_ms(lambda: layer(x), args.repeats)
                cells.append(f"{standard:.3f} / {copied:.3f} ms ({standard / copied:.2f}x)")
            print(f"| {name} ({n_in} x {n_out}) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

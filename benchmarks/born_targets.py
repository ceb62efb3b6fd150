"""MPS Born machine targets (Han et al., PRX 8, 031012 (2018)): bars and stripes and digits.

    python benchmarks/born_targets.py [--threads 1] [--part bas|autograd|digits|all]

Prints one JSON line per measurement:

* ``bas``: 4x4 bars and stripes (30 patterns, floor ln 30) for D_max in
  --bas-dmax, two-site sweeps: training NLL - ln 30, share of valid patterns
  and distinct patterns among 10,000 zipper samples, largest bond reached.
* ``autograd``: the same data by plain autograd of all tensors (Adam, and
  L-BFGS) at fixed bonds min(D, 2^k, 2^(n-k)), for comparison at D = 16.
* ``digits``: 8x8 digits binarized at 8, 20% held out (seed 0): training and
  test NLL for D_max in --digits-dmax after --digits-sweeps sweeps, beside the
  independent-pixel model (Laplace-smoothed).
"""

import argparse
import json
import math
import time

import numpy as np
import torch

from difftn.methods.born import (
    GradientOptions,
    SweepOptions,
    independent_pixel_nll,
    random_mps,
    sample,
    train_gradient,
    train_sweeps,
)
from difftn.data.datasets import bars_and_stripes, digits, is_bars_and_stripes


def bas(args):
    data = bars_and_stripes(4, 4)
    floor = math.log(len(data))
    for D in args.bas_dmax:
        start = time.perf_counter()
        opts = SweepOptions(max_bond=D, sweeps=args.bas_sweeps, learning_rate=0.2, cutoff=1e-7)
        mps, info = train_sweeps(random_mps(16, 2, seed=args.seed), data, opts)
        wall = time.perf_counter() - start
        x = sample(mps, 10_000, seed=args.seed + 1).numpy()
        valid = is_bars_and_stripes(x, 4, 4)
        reached = [i for i, v in enumerate(info.nll_train) if v - floor < 0.01]
        print(json.dumps({
            "part": "bas", "max_bond": D, "sweeps": args.bas_sweeps,
            "nll": info.nll_train[-1], "nll_minus_ln30": info.nll_train[-1] - floor,
            "first_sweep_within_0.01": reached[0] if reached else None,
            "valid_fraction": float(valid.mean()), "distinct_patterns": int(len(np.unique(x[valid], axis=0))),
            "largest_bond": max(mps.bond_dimensions), "wall_s": wall,
        }), flush=True)  # fmt: skip


def autograd(args):
    data = bars_and_stripes(4, 4)
    floor = math.log(len(data))
    D = 16
    for optimizer, lr, steps in (("adam", 0.02, args.autograd_steps), ("lbfgs", 1.0, args.autograd_steps // 4)):
        start = time.perf_counter()
        mps, info = train_gradient(
            random_mps(16, D, seed=args.seed), data, GradientOptions(steps=steps, learning_rate=lr, optimizer=optimizer)
        )
        wall = time.perf_counter() - start
        x = sample(mps, 10_000, seed=args.seed + 1).numpy()
        valid = is_bars_and_stripes(x, 4, 4)
        print(json.dumps({
            "part": "autograd", "optimizer": optimizer, "bond": D, "steps": steps,
            "nll": info.nll_train[-1], "nll_minus_ln30": info.nll_train[-1] - floor,
            "nll_at_10pct_25pct_50pct": [info.nll_train[int(f * steps)] for f in (0.1, 0.25, 0.5)],
            "valid_fraction": float(valid.mean()), "distinct_patterns": int(len(np.unique(x[valid], axis=0))),
            "wall_s": wall,
        }), flush=True)  # fmt: skip


def digits_table(args):
    train, test = digits(threshold=8, test_fraction=0.2, seed=0)
    base_train = independent_pixel_nll(train, alpha=1.0)
    base_test = independent_pixel_nll(train, test, alpha=1.0)
    for D in args.digits_dmax:
        start = time.perf_counter()
        opts = SweepOptions(max_bond=D, sweeps=args.digits_sweeps, learning_rate=0.1, cutoff=1e-7)
        mps, info = train_sweeps(random_mps(64, 2, seed=args.seed), train, opts, test_data=test)
        best = int(np.argmin(info.nll_test))
        print(json.dumps({
            "part": "digits", "max_bond": D, "sweeps": args.digits_sweeps,
            "train_nll": info.nll_train[-1], "test_nll": info.nll_test[-1],
            "best_test_nll": info.nll_test[best], "best_test_sweep": best,
            "baseline_train_nll": base_train, "baseline_test_nll": base_test,
            "largest_bond": max(mps.bond_dimensions), "wall_s": time.perf_counter() - start,
        }), flush=True)  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--part", choices=["bas", "autograd", "digits", "all"], default="all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bas-dmax", type=int, nargs="+", default=[2, 4, 8, 12, 16, 32])
    p.add_argument("--bas-sweeps", type=int, default=10)
    p.add_argument("--autograd-steps", type=int, default=2000)
    p.add_argument("--digits-dmax", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    p.add_argument("--digits-sweeps", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.part in ("bas", "all"):
        bas(args)
    if args.part in ("autograd", "all"):
        autograd(args)
    if args.part in ("digits", "all"):
        digits_table(args)


if __name__ == "__main__":
    main()

"""Benchmark: what the fixed-point mode's fallback does at a saved optimization state.

When the forward misses an element-wise fixed point, ``ctmrg`` differentiates a
checkpointed run from the fresh start instead.  This script evaluates energy +
gradient at a state file three ways, from the file's environment:
the fixed-point mode with a loose ``fp_mismatch`` (always takes the implicit
backward), the default (may fall back), and the checkpointed mode.  It prints
each one's energy, mode, mismatch, CTMRG steps and seconds, and the gradients'
distance from the checkpointed one.  An energy that differs between the modes
means that the fresh start reached another environment than the warm one.

    python benchmarks/fixed_point_fallback.py results/heisenberg/D5_chi64/progress.nc --threads 2
"""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from difftn.contract.ctmrg import CTMRGOptions  # noqa: E402
from difftn.methods.ipeps import evaluate  # noqa: E402
from difftn.models.heisenberg import bond_hamiltonian  # noqa: E402
from difftn.studies.heisenberg import load_state, state_tensors  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", help="a heisenberg optimize state or progress file")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loose", type=float, default=1e-7, help="fp_mismatch of the first evaluation")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    state = load_state(args.state)
    A0, env = state_tensors(state)
    h = bond_hamiltonian(rotated=True, dtype=torch.float64)
    ctm = CTMRGOptions(chi=int(state.attrs["chi"]), tol=1e-10, max_iter=300, grad_mode="fixed_point")
    runs = {f"fixed_point, fp_mismatch {args.loose:g}": replace(ctm, fp_mismatch=args.loose),
            f"fixed_point, fp_mismatch {ctm.fp_mismatch:g} (default)": ctm,
            "checkpoint": replace(ctm, grad_mode="checkpoint")}  # fmt: skip
    rows = []
    for name, options in runs.items():
        A = A0.clone().requires_grad_(True)
        start = time.perf_counter()
        energy, _, _, info = evaluate(A, h, options, env=env)
        energy.backward()
        seconds = time.perf_counter() - start
        rows.append((name, float(energy.detach()), info.grad_mode, info.elementwise_change, info.iterations, seconds,
                     A.grad.detach()))  # fmt: skip
    reference = rows[-1][-1]  # the checkpointed run's gradient
    print("| evaluation | E | mode | mismatch | CTMRG steps | s | max abs g | max abs (g - g_checkpoint) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, energy, mode, mismatch, steps, seconds, g in rows:
        print(f"| {name} | {energy:.12f} | {mode} | {mismatch:.2e} | {steps} | {seconds:.1f} | "
              f"{float(g.abs().max()):.3e} | {float((g - reference).abs().max()):.2e} |")  # fmt: skip


if __name__ == "__main__":
    main()

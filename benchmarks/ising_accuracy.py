"""Accuracy of TRG + AD (chi = 30, 30 steps) against Onsager over a beta grid through beta_c.

    python benchmarks/ising_accuracy.py [--threads 1] [--symmetry z2]

Prints one JSON line per beta: errors of lnZ, energy, relative error of the
specific heat, and the wall time of the point.
"""

import argparse
import json
import time

import numpy as np
import torch

from difftn.models.ising import BETA_C, exact_energy, exact_lnz, exact_specific_heat
from difftn.methods.thermodynamics import trg_observables


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--symmetry", choices=["z2", "none"], default="z2")
    p.add_argument("--chi", type=int, default=30)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    grid = [*np.arange(0.35, 0.4301, 0.02), 0.43, *np.arange(0.436, 0.4461, 0.002), BETA_C, 0.45,
            *np.arange(0.47, 0.5501, 0.02)]  # fmt: skip
    for beta in sorted({round(float(b), 7) for b in grid}):
        start = time.perf_counter()
        r = trg_observables(beta, chi=args.chi, steps=args.steps, symmetry=args.symmetry)
        print(json.dumps({
            "beta": beta,
            "lnz_error": r["lnz"] - float(exact_lnz(beta)),
            "energy_error": r["energy"] - float(exact_energy(beta)),
            "specific_heat": r["specific_heat"],
            "specific_heat_rel_error": r["specific_heat"] / float(exact_specific_heat(beta)) - 1,
            "wall_s": time.perf_counter() - start,
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

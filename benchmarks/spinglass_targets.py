"""Measure the spin-glass, inverse-Ising and Hamiltonian-design targets (issue 5, parts 2 and 3).

    python benchmarks/spinglass_targets.py enumeration   # 4x4: lnZ and <s_i s_j> against exact enumeration
    python benchmarks/spinglass_targets.py convergence --L 16 --chi 2 4 8 16 32 64 --seeds 0 1
    python benchmarks/spinglass_targets.py inverse        # exact-moment recovery, error against N, slope
    python benchmarks/spinglass_targets.py design         # TFIM design fidelity

One JSON line per measurement; 1 torch thread unless --threads.  The L = 16
reference is exact (transfer matrix); for L > 16 the reference is the
largest chi given.
"""

import argparse
import json
import math
import time

import numpy as np
import torch

from difftn.methods import spinglass_solver as solver
from difftn.models import tfim
from difftn.methods import inverse_ising as inv
from difftn.contract.boundary_mps import BoundaryMPSOptions
from difftn.infra.runtime import peak_memory_mb
from difftn.models import spinglass as sg
from difftn.studies.inverse_ising import sample_generator


def emit(**record):
    print(json.dumps(record), flush=True)


def enumeration(args):
    for field_std in (0.0, 0.5):
        for seed in range(args.n_seeds):
            m = sg.random_spin_glass(4, seed, field_std=field_std)
            exact = sg.enumerate_moments(m)
            for chi in (2, 3, 4, 8):
                r = solver.mps_observables(m, BoundaryMPSOptions(chi=chi))
                emit(test="4x4", seed=seed, field_std=field_std, chi=chi,
                     lnz_error=r["lnz"] - float(exact["lnz"]),
                     correlation_error=float((r["correlations"] - exact["correlations"]).abs().max()),
                     magnetization_error=float((r["magnetization"] - exact["magnetization"]).abs().max()))  # fmt: skip


def convergence(args):
    for seed in args.seeds:
        m = sg.random_spin_glass(args.L, seed)
        reference = None
        if args.L <= 16:
            start = time.perf_counter()
            k = m.couplings.clone().requires_grad_()
            lnz = sg.transfer_lnz(sg.SpinGlass.from_vector(k, m.shape))
            (corr,) = torch.autograd.grad(lnz, k)
            reference = (float(lnz.detach()), corr)
            emit(test="exact", L=args.L, seed=seed, lnz=reference[0], wall_s=time.perf_counter() - start)
        results = {}
        for chi in args.chi:
            start = time.perf_counter()
            r = solver.mps_observables(m, BoundaryMPSOptions(chi=chi))
            results[chi] = (r["lnz"], r["correlations"], r["info"].max_truncation_error, time.perf_counter() - start,
                            peak_memory_mb())  # fmt: skip
        if reference is None:
            top = max(results)
            reference = results[top][:2]
        for chi, (lnz, corr, trunc, wall, rss) in results.items():
            emit(test="convergence", L=args.L, seed=seed, chi=chi, lnz=lnz,
                 reference="exact" if args.L <= 16 else f"chi={max(results)}",
                 lnz_error_per_site=(lnz - reference[0]) / args.L**2,
                 correlation_error=float((corr - reference[1]).abs().max()), truncation_error=trunc,
                 wall_s=wall, peak_rss_mb=rss)  # fmt: skip


def inverse(args):
    for std in (0.5, 1.0):
        for seed in range(args.n_seeds):
            true = sg.random_spin_glass(4, seed, coupling_std=std)
            moments = sg.enumerate_moments(true)
            start = time.perf_counter()
            fitted, info = inv.fit_couplings(moments["correlations"], (4, 4), options=BoundaryMPSOptions(chi=4))
            rms, worst = inv.recovery_error(fitted, true)
            emit(test="exact_moments", coupling_std=std, seed=seed, rms_error=rms, max_error=worst,
                 iterations=info.iterations, grad_max=info.grad_max, wall_s=time.perf_counter() - start)  # fmt: skip
    true = sg.random_spin_glass(4, 0, coupling_std=0.5)
    cr = inv.cramer_rao_rms(inv.fisher_information(true, "mps", BoundaryMPSOptions(chi=4)))
    Ns, errors = [], []
    for N in args.N:
        errs = []
        for r in range(args.repeats):
            samples = sg.sample_exact(true, N, sample_generator(0, N, r))
            fitted, _ = inv.fit_couplings(inv.sample_moments(samples)[0], (4, 4), method=args.method,
                                          options=BoundaryMPSOptions(chi=4))  # fmt: skip
            errs.append(inv.recovery_error(fitted, true)[0])
        Ns.append(N)
        errors.append(float(np.mean(errs)))
        emit(test="samples", N=N, repeats=args.repeats, rms_error=errors[-1], rms_error_std=float(np.std(errs, ddof=1)),
             cramer_rao=cr / math.sqrt(N))  # fmt: skip
    slope = float(np.polyfit(np.log(Ns), np.log(errors), 1)[0])
    emit(test="slope", slope=slope, cramer_rao_rms=cr)


def design(args):
    for n in (4, 6, 8, 10):
        for seed in range(3):
            J, h = tfim.random_parameters(n, seed)
            _, target, gap = tfim.ground_state(J, h)
            start = time.perf_counter()
            r = tfim.design(target.detach(), torch.ones(n - 1, dtype=torch.float64), torch.ones(n, dtype=torch.float64))
            emit(test="design", sites=n, seed=seed, initial_fidelity=r.initial_fidelity, fidelity=r.fidelity,
                 infidelity=1 - r.fidelity, iterations=len(r.infidelity_history), stop=r.stop_reason,
                 target_gap=gap, wall_s=time.perf_counter() - start)  # fmt: skip


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["enumeration", "convergence", "inverse", "design"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--L", type=int, default=16)
    p.add_argument("--chi", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n-seeds", type=int, default=10)
    p.add_argument("--N", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000, 30000, 100000, 300000, 1000000])
    p.add_argument("--repeats", type=int, default=8)
    p.add_argument("--method", choices=["mps", "transfer"], default="mps")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    {"enumeration": enumeration, "convergence": convergence, "inverse": inverse, "design": design}[args.part](args)


if __name__ == "__main__":
    main()

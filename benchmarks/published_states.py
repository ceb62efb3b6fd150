"""Benchmark: published C4v iPEPS states (Hasik et al. 2021) evaluated at a listed chi.

For each D, converge the CTMRG environment of the published D tensor at a chi
listed in its .dat file (default: the smallest) and compare the plaquette
energy and the one-site magnetization with the listed values; print the wall
time per D.  The states sit in <repo>/../shared/reference/ipeps_states (or
$DIFFTN_SHARED/reference/ipeps_states).  Markdown table on stdout.

    python benchmarks/published_states.py --D 2 3 4 5 6 7 --threads 2
    python benchmarks/published_states.py --D 5 --pick 100
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--D", type=int, nargs="+", default=[2, 3, 4, 5, 6, 7])
    parser.add_argument("--pick", type=int, default=0, help="listed chi to use (0: the smallest listed)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tol", type=float, default=1e-12, help="CTMRG tolerance")
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--estimator", default="plaquette", choices=["plaquette", "bond"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--compare-full",
        action="store_true",
        help="also converge with the full eigh in every step; print the energy difference",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    import difftn.contract.ctmrg as ct
    from difftn.contract.ctmrg import CTMRGOptions, ctmrg
    from difftn.methods.ipeps import bond_energy, bond_rdm, double_layer, identity_boundary, prepare, site_magnetization
    from difftn.models.heisenberg import bond_hamiltonian
    from difftn.studies.heisenberg import read_json_tensor

    shared = Path(os.environ.get("DIFFTN_SHARED", ROOT.parent / "shared"))
    states = shared / "reference" / "ipeps_states"
    print(f"| D | chi | E | E listed | dE | m | m listed | dm | CTMRG steps | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for D in args.D:
        (path,) = states.glob(f"j20.0_state_1s_A1_j20.0_D{D}_chi_opt*.json")
        table = np.loadtxt(path.with_suffix(".dat"), comments="#")
        listed = {int(row[2]): (row[3], row[4]) for row in table}
        chi = args.pick if args.pick else min(listed)
        e_ref, m_ref = listed[chi]
        clock = time.perf_counter()
        with torch.no_grad():
            A = prepare(read_json_tensor(path, device=args.device))
            options = CTMRGOptions(chi=chi, tol=args.tol, max_iter=args.max_iter)
            C, E, info = ctmrg(double_layer(A), options, boundary=identity_boundary(D, device=args.device))
            rho = bond_rdm(C, E, A, args.estimator)
            energy = float(2 * bond_energy(rho, bond_hamiltonian(device=args.device)))
            mag = float(site_magnetization(C, E, A))
        wall = time.perf_counter() - clock
        note = "" if info.converged else " (not converged)"
        print(f"| {D} | {chi} | {energy:.10f} | {e_ref:.10f} | {energy - e_ref:.1e} | {mag:.8f} | {m_ref:.8f} "
              f"| {mag - m_ref:.1e} | {info.iterations}{note} | {wall:.1f} |", flush=True)  # fmt: skip
        if args.compare_full:
            saved, ct._top_eigenpairs = ct._top_eigenpairs, lambda *a: None
            clock = time.perf_counter()
            try:
                with torch.no_grad():
                    C, E, info = ctmrg(double_layer(A), options, boundary=identity_boundary(D))
                    full = float(2 * bond_energy(bond_rdm(C, E, A, args.estimator), bond_hamiltonian()))
            finally:
                ct._top_eigenpairs = saved
            print(f"|   | full eigh every step: E = {full:.12f}, partial - full = {energy - full:.1e}, "
                  f"{info.iterations} steps, {time.perf_counter() - clock:.1f} s |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

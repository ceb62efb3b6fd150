"""Benchmark: trust-region Newton-CG against L-BFGS on the Heisenberg C4v iPEPS, and the Hessian at the optimum.

Every run starts from the same tensor (a seeded random one, or a state file
padded to D) and stops when its energy reaches ``--target`` (plus ``--slack``),
at ``--max-iter`` iterations or after ``--budget-s`` seconds.  Runs of one
invocation take turns on the same machine: compare them within one table.

    python benchmarks/newton_vs_lbfgs.py race --D 2 --chi 20 --seeds 0 1 2
    python benchmarks/newton_vs_lbfgs.py race --D 3 --chi 30 --init results/heisenberg/D2_chi20/state.nc \
        --target -0.66810 --budget-s 300
    python benchmarks/newton_vs_lbfgs.py hessian --state results/heisenberg/D2_chi20/state.nc --chi 20
    python benchmarks/newton_vs_lbfgs.py hessian --state plateau.nc --chi 50 --step-off 0.05

``race`` prints one row per (start, optimizer): iterations, energy
evaluations (each with its gradient), Hessian-vector products and seconds
to the target, the energy reached.  Optimizers: ``lbfgs`` (the study's
default: fixed-point gradients), ``lbfgs-ckpt`` (L-BFGS on checkpointed
gradients, the mode Newton needs) and ``newton`` (checkpointed, HVPs by
double backward).

``hessian`` prints the lowest eigenvalues of the Hessian of E(A) at a state,
from Hessian-vector products restricted to the
C4v-symmetric tensors orthogonal to A: the energy depends only on the
symmetrized A up to scale, so the antisymmetric part and the scale are
exact zero modes that the restriction removes.  Two continuous symmetries
keep A real and symmetric and E fixed: orthogonal gauge transformations O on
all four virtual legs (D(D-1)/2 generators) and the spin rotation about y
(real in the sublattice-rotated frame, where it commutes with -i sigma^y), so
D(D-1)/2 + 1 eigenvalues near zero remain; the rest show whether the point
is a minimum and how flat it is.  Up to ``--dense-up-to`` reduced dimensions
the reduced Hessian is formed whole (one HVP per dimension), above that by
Lanczos.  At a saddle, ``--step-off EPS`` writes the state moved by +-EPS
along the lowest mode, to follow each side with ``difftn heisenberg optimize
--init STATE_plus.nc --noise 1e-12`` (docs/MEASUREMENTS.md: the D = 3 plateau).
``optimize`` itself steps off a negative mode where it stops short of its
gradient tolerance (``--saddle-escapes``, ``difftn.methods.saddle``).
"""

import argparse
import time

import numpy as np
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.infra.io import write_dataset
from difftn.methods.hessian import hessian_operator
from difftn.methods.ipeps import evaluate, symmetrize
from difftn.methods.optimize import LBFGSOptions, NewtonOptions, minimize, minimize_newton
from difftn.methods.saddle import state_directions
from difftn.models.heisenberg import bond_hamiltonian
from difftn.studies import heisenberg

# The best-known energies the issue names (Hasik et al. C4v states at their largest chi).
BEST = {2: -0.6602310935, 3: -0.66810}
OPTIMIZERS = {"lbfgs": ("fixed_point", minimize), "lbfgs-ckpt": ("checkpoint", minimize),
              "newton": ("checkpoint", minimize_newton)}  # fmt: skip


class _Reached(Exception):
    pass


class _Counted:
    """The study's warm-started objective, counting its evaluations."""

    def __init__(self, objective):
        self.objective, self.calls = objective, 0

    def __call__(self, A):
        self.calls += 1
        return self.objective(A)


def start_tensor(D, seed, init, noise):
    if init is None:
        return heisenberg.random_tensor(D, seed), None
    small = heisenberg.load_state(init)
    A_small, env_small = heisenberg.state_tensors(small)
    return heisenberg.pad_tensor(A_small, D, noise, seed), heisenberg.pad_env(env_small, int(small.attrs["D"]), D)


def race_one(name, D, chi, A0, env0, target, max_iter, budget_s, ctm_tol):
    mode, run = OPTIMIZERS[name]
    ctm = CTMRGOptions(chi=chi, tol=ctm_tol, max_iter=200, grad_mode=mode)
    objective = _Counted(heisenberg._Objective(bond_hamiltonian(rotated=True), ctm, env0, keep=24))
    options = (NewtonOptions(max_iter=max_iter, tolerance_grad=1e-9) if run is minimize_newton
               else LBFGSOptions(max_iter=max_iter, history_size=100, tolerance_grad=1e-9))  # fmt: skip
    row = {"optimizer": name, "iterations": 0, "evaluations": 0, "hvps": 0, "seconds": float("nan"),
           "energy": float("nan"), "reached": False}  # fmt: skip
    clock = time.perf_counter()

    def callback(iteration, A, loss, grad_max, snapshot):
        objective.objective.use(A)  # as the study does: the accepted point's environment is the next warm start
        row.update(iterations=iteration, evaluations=objective.calls, energy=float(loss),
                   hvps=int(snapshot.get("hvps", 0)) if isinstance(snapshot, dict) else 0,
                   seconds=time.perf_counter() - clock)  # fmt: skip
        if float(loss) <= target:
            row["reached"] = True
            raise _Reached
        if row["seconds"] > budget_s:
            raise _Reached

    try:
        _, stop = run(objective, A0.clone(), options, callback=callback, progress=False)
        row["stop"] = stop
    except _Reached:
        row["stop"] = "target" if row["reached"] else "budget"
    return row


def race(args):
    torch.set_num_threads(args.threads)
    target = (BEST.get(args.D) if args.target is None else args.target) + args.slack
    print(f"D={args.D} chi={args.chi}, target E <= {target:.10f}, budget {args.budget_s} s per run, "
          f"{args.threads} thread(s)\n")
    print("| start | optimizer | iterations | evaluations | HVPs | seconds | energy | stop |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    # one untimed evaluation first: the first call in a process pays one-off setup costs
    A0, env0 = start_tensor(args.D, args.seeds[0], args.init, args.noise)
    evaluate(A0.clone().requires_grad_(), bond_hamiltonian(rotated=True), CTMRGOptions(chi=args.chi), env=env0)[0].backward()
    for seed in args.seeds:
        A0, env0 = start_tensor(args.D, seed, args.init, args.noise)
        for name in args.optimizers:
            row = race_one(name, args.D, args.chi, A0, env0, target, args.max_iter, args.budget_s, args.ctm_tol)
            print(f"| seed {seed} | {name} | {row['iterations']} | {row['evaluations']} | {row['hvps']} | "
                  f"{row['seconds']:.1f} | {row['energy']:.10f} | {row['stop']} |", flush=True)


def hessian(args):
    torch.set_num_threads(args.threads)
    state = heisenberg.load_state(args.state)
    A, env = heisenberg.state_tensors(state)
    A = symmetrize(A)
    A = A / A.norm()
    ctm = CTMRGOptions(chi=args.chi, tol=1e-12, max_iter=500, grad_mode="checkpoint")
    h = bond_hamiltonian(rotated=True)

    def energy(x):
        return evaluate(x, h, ctm, env=env)[0]

    start = time.perf_counter()
    loss, grad, matvec = hessian_operator(energy, A)
    # Orthonormal basis Q of the symmetric tensors orthogonal to A, the symmetries' zero modes kept in view.
    Q = state_directions(A, symmetries=False)
    m = Q.shape[1]
    calls = [0]

    def reduced(y):  # Q^T H Q y
        calls[0] += 1
        return Q.T @ matvec((Q @ torch.as_tensor(np.asarray(y, dtype=np.float64).ravel())).reshape(A.shape)).reshape(-1)

    if m <= args.dense_up_to:  # m products give the whole reduced Hessian
        H = torch.stack([reduced(e.numpy()) for e in torch.eye(m, dtype=A.dtype)], dim=1)
        asym = float((H - H.T).abs().max() / H.abs().max())
        values, vectors = torch.linalg.eigh((H + H.T) / 2)
        values, lowest = values.numpy(), vectors[:, 0]
        low, high, how = values[: args.k], float(values[-1]), f"dense, asymmetry {asym:.1e}"
    else:  # Lanczos
        from scipy.sparse.linalg import LinearOperator, eigsh

        op = LinearOperator((m, m), matvec=lambda y: reduced(y).numpy(), dtype=np.float64)
        values, vectors = eigsh(op, k=min(args.k, m - 2), which="SA", tol=1e-10)
        low, lowest = np.sort(values), torch.as_tensor(vectors[:, np.argmin(values)])
        high, how = float(eigsh(op, k=1, which="LA", tol=1e-8)[0][0]), "Lanczos (scipy eigsh)"
    D = int(state.attrs["D"])
    print(f"D={D} chi={args.chi}: E = {float(loss):.12f}, |Q^T grad| = {float((Q.T @ grad.reshape(-1)).norm()):.2e}, "
          f"symmetric subspace orthogonal to A: {m} dimensions; {calls[0]} HVPs, {how}, "
          f"{time.perf_counter() - start:.1f} s")
    print(f"expected zero modes: D(D-1)/2 gauge (orthogonal O on the bonds) + 1 spin rotation = {D * (D - 1) // 2 + 1}")
    print("lowest eigenvalues of the Hessian there:", " ".join(f"{x:.3e}" for x in low))
    print(f"largest eigenvalue: {high:.3e}")
    if args.step_off is not None:
        # Off a saddle: A +- eps v along the lowest mode v, as state files for `optimize --init`.
        # "plus" is the side the gradient descends to (grad . v <= 0), so the names do not
        # depend on the sign the eigensolver happens to return.
        v = Q @ lowest
        v = -v if float(grad.reshape(-1) @ v) > 0 else v
        for side, sign in (("plus", 1), ("minus", -1)):
            moved = state.copy(deep=True)
            moved["A"].values[...] = (A.reshape(-1) + sign * args.step_off * v).reshape(A.shape).numpy()
            moved.attrs["init"] = f"{args.state} moved by {sign * args.step_off:+g} |A| along the lowest Hessian mode"
            path = f"{args.state.removesuffix('.nc')}_{side}.nc"
            write_dataset(moved, path)
            print(f"{side}: {path} (A {sign * args.step_off:+g} v, |A| = 1, lowest eigenvalue {low[0]:.3e})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("race")
    r.add_argument("--D", type=int, default=2)
    r.add_argument("--chi", type=int, default=20)
    r.add_argument("--seeds", type=int, nargs="+", default=[0])
    r.add_argument("--init", default=None, help="smaller-D state file to pad (then seeds seed the noise)")
    r.add_argument("--noise", type=float, default=1e-2)
    r.add_argument("--target", type=float, default=None, help="energy to reach (default: best known at D)")
    r.add_argument("--slack", type=float, default=1e-9)
    r.add_argument("--max-iter", type=int, default=500)
    r.add_argument("--budget-s", type=float, default=600)
    r.add_argument("--ctm-tol", type=float, default=1e-10)
    r.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    r.add_argument("--threads", type=int, default=1)
    r.set_defaults(func=race)
    s = sub.add_parser("hessian")
    s.add_argument("--state", required=True)
    s.add_argument("--chi", type=int, default=20)
    s.add_argument("--k", type=int, default=6)
    s.add_argument("--dense-up-to", type=int, default=80, help="reduced dimension up to which H is formed whole")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--step-off", type=float, default=None, metavar="EPS",
                   help="also write STATE_plus.nc and STATE_minus.nc: A (|A| = 1) moved by +-EPS along the lowest mode")
    s.set_defaults(func=hessian)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

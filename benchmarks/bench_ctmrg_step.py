"""Benchmark: cost of one C4v CTMRG step and of one energy + gradient at large D.

``step``: one forward step (no graph) with the warm-started partial
eigensolver, against the step as it was when the large-D issue was filed
(full ``eigh``, the D^8 double layer T: "present step"), the full-``eigh``
step with separate ket and bra layers, and a bare ``torch.linalg.eigh`` of
the same (chi D^2)^2 matrix, all in one run so that the ratios survive a
noisy machine.  The environment comes from
``--warmup`` steps from the identity boundary (not converged: the warm start
is poorer than near convergence, so the partial step is timed conservatively).

``grad``: one energy + gradient (plaquette estimator, ``--grad-mode``,
default fixed_point) from a converged environment; wall time and peak memory
(CUDA: ``torch.cuda.max_memory_allocated``; CPU on Linux: the process's peak
resident set during the energy + gradient, VmHWM after resetting it through
/proc/self/clear_refs; elsewhere the growth of ru_maxrss).

``--no-trim``: no heap trim before the checkpointed CTMRG steps
(``ctmrg.TRIM_CHECKPOINTED_STEPS``), to measure what it saves: ``grad --D 5
--chi 64 --grad-mode checkpoint``.

``--tol`` and the ``--fp-*`` options loosen the CTMRG and adjoint
tolerances.  They do not make a D = 7 gradient cheap: an environment that
loose has no element-wise fixed point, and the fallback is a checkpointed
run from the fresh start (measured: still in its backward after 50 min on one
thread).  At the default tolerances the whole D = 7, chi = 160 gradient runs:
2 threads, 812 s for the environment, 807 s for the energy + gradient, peak
RSS 6.76 GiB (round 22).

``pieces``: peak RSS of the two parts of one fixed-point energy + gradient,
which run one after the other: the plaquette energy with its backward, and
one differentiated CTMRG step with its vector-Jacobian product (what each
GMRES iteration repeats), on an environment of 3 graph-free steps.  The
larger piece understates the whole: 5.2 GiB at D = 7, chi = 160, where ``grad``
peaks at 6.76 GiB.

Tensors: the published Heisenberg state of that D when found
(<repo>/../shared or $DIFFTN_SHARED), else a seeded random C4v tensor.

    python benchmarks/bench_ctmrg_step.py step --D 5 --chi 100 --threads 2
    python benchmarks/bench_ctmrg_step.py step --state d5_chi100.nc --warmup 2   # near convergence
    python benchmarks/bench_ctmrg_step.py step --D 6 --chi 144 --warmup 100 --save-state d6.nc  # then --state d6.nc
    python benchmarks/bench_ctmrg_step.py grad --D 4 --chi 64 --threads 2
    python benchmarks/bench_ctmrg_step.py grad --D 7 --chi 160 --threads 2 --max-iter 200   # ~27 min on CPU
    python benchmarks/bench_ctmrg_step.py pieces --D 7 --chi 160 --threads 1   # a lower bound, ~25 min on CPU
    python benchmarks/bench_ctmrg_step.py gpu --device cuda           # D,chi = 5,100 6,144 7,160
    python benchmarks/bench_ctmrg_step.py gpu --device cpu --quick    # D,chi = 2,16 3,27 (smoke test)
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

import difftn.contract.ctmrg as ct  # noqa: E402
from difftn.methods.ipeps import double_layer, evaluate, identity_boundary, plaquette_energy, prepare  # noqa: E402
from difftn.linalg import partial_eigh  # noqa: E402
from difftn.models.heisenberg import bond_hamiltonian  # noqa: E402
from difftn.studies.heisenberg import load_state, random_tensor, read_json_tensor  # noqa: E402


def _tensor(D, device):
    shared = Path(os.environ.get("DIFFTN_SHARED", ROOT.parent / "shared"))
    found = sorted((shared / "reference" / "ipeps_states").glob(f"j20.0_state_1s_A1_j20.0_D{D}_chi_opt*.json"))
    if found:
        return read_json_tensor(found[0], device=device), f"published {found[0].name}"
    return random_tensor(D, seed=0, device=device), "random seed 0"


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device):
    _sync(device)
    clock = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - clock


class _Counter:
    """Counts the products of the partial eigensolver in the steps it serves."""

    def __init__(self):
        self.calls, self.iterations, self.original = [], [], partial_eigh.top_eigh

    def __call__(self, *args, **kwargs):
        out = self.original(*args, **kwargs)
        self.calls.append(out is not None)
        if out is not None:
            self.iterations.append(out[2])
        return out


def _save_environment(path, A, C, E, steps):
    """A, C, E in the layout of a state file (what ``--state`` reads): the environment after ``steps`` steps."""
    from difftn.infra.io import write_dataset
    from difftn.studies.heisenberg import _HISTORY, _state_dataset

    history = {key: [float("nan")] for key in _HISTORY}  # not computed
    attrs = {"D": A.shape[1], "chi": C.shape[0], "difftn_stage": "heisenberg_optimize",
             "title": f"CTMRG environment after {steps} graph-free steps (bench_ctmrg_step.py --save-state)"}  # fmt: skip
    ds = _state_dataset(A, (C, E), history, {}, attrs).assign_coords(iteration=[steps])
    write_dataset(ds, path)


def bench_step(D, chi, warmup, device, state=None, repeat=1, save_state=None):
    if state is None:
        A, source = _tensor(D, device)
    else:  # a state file of `difftn heisenberg optimize`: its tensor and its converged environment
        A, source = torch.as_tensor(state.A.values, device=device), f"state file, iteration {int(state.iteration[-1])}"
    As = prepare(A)
    T = double_layer(As)
    counter = _Counter()
    ct.top_eigh = counter
    try:
        with torch.no_grad():
            if state is None:
                C, E = ct.init_env(T, identity_boundary(D, device=device))
            else:
                C, E = (torch.as_tensor(state[k].values, device=device) for k in ("C", "E"))
            for _ in range(warmup):
                C, E, _, _ = ct.ctmrg_step(C, E, T, chi)
            if save_state is not None:
                _save_environment(save_state, A, C, E, warmup)
            warm = dict(ct._WARM)  # each repeat of the partial step starts from the same warm start
            times = {"partial": [], "full": [], "present": [], "corner": [], "eigh": []}
            for _ in range(repeat):  # interleaved: a load change hits every kind alike
                ct._WARM.update(warm)
                counter.iterations.clear()
                (C1, E1, _, _), t = _timed(lambda: ct.ctmrg_step(C, E, T, chi), device)
                times["partial"].append(t)
                used = list(counter.iterations)
                saved, ct._top_eigenpairs = ct._top_eigenpairs, lambda *a: None
                try:
                    (C2, E2, _, _), t = _timed(lambda: ct.ctmrg_step(C, E, T, chi), device)
                    times["full"].append(t)
                    layers, ct._registered_layers = ct._registered_layers, lambda T: None
                    try:  # the step as the issue measured it: full eigh, the D^8 double layer T
                        times["present"].append(_timed(lambda: ct.ctmrg_step(C, E, T, chi), device)[1])
                    finally:
                        ct._registered_layers = layers
                finally:
                    ct._top_eigenpairs = saved
                Cp, t = _timed(lambda: ct.enlarged_corner(C, E, T), device)
                times["corner"].append(t)
                times["eigh"].append(_timed(lambda: torch.linalg.eigh(Cp), device)[1])
            t_partial, t_full, t_present, t_corner, t_eigh = (min(times[k]) for k in times)
            same = float((torch.diagonal(C1).abs().sort().values - torch.diagonal(C2).abs().sort().values).abs().max())
    finally:
        ct.top_eigh = counter.original
    n = chi * D * D
    print(f"| {D} | {chi} | {n} | {source} | {t_present:.2f} | {t_full:.2f} | {t_partial:.2f} | "
          f"{t_partial / t_present:.3f} | {t_partial / t_full:.3f} | "
          f"{t_eigh:.2f} | {t_partial / t_eigh:.3f} | {t_corner:.2f} | "
          f"{used[0] if used else 'full eigh'} | {same:.1e} |", flush=True)  # fmt: skip


STEP_HEADER = ("| D | chi | n = chi D^2 | tensor | present step s (full eigh, D^8 T) | full-eigh step s (layers) | "
               "partial step s | partial / present | partial / full-eigh | eigh alone s | partial / eigh | "
               "corner build s (T) | products | max |dC| |\n|" + "---|" * 14)  # fmt: skip


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_gib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmHWM in /proc/self/status")


def bench_grad(D, chi, device, grad_mode, max_iter, tol=1e-9, fp=None):
    A, source = _tensor(D, device)
    h = bond_hamiltonian(device=device)
    fp = fp or {}
    forward = ct.CTMRGOptions(chi=chi, tol=tol, max_iter=max_iter)
    (_, _, env, info0), t_env = _timed(lambda: evaluate(A, h, forward), device)
    options = ct.CTMRGOptions(chi=chi, tol=tol, max_iter=max_iter, grad_mode=grad_mode, **fp)
    # torch.utils.checkpoint imports torch._dynamo on its first call (~2.5 s here): a one-time
    # cost of the process (an optimizer's construction pays it too), not of a gradient.
    import torch._dynamo  # noqa: F401

    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    hwm = _reset_peak_rss()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def energy_and_gradient():
        Ag = A.clone().requires_grad_()
        energy, _, _, info = evaluate(Ag, h, options, env=env)
        (grad,) = torch.autograd.grad(energy, Ag)
        return energy, grad, info

    (energy, grad, info), t_grad = _timed(energy_and_gradient, device)
    if str(device).startswith("cuda"):
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30
        where = "GPU"
    elif hwm:
        peak, where = _peak_rss_gib(), "process peak RSS"
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0) / 1024
        where = "RSS growth (0 if below an earlier peak)"
    print(f"| {D} | {chi} | {source} | {device} | {t_env:.1f} ({info0.iterations} steps, conv {info0.converged}) | "
          f"{t_grad:.1f} ({info.iterations} steps, {info.adjoint_iterations} GMRES) | {peak:.2f} {where} | {float(energy.detach()):.10f} | "
          f"{float(grad.abs().max()):.2e} |", flush=True)  # fmt: skip


def bench_pieces(D, chi, device):
    """Peak RSS of the two pieces of one fixed-point energy + gradient, which run one after the other.

    (1) the plaquette energy and its backward (inputs C, E, A), (2) one
    differentiated CTMRG step and its vector-Jacobian product (the GMRES of
    the fixed-point backward repeats it; each iteration keeps one more vector
    of chi^2 (1 + D^2) numbers).  The environment: 3 graph-free steps from the
    identity boundary (the values do not change the memory).  A lower bound on
    the whole gradient's peak (module docstring).
    """
    A, source = _tensor(D, device)
    n = chi * D * D
    mat = n * n * 8 / 2**30
    _reset_peak_rss()
    clock = time.perf_counter()
    with torch.no_grad():
        T = double_layer(prepare(A))
        C, E = ct.init_env(T, identity_boundary(D, device=device))
        for _ in range(3):
            C, E, _, _ = ct.ctmrg_step(C, E, T, chi)
    print(f"| {D} | {chi} | {source} | graph-free steps | {_peak_rss_gib():.2f} | {time.perf_counter() - clock:.0f} |")
    h = bond_hamiltonian(device=device)
    inputs = [x.detach().clone().requires_grad_() for x in (C, E, A)]
    _reset_peak_rss()
    clock = time.perf_counter()
    plaquette_energy(inputs[0], inputs[1], prepare(inputs[2]), h).backward()
    print(f"| {D} | {chi} | {source} | plaquette energy + backward | {_peak_rss_gib():.2f} | {time.perf_counter() - clock:.0f} |")
    del inputs
    Ag = A.clone().requires_grad_()
    _reset_peak_rss()
    clock = time.perf_counter()
    C1, E1, _, _ = ct.ctmrg_step(C, E, double_layer(prepare(Ag)), chi)
    ((C1 * torch.randn_like(C1)).sum() + (E1 * torch.randn_like(E1)).sum()).backward()
    print(f"| {D} | {chi} | {source} | differentiated step + VJP | {_peak_rss_gib():.2f} | {time.perf_counter() - clock:.0f} |",
          flush=True)  # fmt: skip
    print(f"(one (chi D^2)^2 matrix: {mat:.3f} GiB)")


GRAD_HEADER = ("| D | chi | tensor | device | environment s | energy + gradient s | peak GiB | energy | max|grad| |\n"
               "|---|---|---|---|---|---|---|---|---|")  # fmt: skip


def _fp_options(args):
    names = ("fp_mismatch", "fp_tol", "fp_max_iter")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["step", "grad", "pieces", "gpu"])
    parser.add_argument("--D", type=int, nargs="*", default=None)
    parser.add_argument("--chi", type=int, nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=8, help="step: steps before the timed one")
    parser.add_argument("--repeat", type=int, default=1, help="step: interleaved repeats; the minimum of each is shown")
    parser.add_argument("--state", default=None, help="step: a state file of `difftn heisenberg optimize`, whose "
                        "converged environment starts the warm-up (near convergence; --D/--chi then default to none)")
    parser.add_argument("--save-state", default=None, help="step: also write the environment after the warm-up "
                        "steps as a state file, for a later --state run near convergence")  # fmt: skip
    parser.add_argument("--grad-mode", default="fixed_point", choices=ct.GRAD_MODES)
    parser.add_argument("--max-iter", type=int, default=100, help="grad: CTMRG iteration cap")
    parser.add_argument("--tol", type=float, default=1e-9, help="grad: CTMRG tolerance on the observable")
    parser.add_argument("--fp-mismatch", type=float, default=None, help="grad: accepted |step(x*) - x*|")
    parser.add_argument("--fp-tol", type=float, default=None, help="grad: GMRES relative residual")
    parser.add_argument("--fp-max-iter", type=int, default=None, help="grad: GMRES matvec cap")
    parser.add_argument("--quick", action="store_true", help="gpu: small sizes (smoke test)")
    parser.add_argument("--no-trim", action="store_true", help="no heap trim before checkpointed CTMRG steps")
    args = parser.parse_args(argv)
    if args.D is None and args.chi is None:
        args.D, args.chi = ([], []) if args.state else ([5], [100])
    if len(args.D or []) != len(args.chi or []):
        parser.error(f"--D and --chi need as many values each, got {args.D} and {args.chi}")
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    ct.TRIM_CHECKPOINTED_STEPS = not args.no_trim
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, "
          f"heap trim before checkpointed steps: {ct.TRIM_CHECKPOINTED_STEPS}")
    if args.what == "step":
        print(STEP_HEADER)
        if args.state is not None:
            state = load_state(args.state)
            bench_step(int(state.attrs["D"]), int(state.attrs["chi"]), args.warmup, args.device, state, args.repeat)
        for D, chi in zip(args.D, args.chi):
            bench_step(D, chi, args.warmup, args.device, repeat=args.repeat, save_state=args.save_state)
    elif args.what == "pieces":
        print("| D | chi | tensor | piece | peak RSS GiB (process) | s |\n|---|---|---|---|---|---|")
        for D, chi in zip(args.D, args.chi):
            bench_pieces(D, chi, args.device)
    elif args.what == "grad":
        print(GRAD_HEADER)
        for D, chi in zip(args.D, args.chi):
            bench_grad(D, chi, args.device, args.grad_mode, args.max_iter, args.tol, _fp_options(args))
    else:
        sizes = [(2, 16), (3, 27)] if args.quick else [(5, 100), (6, 144), (7, 160)]
        if args.quick:
            ct.PARTIAL_MIN_N = 0  # exercise the partial eigensolver at these small sizes
        print(STEP_HEADER)
        for D, chi in sizes:
            bench_step(D, chi, args.warmup, args.device)
        print(GRAD_HEADER)
        for D, chi in sizes:
            bench_grad(D, chi, args.device, args.grad_mode, args.max_iter)


if __name__ == "__main__":
    main()

"""Benchmark: Heisenberg C4v iPEPS, cost of energy + gradient and of whole optimizations.

Each configuration runs in a fresh subprocess so that its peak resident memory
(``difftn.infra.runtime.peak_memory_mb`` in the child, minus the memory after
imports) is its own; configurations of one invocation share the machine's conditions, so
compare ratios within one run.  Markdown tables on stdout.

    python benchmarks/bench_heisenberg.py memory --D 3 --chi 50
    python benchmarks/bench_heisenberg.py optimize --D 2 --chi 30 --max-iter 200
    python benchmarks/bench_heisenberg.py optimize --D 3 --chi 30 --init results/heisenberg/D2_chi30/state.nc
    python benchmarks/bench_heisenberg.py iterations --D 3 --chi 50 --threads 1 --max-iter 12

``iterations`` times each L-BFGS iteration of ``difftn heisenberg optimize``
from the random start and counts the energy + gradient evaluations it made
(issue 11: the first iteration should take no longer than the tenth).
"""

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _rss_mb():
    from difftn.infra.runtime import peak_memory_mb  # in the child, where SRC is on the path

    return peak_memory_mb()


def child_memory(cfg):
    """One energy + gradient evaluation; `iterations` forces that many CTMRG steps."""
    import torch

    torch.set_num_threads(cfg["threads"])
    from difftn.contract.ctmrg import CTMRGOptions
    from difftn.methods.ipeps import evaluate
    from difftn.models.heisenberg import bond_hamiltonian
    from difftn.studies.heisenberg import random_tensor

    A = random_tensor(cfg["D"], seed=1).requires_grad_()
    h = bond_hamiltonian()
    if cfg["iterations"]:
        options = CTMRGOptions(chi=cfg["chi"], tol=1e-300, max_iter=cfg["iterations"], grad_mode=cfg["mode"])
    else:
        options = CTMRGOptions(chi=cfg["chi"], tol=1e-10, max_iter=500, grad_mode=cfg["mode"])
    base = _rss_mb()
    start = time.perf_counter()
    energy, _, _, info = evaluate(A, h, options)
    (grad,) = torch.autograd.grad(energy, A)
    return {"wall_s": time.perf_counter() - start, "peak_mb": _rss_mb(), "above_imports_mb": _rss_mb() - base,
            "ctm_iterations": info.iterations, "energy": float(energy.detach()),
            "grad_norm": float(grad.norm())}  # fmt: skip


def child_optimize(cfg):
    import numpy as np
    import torch

    torch.set_num_threads(cfg["threads"])
    from difftn.studies import heisenberg

    out = Path(cfg["out"])
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    state = heisenberg.optimize(cfg["D"], cfg["chi"], out, init=cfg["init"], seed=cfg["seed"],
                                ctm_tol=1e-10, ctm_max_iter=200, grad_mode=cfg["mode"],
                                max_iter=cfg["max_iter"], device="cpu", progress=False)  # fmt: skip
    energy, elapsed = state.energy.values, state.elapsed_s.values
    reach = {}
    for threshold in cfg["thresholds"]:
        hit = np.nonzero(energy <= threshold)[0]
        reach[str(threshold)] = float(elapsed[hit[0]]) if len(hit) else None
    return {"wall_s": time.perf_counter() - start, "peak_mb": _rss_mb(), "iterations": int(state.attrs["iteration"]),
            "energy": float(energy[-1]), "magnetization": float(state.magnetization.values[-1]),
            "stop": state.attrs["stop_reason"], "time_to": reach}  # fmt: skip


def child_iterations(cfg):
    """Wall time and evaluations of each iteration of heisenberg.optimize.

    Two wrappers inside this child only: one records the end of every energy +
    gradient evaluation, one the clock and the evaluations so far at the end of
    every iteration (the optimizer's callback, before the state is written).
    """
    import torch

    torch.set_num_threads(cfg["threads"])
    from difftn.studies import heisenberg

    evaluate, minimize = heisenberg.evaluate, heisenberg.minimize
    starts, ends, unconverged = [], [], []  # the clock around every evaluation; those whose CTMRG did not converge
    marks = []  # (clock, evaluations so far, loss) before the optimizer is built and after each iteration

    def counted_evaluate(*args, **kwargs):
        starts.append(time.perf_counter())
        result = evaluate(*args, **kwargs)
        ends.append(time.perf_counter())
        if not result[3].converged:
            unconverged.append(len(ends))
        return result

    def timed_minimize(objective, x0, options, *, callback, **kwargs):
        def timed_callback(iteration, x, loss, grad_max, snap):
            marks.append((time.perf_counter(), len(ends), loss))
            callback(iteration, x, loss, grad_max, snap)

        marks.append((time.perf_counter(), 0, None))
        return minimize(objective, x0, options, callback=timed_callback, **kwargs)

    heisenberg.evaluate, heisenberg.minimize = counted_evaluate, timed_minimize
    out = Path(cfg["out"])
    out.unlink(missing_ok=True)
    # "torch": torch.optim's rule, min(1, 1 / |g|_1) (LBFGSOptions.first_step = None)
    first_step = {}
    if cfg["first_step"] is not None:
        first_step["first_step"] = None if cfg["first_step"] == "torch" else float(cfg["first_step"])
    heisenberg.optimize(cfg["D"], cfg["chi"], out, init=cfg["init"], seed=cfg["seed"], max_iter=cfg["max_iter"],
                        device="cpu", save_every=math.inf, progress=False, **first_step)  # fmt: skip
    # Before iteration 1: building the optimizer, then evaluating the start (a cold CTMRG).
    marks[1:1] = [(starts[0], 0, None), (ends[0], 1, None)]
    rows = [{"iteration": i - 1, "wall_s": t - t_prev, "evaluations": n - n_prev, "energy": loss}
            for i, ((t_prev, n_prev, _), (t, n, loss)) in enumerate(zip(marks, marks[1:]))]  # fmt: skip
    for row, (_, n_prev, _), (_, n, _) in zip(rows, marks, marks[1:]):
        row["unconverged"] = sum(n_prev < k <= n for k in unconverged)
    return {"rows": rows}


def spawn(kind, cfg):
    code = f"import json,sys; sys.path.insert(0, {str(SRC)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r});" \
           f"import bench_heisenberg as b; print(json.dumps(b.child_{kind}(json.loads(sys.argv[1]))))"  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], capture_output=True, text=True)
    if run.returncode:
        return {"error": run.stderr.strip().splitlines()[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["memory", "optimize", "iterations"])
    p.add_argument("--D", type=int, default=3)
    p.add_argument("--chi", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", nargs="+", default=["unrolled", "checkpoint", "fixed_point"])
    p.add_argument("--iterations", type=int, nargs="+", default=[0, 20, 60],
                   help="memory: forced CTMRG iteration counts (0: until converged)")
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--init", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--first-step", default=None,
                   help="iterations: the study's first_step, a number or 'torch' (torch.optim's rule; "
                   "default: the study's)")
    p.add_argument("--thresholds", type=float, nargs="*", default=[-0.6602, -0.660231, -0.6680, -0.66810])
    args = p.parse_args()

    if args.what == "memory":
        print(f"D={args.D}, chi={args.chi}, {args.threads} threads; one energy + gradient evaluation\n")
        print("| grad mode | CTMRG iterations | wall (s) | peak RSS (MB) | above imports (MB) | energy |")
        print("|---|---|---|---|---|---|")
        for mode in args.modes:
            for it in args.iterations:
                r = spawn("memory", {"D": args.D, "chi": args.chi, "threads": args.threads, "mode": mode,
                                     "iterations": it})  # fmt: skip
                if "error" in r:
                    print(f"| {mode} | {it or 'converge'} | error: {r['error']} |")
                    continue
                print(f"| {mode} | {r['ctm_iterations']} | {r['wall_s']:.2f} | {r['peak_mb']:.0f} | "
                      f"{r['above_imports_mb']:.0f} | {r['energy']:.10f} |")  # fmt: skip
    elif args.what == "iterations":
        cfg = {"D": args.D, "chi": args.chi, "threads": args.threads, "seed": args.seed, "max_iter": args.max_iter,
               "first_step": args.first_step, "init": args.init,
               "out": f"/tmp/bench_heisenberg_iterations_D{args.D}_chi{args.chi}.nc"}  # fmt: skip
        r = spawn("iterations", cfg)
        if "error" in r:
            sys.exit(f"error: {r['error']}")
        print(f"D={args.D}, chi={args.chi}, seed {args.seed}, {args.threads} threads, first step "
              f"{args.first_step or 'default'}; {args.init or 'random'} start, L-BFGS\n")  # fmt: skip
        print("| iteration | evaluations | CTMRG not converged | wall (s) | energy |")
        print("|---|---|---|---|---|")
        for row in r["rows"]:
            what = {-1: "optimizer built", 0: "start evaluated"}.get(row["iteration"], row["iteration"])
            energy = "" if row["energy"] is None else f"{row['energy']:.10f}"
            print(f"| {what} | {row['evaluations']} | {row['unconverged']} | {row['wall_s']:.2f} | {energy} |")
    else:
        for mode in args.modes:
            cfg = {"D": args.D, "chi": args.chi, "threads": args.threads, "mode": mode, "init": args.init,
                   "seed": args.seed, "max_iter": args.max_iter, "thresholds": args.thresholds,
                   "out": f"/tmp/bench_heisenberg_D{args.D}_chi{args.chi}_{mode}.nc"}  # fmt: skip
            r = spawn("optimize", cfg)
            print(json.dumps({"mode": mode, **r}, indent=1))


if __name__ == "__main__":
    main()

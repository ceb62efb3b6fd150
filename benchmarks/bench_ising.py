"""Benchmark: 2D Ising ln Z, energy and specific heat by TRG and reverse-mode AD.

Every configuration (symmetry x checkpoint x beta, repeated ``--repeat``
times, interleaved) runs in a fresh subprocess, so the peak resident memory
(``resource.getrusage`` in the child) belongs to that configuration alone and
the configurations of one invocation share the machine's conditions: compare
ratios within one run.  Prints markdown tables: timings, memory and errors
against Onsager's solution, then the differences of every configuration
from the first one at the same beta.

Example::

    python benchmarks/bench_ising.py --beta 0.40 0.4406868 \\
        --symmetry none z2 --checkpoint off on --repeat 2
"""

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def run_child(config: dict) -> dict:
    """One configuration, in this (fresh) process: times, memory, values.

    The computation of ``difftn.methods.thermodynamics.trg_observables``, written out to
    time its three passes and to choose the symmetry.
    """
    import torch

    torch.set_num_threads(config["threads"])
    from difftn.models.ising import exact_energy, exact_lnz, exact_specific_heat, ising_tensor
    from difftn.contract.trg import TRGOptions, trg_lnz

    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    beta = config["beta"]
    options = TRGOptions(
        chi=config["chi"],
        steps=config["steps"],
        checkpoint=config["checkpoint"],
        symmetry=config["symmetry"],
    )
    parity = [0, 1] if config["symmetry"] == "z2" else None
    times = {}
    start = time.perf_counter()
    b = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    lnz, _ = trg_lnz(ising_tensor(b), options, parity=parity)
    times["fwd"] = time.perf_counter() - start
    out = {"lnz": lnz.item(), "energy": float("nan"), "specific_heat": float("nan")}
    if config["mode"] in ("energy", "full"):
        mark = time.perf_counter()
        (dlnz,) = torch.autograd.grad(lnz, b, create_graph=config["mode"] == "full")
        times["bwd1"] = time.perf_counter() - mark
        out["energy"] = -dlnz.item()
    if config["mode"] == "full":
        mark = time.perf_counter()
        (d2lnz,) = torch.autograd.grad(dlnz, b)
        times["bwd2"] = time.perf_counter() - mark
        out["specific_heat"] = beta**2 * d2lnz.item()
    times["wall"] = time.perf_counter() - start
    out.update(times)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["base_mb"] = base_mb
    out["err_lnz"] = out["lnz"] - float(exact_lnz(beta))
    out["err_energy"] = out["energy"] - float(exact_energy(beta))
    out["rel_err_c"] = out["specific_heat"] / float(exact_specific_heat(beta)) - 1
    return out


def spawn(config: dict) -> dict:
    """Run one configuration in a subprocess; its JSON result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    # One OpenMP pool of the requested size: oversubscribing a small machine
    # makes dense linear algebra many times slower.
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(config["threads"])
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"configuration {config} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def label(config: dict) -> str:
    name = "dense" if config["symmetry"] == "none" else config["symmetry"]
    return name + (" +checkpoint" if config["checkpoint"] else "")


def fmt(x, spec):
    return "-" if x != x else format(x, spec)  # NaN: not computed in this mode


def print_tables(configs, results):
    """Markdown tables: per configuration (median over repeats), then deltas."""
    groups = {}
    for config, res in zip(configs, results):
        key = (config["beta"], label(config))
        groups.setdefault(key, []).append(res)
    print(
        "| configuration | beta | wall (s) | fwd (s) | bwd1 (s) | bwd2 (s) | speed-up "
        "| peak RSS (MB) | RSS at start (MB) | lnZ err | energy err | C rel err |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    first = {}
    for (beta, name), runs in groups.items():
        med = {
            k: statistics.median(r.get(k, float("nan")) for r in runs)
            for k in ("wall", "fwd", "bwd1", "bwd2", "peak_mb", "base_mb")
        }
        first.setdefault(beta, (med["wall"], runs[0]))
        speedup = first[beta][0] / med["wall"]
        r = runs[0]
        print(
            f"| {name} | {beta} | {med['wall']:.2f} | {fmt(med['fwd'], '.2f')} "
            f"| {fmt(med['bwd1'], '.2f')} | {fmt(med['bwd2'], '.2f')} | {speedup:.2f}x "
            f"| {med['peak_mb']:.0f} | {med['base_mb']:.0f} | {fmt(r['err_lnz'], '.2e')} "
            f"| {fmt(r['err_energy'], '.2e')} | {fmt(r['rel_err_c'], '.2e')} |"
        )
    print()
    print(
        "Difference from the first configuration at the same beta " "(absolute; C = specific heat):"
    )
    print()
    print("| configuration | beta | lnZ | energy | C | max |")
    print("|---|---|---|---|---|---|")
    for (beta, name), runs in groups.items():
        ref, r = first[beta][1], runs[0]
        d = [abs(r[k] - ref[k]) for k in ("lnz", "energy", "specific_heat")]
        print(
            f"| {name} | {beta} | {fmt(d[0], '.1e')} | {fmt(d[1], '.1e')} "
            f"| {fmt(d[2], '.1e')} | {fmt(max(d), '.1e')} |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--beta", type=float, nargs="+", default=[0.4406868], help="inverse temperatures"
    )
    parser.add_argument("--chi", type=int, default=30, help="TRG bond dimension")
    parser.add_argument("--steps", type=int, default=30, help="TRG steps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--symmetry", nargs="+", choices=["none", "z2"], default=["none", "z2"])
    parser.add_argument("--checkpoint", nargs="+", choices=["off", "on"], default=["off"])
    parser.add_argument(
        "--mode",
        choices=["lnz", "energy", "full"],
        default="full",
        help="derivatives to take: none, first, first and second",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per configuration, interleaved; medians are shown",
    )
    parser.add_argument("--json", type=Path, help="also write all raw results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return

    configs = [
        dict(
            beta=beta,
            symmetry=sym,
            checkpoint=ck == "on",
            chi=args.chi,
            steps=args.steps,
            threads=args.threads,
            mode=args.mode,
        )
        for _, beta, sym, ck in itertools.product(
            range(args.repeat), args.beta, args.symmetry, args.checkpoint
        )
    ]
    print(
        f"chi={args.chi} steps={args.steps} threads={args.threads} mode={args.mode} "
        f"repeat={args.repeat}; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = []
    for config in configs:
        t0 = time.perf_counter()
        results.append(spawn(config))
        print(
            f"  {label(config)} beta={config['beta']}: {results[-1]['wall']:.2f} s "
            f"(process {time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    print_tables(configs, results)
    if args.json:
        args.json.write_text(
            json.dumps([dict(config=c, result=r) for c, r in zip(configs, results)], indent=1)
        )


if __name__ == "__main__":
    main()

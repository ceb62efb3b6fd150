"""Benchmark: `difftn heisenberg optimize` side by side with peps-torch's C4v optimizer.

Issue 11 asks difftn to be ahead of peps-torch in two runs from a random start,
seed 0, one thread each: D = 2, chi = 30 to the end, and D = 3, chi = 50 within
a wall-time budget.  peps-torch is not part of difftn: point this script at a
checkout and a Python that can run it (a throwaway venv; it needs
``setuptools<81``).  Both commands start at the same moment, each with one
thread on its own core, so that both see the same machine; the wall time is
from process start (imports included), every energy line of each program is
timestamped as it arrives, and ``--budget`` stops both (SIGTERM: difftn writes
its state; then SIGKILL).

    python benchmarks/versus_peps_torch.py --peps-torch /tmp/ptorch/src \
        --peps-torch-python /tmp/ptorch/venv/bin/python --D 2 --chi 30 --repeats 3
    python benchmarks/versus_peps_torch.py ... --D 3 --chi 50 --budget 240 --targets -0.6675 -0.6680

The energies are each program's own estimator at the optimization's chi
(difftn: the 2x2 plaquette by default; peps-torch: its C4v energy), so
compare them to ~1e-5 only; `difftn heisenberg measure` re-measures a final
state with one estimator.  Markdown tables on stdout.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_ITER = 2000  # both run to convergence or the budget, not to an iteration cap
OURS_LINE = re.compile(r"^iteration (\d+): loss (\S+),")
PEER_LINE = re.compile(r"^(?:LS )?(\d+), (-?\d[\d.eE+-]*)")  # "[LS ]epoch, energy, observables..."


def peer_script(checkout):
    return Path(checkout) / "examples" / "j1j2" / "optim_j1j2_c4v.py"


def one_thread_env():
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONUNBUFFERED"] = "1"  # lines must arrive when printed, for their timestamps
    return env


class Run:
    """One program's process: its energy lines with their arrival times, and its wall time."""

    def __init__(self, name, argv, cwd, pattern):
        self.name, self.pattern, self.points = name, pattern, []  # points: (seconds, iteration, energy)
        self.wall_s, self.end, self.tail = None, None, []  # before the reader thread, which sets end
        self.start = time.perf_counter()
        self.process = subprocess.Popen(argv, cwd=cwd, env=one_thread_env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            match = self.pattern.match(line)
            if match:
                self.points.append((time.perf_counter() - self.start, int(match[1]), float(match[2])))
            self.tail = (self.tail + [line.rstrip()])[-5:]
        self.process.wait()
        self.end = time.perf_counter()  # the pipe closes when the process exits

    def finish(self, deadline):
        """Wait until the process ends or ``deadline`` (perf_counter); stop it there."""
        try:
            self.process.wait(timeout=None if deadline is None else max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.reader.join(timeout=5)
        self.wall_s = (self.end or time.perf_counter()) - self.start

    def time_to(self, target):
        return next((t for t, _, energy in self.points if energy <= target), None)


def commands(args, workdir):
    ours = [sys.executable, "-m", "difftn.cli", "heisenberg", "optimize", "--D", str(args.D), "--chi", str(args.chi),
            "--seed", str(args.seed), "--max-iter", str(MAX_ITER), "--threads", "1", "--out", str(workdir / "difftn.nc")]  # fmt: skip
    peer = [args.peps_torch_python, str(peer_script(args.peps_torch)), "--bond_dim", str(args.D), "--chi", str(args.chi),
            "--seed", str(args.seed), "--opt_max_iter", str(MAX_ITER), "--omp_cores", "1",
            "--out_prefix", str(workdir / "peps_torch")]  # fmt: skip
    return ours, peer


def row(run, targets):
    steps = [p for p in run.points if p[1] < MAX_ITER]  # peps-torch reprints its final energy as epoch MAX_ITER
    last = run.points[-1] if run.points else (None, 0, float("nan"))
    cells = [run.name, f"{run.wall_s:.2f}", f"{steps[-1][0]:.2f}" if steps else "-", str(len(steps)), f"{last[2]:.10f}"]
    for target in targets:
        reached = run.time_to(target)
        cells.append("never" if reached is None else f"{reached:.1f}")
    return cells


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peps-torch", required=True, help="peps-torch checkout (holds examples/j1j2/)")
    parser.add_argument("--peps-torch-python", required=True, help="a Python that runs peps-torch")
    parser.add_argument("--D", type=int, default=2)
    parser.add_argument("--chi", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=None, help="seconds; default: run both to their end")
    parser.add_argument("--targets", type=float, nargs="*", default=[], help="energies: report the time to each")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if not peer_script(args.peps_torch).is_file():
        parser.error(f"--peps-torch {args.peps_torch}: no {peer_script('.')} there")

    header = ["program", "wall s", "s to last iteration", "iterations", "last energy"] + [f"s to {t}" for t in args.targets]
    print(f"D = {args.D}, chi = {args.chi}, seed {args.seed}, budget {args.budget or 'none'} s; "
          "both at once, 1 thread each\n")  # fmt: skip
    print("| repeat | " + " | ".join(header) + " |")
    print("|" + "---|" * (len(header) + 1))
    ratios = []
    for repeat in range(1, args.repeats + 1):
        with tempfile.TemporaryDirectory(prefix="versus_") as tmp:
            ours_argv, peer_argv = commands(args, Path(tmp))
            runs = [Run("difftn", ours_argv, ROOT, OURS_LINE), Run("peps-torch", peer_argv, tmp, PEER_LINE)]
            deadline = None if args.budget is None else time.perf_counter() + args.budget
            for run in runs:
                run.finish(deadline)
        for run in runs:
            print(f"| {repeat} | " + " | ".join(row(run, args.targets)) + " |")
            if not run.points:
                print(f"{run.name} printed no energy; its last lines:\n" + "\n".join(run.tail), file=sys.stderr)
        ratios.append(runs[0].wall_s / runs[1].wall_s)
    if args.budget is None:
        print(f"\nwall time difftn / peps-torch: {', '.join(f'{r:.2f}' for r in ratios)} "
              f"(median {statistics.median(ratios):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()

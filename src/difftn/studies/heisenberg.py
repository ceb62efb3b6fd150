"""The Heisenberg iPEPS study (Liao et al., PRX 9, 031041 (2019), Fig. 4).

``optimize`` runs L-BFGS on a single-site C4v iPEPS of bond dimension D and
writes a state file as it goes (atomically; at most every ``save_every``
seconds, always after the last iteration and when stopped), holding everything a
later run needs: the tensor, the converged CTMRG environment, the history,
the optimizer's curvature pairs and the seed.  ``resume=True`` continues from
it exactly; ``init`` starts from a smaller-D state padded with small noise.
``measure`` converges the environment of a saved tensor at some chi
(starting from the cached one) and records energy and magnetization.
Both take ``J2``, the next-nearest-neighbour coupling J2/J1 of the J1-J2
model (default 0: the Heisenberg model; see difftn.methods.ipeps).

State file (NetCDF) variables: ``A[s,u,l,d,r]``, ``C``, ``E``, history over
``iteration`` (``energy``, ``grad_max``, ``magnetization``, ``ctm_iterations``,
``ctm_converged``, ``elapsed_s``) and ``lbfgs_*`` (optimizer state, L-BFGS or Newton: ``optimizer`` attribute).
"""

import json
import logging
import math
import os
import shutil
import time
from typing import Annotated, Literal
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..contract.ctmrg import (GRAD_MODES, CTMRGOptions, NotConvergedError, correlation_length, ctmrg,
                              transfer_spectrum)
from ..infra import runtime
from ..infra.io import read_dataset, write_dataset
from ..methods.ipeps import (ESTIMATORS, bond_energy, bond_rdm, double_layer, evaluate, identity_boundary,
                             plaquette_rdms, prepare, site_magnetization)  # fmt: skip
from ..data.reference import QMC_ENERGY
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage
from ..infra.provenance import aggregate_attrs, file_sha256, provenance_attrs, source_hash
from ..methods.optimize import LINE_SEARCH, LBFGSOptions, NewtonOptions, minimize, minimize_newton
from ..methods.saddle import check_curvature, reduced_dimension, step_off
from ..models.heisenberg import bond_hamiltonian

__all__ = ["MODULES", "STAGES", "MEASURE_MODULES", "MEASURE_MAX_ITER", "RANDOM_STARTS", "random_tensor", "pad_tensor",
           "pad_env", "state_tensors", "resume_check", "optimize", "start_path", "kept_start", "measure", "load_state",
           "read_json_tensor", "summary_row", "aggregate"]

log = logging.getLogger(__name__)

#: Library modules whose source determines a Heisenberg result.
MODULES = (
    "difftn.linalg.eigh",
    "difftn.linalg.partial_eigh",
    "difftn.linalg.polar",
    "difftn.linalg.broadening",
    "difftn.linalg.krylov",
    "difftn.contract.ctmrg",
    "difftn.contract.fixedpoint",
    "difftn.methods.ipeps",
    "difftn.models.heisenberg",
    "difftn.methods.lbfgs",
    "difftn.methods.optimize",
    "difftn.methods.hessian",
    "difftn.methods.saddle",
    "difftn.studies.heisenberg",
)
#: First L-BFGS trial step from a random start, |step| / |A|.  torch's rule
#: (min(1, 1/|g|_1)) tried 0.003 at D = 3, chi = 50, where the line search then
#: accepted 0.57 after five evaluations.  Not used from an ``init`` state: a
#: padded D = 2 optimum at D = 3, chi = 30 took 3 evaluations with it, 1 with
#: torch's rule.
FIRST_STEP = 0.5
#: Stops short of the gradient tolerance, where ``optimize`` looks for negative curvature (``saddle_escapes``).
SHORT_STOPS = ("line search failed", "no change", "trust region collapsed")
#: Hessian-vector products of one curvature check.  A check runs only where they span the whole
#: reduced space (D <= 3: 9 and 37 dimensions), so that its verdict is exact; at D = 4 (102
#: dimensions) one product costs 80 s and 7.8 GB at chi = 80 (one thread; double backward through
#: a checkpointed CTMRG), too much to spend unasked at the end of a run.
SADDLE_MAX_PRODUCTS = 60
#: A curvature below -SADDLE_TOL (energy per site per |A|^2, |A| = 1) is a negative mode.  Measured
#: at D = 3 (docs/MEASUREMENTS.md, rounds 33-34): negative modes -4.2e-4 and -1.1e-3, lowest
#: curvatures at minima +2.1e-3 and +4.1e-4; the symmetries' zero modes (projected out) scattered
#: by +-4e-6 at a critical point.
SADDLE_TOL = 1e-5
#: Step off a saddle, |step| / |A|: at D = 3, chi = 50 both sides of 0.05 led to distinct minima.
SADDLE_STEP = 0.05
#: Several starts (``starts``): final energies within this of the lowest count as equal and the
#: earliest seed among them is kept, so that which file is kept does not turn on rounding that
#: differs between machines.  Distinct stops lie further apart: D = 3, chi = 50 seeds 0 and 1
#: stopped 6.0e-7 apart in one minimum, the two minima lie 4.5e-4 apart (round 35).
STARTS_TIE = 1e-10

#: A measurement also reports the error against QMC (``reference``).
MEASURE_MODULES = MODULES + ("difftn.data.reference",)

#: Transfer-matrix eigenvalues a measurement records.
TRANSFER_LEVELS = 6
#: CTMRG iteration cap of a measurement: converging at a larger chi than the optimization's takes longer.
MEASURE_MAX_ITER = 1000

_HISTORY = ("energy", "grad_max", "magnetization", "ctm_iterations", "ctm_converged", "elapsed_s")


def random_tensor(D: int, seed: int, dtype=torch.float64, device="cpu", low: float = -1.0) -> torch.Tensor:
    """Seeded random A[s,u,l,d,r] with entries uniform in [low, 1) (CPU generator: same on any device)."""
    gen = torch.Generator().manual_seed(seed)
    sample = torch.rand(2, D, D, D, D, generator=gen, dtype=torch.float64)
    return (low + (1 - low) * sample).to(dtype=dtype, device=device)


#: Random starts (``optimize`` without ``init``): name -> lower bound of the
#: uniform entries (upper bound 1).  Default "nonnegative": in the Neel-rotated
#: frame of the ansatz the ground state has amplitudes of one sign in the Sz
#: basis (Marshall's sign rule, carried over by the pi rotation about y of
#: sublattice B), and a non-negative tensor starts near a weakly entangled
#: product state.  "signed" ([-1, 1)) starts from a random, highly entangled
#: state: at D = 3, chi = 50, seed 0 its first line search met trial states
#: whose CTMRG contracts by ~1 % per step (truncated weight 2.5e-2) and did not
#: converge in 200 + 200 steps (225 s for the first L-BFGS iteration); from
#: [0, 1) every evaluation of the first 12 iterations converged in <= 31 steps
#: (10.7 s for the first iteration).
RANDOM_STARTS = {"nonnegative": 0.0, "signed": -1.0}


def pad_tensor(A: torch.Tensor, D: int, noise: float, seed: int) -> torch.Tensor:
    """Embed A (bond D_old <= D) into bond D; add seeded uniform noise of size ``noise`` * max|A|."""
    D_old = A.shape[1]
    if D_old > D:
        raise ValueError(f"cannot start D={D} from a larger D={D_old} state")
    out = A.new_zeros(2, D, D, D, D)
    out[:, :D_old, :D_old, :D_old, :D_old] = A / A.abs().max()
    gen = torch.Generator().manual_seed(seed)
    out += noise * (2 * torch.rand(out.shape, generator=gen, dtype=torch.float64) - 1).to(out)
    return out


def pad_env(env, D_old: int, D: int):
    """Environment of A embedded in a larger bond: zero-pad E's (ket, bra) bond."""
    C, E = env
    chi = E.shape[0]
    E4 = E.reshape(chi, D_old, D_old, chi)
    out = E.new_zeros(chi, D, D, chi)
    out[:, :D_old, :D_old, :] = E4
    return C, out.reshape(chi, D * D, chi)


class _Objective:
    """Energy per site of A with a warm-started environment; remembers its recent evaluations.

    Every evaluation starts CTMRG from the environment of the current iterate
    (``use(A)``: the accepted point, or the start point after a failed
    iteration; before the first iteration, the start's own), not from the
    previous line-search trial.  A truncated CTMRG can have more than one fixed
    point, and a warm start from a distant trial can keep it on the wrong one:
    seed 3, D = 2, chi = 12, after iteration 1: -0.5977249 instead of -0.5979084
    at the same A (a cold start gives the latter).  The default study's D = 3,
    chi = 30 run met this in round 31 (chained warm starts): after a trial at
    t = 1 along -g, 3.0e-6 above the start, trials at t = 0.1 ... 0.001 stayed
    3.1e-6 above it, where from the iterate's environment (or a cold start) they
    lie 2.6e-9 ... 2.6e-11 below it, as the gradient predicts.  Every line search
    there failed, and the run stopped at max|g| = 5e-5.  From one anchor, the
    trials no longer depend on their order; the fixed-point mode's element-wise
    rounds can still carry one to another fixed point (docs/MEASUREMENTS.md,
    round 31: that run still stops early, at an edge of a branch).
    """

    def __init__(self, h, ctm: CTMRGOptions, env=None, keep: int = 64, estimator: str = "plaquette", J2: float = 0.0):
        self.h, self.ctm, self.env, self.estimator, self.J2 = h, ctm, env, estimator, J2
        self.last = None
        self._anchored = False  # self.env is the current iterate's environment
        self._seen, self._keep = {}, keep  # keep: evaluations remembered, more than one iteration makes

    @staticmethod
    def _key(A):
        return A.detach().cpu().numpy().tobytes()

    def __call__(self, A):
        energy, mag, env, info = evaluate(A, self.h, self.ctm, env=self.env, estimator=self.estimator,
                                           J2=self.J2)  # fmt: skip
        if not info.converged:
            log.warning("CTMRG not converged (%d iterations, change %.1e): this gradient is approximate",
                        info.iterations, info.error)  # fmt: skip
        if not self._anchored:  # the start point: its environment anchors the first line search
            self.env, self._anchored = env, True
        self.last = {"magnetization": float(mag), "ctm_iterations": info.iterations,
                     "ctm_converged": int(info.converged)}  # fmt: skip
        key = self._key(A)
        self._seen.pop(key, None)
        self._seen[key] = (env, self.last)
        while len(self._seen) > self._keep:
            self._seen.pop(next(iter(self._seen)))
        return energy

    def remember(self, A, env, last):
        """Record an evaluation made earlier (the state loaded on resume): the anchor of the next line search."""
        self._seen[self._key(A)] = (env, last)
        self.env, self._anchored = env, True

    def use(self, A):
        """Warm start from A's own environment and make its record ``last``."""
        self.env, self.last = self._seen[self._key(A)]
        self._anchored = True

    def restart(self):
        """The next evaluation is a new start point (off a saddle): its environment anchors the next line search."""
        self._anchored = False


def read_json_tensor(path, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """A[s, u, l, d, r] of a published single-site iPEPS state (JSON, "s u l d r value" entries).

    Format of J. Hasik's j1j2_ipeps_states (see shared/reference/ipeps_states/SOURCE.md):
    one site with ``physDim``, ``auxDim`` and ``entries``; the later layout of
    the same format (peps-torch's state files) gives ``dims`` = [p, D, D, D, D]
    instead.
    """
    with open(path) as f:
        data = json.load(f)
    sites = data.get("sites")
    if not sites or len(sites) != 1:
        raise ValueError(f"{path}: expected one site, found {0 if not sites else len(sites)}")
    site = sites[0]
    if "physDim" in site and "auxDim" in site:
        p, D = int(site["physDim"]), int(site["auxDim"])
    elif isinstance(site.get("dims"), list) and len(site["dims"]) == 5 and len(set(site["dims"][1:])) == 1:
        p, D = int(site["dims"][0]), int(site["dims"][1])
    else:
        raise ValueError(f"{path}: a site needs physDim and auxDim, or dims = [p, D, D, D, D]; found keys "
                         f"{sorted(site)}")  # fmt: skip
    if p != 2:
        raise ValueError(f"{path}: physical dimension {p}, expected 2 (spin 1/2)")
    A = np.zeros((p, D, D, D, D))
    for entry in site["entries"]:
        *index, value = entry.split()
        A[tuple(int(i) for i in index)] = float(value)
    return torch.as_tensor(A, dtype=dtype, device=device)


def load_state(path) -> xr.Dataset:
    """Read a state file, checking it is one."""
    ds = read_dataset(path)
    if ds.attrs.get("difftn_stage") != "heisenberg_optimize":
        raise ValueError(f"{path} is not a Heisenberg optimization state file")
    return ds


def state_tensors(state: xr.Dataset, dtype=torch.float64, device="cpu"):
    """The raw tensor A and the saved environment (C, E) of a state file read by ``load_state``."""
    A = torch.as_tensor(state.A.values, dtype=dtype, device=device)
    return A, tuple(torch.as_tensor(state[k].values, dtype=dtype, device=device) for k in ("C", "E"))


def _state_dataset(A, env, history, snapshot, attrs) -> xr.Dataset:
    C, E = env
    data = {
        "A": (("s", "u", "l", "d", "r"), A.cpu().numpy(), {"long_name": "raw iPEPS tensor (symmetrized when used)"}),
        "C": (("chi_a", "chi_b"), C.cpu().numpy(), {"long_name": "CTMRG corner (warm start)"}),
        "E": (("chi_a", "bond2", "chi_b"), E.cpu().numpy(), {"long_name": "CTMRG edge (warm start)"}),
    }
    for key in _HISTORY:
        data[key] = ("iteration", np.asarray(history[key], dtype=float))
    for key, value in snapshot.items():
        value = np.asarray(value, dtype=float)
        if value.ndim == 2:
            dims = ("lbfgs_hist", "lbfgs_n")
        elif value.ndim == 1:
            dims = ("lbfgs_hist",) if key == "ro" else ("lbfgs_n",)
        else:
            dims = ()
        data[f"lbfgs_{key}"] = (dims, value)
    ds = xr.Dataset(data, coords={"iteration": np.arange(1, len(history["energy"]) + 1)})
    ds["energy"].attrs.update(long_name="energy per site", units="J")
    ds["grad_max"].attrs.update(long_name="max |d energy / d A|")
    ds.attrs.update(attrs)
    return ds


def resume_check(path, D: int, chi: int, seed: int, ctm: CTMRGOptions, init=None, optimizer="lbfgs",
                 J2: float = 0.0, random_start: str = "nonnegative") -> list[str]:  # fmt: skip
    """What differs between the run saved in ``path`` and the requested one ([] when it may be resumed).

    A run is resumed only with the same D, chi and seed, the same model (J2;
    a state file without it is J2 = 0), the same CTMRG settings
    (tol, max_iter, grad_mode), the same library source (hash of ``MODULES``) and
    the same initial state (SHA-256 of the init file, or the same kind of
    random start); more L-BFGS iterations are fine.  An unreadable file is reported as changed.
    """
    try:
        old = load_state(path)
        old_ctm = json.loads(old.attrs["ctmrg_options"])
        same = {
            "D, chi, seed": (int(old.attrs["D"]), int(old.attrs["chi"]), int(old.attrs["seed"])) == (D, chi, seed),
            "ctmrg options": all(old_ctm.get(k) == getattr(ctm, k) for k in ("tol", "max_iter", "grad_mode")),
            "library source": old.attrs["source_hash"] == source_hash(*MODULES),
            "initial state": old.attrs.get("init_sha256", "none") == (file_sha256(init) if init else "none"),
            "optimizer": old.attrs.get("optimizer", "lbfgs") == optimizer,
            "J2": float(old.attrs.get("J2", 0.0)) == float(J2),
            # files from before the option started from [-1, 1); a start from init ignores it
            "random start": init is not None or old.attrs.get("random_start", "signed") == random_start,
        }
    except Exception as err:  # unreadable or foreign: start over
        log.warning("cannot resume from %s: %s", path, err)
        return ["readable state"]
    return [key for key, ok in same.items() if not ok]


def _check_model(estimator, J2):
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if J2 != 0 and estimator != "plaquette":
        raise ValueError(f"J2 = {J2} needs the plaquette estimator (the diagonal lives in the 2x2 plaquette), "
                         f"got {estimator!r}")  # fmt: skip


def optimize(
    D: Annotated[int, Option("iPEPS bond dimension", low=1)],
    chi: Annotated[int, Option("CTMRG environment dimension", low=1)],
    out,
    *,
    init: Annotated[Path | None, Option("start from this state file of a smaller or equal D, or a published tensor "
                                        "(.json), padded with noise", file=True)] = None,
    resume: Annotated[bool, Option("continue from --out when it holds a run of the same code, start and settings; "
                                   "otherwise start afresh")] = False,
    seed: Annotated[int, Option("seed of the random start or of the padding noise")] = 0,
    random_start: Annotated[Literal[tuple(RANDOM_STARTS)], Option(
        "random start (no --init): entries uniform in [0, 1) (nonnegative, the sign structure of the Neel-rotated "
        "ground state) or [-1, 1) (signed)")] = "nonnegative",
    noise: Annotated[float, Option("padding noise relative to max|A|", low=0, open=True)] = 1e-2,
    max_iter: Annotated[int, Option("L-BFGS iterations (total)", low=1)] = LBFGSOptions.max_iter,
    history_size: Annotated[int, Option("L-BFGS curvature pairs", low=1)] = LBFGSOptions.history_size,
    first_step: Annotated[float, Option("first L-BFGS trial step from a random start, as |step| / |A| (from "
                                        "--init: torch.optim's rule)", low=0, open=True)] = FIRST_STEP,
    tol_grad: Annotated[float, Option("stop at max|gradient| below this", low=0, open=True)] = 1e-8,
    estimator: Annotated[Literal[ESTIMATORS], Option("bond energy from the 2x2 plaquette or the 2x1 patch")] = "plaquette",
    J2: Annotated[float, Option("next-nearest-neighbour coupling J2/J1 (J1-J2 model; 0: Heisenberg; needs the "
                                "plaquette estimator)")] = 0.0,
    grad_mode: Annotated[Literal[GRAD_MODES], Option("gradient through CTMRG")] = CTMRGOptions.grad_mode,
    ctm_tol: Annotated[float, Option("CTMRG tolerance: largest change of the half-row density matrix and the "
                                     "sorted corner spectrum in one step", low=0, open=True)] = CTMRGOptions.tol,
    ctm_max_iter: Annotated[int, Option("CTMRG iteration cap", low=1)] = CTMRGOptions.max_iter,
    optimizer: Annotated[Literal["lbfgs", "newton"], Option(
        "lbfgs: L-BFGS with a strong-Wolfe line search; newton: trust-region Newton-CG on Hessian-vector products "
        "by double backward (needs --grad-mode checkpoint or unrolled)")] = "lbfgs",
    saddle_escapes: Annotated[int, Option(
        "when the optimizer stops short of --tol-grad, look for a negative Hessian eigenvalue (Lanczos on "
        "Hessian-vector products; D <= 3 only, where <= 60 products span every direction) and continue from the "
        "side of its mode the gradient descends to; at most this many times (0: never)", low=0)] = 0,
    checkpoint: Annotated[Path | None, Option("write the iterations to this file and resume from it when "
                                              "compatible; --out receives the final state")] = None,
    starts: Annotated[int, Option(
        "optimize this many starts, seeds --seed, --seed + 1, ..., each in its own file beside --out (or "
        "--checkpoint) as NAME.seedS.nc, one after the other, and keep the lowest final energy", low=1)] = 1,
    save_every: Annotated[float, Option("write the state after an iteration once this many seconds have passed "
                                        "since the last write (0: every iteration); the last iteration is "
                                        "always written, also on SIGTERM, Ctrl-C or an error", low=0)] = 5.0,
    device: Device = "auto",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
    progress: bool = True,
) -> xr.Dataset:
    """Optimize the D iPEPS at environment dimension chi; state saved to ``out`` as it goes.

    ``out`` (a path) is rewritten atomically after an iteration when
    ``save_every`` seconds have passed since the last write (a write costs
    0.15-0.3 s: at D = 2 it took half the run when done every iteration), after
    the last iteration, and when the run is stopped by SIGTERM, Ctrl-C or an
    error; a SIGKILL loses at most ``save_every`` seconds of work.  With
    ``resume``, an existing ``out`` is continued exactly when ``resume_check``
    finds it compatible (same D, chi, seed, CTMRG settings, library source and
    initial state; more iterations are fine) and started afresh otherwise.
    ``max_iter``, ``history_size``, ``tol_grad``: ``LBFGSOptions``; ``first_step``:
    ``LBFGSOptions.first_step`` from a random start, None (torch's rule) from ``init``;
    ``grad_mode``, ``ctm_tol``, ``ctm_max_iter``: ``CTMRGOptions``.  ``saddle_escapes``: at
    a stop in ``SHORT_STOPS`` the lowest curvature of E in the directions that
    change the state is checked (``methods.saddle``; where at most
    ``SADDLE_MAX_PRODUCTS`` products span them: D <= 3); below ``-SADDLE_TOL`` the
    run continues, iterations counted on, from A moved by ``SADDLE_STEP`` |A|
    along that mode to the side the gradient descends to
    (``methods.saddle.step_off``), with a fresh optimizer history.  Each
    check is recorded in the ``saddle_checks`` attribute (JSON).  ``J2``:
    next-nearest-neighbour coupling of the J1-J2 model (``methods.ipeps.evaluate``).  With
    ``checkpoint``, the iterations go to that file (resumed when compatible: it
    survives a killed job, whose declared output a workflow deletes) and ``out``
    receives a copy at the end.  With ``starts`` > 1, ``_best_of_starts`` runs one
    optimization per seed and ``out`` receives the lowest.  Returns the final state (as written to ``out``).
    """
    if starts > 1:
        kwargs = {k: v for k, v in locals().items() if k not in ("D", "chi", "out", "seed", "starts", "checkpoint")}
        return _best_of_starts(D, chi, out, seed, starts, checkpoint, kwargs)
    if starts < 1:
        raise ValueError(f"starts must be at least 1, got {starts}")
    if checkpoint is not None:
        kwargs = {k: v for k, v in locals().items() if k not in ("D", "chi", "out", "checkpoint", "resume")}
        state = optimize(D, chi, checkpoint, resume=True, **kwargs)
        tmp = Path(out).with_suffix(".copy.tmp")
        shutil.copyfile(checkpoint, tmp)
        os.replace(tmp, out)
        return state
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    ctm_options = CTMRGOptions(chi=chi, tol=ctm_tol, max_iter=ctm_max_iter, grad_mode=grad_mode)
    # A state given by init is near a minimum already: torch's rule steps by |g|, not by |A|.
    lbfgs_options = LBFGSOptions(max_iter=max_iter, history_size=history_size,
                                 first_step=first_step if init is None else None, tolerance_grad=tol_grad)  # fmt: skip
    if optimizer == "newton":
        if grad_mode == "fixed_point":
            raise ValueError("optimizer newton needs second derivatives through CTMRG: use grad_mode checkpoint or "
                             "unrolled (the fixed-point backward is not twice differentiable)")  # fmt: skip
        run, run_options = minimize_newton, NewtonOptions(max_iter=max_iter, tolerance_grad=tol_grad)
    elif optimizer == "lbfgs":
        run, run_options = minimize, lbfgs_options
    else:
        raise ValueError(f"optimizer must be lbfgs or newton, got {optimizer!r}")
    h = bond_hamiltonian(rotated=True, dtype=dt, device=dev)
    out = Path(out)
    history = {key: [] for key in _HISTORY}
    snapshot, start, env, elapsed0, checks = None, 0, None, 0.0, []
    if resume and out.exists() and (changed := resume_check(out, D, chi, seed, ctm_options, init, optimizer, J2,
                                                            random_start)):
        log.warning("%s: %s changed, starting afresh", out, ", ".join(changed))
        out.unlink()
    if resume and out.exists():
        state = load_state(out)
        if (state.attrs["D"], state.attrs["chi"]) != (D, chi):
            raise ValueError(f"{out} holds D={state.attrs['D']}, chi={state.attrs['chi']}, not D={D}, chi={chi}")
        A0, env = state_tensors(state, dt, dev)
        history = {key: list(state[key].values) for key in _HISTORY}
        snapshot = {k[len("lbfgs_"):]: state[k].values for k in state.data_vars if k.startswith("lbfgs_")}
        start, seed, init_desc = int(state.attrs["iteration"]), int(state.attrs["seed"]), state.attrs["init"]
        init_digest = state.attrs.get("init_sha256", "none")
        elapsed0 = float(history["elapsed_s"][-1]) if history["elapsed_s"] else 0.0
        done = state.attrs["stop_reason"] in ("gradient",) + SHORT_STOPS
        checks = json.loads(state.attrs.get("saddle_checks", "[]"))
        if done or start >= lbfgs_options.max_iter:
            log.info("%s is already done (%s, %d iterations)", out, state.attrs["stop_reason"], start)
            return state
        log.info("resuming %s at iteration %d", out, start)
    elif init is not None:
        if Path(init).suffix == ".json":  # a published tensor: no environment to reuse
            A_old, kind = read_json_tensor(init, dt, dev), "published, "
            D_old = int(A_old.shape[1])
        else:
            small, kind = load_state(init), ""
            D_old = int(small.attrs["D"])
            A_old, small_env = state_tensors(small, dt, dev)
            env = pad_env(small_env, D_old, D)
        A0 = pad_tensor(A_old, D, noise, seed)
        init_desc = f"padded from {Path(init).name} ({kind}D={D_old}), noise {noise}"
        init_digest = file_sha256(init)
    else:
        A0 = random_tensor(D, seed, dt, dev, low=RANDOM_STARTS[random_start])
        init_desc, init_digest = f"random uniform [{RANDOM_STARTS[random_start]:g}, 1), seed {seed}", "none"

    _check_model(estimator, J2)
    # An iteration evaluates at most max_evals_per_iter points after its start point.
    objective = _Objective(h, ctm_options, env, keep=lbfgs_options.max_evals_per_iter + 2, estimator=estimator,
                           J2=J2)  # fmt: skip
    if snapshot is not None and history["energy"]:  # the loaded point is not evaluated again: its env is the saved one
        objective.remember(A0, env, {key: history[key][-1] for key in ("magnetization", "ctm_iterations",
                                                                         "ctm_converged")})  # fmt: skip
    attrs = {"title": "Heisenberg iPEPS optimization state", "D": D, "chi": chi, "seed": seed, "init": init_desc,
             "init_sha256": init_digest,
             "line_search": LINE_SEARCH, "ctmrg_options": json.dumps(asdict(ctm_options)),
             "lbfgs_options": json.dumps(asdict(lbfgs_options)), "estimator": estimator, "J2": float(J2),
             "random_start": random_start,
             "optimizer": optimizer,
             "optimizer_options": json.dumps(asdict(run_options))}  # fmt: skip
    clock = time.perf_counter()

    def save(iteration, A, energy, grad_max, snap, stop_reason="running"):
        # A is the last evaluated point, except after a failed iteration (the restored start point).
        objective.use(A)
        history["energy"].append(energy)
        history["grad_max"].append(grad_max)
        for key in ("magnetization", "ctm_iterations", "ctm_converged"):
            history[key].append(objective.last[key])
        history["elapsed_s"].append(elapsed0 + time.perf_counter() - clock)
        # A may be the optimizer's parameter, updated in place by later iterations: keep a copy.
        latest.update(iteration=iteration, A=A.detach().clone(), env=objective.env, snap=snap, written=False)
        if time.perf_counter() - latest["write_clock"] >= save_every:
            write_latest(stop_reason)

    def write_latest(stop_reason):
        meta = dict(attrs, iteration=latest["iteration"], stop_reason=stop_reason, saddle_checks=json.dumps(checks))
        meta.update(provenance_attrs(
            stage="heisenberg_optimize",
            parameters={"D": D, "chi": chi, "seed": seed, "init": str(init), "J2": float(J2)},
            modules=MODULES, device=dev, dtype=dt, config_hash=config_hash,
            wall_time_s=history["elapsed_s"][-1] if history["elapsed_s"] else 0.0,
            peak_memory_mb=runtime.peak_memory_mb(dev)))  # fmt: skip
        write_dataset(_state_dataset(latest["A"], latest["env"], history, latest["snap"], meta), out)
        latest.update(written=True, write_clock=time.perf_counter())

    # The last finished iteration (the start point before the first) and whether it is on disk.
    latest = {"iteration": start, "A": A0, "env": objective.env, "snap": snapshot, "written": False,
              "write_clock": -math.inf}  # fmt: skip
    with runtime.sigterm_as_exit():
        try:
            A, stop = run(objective, A0, run_options, start_iteration=start, snapshot=snapshot, callback=save,
                          progress=progress)  # fmt: skip
            while (stop in SHORT_STOPS and sum(c["escaped"] for c in checks) < saddle_escapes
                   and latest["iteration"] < run_options.max_iter):
                write_latest("running")  # the check takes minutes: the stop point is on disk first
                A_off = _escape(A, float(history["energy"][-1]), objective, h, ctm_options, estimator, J2,
                                latest["iteration"], checks, progress)  # fmt: skip
                if A_off is None:
                    break
                objective.restart()
                A, stop = run(objective, A_off, run_options, start_iteration=latest["iteration"], callback=save,
                              progress=progress)  # fmt: skip
        except BaseException:
            if not latest["written"] and latest["iteration"] > start:
                log.warning("stopped at iteration %d: writing its state to %s", latest["iteration"], out)
                write_latest("running")
            raise
    latest.update(A=A, env=objective.env)
    write_latest(stop)
    log.info("D=%d chi=%d J2=%g: E=%.10f after %d iterations (%s)", D, chi, J2, history["energy"][-1],
             latest["iteration"], stop)  # fmt: skip
    return load_state(out)


def start_path(base, seed: int) -> Path:
    """The file of one start of a several-start run: ``base`` with ``.seedS`` before its suffix."""
    base = Path(base)
    return base.with_name(f"{base.stem}.seed{seed}{base.suffix}")


def kept_start(records: list[dict]) -> dict:
    """The start to keep: the earliest whose energy is within ``STARTS_TIE`` of the lowest."""
    lowest = min(r["energy"] for r in records)
    return next(r for r in records if r["energy"] <= lowest + STARTS_TIE)


def _best_of_starts(D, chi, out, seed, starts, checkpoint, kwargs) -> xr.Dataset:
    """Optimize from seeds seed .. seed + starts - 1, one after the other, and write the lowest to ``out``.

    A truncated-CTMRG energy landscape can hold several minima: at D = 3, chi = 50
    two of five random starts end at -0.66805868 and three at -0.66760567 (the two
    sides of one saddle, docs/MEASUREMENTS.md, rounds 32-33), so one start picks
    its minimum by chance.  Each start has its own file beside ``checkpoint`` (or
    ``out``), resumed like a single run, so a killed job loses at most the
    running start's last seconds.  ``out`` is the kept start's state with the
    attribute ``starts`` (JSON: seed, energy, iterations, stop reason of each)
    and ``kept_seed``.
    """
    resume = kwargs.pop("resume") or checkpoint is not None
    base = checkpoint if checkpoint is not None else out
    records, states = [], {}
    for index, start_seed in enumerate(range(seed, seed + starts)):
        path = start_path(base, start_seed)
        log.info("D=%d chi=%d: start %d of %d (seed %d) in %s", D, chi, index + 1, starts, start_seed, path)
        states[start_seed] = state = optimize(D, chi, path, seed=start_seed, resume=resume, **kwargs)
        records.append({"seed": start_seed, "energy": float(state.energy.values[-1]),
                        "iterations": int(state.attrs["iteration"]), "stop_reason": state.attrs["stop_reason"],
                        "file": path.name})  # fmt: skip
    kept = kept_start(records)
    for r in records:
        log.info("seed %d: E = %.10f after %d iterations (%s)%s", r["seed"], r["energy"], r["iterations"],
                 r["stop_reason"], "  <- kept" if r is kept else "")  # fmt: skip
    state = states[kept["seed"]]
    state.attrs.update(starts=json.dumps(records), kept_seed=kept["seed"])
    write_dataset(state, out)
    return load_state(out)


def _escape(A, energy_stop, objective, h, ctm, estimator, J2, iteration, checks, progress):
    """The point off a saddle at A (see ``optimize``), or None; appends the check to ``checks``.

    The check's CTMRG starts afresh (checkpoint mode), so its energy can
    differ from the optimizer's value at the stop (``energy_stop``) by ~1e-6
    where CTMRG has two fixed points (``_Objective``); the side is chosen by
    the gradient (``methods.saddle.step_off``), not by those energies.
    """
    dimension = reduced_dimension(A)
    if dimension > SADDLE_MAX_PRODUCTS:
        log.info("iteration %d: stopped short of the gradient tolerance; the Hessian is not checked: its %d "
                 "dimensions need more than %d products", iteration, dimension, SADDLE_MAX_PRODUCTS)  # fmt: skip
        checks.append({"iteration": iteration, "energy_stop": energy_stop, "dimension": dimension, "checked": False,
                       "escaped": False})  # fmt: skip
        return None
    log.info("iteration %d: stopped short of the gradient tolerance; checking the Hessian for a negative mode "
             "(%d Hessian-vector products)", iteration, dimension)  # fmt: skip
    clock = time.perf_counter()
    curvature = check_curvature(A, h, ctm, objective.env, estimator=estimator, J2=J2,
                                max_products=SADDLE_MAX_PRODUCTS, progress=progress)  # fmt: skip
    record = {"iteration": iteration, "energy_stop": energy_stop, "energy": curvature.energy,
              "lowest_curvature": curvature.value,
              "residual": curvature.residual, "products": curvature.products, "dimension": curvature.dimension,
              "exhausted": curvature.exhausted, "ctm_iterations": curvature.ctm_iterations,
              "ctm_converged": curvature.ctm_converged, "checked": True, "escaped": False}  # fmt: skip
    off = None
    if not curvature.ctm_converged:  # an approximate Hessian does not move the state
        log.warning("iteration %d: the Hessian's CTMRG run did not converge (%d steps): lowest curvature %.3e is "
                    "approximate; not stepping off", iteration, curvature.ctm_iterations, curvature.value)  # fmt: skip
    elif curvature.value < -SADDLE_TOL:
        off = step_off(A, curvature, h, ctm, objective.env, step=SADDLE_STEP, estimator=estimator, J2=J2)
        record.update(escaped=True, energy_off=off.energy, energy_other_side=off.energy_other, slope=off.slope,
                      side_by=off.by)  # fmt: skip
    record["seconds"] = time.perf_counter() - clock
    checks.append(record)
    if off is not None:
        log.info("iteration %d: negative curvature %.3e (E = %.10f, at the stop %.10f): continuing from %.10f, "
                 "%g |A| along its mode on the %s's side (other side %.10f; %d products, %.0f s)", iteration,
                 curvature.value, curvature.energy, energy_stop, off.energy, SADDLE_STEP, off.by, off.energy_other,
                 curvature.products, record["seconds"])  # fmt: skip
    else:
        searched = ("every direction" if curvature.exhausted
                    else f"the {curvature.products} of {curvature.dimension} dimensions searched")  # fmt: skip
        log.info("iteration %d: lowest curvature %.3e (%d products, %.0f s): none negative in %s", iteration,
                 curvature.value, curvature.products, record["seconds"], searched)  # fmt: skip
    return None if off is None else off.point


def measure(
    state: Annotated[Path, Option("state file from 'difftn heisenberg optimize', or a published tensor (.json)",
                                  file=True)],
    chi: Annotated[int, Option("CTMRG environment dimension", low=1)],
    *,
    estimator: Annotated[Literal[ESTIMATORS], Option("bond energy from the 2x2 plaquette or the 2x1 patch")] = "plaquette",
    J2: Annotated[float, Option("next-nearest-neighbour coupling J2/J1 (J1-J2 model; 0: Heisenberg; needs the "
                                "plaquette estimator)")] = 0.0,
    ctm_tol: Annotated[float, Option("CTMRG tolerance (see optimize)", low=0, open=True)] = CTMRGOptions.tol,
    ctm_max_iter: Annotated[int, Option("CTMRG iteration cap (a larger chi than the optimization's needs more "
                                        "steps from the cached environment)", low=1)] = MEASURE_MAX_ITER,
    device: Device = "auto",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Energy and magnetization of a saved state with a converged environment at ``chi``.

    ``state_path`` is a state file of ``optimize`` (its cached environment is
    the starting point) or a published tensor in JSON (``read_json_tensor``;
    the environment starts from the identity boundary).  ``estimator``: bond
    density matrix from the 2x2 "plaquette" or the 2x1 "bond" patch
    (``difftn.methods.ipeps.bond_rdm``); the magnetization is the one-site value.
    ``J2``: next-nearest-neighbour coupling of the J1-J2 model (the diagonal of
    the plaquette, ``difftn.methods.ipeps.plaquette_rdms``); the error against
    QMC (a J2 = 0 value) is then NaN.

    Raises NotConvergedError if CTMRG does not converge: a measurement is
    never taken from an unconverged environment.
    """
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    state_path = state
    published = Path(state_path).suffix == ".json"
    _check_model(estimator, J2)
    options = CTMRGOptions(chi=chi, tol=ctm_tol, max_iter=ctm_max_iter)
    with runtime.measure(dev) as cost, torch.no_grad():
        if published:
            A = read_json_tensor(state_path, dt, dev)
            D, env, boundary = int(A.shape[1]), None, identity_boundary(int(A.shape[1]), dt, dev)
            source = {"optimization_chi": 0, "iterations": 0, "state_format": "published json"}
        else:
            state = load_state(state_path)
            D, boundary = int(state.attrs["D"]), None
            A, env = state_tensors(state, dt, dev)
            source = {"optimization_chi": int(state.attrs["chi"]), "iterations": int(state.attrs["iteration"])}
        As = prepare(A)
        T = double_layer(As)
        C, E, info = ctmrg(T, options, env=env, boundary=boundary)
        if not info.converged:
            raise NotConvergedError(f"CTMRG at chi={chi} for {state_path}: not converged after {info.iterations} "
                                    f"iterations (spectrum change {info.error:.1e} > tol {options.tol})")  # fmt: skip
        if J2 == 0:
            energy = float(2 * bond_energy(bond_rdm(C, E, As, estimator), bond_hamiltonian(True, dt, dev)))
        else:  # the same sum as methods.ipeps.evaluate
            rho, rho_diag = plaquette_rdms(C, E, As)
            energy = float(2 * bond_energy(rho, bond_hamiltonian(True, dt, dev))
                           + 2 * J2 * bond_energy(rho_diag, bond_hamiltonian(False, dt, dev)))  # fmt: skip
        mag = float(site_magnetization(C, E, As))
        # |lambda_i / lambda_0| of the column transfer matrix (the published .dat convention) and xi
        spectrum = transfer_spectrum(E, T, k=TRANSFER_LEVELS)  # fewer when the matrix is smaller (D = 1)
        xi = correlation_length(spectrum)
        levels = np.full(TRANSFER_LEVELS, np.nan)
        levels[: len(spectrum)] = spectrum.abs().cpu().numpy()
    ds = xr.Dataset(
        {
            "energy": ((), energy, {"long_name": "energy per site", "units": "J"}),
            "magnetization": ((), mag, {"long_name": "staggered magnetization |<S>|"}),
            "energy_relative_error": ((), (energy - QMC_ENERGY) / abs(QMC_ENERGY) if J2 == 0 else np.nan,
                                      {"long_name": "(E - E_QMC)/|E_QMC|, QMC: Sandvik 1997 (J2 = 0 only)"}),
            "transfer_eigenvalues": (("level",), levels,
                                     {"long_name": "|lambda_i / lambda_0| of the column transfer matrix E-T-E"}),
            "correlation_length": ((), xi, {"long_name": "xi = -1/ln|lambda_1/lambda_0|", "units": "lattice spacing"}),
            "ctm_iterations": ((), info.iterations),
            "truncation_error": ((), info.truncation_error),
        },
        coords={"D": D, "chi": chi},
    )  # fmt: skip
    ds.attrs.update({"title": "Heisenberg iPEPS observables", "state_file": str(state_path), "estimator": estimator,
                     "J2": float(J2), **source})  # fmt: skip
    ds.attrs.update(provenance_attrs(stage="heisenberg_measure", parameters={"D": D, "chi": chi, "estimator": estimator,
                                                                             "J2": float(J2)},
                                     modules=MEASURE_MODULES, device=dev, dtype=dt, config_hash=config_hash,
                                     **cost))
    log.info("D=%d chi=%d J2=%g: E=%.10f (rel. err. vs QMC %.3e), m=%.6f", D, chi, J2, energy,
             float(ds.energy_relative_error), mag)  # fmt: skip
    return ds


def summary_row(runs) -> dict:
    """The table row of one optimized state from its measurement files (``measure``).

    ``energy``, ``magnetization``, ``energy_relative_error``, ``correlation_length``
    (NaN in files older than it) and ``chi`` at the largest measurement chi;
    ``energy_opt_chi`` at the optimization chi (NaN without such a file);
    ``optimization_chi`` and ``iterations`` of the optimization.
    """
    best = max(runs, key=lambda ds: int(ds.chi))
    at_opt = [ds for ds in runs if int(ds.chi) == int(ds.attrs["optimization_chi"])]
    return {
        "energy": float(best.energy),
        "magnetization": float(best.magnetization),
        "energy_relative_error": float(best.energy_relative_error),
        "energy_opt_chi": float(at_opt[0].energy) if at_opt else np.nan,
        "correlation_length": float(best.correlation_length) if "correlation_length" in best else np.nan,
        "chi": int(best.chi),
        "optimization_chi": int(best.attrs["optimization_chi"]),
        "iterations": int(best.attrs["iterations"]),
    }


def aggregate(observable_paths) -> xr.Dataset:
    """One row per D from measurement files: at each D the largest measurement chi.

    Variables: ``energy``, ``magnetization``, ``energy_relative_error`` (at the
    largest chi), ``energy_opt_chi`` (at the optimization chi), ``chi``
    (measurement), ``optimization_chi``, ``iterations``.
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        points = [read_dataset(p) for p in observable_paths]
    if not points:
        raise ValueError("aggregate: no input files")
    by_D = {}
    for ds in points:
        by_D.setdefault(int(ds.D), []).append(ds)
    rows = [{"D": D, **summary_row(runs)} for D, runs in sorted(by_D.items())]
    import pandas as pd

    ds = xr.Dataset.from_dataframe(pd.DataFrame(rows).set_index("D"))
    ds["energy"].attrs.update(long_name="energy per site (largest measurement chi)", units="J")
    ds["energy_relative_error"].attrs.update(long_name="(E - E_QMC)/|E_QMC|, QMC: Sandvik 1997")
    ds["magnetization"].attrs.update(long_name="staggered magnetization |<S>|")
    ds.attrs["title"] = "Heisenberg iPEPS summary"
    ds.attrs.update(aggregate_attrs(points, stage="heisenberg_aggregate", modules=MEASURE_MODULES, **read_cost))
    return ds


#: The stages of ``difftn heisenberg ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "optimize": Stage("difftn.studies.heisenberg:optimize",
                      "L-BFGS optimization of a C4v iPEPS; state saved as it goes", "itself"),
    "measure": Stage("difftn.studies.heisenberg:measure", "energy and magnetization of a state at some chi"),
    "aggregate": Stage("difftn.studies.heisenberg:aggregate", "observables over (D, chi) -> table", "table"),
    "figure": Stage("", "Fig. 4: energy and magnetization against D", "figure",
                    {"fig4": ("difftn.plots.heisenberg:heisenberg_fig4", False)}),
}

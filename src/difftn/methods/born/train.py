"""Training an MPS Born machine by maximum likelihood.

Two schemes (Han et al., PRX 8, 031012 (2018), Sec. III):

``train_sweeps`` -- DMRG-like two-site sweeps.  With the orthogonality
center on the merged tensor B = A[k] A[k+1] (index order ``B[a, s, t, c]``:
left bond, x_k, x_{k+1}, right bond), Z = ||B||^2 and::

    Psi(x) = sum_{a,c} L_x[a] B[a, x_k, x_{k+1}, c] R_x[c]
    NLL(B) = log ||B||^2 - 2/N sum_x log|Psi(x)|
    dNLL/dB = 2 B / ||B||^2 - 2/N sum_x (L_x (x) e_{x_k} (x) e_{x_{k+1}} (x) R_x) / Psi(x)

where L_x (R_x) is the product of the site matrices left (right) of the pair
for sample x.  One (or ``steps_per_bond``) gradient step B <- B - eta dNLL/dB,
then B / ||B|| is split by an SVD truncated to the singular values above
``cutoff`` times the largest one and to at most ``max_bond`` of them, so the
bond dimensions follow the data.  The left (right) factor stays orthonormal
and the center moves on.  L_x and R_x are cached per sample and updated by
one site after each bond (they enter only through L_x R_x / Psi(x), so each
is stored normalized): a bond costs O(N d^2 D^2 + d^3 D^3), a sweep n times that.

``train_gradient`` -- for comparison: every tensor at fixed bond
dimensions, NLL from the full contraction (``mps.nll``), gradients by
autograd, Adam or L-BFGS.

The SVD of the truncation is not differentiated, so plain
``torch.linalg.svd`` is used.
"""

import logging
import math
import time
from dataclasses import dataclass, field

import torch

from ...linalg.truncation import kept_count
from .mps import MPS, _check_data, canonicalize, nll

__all__ = [
    "SweepOptions",
    "GradientOptions",
    "TrainInfo",
    "two_site_gradient",
    "local_nll",
    "train_sweeps",
    "train_gradient",
    "OPTIMIZERS",
]

log = logging.getLogger(__name__)

#: Optimizers of ``train_gradient``: ``adam`` (torch.optim.Adam), ``lbfgs`` (strong-Wolfe L-BFGS).
OPTIMIZERS = ("adam", "lbfgs")


@dataclass(frozen=True)
class SweepOptions:
    """Options of ``train_sweeps``.

    Attributes
    ----------
    max_bond : int
        Largest bond dimension D_max kept by the truncation (>= 1).
    sweeps : int
        Number of sweeps (>= 0); one sweep is a left-to-right and a right-to-left pass.
    learning_rate : float
        Gradient step eta on the normalized two-site tensor (> 0).
    cutoff : float
        Relative SVD cutoff: singular values below ``cutoff`` * s_max are dropped (in [0, 1)).
    steps_per_bond : int
        Gradient steps on each merged tensor (>= 1), each followed by the truncation.
    max_halvings : int
        Backtracking: a step that raises the NLL is retried with eta halved,
        at most this many times (>= 0); then the bond is left as it is.
    """

    max_bond: int
    sweeps: int = 10
    learning_rate: float = 0.05
    cutoff: float = 1e-7
    steps_per_bond: int = 1
    max_halvings: int = 8

    def __post_init__(self):
        if self.max_bond < 1:
            raise ValueError(f"max_bond must be >= 1, got {self.max_bond}")
        if self.sweeps < 0:
            raise ValueError(f"sweeps must be >= 0, got {self.sweeps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.cutoff < 1:
            raise ValueError(f"cutoff must be in [0, 1), got {self.cutoff}")
        if self.steps_per_bond < 1:
            raise ValueError(f"steps_per_bond must be >= 1, got {self.steps_per_bond}")
        if self.max_halvings < 0:
            raise ValueError(f"max_halvings must be >= 0, got {self.max_halvings}")


@dataclass(frozen=True)
class GradientOptions:
    """Options of ``train_gradient``.

    Attributes
    ----------
    steps : int
        Optimizer steps (>= 0), each on the full data set.
    learning_rate : float
        Adam's step size, or L-BFGS's initial step (> 0).
    optimizer : str
        One of ``OPTIMIZERS``: ``adam`` or ``lbfgs``.
    """

    steps: int = 200
    learning_rate: float = 0.01
    optimizer: str = "adam"

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")


@dataclass
class TrainInfo:
    """History of a training run; entry 0 is the initial state, then one entry per sweep (step).

    Attributes
    ----------
    nll_train, nll_test : list of float
        NLL (nats) on the training and, if given, the test data.
    max_bond : list of int
        Largest bond dimension.
    truncation_error : list of float
        Largest discarded weight sum_{i>k} s_i^2 / sum_i s_i^2 over the bonds of that sweep (0 for entry 0).
    elapsed_s : list of float
        Wall time since the start.
    """

    nll_train: list = field(default_factory=list)
    nll_test: list = field(default_factory=list)
    max_bond: list = field(default_factory=list)
    truncation_error: list = field(default_factory=list)
    elapsed_s: list = field(default_factory=list)


def _amplitudes(B, left, right, slot):
    """Psi(x) = L_x . B[:, x_k, x_{k+1}, :] . R_x for all samples; also M[x, (s,t), c] = (L_x B)[(s,t), c]."""
    Dl, d, _, Dr = B.shape
    N = left.shape[0]
    M = (left @ B.reshape(Dl, d * d * Dr)).reshape(N, d * d, Dr)
    return (M[torch.arange(N, device=B.device), slot] * right).sum(dim=1)


def local_nll(B: torch.Tensor, left: torch.Tensor, right: torch.Tensor, xk, xl) -> torch.Tensor:
    """log ||B||^2 - 2/N sum_x log|Psi(x)|: the NLL up to a constant fixed by the environments.

    Arguments as in ``two_site_gradient``; +inf if Psi(x) = 0 for a sample.
    """
    psi = _amplitudes(B, left, right, xk * B.shape[1] + xl)
    return torch.log(B.square().sum()) - 2 * torch.log(psi.abs()).mean()


def two_site_gradient(B: torch.Tensor, left: torch.Tensor, right: torch.Tensor, xk, xl) -> torch.Tensor:
    """dNLL/dB of the merged tensor at the orthogonality center (formula in the module docstring).

    Parameters
    ----------
    B : torch.Tensor
        Merged tensor ``B[a, s, t, c]`` of shape (Dl, d, d, Dr).
    left, right : torch.Tensor
        Per-sample environments L_x (N, Dl) and R_x (N, Dr), any positive scale per sample.
    xk, xl : torch.Tensor
        Values of the two sites, shape (N,), integers in [0, d).

    Raises
    ------
    FloatingPointError
        If Psi(x) = 0 for a sample (infinite NLL, no gradient).
    """
    Dl, d, _, Dr = B.shape
    N = left.shape[0]
    slot = xk * d + xl
    psi = _amplitudes(B, left, right, slot)
    if not torch.all(psi != 0):
        raise FloatingPointError(f"two_site_gradient: Psi(x) = 0 for {int((psi == 0).sum())} training samples")
    W = B.new_zeros(N, d * d, Dr)
    W[torch.arange(N, device=B.device), slot] = right / psi[:, None]
    score = (left.T @ W.reshape(N, d * d * Dr)).reshape(Dl, d, d, Dr)
    return 2 * B / B.square().sum() - (2 / N) * score


def _normalize_rows(v: torch.Tensor, what: str) -> torch.Tensor:
    norm = v.norm(dim=1, keepdim=True)
    if not torch.all(norm > 0) or not torch.all(torch.isfinite(norm)):
        raise FloatingPointError(f"train_sweeps: {what} environment vanished or overflowed for a training sample")
    return v / norm


def _split(B: torch.Tensor, max_bond: int, cutoff: float):
    """SVD of B[(a s), (t c)] truncated by cutoff and max_bond; returns U, S (unit norm), Vh, discarded weight."""
    Dl, d, _, Dr = B.shape
    U, S, Vh = torch.linalg.svd(B.reshape(Dl * d, d * Dr), full_matrices=False)
    keep = kept_count(S, cutoff, max_bond)
    total = S.square().sum()
    discarded = float(S[keep:].square().sum() / total)
    S = S[:keep] / S[:keep].norm()
    return U[:, :keep], S, Vh[:keep], discarded


def _update_bond(B, left, right, xk, xl, options):
    """Gradient steps with backtracking on the merged tensor; returns its truncated SVD factors.

    A step B - eta g (normalized, then truncated) is accepted only if the
    local NLL does not increase; otherwise eta is halved, at most
    ``max_halvings`` times, after which B is kept.  Because the local NLL is
    the training NLL up to a constant, no bond update makes the fit worse
    (beyond what the cutoff discards from the current B).
    """
    Dl, d, _, Dr = B.shape
    current = local_nll(B, left, right, xk, xl)
    factors = None
    for _ in range(options.steps_per_bond):
        g = two_site_gradient(B, left, right, xk, xl)
        eta = options.learning_rate
        for _ in range(options.max_halvings + 1):
            trial = B - eta * g
            U, S, Vh, discarded = _split(trial / trial.norm(), options.max_bond, options.cutoff)
            trial = ((U * S) @ Vh).reshape(Dl, d, d, Dr)
            value = local_nll(trial, left, right, xk, xl)
            if value <= current:
                B, current, factors = trial, value, (U, S, Vh, discarded)
                break
            eta /= 2
        else:
            break  # no improving step along this gradient
    if factors is None:
        if not torch.all(torch.isfinite(B)):
            raise FloatingPointError("train_sweeps: non-finite two-site tensor")
        factors = _split(B / B.norm(), options.max_bond, options.cutoff)
    return factors


def _evaluate(mps, x, x_test):
    with torch.no_grad():
        train = float(nll(mps.tensors, x))
        test = float(nll(mps.tensors, x_test)) if x_test is not None else None
    if not math.isfinite(train):
        raise FloatingPointError(f"training NLL is {train}")
    return train, test


def _record(info, mps, x, x_test, trunc, start):
    train, test = _evaluate(mps, x, x_test)
    info.nll_train.append(train)
    if test is not None:
        info.nll_test.append(test)
    info.max_bond.append(max(mps.bond_dimensions))
    info.truncation_error.append(trunc)
    info.elapsed_s.append(time.perf_counter() - start)


def train_sweeps(mps: MPS, data, options: SweepOptions, *, test_data=None, callback=None) -> tuple[MPS, TrainInfo]:
    """Two-site sweep training of the NLL (module docstring); returns (trained MPS, TrainInfo).

    Parameters
    ----------
    mps : MPS
        Initial state (at least 2 sites); brought to canonical form with center 0.
    data : array-like of int, shape (N, n)
        Training configurations.
    options : SweepOptions
    test_data : array-like of int, shape (M, n), optional
        Held-out configurations; their NLL is recorded after every sweep.
    callback : callable, optional
        Called as ``callback(sweep, mps, info)`` after every sweep.

    Returns
    -------
    MPS
        Canonical with center 0 (ready for ``sample``) and Z = 1.
    TrainInfo
    """
    n = mps.n_sites
    if n < 2:
        raise ValueError(f"two-site sweeps need at least 2 sites, got {n}")
    d = mps.phys_dim
    mps = canonicalize(mps, 0)
    A = list(mps.tensors)
    device = A[0].device
    x = _check_data(torch.as_tensor(data), n, d).to(device)
    x_test = None if test_data is None else _check_data(torch.as_tensor(test_data), n, d).to(device)
    N = x.shape[0]
    if N < 1:
        raise ValueError("train_sweeps: no training data")

    rows = torch.arange(N, device=device)

    def grow_left(v, k):  # v (N, D_k) -> (N, D_{k+1}): one GEMM, then each sample's slice
        Dl, _, Dr = A[k].shape
        return _normalize_rows((v @ A[k].reshape(Dl, d * Dr)).reshape(N, d, Dr)[rows, x[:, k]], "left")

    def grow_right(v, k):  # v (N, D_{k+1}) -> (N, D_k)
        Dl, _, Dr = A[k].shape
        return _normalize_rows((v @ A[k].reshape(Dl * d, Dr).T).reshape(N, Dl, d)[rows, :, x[:, k]], "right")

    # Environments: L[k] covers sites 0..k-1 (N, D_k); R[k] covers sites k..n-1 (N, D_k).
    L = [None] * (n + 1)
    R = [None] * (n + 1)
    L[0] = A[0].new_ones(N, 1)
    R[n] = A[0].new_ones(N, 1)
    for k in range(n - 1, 1, -1):
        R[k] = grow_right(R[k + 1], k)

    info = TrainInfo()
    start = time.perf_counter()
    _record(info, MPS(A, 0), x, x_test, 0.0, start)
    for sweep in range(1, options.sweeps + 1):
        trunc = 0.0
        for direction, bonds in (("right", range(n - 1)), ("left", range(n - 2, -1, -1))):
            for k in bonds:
                B = torch.einsum("asb,btc->astc", A[k], A[k + 1])
                U, S, Vh, discarded = _update_bond(B, L[k], R[k + 2], x[:, k], x[:, k + 1], options)
                trunc = max(trunc, discarded)
                Dl, _, _, Dr = B.shape
                r = S.numel()
                if direction == "right":  # A[k] left-orthonormal, center moves to k+1
                    A[k] = U.reshape(Dl, d, r)
                    A[k + 1] = (S[:, None] * Vh).reshape(r, d, Dr)
                    L[k + 1] = grow_left(L[k], k)
                else:  # A[k+1] right-orthonormal, center moves to k
                    A[k] = (U * S).reshape(Dl, d, r)
                    A[k + 1] = Vh.reshape(r, d, Dr)
                    R[k + 1] = grow_right(R[k + 2], k + 1)
        mps = MPS(list(A), 0)
        _record(info, mps, x, x_test, trunc, start)
        log.info(
            "sweep %d: NLL train %.6f%s, max bond %d, truncation %.1e, %.1f s",
            sweep, info.nll_train[-1], f", test {info.nll_test[-1]:.6f}" if x_test is not None else "",
            info.max_bond[-1], trunc, info.elapsed_s[-1],
        )  # fmt: skip
        if callback is not None:
            callback(sweep, mps, info)
    return MPS(list(A), 0), info


def train_gradient(mps: MPS, data, options: GradientOptions, *, test_data=None) -> tuple[MPS, TrainInfo]:
    """All tensors at once by autograd of ``mps.nll`` (fixed bond dimensions); returns (MPS, TrainInfo).

    The NLL is invariant under rescaling of any tensor, so the tensors are not
    normalized during the optimization; the result is returned canonical (center 0).
    """
    n, d = mps.n_sites, mps.phys_dim
    device = mps.tensors[0].device
    x = _check_data(torch.as_tensor(data), n, d).to(device)
    x_test = None if test_data is None else _check_data(torch.as_tensor(test_data), n, d).to(device)
    params = [A.detach().clone().requires_grad_(True) for A in mps.tensors]
    def make_optimizer():
        if options.optimizer == "adam":
            return torch.optim.Adam(params, lr=options.learning_rate)
        return torch.optim.LBFGS(params, lr=options.learning_rate, max_iter=1, line_search_fn="strong_wolfe")

    opt = make_optimizer()

    def closure():
        opt.zero_grad()
        loss = nll(params, x)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"train_gradient: NLL is {float(loss)}")
        loss.backward()
        return loss

    info = TrainInfo()
    start = time.perf_counter()
    _record(info, MPS([p.detach() for p in params]), x, x_test, 0.0, start)
    for _ in range(options.steps):
        opt.step(closure)
        _record(info, MPS([p.detach() for p in params]), x, x_test, 0.0, start)
        if options.optimizer == "lbfgs" and info.nll_train[-1] >= info.nll_train[-2]:
            # L-BFGS stalls for good once its curvature pairs give no descent direction: restart from the gradient.
            opt = make_optimizer()
    return canonicalize(MPS([p.detach() for p in params]), 0), info

"""Hamiltonian design: fit a transverse-field Ising chain to a target ground state.

Open chain of n spins 1/2 (Pauli matrices, basis |0>, |1> with Z|0> = |0>;
site 0 is the most significant bit of the basis index)::

    H(J, h) = - sum_{i=0}^{n-2} J_i Z_i Z_{i+1} - sum_{i=0}^{n-1} h_i X_i ,

real symmetric, 2^n x 2^n, built densely (n <= 12).  Its ground state
|g(J, h)> comes from ``difftn.linalg.eigh``, whose backward (Liao et al.,
PRX 9, 031041 (2019), Eq. 6) gives d|g>/dH through 1/(E_k - E_0); the design
loss is the infidelity

    1 - F,   F = |<target|g(J, h)>|^2 ,

invariant under the sign of the eigenvector (the only gauge of a real,
non-degenerate eigenvector), minimized over (J, h) by L-BFGS
(``difftn.optimize``).  The eigh backward broadens 1/(E_k - E_0); with
h_i != 0 the ground state is non-degenerate (the gap closes only as
prod h_i / J_i in the ordered limit, so targets and starts keep h ~ J).

Exact reference (Lieb, Schultz & Mattis, Ann. Phys. 16, 407 (1961);
Pfeuty, Ann. Phys. 57, 79 (1970)): by the Jordan-Wigner transformation the
chain is free fermions with single-particle energies 2 Lambda_k, where Lambda_k
are the singular values of the n x n upper bidiagonal matrix B with
B_ii = h_i and B_{i,i+1} = J_i, and E_0 = -sum_k Lambda_k
(``free_fermion_ground_energy``).
"""

import logging
import math
from dataclasses import dataclass

import torch

from .linalg import eigh, svd
from .optimize import LBFGSOptions, minimize

__all__ = [
    "MAX_SITES",
    "tfim_hamiltonian",
    "ground_state",
    "free_fermion_ground_energy",
    "fidelity",
    "random_parameters",
    "DesignResult",
    "design",
]

log = logging.getLogger(__name__)

#: Largest chain for dense exact diagonalization (4096 x 4096).
MAX_SITES = 12


def _check(J: torch.Tensor, h: torch.Tensor) -> int:
    n = h.shape[0] if h.dim() == 1 else 0
    if not 1 <= n <= MAX_SITES:
        raise ValueError(f"h must be a vector of 1 to {MAX_SITES} fields, got shape {tuple(h.shape)}")
    if J.shape != (n - 1,):
        raise ValueError(f"J must have n - 1 = {n - 1} couplings for {n} sites, got shape {tuple(J.shape)}")
    return n


def _site_operators(n: int, dtype, device):
    """Diagonals of Z_i Z_{i+1} (n-1, 2^n) and the index flips of X_i (n, 2^n)."""
    index = torch.arange(2**n, device=device)
    bits = (index[None, :] >> (n - 1 - torch.arange(n, device=device))[:, None]) & 1  # site 0 = top bit
    z = (1 - 2 * bits).to(dtype)
    flips = index[None, :] ^ (1 << (n - 1 - torch.arange(n, device=device)))[:, None]
    return z[:-1] * z[1:], flips


def tfim_hamiltonian(J: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Dense H(J, h) (module doc), differentiable in J and h; shape (2^n, 2^n)."""
    n = _check(J, h)
    zz, flips = _site_operators(n, h.dtype, h.device)
    dim = 2**n
    H = torch.diag(-(J @ zz)) if n > 1 else h.new_zeros(dim, dim)
    rows = torch.arange(dim, device=h.device)
    for i in range(n):  # X_i connects |b> and |b with bit i flipped>
        X = h.new_zeros(dim, dim)
        X[rows, flips[i]] = 1.0
        H = H - h[i] * X
    return H


def ground_state(J: torch.Tensor, h: torch.Tensor) -> tuple:
    """(E_0, |g>, gap E_1 - E_0) of H(J, h) by ``difftn.linalg.eigh``; E_0 and |g> differentiable."""
    energies, vectors = eigh(tfim_hamiltonian(J, h))
    gap = float(energies[1].detach() - energies[0].detach()) if len(energies) > 1 else math.inf
    return energies[0], vectors[:, 0], gap


def free_fermion_ground_energy(J: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """E_0 = -sum of the singular values of bidiagonal(h; J) (module doc); differentiable."""
    n = _check(J, h)
    B = torch.diag(h) + (torch.diag(J, 1) if n > 1 else 0)
    return -svd(B)[1].sum()


def fidelity(state: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|<target|state>|^2 for normalized real vectors (sign-gauge invariant)."""
    return (target @ state) ** 2


def random_parameters(n: int, seed: int, low: float = 0.5, high: float = 1.5, dtype=torch.float64) -> tuple:
    """Seeded couplings J (n-1,) and fields h (n,), uniform in [low, high) (CPU generator)."""
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
    gen = torch.Generator().manual_seed(seed)
    J = low + (high - low) * torch.rand(n - 1, generator=gen, dtype=torch.float64)
    h = low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)
    return J.to(dtype), h.to(dtype)


@dataclass
class DesignResult:
    """Outcome of ``design``: fitted parameters, final fidelity and gap, the
    per-iteration infidelity and max |gradient|, the L-BFGS stop reason."""

    J: torch.Tensor
    h: torch.Tensor
    fidelity: float
    initial_fidelity: float
    gap: float
    infidelity_history: list
    grad_history: list
    stop_reason: str


def design(
    target: torch.Tensor,
    J0: torch.Tensor,
    h0: torch.Tensor,
    lbfgs: LBFGSOptions = LBFGSOptions(max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-14),
) -> DesignResult:
    """Minimize 1 - |<target|g(J, h)>|^2 over (J, h) from (J0, h0) by L-BFGS.

    Parameters
    ----------
    target : torch.Tensor
        Normalized real state, shape (2^n,).
    J0, h0 : torch.Tensor
        Starting couplings (n-1,) and fields (n,).
    lbfgs : LBFGSOptions
        Stopping rules.

    Returns
    -------
    DesignResult
    """
    n = _check(J0, h0)
    if target.shape != (2**n,):
        raise ValueError(f"target must have shape ({2**n},) for {n} sites, got {tuple(target.shape)}")
    norm = float(torch.linalg.norm(target))
    if abs(norm - 1) > 1e-10:
        raise ValueError(f"target must be normalized, got norm {norm}")

    def loss(x):
        _, state, _ = ground_state(x[: n - 1], x[n - 1 :])
        return 1 - fidelity(state, target)

    x0 = torch.cat([J0, h0]).detach()
    start = 1 - float(loss(x0))
    history, grads = [], []

    def record(iteration, x, value, grad_max, snapshot):
        history.append(value)
        grads.append(grad_max)

    x, stop = minimize(loss, x0, lbfgs, progress=False, callback=record)
    J, h = x[: n - 1], x[n - 1 :]
    _, state, gap = ground_state(J, h)
    F = float(fidelity(state, target))
    log.info("design n=%d: fidelity %.12f -> %.12f after %d iterations (%s)", n, start, F, len(history), stop)
    return DesignResult(J=J, h=h, fidelity=F, initial_fidelity=start, gap=gap, infidelity_history=history,
                        grad_history=grads, stop_reason=stop)  # fmt: skip

"""Transverse-field Ising chain: dense Hamiltonian, exact diagonalization, free fermions.

Open chain of n spins 1/2 (Pauli matrices, basis |0>, |1> with Z|0> = |0>;
site 0 is the most significant bit of the basis index)::

    H(J, h) = - sum_{i=0}^{n-2} J_i Z_i Z_{i+1} - sum_{i=0}^{n-1} h_i X_i ,

real symmetric, 2^n x 2^n, built densely (n <= 12).  Its ground state comes
from ``difftn.linalg.eigh``, whose backward gives d|g>/dH through
1/(E_k - E_0); with h_i != 0 the ground state is non-degenerate.

Exact reference (Lieb, Schultz & Mattis, Ann. Phys. 16, 407 (1961);
Pfeuty, Ann. Phys. 57, 79 (1970)): by the Jordan-Wigner transformation the
chain is free fermions with single-particle energies 2 Lambda_k, where Lambda_k
are the singular values of the n x n upper bidiagonal matrix B with
B_ii = h_i and B_{i,i+1} = J_i, and E_0 = -sum_k Lambda_k
(``free_fermion_ground_energy``).
"""

import math

import torch

from ..linalg import eigh, svd

__all__ = ["MAX_SITES", "tfim_hamiltonian", "ground_state", "free_fermion_ground_energy", "random_parameters",
           "check_parameters"]  # fmt: skip

#: Largest chain for dense exact diagonalization (4096 x 4096).
MAX_SITES = 12


def check_parameters(J: torch.Tensor, h: torch.Tensor) -> int:
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
    n = check_parameters(J, h)
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
    n = check_parameters(J, h)
    B = torch.diag(h) + (torch.diag(J, 1) if n > 1 else 0)
    return -svd(B)[1].sum()


def random_parameters(n: int, seed: int, low: float = 0.5, high: float = 1.5, dtype=torch.float64) -> tuple:
    """Seeded couplings J (n-1,) and fields h (n,), uniform in [low, high) (CPU generator)."""
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
    gen = torch.Generator().manual_seed(seed)
    J = low + (high - low) * torch.rand(n - 1, generator=gen, dtype=torch.float64)
    h = low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)
    return J.to(dtype), h.to(dtype)



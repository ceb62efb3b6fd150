"""Single-site, C4v-symmetric iPEPS for spin-1/2 models on the square lattice.

Ansatz (Liao et al., PRX 9, 031041 (2019), Sec. V): one real tensor
A[s, u, l, d, r] (physical s of dimension 2, virtual legs of dimension D)
on every site, symmetrized under the point group C4v of the virtual legs.
The double-layer tensor

    T[(u u'), (l l'), (d d'), (r r')] = sum_s A[s, u, l, d, r] A[s, u', l', d', r']

(bond dimension D^2) is the bulk tensor of the norm network, whose C4v CTMRG
environment (C, E) gives the two-site reduced density matrix of a bond::

    C -- E -- E -- C
    |    |    |    |
    E -- A1 = A2 - E        rho[s1, s2, s1', s2']
    |    |    |    |
    C -- E -- E -- C

It is contracted as two mirror-image halves, ket and bra layers one at a time
(largest intermediate chi^2 D^4 x 4).  Energy per site = 2 <h_bond> (two bonds
per site); staggered magnetization m = |<S>| on one site.
"""

import torch

from .ctmrg import CTMRGOptions, ctmrg
from .models.heisenberg import spin_operators

__all__ = [
    "symmetrize",
    "prepare",
    "double_layer",
    "identity_boundary",
    "two_site_rdm",
    "bond_energy",
    "magnetization",
    "evaluate",
]


def symmetrize(A: torch.Tensor) -> torch.Tensor:
    """Average of A[s, u, l, d, r] over the 8 elements of C4v acting on (u, l, d, r)."""
    if A.dim() != 5 or len(set(A.shape[1:])) != 1:
        raise ValueError(f"iPEPS tensor must be A[s,u,l,d,r] with equal virtual legs, got {tuple(A.shape)}")
    images = []
    for k in range(4):
        rotation = [(i + k) % 4 for i in range(4)]
        reflection = [(k - i) % 4 for i in range(4)]
        for perm in (rotation, reflection):
            images.append(A.permute(0, *[1 + p for p in perm]))
    return torch.stack(images).mean(0)


def double_layer(A: torch.Tensor) -> torch.Tensor:
    """Norm tensor T[u, l, d, r] of bond dimension D^2 (ket index first in each pair)."""
    D = A.shape[1]
    T = torch.einsum("sabcd,sefgh->aebfcgdh", A, A)
    return T.reshape(D * D, D * D, D * D, D * D)


def identity_boundary(D: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Boundary vector closing ket and bra legs on each other (flattened identity)."""
    return torch.eye(D, dtype=dtype, device=device).reshape(D * D)


def _half(C, E, A):
    """Left half H[x, s, rk, s', rb, y] of the two-site network (see module docstring)."""
    chi, D = C.shape[0], A.shape[1]
    U = torch.einsum("ab,btx->atx", C, E)
    U = torch.einsum("ale,atx->etxl", E, U).reshape(chi, D, D, chi, D, D)  # [e, tk, tb, x, lk, lb]
    K = torch.einsum("eTtxLl,sTLgr->etxlsgr", U, A)  # ket layer
    B = torch.einsum("etxlsgr,StlGR->exsgrSGR", K, A)  # bra layer
    Dn = torch.einsum("eh,hgy->egy", C, E).reshape(chi, D, D, chi)  # [e, gk, gb, y]
    return torch.einsum("exsgrSGR,egGy->xsrSRy", B, Dn)


def two_site_rdm(C, E, A) -> torch.Tensor:
    """Normalized two-site density matrix rho[s1, s2, s1', s2'] of a bond."""
    H = _half(C, E, A)
    rho = torch.einsum("xsrSRy,xtrTRy->stST", H, H)
    return rho / torch.einsum("stst->", rho)


def bond_energy(rho, h) -> torch.Tensor:
    """<h> for rho[s1, s2, s1', s2'] and h[s1', s2', s1, s2] (real symmetric)."""
    return torch.einsum("stST,STst->", rho, h)


def magnetization(rho) -> torch.Tensor:
    """|<S>| on one site of the bond: sqrt(<Sx>^2 + <Sy>^2 + <Sz>^2)."""
    rho1 = torch.einsum("stSt->sS", rho)
    rho1 = rho1 / torch.trace(rho1)
    ops = spin_operators(dtype=torch.complex128, device=rho.device)
    values = [torch.einsum("sS,Ss->", rho1.to(torch.complex128), op).real for op in ops]
    return torch.sqrt(sum(v * v for v in values))


def prepare(A: torch.Tensor) -> torch.Tensor:
    """The tensor actually used: A symmetrized under C4v and scaled to max |A| = 1.

    The state does not depend on the scale; fixing it keeps the norm network O(1).
    """
    As = symmetrize(A)
    return As / As.abs().max()


def evaluate(A, h, options: CTMRGOptions, env=None):
    """Energy per site and magnetization of the symmetrized A, with its environment.

    Parameters
    ----------
    A : torch.Tensor
        Raw tensor A[s, u, l, d, r] (symmetrized here; may require grad).
    h : torch.Tensor
        Bond Hamiltonian h[s1, s2, s1', s2'] in the frame of the ansatz.
    options : CTMRGOptions
    env : (C, E), optional
        Starting environment.

    Returns
    -------
    energy, magnetization : torch.Tensor
    env : (C, E), detached converged environment
    info : CTMRGInfo
    """
    As = prepare(A)
    T = double_layer(As)
    boundary = identity_boundary(A.shape[1], A.dtype, A.device) if env is None else None
    C, E, info = ctmrg(T, options, env=env, boundary=boundary)
    rho = two_site_rdm(C, E, As)
    energy = 2 * bond_energy(rho, h)
    return energy, magnetization(rho.detach()), (C.detach(), E.detach()), info

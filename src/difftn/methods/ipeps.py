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
(largest intermediate chi^2 D^4 x 4).

The default estimator (``estimator="plaquette"``) embeds the bond in a 2x2
plaquette instead: four corners, eight edges, four sites, the two lower ones
closed (double layer), as in the published C4v iPEPS energies (Hasik,
Poilblanc, Becca, SciPost Phys. 10, 012 (2021))::

    C -- E -- E -- C
    |    |    |    |
    E -- A1 = A2 - E        each quadrant C E E (site) is the enlarged corner
    |    |    |    |        of one CTMRG step, a symmetric (chi D^2) matrix:
    E -- T -- T -- E        rho[s1, s2, s1', s2'] ~ Tr(Q[s1 s1'] Q[s2 s2'] C'^2)
    |    |    |    |
    C -- E -- E -- C

Both estimators converge to the same chi -> infinity value; the plaquette is
closer at finite chi.  Its density matrix needs four (chi D^2)^2 matrices
(the CTMRG step holds one); its energy (``plaquette_energy``, what
``evaluate`` differentiates) closes the physical pair of one quadrant at a
time and needs two.  Energy per site = 2 <h_bond> (two bonds per
site); staggered magnetization m = |<S>| on one site.

The same four quadrants give the density matrix of a diagonal of the
plaquette (``diagonal_rdm``: sites (0,0) and (1,1) open, the other two
closed), going around the plaquette:

    rho_diag[s1, s4, s1', s4'] ~ Tr(Q[s1 s1'] C' Q[s4 s4'] C'),

again no object larger than four (chi D^2)^2 matrices.  It serves the J1-J2
model (``evaluate(..., J2=...)``):

    H = J1 sum_<ij> S_i.S_j + J2 sum_<<ij>> S_i.S_j      (J1 = 1).

In the sublattice-rotated frame of the ansatz (spins of sublattice B rotated
by pi about y: Sx -> -Sx, Sy -> Sy, Sz -> -Sz; see models.heisenberg) a
nearest-neighbour pair has one rotated spin, so its term is
-SxSx + SySy - SzSz (``bond_hamiltonian(rotated=True)``).  A next-nearest
pair (a diagonal) sits on one sublattice: both spins are rotated or neither,
and the same rotation R of both leaves the dot product unchanged,
(R S_i).(R S_j) = S_i.S_j, so its term is the plain +SxSx + SySy + SzSz
(``bond_hamiltonian(rotated=False)``).  Per site (two bonds and two
diagonals in the single-site C4v ansatz):

    E = 2 J1 <h_bond> + 2 J2 <S.S>_diag.

Check: the Neel product state gives -1/2 + J2/2 (bond -1/4, diagonal +1/4).
"""

import torch
from torch.utils.checkpoint import checkpoint

from ..contract.ctmrg import CTMRGOptions, ctmrg, register_layers
from ..models.heisenberg import bond_hamiltonian, spin_operators

__all__ = [
    "symmetrize",
    "prepare",
    "double_layer",
    "identity_boundary",
    "ESTIMATORS",
    "two_site_rdm",
    "plaquette_rdm",
    "plaquette_energy",
    "diagonal_rdm",
    "plaquette_rdms",
    "bond_rdm",
    "bond_energy",
    "magnetization",
    "site_magnetization",
    "evaluate",
]


#: Two-site density-matrix estimators (see module docstring).
ESTIMATORS = ("plaquette", "bond")


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
    T = torch.einsum("sabcd,sefgh->aebfcgdh", A, A).reshape(D * D, D * D, D * D, D * D)
    register_layers(T, A)  # graph-free CTMRG steps contract ket and bra of A separately
    return T


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


def _open_quadrant(C, E, A):
    """Enlarged corner with an open physical pair: Q[s, s', (e, d), (c, r)] (symmetric in the last two).

    Same contraction as ``ctmrg.enlarged_corner`` with the ket layer A[s] and
    the bra layer A[s'] absorbed one after the other (4 chi^2 D^6 operations,
    no D^8 double layer); summing s = s' gives the enlarged corner.
    """
    chi, D = C.shape[0], A.shape[1]
    d = D * D
    K = _ket_quadrant(C, E, A)
    Q = torch.einsum("eltcsDR,Stldr->sSeDdcRr", K, A).reshape(2, 2, chi * d, chi * d)  # bra layer
    return 0.5 * (Q + Q.mT)


def _ket_quadrant(C, E, A):
    """K[e, l bra, t bra, c, s, D ket, R ket]: the quadrant C E E with the ket layer A[s] absorbed."""
    chi, D = C.shape[0], A.shape[1]
    X = torch.einsum("ab,btc->atc", C, E)
    Y = torch.einsum("ale,atc->eltc", E, X).reshape(chi, D, D, D, D, chi)  # [e, l ket, l bra, t ket, t bra, c]
    return torch.einsum("eLlTtc,sTLDR->eltcsDR", Y, A)  # ket layer


def _closed_quadrant(K, A, u):
    """sum_{s, s'} u[s, s'] Q[s, s']: the quadrant with its physical pair closed by u (u = 1: C')."""
    chi, D = K.shape[0], A.shape[1]
    B = torch.einsum("sS,Stldr->stldr", u, A)  # the bra layer weighted by u
    Q = torch.einsum("eltcsDR,stldr->eDdcRr", K, B).reshape(chi * D * D, chi * D * D)
    return 0.5 * (Q + Q.mT)


def _closed_term(K, A, u, corner):
    """|Q_u C'|_F^2 = Tr(Q_u Q_u C'^2) for the quadrant closed by u (Q_u, C' symmetric)."""
    return torch.linalg.matrix_norm(_closed_quadrant(K, A, u) @ corner) ** 2


def _closed_quadrant_from_env(C, E, A, u):
    return _closed_quadrant(_ket_quadrant(C, E, A), A, u)


def _closed_term_from_env(C, E, A, u, corner):
    return _closed_term(_ket_quadrant(C, E, A), A, u, corner)


#: ``plaquette_energy`` with checkpointed terms keeps the ket quadrant K
#: (d (chi D^2)^2 numbers) for all its terms up to this size and recomputes it
#: in each term above (a shape decision; the gradients differ by the order of summation,
#: 2e-13).  Measured at D = 5, chi = 100 (K: 95 MiB): kept, the backward
#: peaks at 13 matrices of (chi D^2)^2 numbers; recomputed, at 11.4, and the
#: forward takes about twice as long.  At D = 7, chi = 160, K is 0.9 GiB.
PLAQUETTE_KEEP_KET_BYTES = 2**28

#: ... and checkpoints its terms only where one (chi D^2)^2 matrix is larger
#: than this; below, the few matrices each term's graph keeps cost little and
#: the backward does not recompute the terms.  Measured at D = 4, chi = 64
#: (8 MiB matrices), one thread: backward 0.73-0.81 s instead of 1.46 s.
PLAQUETTE_CHECKPOINT_BYTES = 2**24


def plaquette_energy(C, E, A, h) -> torch.Tensor:
    """<h> on a bond of the 2x2 plaquette: ``bond_energy(plaquette_rdm(C, E, A), h)`` in less memory.

    With M[(s1 s1'), (s2 s2')] = h[s1', s2', s1, s2], and T = Tr(Q_i Q_j C'^2)
    symmetric in the pairs i, j (Q_i and C' are symmetric matrices),
    sum_ij M_ij T_ij = sum_k lambda_k |Q_k C'|_F^2 over the eigenpairs
    (lambda_k, u_k) of the symmetric part of M, where Q_k = sum_i u_k[i] Q_i
    is one quadrant whose physical pair is closed by u_k; the norm is
    |C'^2|_F^2.  So no more than one open-pair quadrant exists at a time
    instead of four; a term whose lambda_k vanishes (Heisenberg: the identity
    closure) is skipped.  With a graph and matrices above
    ``PLAQUETTE_CHECKPOINT_BYTES`` each term is checkpointed (recomputed in
    the backward), and above ``PLAQUETTE_KEEP_KET_BYTES`` its ket layer too,
    so that nothing large is kept between terms.  Measured at D = 5,
    chi = 100 (one thread): the energy and its gradient peak at 13 (ket layer
    kept) or 11.4 (recomputed) (chi D^2)^2 matrices above the inputs instead of
    25; at D = 7, chi = 160 (0.46 GiB each) at 5.2 GiB for the whole process.
    Values equal the four-quadrant route's to ~1e-13 relative (summation order).
    ``h`` is a constant (no derivative in h).
    """
    d = A.shape[0]
    M = h.detach().permute(2, 0, 3, 1).reshape(d * d, d * d)
    lam, U = torch.linalg.eigh(0.5 * (M + M.mT))
    eye = torch.eye(d, dtype=A.dtype, device=A.device)
    chi, D = C.shape[0], A.shape[1]
    graph = torch.is_grad_enabled() and any(x.requires_grad for x in (C, E, A))
    checkpointed = graph and (chi * D * D) ** 2 * A.element_size() > PLAQUETTE_CHECKPOINT_BYTES

    def run(fn, *args):
        return checkpoint(fn, *args, use_reentrant=False) if checkpointed else fn(*args)

    # A vanishing lambda_k (exactly 0 for Heisenberg, up to eigh's rounding) adds nothing: its term is skipped.
    wanted = [k for k in range(d * d) if abs(float(lam[k])) > 1e-12 * float(lam.abs().max())]
    lam, closers = lam[wanted], [U[:, k].reshape(d, d) for k in wanted]
    if checkpointed and d * (chi * D * D) ** 2 * A.element_size() > PLAQUETTE_KEEP_KET_BYTES:
        # each term from C, E, A alone: its ket quadrant is recomputed, nothing large is kept between terms
        corner = run(_closed_quadrant_from_env, C, E, A, eye)
        terms = [run(_closed_term_from_env, C, E, A, u, corner) for u in closers]
    else:  # the ket quadrant computed once (and kept); checkpointed, each term's bra layer is recomputed
        K = _ket_quadrant(C, E, A)
        corner = run(_closed_quadrant, K, A, eye)
        terms = [run(_closed_term, K, A, u, corner) for u in closers]
    norm = torch.linalg.matrix_norm(corner @ corner) ** 2
    return sum(lam_k * term for lam_k, term in zip(lam, terms)) / norm


def plaquette_rdm(C, E, A) -> torch.Tensor:
    """Normalized two-site density matrix rho[s1, s2, s1', s2'] of a bond in the 2x2 plaquette."""
    Q = _open_quadrant(C, E, A)
    corner = Q[0, 0] + Q[1, 1]  # the enlarged corner C'
    lower = corner @ corner  # the two closed quadrants
    G = torch.matmul(Q, lower)  # [s2, s2', m, x]
    rho = torch.einsum("aAxm,bBmx->abAB", Q, G)
    return rho / torch.einsum("stst->", rho)


def _quadrant_products(C, E, A):
    """P[s, s'] = Q[s, s'] C' for the four physical pairs (symmetric Q and C', see module docstring)."""
    Q = _open_quadrant(C, E, A)
    corner = Q[0, 0] + Q[1, 1]  # the enlarged corner C'
    return torch.matmul(Q, corner)


def _diagonal(P):
    """rho[s1, s4, s1', s4'] = Tr(Q[s1 s1'] C' Q[s4 s4'] C') / norm: sites (0,0) and (1,1) of the plaquette."""
    rho = torch.einsum("aAxm,bBmx->abAB", P, P)
    return rho / torch.einsum("stst->", rho)


def diagonal_rdm(C, E, A) -> torch.Tensor:
    """Normalized density matrix rho[s1, s2, s1', s2'] of a diagonal (next-nearest pair) of the 2x2 plaquette."""
    return _diagonal(_quadrant_products(C, E, A))


def plaquette_rdms(C, E, A):
    """(bond, diagonal) density matrices of the 2x2 plaquette from one set of quadrants.

    The bond is Tr(Q_a Q_b C'^2) = Tr((Q_a C')^T (Q_b C')) with the products
    of ``diagonal_rdm``: the same value as ``plaquette_rdm`` (to rounding)
    at no extra matrix product.
    """
    P = _quadrant_products(C, E, A)
    bond = torch.einsum("aAmx,bBmx->abAB", P, P)
    return bond / torch.einsum("stst->", bond), _diagonal(P)


def bond_rdm(C, E, A, estimator: str = "plaquette") -> torch.Tensor:
    """Two-site density matrix by ``estimator`` ("plaquette": 2x2, "bond": 2x1 patch)."""
    if estimator == "plaquette":
        return plaquette_rdm(C, E, A)
    if estimator == "bond":
        return two_site_rdm(C, E, A)
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


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


def evaluate(A, h, options: CTMRGOptions, env=None, estimator: str = "plaquette", J2: float = 0.0):
    """Energy per site and magnetization of the symmetrized A, with its environment.

    E = 2 <h>_bond + 2 J2 <S.S>_diagonal (J1 = 1; see the module docstring
    for the frames).  With J2 = 0 the diagonal is not computed, and the
    result is that of the Heisenberg model bit for bit.

    Parameters
    ----------
    A : torch.Tensor
        Raw tensor A[s, u, l, d, r] (symmetrized here; may require grad).
    h : torch.Tensor
        Bond Hamiltonian h[s1, s2, s1', s2'] in the frame of the ansatz.
    options : CTMRGOptions
    env : (C, E), optional
        Starting environment.
    estimator : str
        Bond density matrix from the 2x2 "plaquette" (default) or the 2x1 "bond" patch.
    J2 : float
        Next-nearest-neighbour coupling J2/J1 (its term is the plain S.S in the
        rotated frame); nonzero J2 needs the plaquette estimator.

    Returns
    -------
    energy, magnetization : torch.Tensor
    env : (C, E), detached converged environment
    info : CTMRGInfo
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if J2 != 0 and estimator != "plaquette":
        raise ValueError(f"J2 = {J2} needs the plaquette estimator (the diagonal lives in the 2x2 plaquette), "
                         f"got {estimator!r}")  # fmt: skip
    As = prepare(A)
    T = double_layer(As)
    boundary = identity_boundary(A.shape[1], A.dtype, A.device)  # the fresh start, also where env is given
    C, E, info = ctmrg(T, options, env=env, boundary=boundary)
    if J2 == 0:
        if estimator == "plaquette":
            energy = 2 * plaquette_energy(C, E, As, h)
        else:
            energy = 2 * bond_energy(bond_rdm(C, E, As, estimator), h)
    else:
        rho, rho_diag = plaquette_rdms(C, E, As)
        h_diag = bond_hamiltonian(rotated=False, dtype=h.dtype, device=h.device)
        energy = 2 * bond_energy(rho, h) + 2 * J2 * bond_energy(rho_diag, h_diag)
    with torch.no_grad():
        mag = site_magnetization(C, E, As)
    return energy, mag, (C.detach(), E.detach()), info


def site_magnetization(C, E, A) -> torch.Tensor:
    """|<S>| from the one-site density matrix (the marginal of the 2x1 bond's, equal to the 3x3 patch's).

    Independent of the energy estimator, as in the published values (measured:
    the 2x1 marginal and the 3x3 single-site patch agree to 1e-10 at D=3, chi=27,
    and the plaquette's marginal differs from them by 7e-6).
    """
    return magnetization(two_site_rdm(C, E, A))

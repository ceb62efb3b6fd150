"""Spin-1/2 antiferromagnetic Heisenberg model on the square lattice, J = 1.

    H = sum_<ij> S_i . S_j

The lattice is bipartite; rotating every spin of sublattice B by pi about the
y axis (Sx -> -Sx, Sy -> Sy, Sz -> -Sz) maps H to

    H = sum_<ij> (-Sx_i Sx_j + Sy_i Sy_j - Sz_i Sz_j),

a real matrix whose Neel state is translation invariant, so a single-site
iPEPS can describe it (Liao et al., PRX 9, 031041 (2019), Sec. V).  The
spectrum is unchanged.  ``exact_ground_energy`` diagonalizes small periodic
clusters, in either frame, as a test oracle.
"""

import itertools

import numpy as np
import torch

__all__ = ["spin_operators", "bond_hamiltonian", "cluster_hamiltonian", "exact_ground_energy"]


def spin_operators(dtype=torch.complex128, device="cpu"):
    """Spin-1/2 matrices (Sx, Sy, Sz) in the basis (up, down)."""
    sx = torch.tensor([[0, 1], [1, 0]], dtype=dtype, device=device) / 2
    sy = torch.tensor([[0, -1j], [1j, 0]], dtype=dtype, device=device) / 2
    sz = torch.tensor([[1, 0], [0, -1]], dtype=dtype, device=device) / 2
    return sx, sy, sz


def bond_hamiltonian(rotated: bool = True, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Two-site term h[s1, s2, s1', s2'] = <s1 s2| S_1 . S_2 |s1' s2'> (real).

    Parameters
    ----------
    rotated : bool
        True: the sublattice-rotated form -SxSx + SySy - SzSz (for a
        single-site ansatz); False: the plain S.S.
    """
    sx, sy, sz = spin_operators()
    signs = (-1, 1, -1) if rotated else (1, 1, 1)
    h = sum(c * torch.kron(s, s) for c, s in zip(signs, (sx, sy, sz)))
    assert torch.allclose(h.imag, torch.zeros_like(h.imag))  # Sy x Sy is real
    return h.real.to(dtype=dtype, device=device).reshape(2, 2, 2, 2)


def cluster_hamiltonian(lx: int, ly: int, rotated: bool = False):
    """Sparse Hamiltonian (scipy CSR) of an lx x ly periodic cluster, lx, ly even >= 2.

    Basis states are integers whose bit (n - 1 - i) is 1 when spin i is down.
    Each nearest-neighbour bond is summed once (on a 2-wide torus the two bonds
    between the same pair of sites both count).
    """
    from scipy import sparse

    if lx < 2 or ly < 2 or lx % 2 or ly % 2:
        raise ValueError(f"cluster sides must be even and >= 2, got {lx} x {ly}")
    n = lx * ly
    if n > 20:
        raise ValueError(f"{n} spins is too many for exact diagonalization here")
    h2 = bond_hamiltonian(rotated).reshape(4, 4).numpy()
    states = np.arange(2**n)
    rows, cols, vals = [], [], []
    for x, y in itertools.product(range(lx), range(ly)):
        i = x * ly + y
        for j in (((x + 1) % lx) * ly + y, x * ly + (y + 1) % ly):
            bi, bj = n - 1 - i, n - 1 - j
            local_in = 2 * ((states >> bi) & 1) + ((states >> bj) & 1)
            cleared = states & ~((1 << bi) | (1 << bj))
            for local_out in range(4):
                amp = h2[local_out, local_in]
                keep = amp != 0
                out = cleared | ((local_out >> 1) << bi) | ((local_out & 1) << bj)
                rows.append(out[keep])
                cols.append(states[keep])
                vals.append(amp[keep])
    H = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(2**n, 2**n)
    )
    return H.tocsr()


def exact_ground_energy(lx: int, ly: int, rotated: bool = False) -> float:
    """Ground-state energy per site of the periodic lx x ly cluster (Lanczos, scipy)."""
    from scipy.sparse.linalg import eigsh

    H = cluster_hamiltonian(lx, ly, rotated)
    if H.shape[0] <= 64:
        return float(np.linalg.eigvalsh(H.toarray())[0]) / (lx * ly)
    return float(eigsh(H, k=1, which="SA", tol=1e-12)[0][0]) / (lx * ly)

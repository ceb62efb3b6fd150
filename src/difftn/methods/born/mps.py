"""Matrix product states as normalized probability models (the MPS Born machine).

Z.-Y. Han, J. Wang, H. Fan, L. Wang, P. Zhang, "Unsupervised Generative
Modeling Using Matrix Product States", Phys. Rev. X 8, 031012 (2018).

A configuration x = (x_0, ..., x_{n-1}), x_k in {0, ..., d-1}, has the
amplitude and probability (Born's rule)::

    Psi(x) = A0[:, x_0, :] A1[:, x_1, :] ... A{n-1}[:, x_{n-1}, :]     (a 1x1 product)
    p(x)   = Psi(x)^2 / Z,    Z = sum_x Psi(x)^2

Index order of a site tensor: ``A[k][left, physical, right]`` with shape
(D_k, d, D_{k+1}) and open ends D_0 = D_n = 1::

        D_k  --A[k]--  D_{k+1}
                |
                x_k

Canonical form with orthogonality center c: every tensor left of c is
left-orthonormal (sum_{a,s} A[a,s,b] A[a,s,b'] = delta_bb'), every tensor
right of c right-orthonormal (sum_{s,b} A[a,s,b] A[a',s,b] = delta_aa'); then
Z = ||A[c]||^2, and ``canonicalize`` scales A[c] so that Z = 1.

All contractions rescale their running vectors/matrices and carry the log of
the scale, so log Z and log|Psi| stay finite for hundreds of sites.  Every
function here is differentiable by autograd in its tensors (used for the
plain-gradient training); ``canonicalize`` uses QR and is not meant to be
differentiated.
"""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "MPS",
    "random_mps",
    "canonicalize",
    "log_partition",
    "log_amplitude",
    "log_prob",
    "nll",
    "to_flat",
    "from_flat",
]


@dataclass
class MPS:
    """A list of site tensors ``A[k][left, physical, right]`` and its orthogonality center.

    Attributes
    ----------
    tensors : list of torch.Tensor
        Site tensors, shapes (D_k, d, D_{k+1}) with D_0 = D_n = 1.
    center : int or None
        Orthogonality center if the MPS is in canonical form with Z = 1
        (see module docstring); ``None`` if not known to be canonical.
    """

    tensors: list
    center: int | None = None

    def __post_init__(self):
        _check_tensors(self.tensors)
        if self.center is not None and not 0 <= self.center < len(self.tensors):
            raise ValueError(f"center must be in [0, {len(self.tensors) - 1}], got {self.center}")

    @property
    def n_sites(self) -> int:
        return len(self.tensors)

    @property
    def phys_dim(self) -> int:
        return self.tensors[0].shape[1]

    @property
    def bond_dimensions(self) -> list[int]:
        """[D_0, D_1, ..., D_n] (n + 1 entries, D_0 = D_n = 1)."""
        return [self.tensors[0].shape[0]] + [A.shape[2] for A in self.tensors]

    def copy(self) -> "MPS":
        return MPS([A.detach().clone() for A in self.tensors], self.center)


def _check_tensors(tensors) -> None:
    if len(tensors) < 1:
        raise ValueError("an MPS needs at least one site tensor")
    d = tensors[0].shape[1] if tensors[0].dim() == 3 else None
    for k, A in enumerate(tensors):
        if A.dim() != 3 or A.shape[1] != d:
            raise ValueError(f"site tensor {k}: expected shape (D_left, {d}, D_right), got {tuple(A.shape)}")
        if k > 0 and tensors[k - 1].shape[2] != A.shape[0]:
            raise ValueError(f"bond {k}: right dimension {tensors[k - 1].shape[2]} of site {k - 1} != left {A.shape[0]}")
    if tensors[0].shape[0] != 1 or tensors[-1].shape[2] != 1:
        raise ValueError("open boundary: the first left and the last right bond must have dimension 1")


def random_mps(
    n_sites: int,
    bond_dim: int,
    *,
    phys_dim: int = 2,
    seed: int = 0,
    positive: bool = True,
    dtype=torch.float64,
    device="cpu",
) -> MPS:
    """Random MPS of n sites, bonds min(bond_dim, d^k, d^(n-k)), in canonical form (center 0).

    Parameters
    ----------
    n_sites, bond_dim, phys_dim : int
        Number of sites (>= 1), largest bond dimension (>= 1), values per site (>= 2).
    seed : int
        Seed of a CPU generator (the same tensors on any device).
    positive : bool
        Entries uniform in [0, 1) (then Psi(x) > 0 for every x, so no training
        configuration starts at zero probability); else uniform in [-1, 1).
    """
    if n_sites < 1:
        raise ValueError(f"n_sites must be >= 1, got {n_sites}")
    if bond_dim < 1:
        raise ValueError(f"bond_dim must be >= 1, got {bond_dim}")
    if phys_dim < 2:
        raise ValueError(f"phys_dim must be >= 2, got {phys_dim}")
    gen = torch.Generator().manual_seed(seed)
    # Bonds larger than the Hilbert space on either side would be redundant.
    bonds = [min(bond_dim, phys_dim ** min(k, n_sites - k)) for k in range(n_sites + 1)]
    tensors = []
    for k in range(n_sites):
        shape = (bonds[k], phys_dim, bonds[k + 1])
        A = torch.rand(shape, generator=gen, dtype=torch.float64)
        tensors.append((A if positive else 2 * A - 1).to(dtype=dtype, device=device))
    return canonicalize(MPS(tensors), 0)


def canonicalize(mps: MPS, center: int = 0) -> MPS:
    """Canonical form with orthogonality center ``center`` and Z = 1 (QR sweeps from both ends).

    Psi(x) is unchanged up to the positive factor 1/sqrt(Z).  Returns a new MPS.
    """
    n = mps.n_sites
    if not 0 <= center < n:
        raise ValueError(f"center must be in [0, {n - 1}], got {center}")
    A = [t.detach().clone() for t in mps.tensors]
    for k in range(center):  # left-orthonormalize sites 0..center-1
        Dl, d, Dr = A[k].shape
        Q, R = torch.linalg.qr(A[k].reshape(Dl * d, Dr))
        A[k] = Q.reshape(Dl, d, Q.shape[1])
        A[k + 1] = torch.einsum("ab,bsc->asc", R / R.norm(), A[k + 1])  # rescaled: no overflow
    for k in range(n - 1, center, -1):  # right-orthonormalize sites n-1..center+1
        Dl, d, Dr = A[k].shape
        Q, R = torch.linalg.qr(A[k].reshape(Dl, d * Dr).T)
        A[k] = Q.T.reshape(Q.shape[1], d, Dr)
        A[k - 1] = torch.einsum("asb,cb->asc", A[k - 1], R / R.norm())
    norm = A[center].norm()
    if not torch.isfinite(norm) or norm == 0:
        raise FloatingPointError(f"canonicalize: norm of the center tensor is {float(norm)}")
    A[center] = A[center] / norm
    return MPS(A, center)


def log_partition(tensors) -> torch.Tensor:
    """log Z = log sum_x Psi(x)^2 by the transfer-matrix contraction, O(n d D^3)."""
    E = tensors[0].new_ones(1, 1)
    log_scale = tensors[0].new_zeros(())
    for A in tensors:
        E = torch.einsum("ab,asc,bsd->cd", E, A, A)
        s = E.abs().max()
        log_scale = log_scale + torch.log(s)
        E = E / s
    return log_scale + torch.log(E[0, 0])


def _check_data(x: torch.Tensor, n_sites: int, phys_dim: int) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() != 2 or x.shape[1] != n_sites:
        raise ValueError(f"x must have shape (N, {n_sites}), got {tuple(x.shape)}")
    if x.is_floating_point() or x.is_complex():
        raise ValueError("x must hold integer configuration values")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= phys_dim):
        raise ValueError(f"x values must be in [0, {phys_dim - 1}]")
    return x.long()


def log_amplitude(tensors, x) -> torch.Tensor:
    """log|Psi(x)| for a batch x of shape (N, n); returns shape (N,).

    Left-to-right contraction: one (N, D) x (D, d D) product per site, then
    the slice of each sample's value; the running vectors are normalized.
    """
    x = _check_data(x, len(tensors), tensors[0].shape[1]).to(tensors[0].device)
    N = x.shape[0]
    v = tensors[0].new_ones(N, 1)
    log_scale = tensors[0].new_zeros(N)
    rows = torch.arange(N, device=x.device)
    for k, A in enumerate(tensors):
        Dl, d, Dr = A.shape
        w = (v @ A.reshape(Dl, d * Dr)).reshape(N, d, Dr)[rows, x[:, k]]
        s = w.norm(dim=1)
        log_scale = log_scale + torch.log(s)  # -inf where Psi(x) = 0 exactly
        v = w / torch.where(s > 0, s, torch.ones_like(s))[:, None]
    return log_scale + torch.log(v[:, 0].abs())


def log_prob(tensors, x) -> torch.Tensor:
    """log p(x) = 2 log|Psi(x)| - log Z for a batch x of shape (N, n); shape (N,)."""
    return 2 * log_amplitude(tensors, x) - log_partition(tensors)


def nll(tensors, x) -> torch.Tensor:
    """Negative log-likelihood -1/N sum_x log p(x) (in nats)."""
    return -log_prob(tensors, x).mean()


def to_flat(mps: MPS) -> tuple[np.ndarray, np.ndarray]:
    """Storage layout: all tensors raveled (C order) and concatenated, plus the bond dimensions.

    Site k has shape (D_k, d, D_{k+1}) with D = ``bonds``; the flat data holds
    the sites in order.  Inverse: ``from_flat``.
    """
    data = np.concatenate([A.detach().cpu().numpy().ravel() for A in mps.tensors])
    return data, np.asarray(mps.bond_dimensions, dtype=np.int64)


def from_flat(data, bonds, phys_dim: int = 2, center: int | None = None, dtype=torch.float64, device="cpu") -> MPS:
    """Rebuild an MPS from ``to_flat``'s (data, bonds)."""
    data = np.asarray(data)
    bonds = [int(b) for b in bonds]
    sizes = [bonds[k] * phys_dim * bonds[k + 1] for k in range(len(bonds) - 1)]
    if sum(sizes) != data.size:
        raise ValueError(f"flat MPS data has {data.size} entries, bond dimensions {bonds} need {sum(sizes)}")
    offsets = np.cumsum([0] + sizes)
    tensors = [
        torch.as_tensor(data[offsets[k] : offsets[k + 1]].reshape(bonds[k], phys_dim, bonds[k + 1])).to(
            dtype=dtype, device=device
        )
        for k in range(len(sizes))
    ]
    return MPS(tensors, center)

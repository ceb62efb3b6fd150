"""Ising spin glass on an open rows x cols square lattice, with exact references.

Model (Edwards-Anderson type, couplings and fields absorbed into beta)::

    Z(K, h) = sum_{s = +-1} exp( sum_<ij> K_ij s_i s_j + sum_i h_i s_i ),

nearest-neighbour bonds only, open boundaries.  Couplings are stored as two
arrays, row-major over sites (i, j) = (row, column)::

    kh[i, j]  couples (i, j) - (i, j+1),   shape (rows, cols - 1)
    kv[i, j]  couples (i, j) - (i+1, j),   shape (rows - 1, cols)
    h[i, j]   field on (i, j),             shape (rows, cols)

The flat bond order used everywhere (``bond_list``, ``SpinGlass.couplings``)
is all horizontal bonds row-major, then all vertical bonds row-major.
Spin index 0 means s = +1 and index 1 means s = -1.

Derivatives of ln Z are moments (the model is an exponential family):
d lnZ/d K_ij = <s_i s_j>, d lnZ/d h_i = <s_i>, and the second derivatives are
the connected correlations d2 lnZ/dK_ij dK_kl = <s_i s_j s_k s_l> -
<s_i s_j><s_k s_l> (the covariance of the sufficient statistics).

Exact references, both differentiable in K and h:

* ``enumerate_lnz`` / ``enumerate_moments``: brute force over all 2^N states
  (N = rows * cols <= 20); ``enumerate_moments`` sums moments explicitly,
  without AD, and is the oracle of the tests; ``sample_exact`` draws
  independent samples from the enumerated distribution.
* ``transfer_lnz``: row-to-row transfer matrix, a 2^cols vector carried down
  the rows, vertical bonds applied one column at a time (cost
  rows * cols * 2^cols; exact up to cols ~ 20).

Site tensors for contraction (``site_tensors``): the tensor at (i, j) is the
spin's copy tensor with the weights of its upper and left bonds absorbed,

    A[u, l, d, r] = sum_s exp(h s) exp(kv[i-1,j] s_u s) exp(kh[i,j-1] s_l s) delta(d,s) delta(r,s),

so u (l) carries the spin of the upper (left) neighbour and d, r carry s
itself.  Legs that leave the lattice have dimension 1 (no weight).  No square
root of a bond matrix is taken, so negative couplings need no complex numbers.
"""

from dataclasses import dataclass

import torch

__all__ = [
    "MAX_ENUMERATE_SPINS",
    "MAX_TRANSFER_COLS",
    "SpinGlass",
    "random_spin_glass",
    "bond_list",
    "site_tensors",
    "enumerate_lnz",
    "enumerate_moments",
    "transfer_lnz",
    "sample_exact",
    "bond_statistics",
]

#: Largest number of spins for brute-force enumeration (2^20 states).
MAX_ENUMERATE_SPINS = 20
#: Largest number of columns for the transfer matrix (a 2^cols vector).
MAX_TRANSFER_COLS = 20


@dataclass(frozen=True)
class SpinGlass:
    """Couplings and fields of an open rows x cols Ising model (see module doc).

    Attributes
    ----------
    kh : torch.Tensor
        Horizontal couplings, shape (rows, cols - 1).
    kv : torch.Tensor
        Vertical couplings, shape (rows - 1, cols).
    h : torch.Tensor
        Fields, shape (rows, cols) (zeros for none).
    """

    kh: torch.Tensor
    kv: torch.Tensor
    h: torch.Tensor

    def __post_init__(self):
        rows, cols = self.h.shape if self.h.dim() == 2 else (None, None)
        if rows is None or rows < 1 or cols < 1:
            raise ValueError(f"SpinGlass h must have shape (rows, cols) >= (1, 1), got {tuple(self.h.shape)}")
        if tuple(self.kh.shape) != (rows, cols - 1):
            raise ValueError(f"SpinGlass kh must have shape {(rows, cols - 1)}, got {tuple(self.kh.shape)}")
        if tuple(self.kv.shape) != (rows - 1, cols):
            raise ValueError(f"SpinGlass kv must have shape {(rows - 1, cols)}, got {tuple(self.kv.shape)}")

    @property
    def shape(self) -> tuple:
        """(rows, cols)."""
        return tuple(self.h.shape)

    @property
    def n_bonds(self) -> int:
        return self.kh.numel() + self.kv.numel()

    @property
    def couplings(self) -> torch.Tensor:
        """All couplings as one vector in the flat bond order (see ``bond_list``)."""
        return torch.cat([self.kh.reshape(-1), self.kv.reshape(-1)])

    @classmethod
    def from_vector(cls, couplings: torch.Tensor, shape: tuple, h: torch.Tensor | None = None) -> "SpinGlass":
        """Couplings in the flat bond order (and optional fields) -> SpinGlass."""
        rows, cols = shape
        nh = rows * (cols - 1)
        if couplings.shape != (nh + (rows - 1) * cols,):
            raise ValueError(
                f"couplings must be a vector of {nh + (rows - 1) * cols} bonds for shape {shape}, "
                f"got shape {tuple(couplings.shape)}"
            )
        if h is None:
            h = couplings.new_zeros(rows, cols)
        return cls(couplings[:nh].reshape(rows, cols - 1), couplings[nh:].reshape(rows - 1, cols), h)


def random_spin_glass(
    L: int,
    seed: int,
    *,
    coupling_std: float = 1.0,
    field_std: float = 0.0,
    cols: int | None = None,
    dtype=torch.float64,
    device="cpu",
) -> SpinGlass:
    """Gaussian couplings K_ij ~ N(0, coupling_std^2), fields ~ N(0, field_std^2).

    Drawn on the CPU from ``torch.Generator().manual_seed(seed)`` in the order
    kh, kv, h, so a seed gives the same instance on any device.

    Parameters
    ----------
    L : int
        Rows (>= 1); also columns unless ``cols`` is given.
    seed : int
        Seed of the instance (>= 0).
    coupling_std, field_std : float
        Standard deviations (>= 0; the temperature is absorbed in them).
    """
    cols = L if cols is None else cols
    if L < 1 or cols < 1:
        raise ValueError(f"lattice must be at least 1 x 1, got {L} x {cols}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if coupling_std < 0 or field_std < 0:
        raise ValueError(f"coupling_std and field_std must be >= 0, got {coupling_std}, {field_std}")
    gen = torch.Generator().manual_seed(seed)
    kh = coupling_std * torch.randn(L, cols - 1, generator=gen, dtype=torch.float64)
    kv = coupling_std * torch.randn(L - 1, cols, generator=gen, dtype=torch.float64)
    h = field_std * torch.randn(L, cols, generator=gen, dtype=torch.float64)
    to = dict(dtype=dtype, device=device)
    return SpinGlass(kh.to(**to), kv.to(**to), h.to(**to))


def bond_list(rows: int, cols: int) -> list:
    """Bonds ((i, j), (i', j')) in the flat order: horizontal row-major, then vertical."""
    horizontal = [((i, j), (i, j + 1)) for i in range(rows) for j in range(cols - 1)]
    vertical = [((i, j), (i + 1, j)) for i in range(rows - 1) for j in range(cols)]
    return horizontal + vertical


def _bond_weight(k: torch.Tensor) -> torch.Tensor:
    """exp(k s s') as a 2 x 2 matrix over spin indices (0: +1, 1: -1)."""
    sign = k.new_tensor([[1.0, -1.0], [-1.0, 1.0]])
    return torch.exp(k * sign)


def site_tensors(model: SpinGlass) -> list:
    """Site tensors A[i][j][u, l, d, r] of the network whose contraction is Z (module doc)."""
    rows, cols = model.shape
    ref = model.h
    one = ref.new_ones(1, 2)
    eye = torch.eye(2, dtype=ref.dtype, device=ref.device)
    spin = ref.new_tensor([1.0, -1.0])
    grid = []
    for i in range(rows):
        row = []
        for j in range(cols):
            up = _bond_weight(model.kv[i - 1, j]) if i > 0 else one
            left = _bond_weight(model.kh[i, j - 1]) if j > 0 else one
            down = eye if i < rows - 1 else one
            right = eye if j < cols - 1 else one
            field = torch.exp(model.h[i, j] * spin)
            # sum_s (f up left)[u, l, s] (down right)[d, r, s]; plain products,
            # not a 5-operand einsum, whose path search costs ~1 ms per call.
            ul = (field * up[:, None, :] * left[None, :, :]).reshape(-1, 2)
            dr = (down[:, None, :] * right[None, :, :]).reshape(-1, 2)
            row.append((ul @ dr.mT).reshape(up.shape[0], left.shape[0], down.shape[0], right.shape[0]))
        grid.append(row)
    return grid


def _all_states(n: int, dtype, device) -> torch.Tensor:
    """All 2^n spin configurations as +-1, shape (2^n, n); bit k of the index is spin k (1 -> -1)."""
    index = torch.arange(2**n, device=device)
    bits = (index[:, None] >> torch.arange(n, device=device)) & 1
    return (1 - 2 * bits).to(dtype)


def bond_statistics(states: torch.Tensor) -> tuple:
    """Per-configuration bond products and spins.

    Parameters
    ----------
    states : torch.Tensor
        Spins +-1, shape (..., rows, cols).

    Returns
    -------
    products : torch.Tensor
        s_i s_j of every bond in the flat order, shape (..., n_bonds).
    spins : torch.Tensor
        The spins flattened row-major, shape (..., rows * cols).
    """
    horizontal = (states[..., :, :-1] * states[..., :, 1:]).flatten(-2)
    vertical = (states[..., :-1, :] * states[..., 1:, :]).flatten(-2)
    return torch.cat([horizontal, vertical], -1), states.flatten(-2)


def _enumerated(model: SpinGlass):
    """All states (2^N, rows, cols) and their log-weights (differentiable)."""
    rows, cols = model.shape
    if rows * cols > MAX_ENUMERATE_SPINS:
        raise ValueError(
            f"exact enumeration needs rows * cols <= {MAX_ENUMERATE_SPINS}, got {rows} x {cols}"
        )
    states = _all_states(rows * cols, model.h.dtype, model.h.device).reshape(-1, rows, cols)
    products, spins = bond_statistics(states)
    log_weight = products @ model.couplings + spins @ model.h.reshape(-1)
    return states, log_weight


def enumerate_lnz(model: SpinGlass) -> torch.Tensor:
    """ln Z by brute-force enumeration of all 2^N states (N <= 20); differentiable."""
    return torch.logsumexp(_enumerated(model)[1], 0)


def enumerate_moments(model: SpinGlass) -> dict:
    """Exact moments by explicit sums over all states (no autograd).

    Returns
    -------
    dict
        ``lnz`` (scalar), ``correlations`` <s_i s_j> per bond (n_bonds,),
        ``magnetization`` <s_i> per site (rows * cols,), ``covariance``
        <s_i s_j s_k s_l> - <s_i s_j><s_k s_l> over bond pairs
        (n_bonds, n_bonds), all as detached tensors.
    """
    with torch.no_grad():
        states, log_weight = _enumerated(model)
        lnz = torch.logsumexp(log_weight, 0)
        p = torch.exp(log_weight - lnz)
        products, spins = bond_statistics(states)
        corr = p @ products
        centred = products - corr
        return {
            "lnz": lnz,
            "correlations": corr,
            "magnetization": p @ spins,
            "covariance": centred.mT @ (p[:, None] * centred),
        }


def transfer_lnz(model: SpinGlass) -> torch.Tensor:
    """Exact ln Z by the row-to-row transfer matrix; differentiable.

    The weight vector v(s_row) over the 2^cols configurations of one row is
    carried down the lattice: v <- exp(E_row) * (prod_j W_j) v, where W_j
    (2 x 2, the vertical bond of column j) acts on axis j of v reshaped to
    (2,) * cols.  v is divided by its sum after every row (differentiably)
    and the logarithms accumulated, so nothing overflows.

    Cost rows * cols * 2^cols, memory (for the backward) rows * cols * 2^cols.
    """
    rows, cols = model.shape
    if cols > MAX_TRANSFER_COLS:
        raise ValueError(f"transfer matrix needs cols <= {MAX_TRANSFER_COLS}, got {cols}")
    # Axis j of v (reshaped) is spin j; row-major reshape puts spin 0 on axis 0,
    # so states are ordered with spin 0 as the most significant bit.
    states = _all_states(cols, model.h.dtype, model.h.device).flip(-1)
    pair = states[:, :-1] * states[:, 1:]  # (2^cols, cols-1)
    lnz = model.h.new_zeros(())
    v = None
    for i in range(rows):
        row_log_weight = pair @ model.kh[i] + states @ model.h[i]
        if v is None:
            log_v = row_log_weight
        else:
            v = v.reshape((2,) * cols)
            for j in range(cols):
                v = torch.movedim(torch.tensordot(_bond_weight(model.kv[i - 1, j]), v, dims=([1], [j])), 0, j)
            log_v = torch.log(v.reshape(-1)) + row_log_weight
        shift = torch.logsumexp(log_v, 0)
        lnz = lnz + shift
        v = torch.exp(log_v - shift)
    return lnz


def sample_exact(model: SpinGlass, n: int, generator: torch.Generator) -> torch.Tensor:
    """n independent exact samples from the enumerated Boltzmann distribution.

    Parameters
    ----------
    model : SpinGlass
        At most ``MAX_ENUMERATE_SPINS`` spins.
    n : int
        Number of samples (>= 1).
    generator : torch.Generator
        CPU generator (seeded by the caller), so samples are reproducible.

    Returns
    -------
    torch.Tensor
        Spins +-1, shape (n, rows, cols), dtype of the model, on the CPU.
    """
    if n < 1:
        raise ValueError(f"number of samples must be >= 1, got {n}")
    with torch.no_grad():
        states, log_weight = _enumerated(model)
        p = torch.softmax(log_weight.double().cpu(), 0)
        # torch.multinomial caps the number of categories at 2^24 and draws
        # in chunks; inverse-CDF sampling has neither limit.
        cdf = torch.cumsum(p, 0)
        u = torch.rand(n, generator=generator, dtype=torch.float64) * float(cdf[-1])
        index = torch.searchsorted(cdf, u).clamp_(max=len(p) - 1)
        return states.cpu()[index]

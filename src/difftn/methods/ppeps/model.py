"""Positive PEPS: a probability model p(x) = PEPS(x) / Z on a 2D pixel grid.

A rows x cols grid of non-negative tensors ``P[x, u, l, d, r]`` (x in {0, 1}
the pixel, u/l/d/r the bonds to the up/left/down/right neighbours, bond
dimension D inside and 1 at the open boundary)::

    PEPS(x) = sum over all bonds of prod_{i,j} P_ij[x_ij, u, l, d, r]
    Z       = sum_x PEPS(x) = the same network with T_ij = sum_x P_ij[x]

i.e. a hidden Markov random field, p(x) = sum_h prod_i f_i(x_i, h) / Z
(the talk "Tensor Networks for Generative Modeling"; no double layer, so the
bond of the contraction is D, not D^2).

Parametrization (non-negativity): ``P = exp(theta)`` elementwise, theta the
free real parameters (``PositivePEPS.params``).  Every entry is > 0, so
PEPS(x) > 0 and Z > 0 for every x; no sign problem in the contraction.

Contraction: every quantity is ``log_marginal``, the single-layer network
with site tensors ``A_ij = sum_x w_ij[x] P_ij[x]``: one-hot weights give
PEPS(x), weights (1, 1) sum the pixel out, so ln PEPS(x) (all pixels
fixed), ln Z (none fixed) and the marginals of sampling (some fixed) are one
function.  A batch of images is one batched network (the weights enter by a
single einsum over the batch) contracted by ``difftn.contract.boundary_mps`` with
compression bond chi; all scales are accumulated in log space there.  The
contraction is exact when chi >= D^floor(cols/2), the largest Schmidt rank
of a boundary MPS of ``cols`` sites with physical dimension D.

Images are flattened in raster order (pixel (r, c) is r * cols + c), values
0/1; in ``log_marginal`` a value -1 marks a pixel summed over.
"""

import math
from dataclasses import dataclass

import torch

from ...contract.boundary_mps import BoundaryMPSOptions, boundary_mps_lnz

__all__ = [
    "PositivePEPS",
    "random_ppeps",
    "exact_chi",
    "log_marginal",
    "log_peps",
    "log_partition",
    "log_prob",
    "nll",
    "to_flat",
    "from_flat",
]


@dataclass
class PositivePEPS:
    """A positive PEPS: ``params[i][j]`` = theta of site (i, j), shape (2, u, l, d, r);
    the tensors are ``P = exp(theta)`` (module doc)."""

    rows: int
    cols: int
    bond: int
    params: list

    @property
    def n_pixels(self) -> int:
        return self.rows * self.cols

    def parameters(self) -> list:
        return [t for row in self.params for t in row]

    def num_parameters(self) -> int:
        return sum(t.numel() for t in self.parameters())

    def tensors(self) -> list:
        """The non-negative site tensors P[x, u, l, d, r] = exp(theta)."""
        return [[torch.exp(t) for t in row] for row in self.params]


def site_shape(rows: int, cols: int, D: int, i: int, j: int) -> tuple:
    return (2, 1 if i == 0 else D, 1 if j == 0 else D, 1 if i == rows - 1 else D, 1 if j == cols - 1 else D)


def exact_chi(model: PositivePEPS) -> int:
    """The boundary-MPS bond at which the contraction is exact: D^floor(cols/2)."""
    return model.bond ** (model.cols // 2)


def random_ppeps(rows: int, cols: int, D: int, *, seed: int = 0, scale: float = 0.1,
                 dtype=torch.float64, device=None) -> PositivePEPS:
    """theta = scale * N(0, 1) from a seeded generator (p close to uniform for small scale)."""
    if rows < 1 or cols < 1 or D < 1:
        raise ValueError(f"positive PEPS: rows, cols and D must be >= 1, got {rows}, {cols}, {D}")
    gen = torch.Generator().manual_seed(seed)
    params = [
        [(scale * torch.randn(site_shape(rows, cols, D, i, j), generator=gen, dtype=dtype)).to(device)
         for j in range(cols)]
        for i in range(rows)
    ]
    return PositivePEPS(rows, cols, D, params)


def _options(model, options):
    return BoundaryMPSOptions(chi=exact_chi(model)) if options is None else options


def log_marginal(model: PositivePEPS, x: torch.Tensor, options: BoundaryMPSOptions | None = None) -> torch.Tensor:
    """ln sum_{pixels marked -1} PEPS(x) for a batch x (B, rows * cols) of values in {-1, 0, 1}.

    Returns a tensor of shape (B,); differentiable in ``model.params``.
    ``options=None`` contracts exactly (chi = ``exact_chi``).
    """
    x = torch.as_tensor(x)
    if x.dim() != 2 or x.shape[1] != model.n_pixels:
        raise ValueError(f"positive PEPS: images must have shape (B, {model.n_pixels}), got {tuple(x.shape)}")
    P = model.tensors()
    dtype, device = P[0][0].dtype, P[0][0].device
    x = x.to(device=device, dtype=torch.long)
    # w[b, site, value]: 1 for the fixed value or for both values of a summed pixel.
    w = torch.stack([(x == 0) | (x == -1), (x == 1) | (x == -1)], dim=-1).to(dtype)
    grid = [
        [torch.einsum("bx,xuldr->buldr", w[:, i * model.cols + j], P[i][j]) for j in range(model.cols)]
        for i in range(model.rows)
    ]
    lnz, _ = boundary_mps_lnz(grid, _options(model, options))
    return lnz


def log_peps(model: PositivePEPS, x, options: BoundaryMPSOptions | None = None) -> torch.Tensor:
    """ln PEPS(x) for a batch of binary images x (B, rows * cols)."""
    x = torch.as_tensor(x)
    if ((x != 0) & (x != 1)).any():
        raise ValueError("positive PEPS: image pixels must be 0 or 1")
    return log_marginal(model, x, options)


def log_partition(model: PositivePEPS, options: BoundaryMPSOptions | None = None) -> torch.Tensor:
    """ln Z (a scalar): the network of T = sum_x P[x]."""
    T = [[P.sum(0) for P in row] for row in model.tensors()]
    lnz, _ = boundary_mps_lnz(T, _options(model, options))
    return lnz


def log_prob(model: PositivePEPS, x, options: BoundaryMPSOptions | None = None) -> torch.Tensor:
    """ln p(x) = ln PEPS(x) - ln Z for a batch of images."""
    return log_peps(model, x, options) - log_partition(model, options)


def nll(model: PositivePEPS, x, options: BoundaryMPSOptions | None = None) -> torch.Tensor:
    """The loss -<ln PEPS(x)>_data + ln Z (nats per image)."""
    return log_partition(model, options) - log_peps(model, x, options).mean()


def to_flat(model: PositivePEPS) -> torch.Tensor:
    """All theta raveled in C order, concatenated in raster site order."""
    return torch.cat([t.detach().reshape(-1) for t in model.parameters()])


def from_flat(rows: int, cols: int, D: int, flat, *, dtype=torch.float64, device=None) -> PositivePEPS:
    """Inverse of ``to_flat``."""
    flat = torch.as_tensor(flat, dtype=dtype)
    shapes = [site_shape(rows, cols, D, i, j) for i in range(rows) for j in range(cols)]
    sizes = [math.prod(s) for s in shapes]
    if flat.numel() != sum(sizes):
        raise ValueError(f"positive PEPS: {flat.numel()} parameters given, {rows}x{cols} at D={D} has {sum(sizes)}")
    parts = [p.reshape(s).clone().to(device) for p, s in zip(torch.split(flat, sizes), shapes)]
    return PositivePEPS(rows, cols, D, [parts[i * cols:(i + 1) * cols] for i in range(rows)])

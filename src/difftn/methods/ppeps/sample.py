"""Exact sampling and inpainting from a positive PEPS, pixel by pixel.

Pixels are visited in snake order (row 0 left to right, row 1 right to
left, ...).  With the pixels drawn so far fixed and the rest summed,

    p(x_k = v | x_drawn) = M(x_drawn, x_k = v) / sum_v' M(x_drawn, x_k = v'),

M the marginal ``model.log_marginal`` (the network with drawn pixels
projected and the others summed).  Both values of every distinct partial
image are one batched contraction, so a pixel costs one boundary-MPS
contraction of at most 2 min(B, 2^k) networks.  The product of the conditionals is p(x): the
samples are exact up to the contraction's chi (exact for chi >= D^floor(cols/2)).

Inpainting draws only the hidden pixels, in the same order, starting from
the given ones: samples of p(hidden | given).
"""

import torch

from ...contract.boundary_mps import BoundaryMPSOptions
from .model import PositivePEPS, log_marginal

__all__ = ["snake_order", "sample", "conditional_sample"]


def snake_order(rows: int, cols: int) -> list:
    """Raster indices in snake (boustrophedon) order."""
    return [r * cols + (c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]


@torch.no_grad()
def _fill(model, x, hidden, options, generator):
    """Draw the pixels where ``hidden`` (B, n) is True, in snake order; x holds the given ones."""
    x = x.clone()
    x[hidden] = -1
    for k in snake_order(model.rows, model.cols):
        todo = hidden[:, k]
        if not bool(todo.any()):
            continue
        # Samples with the same pixels so far share their conditional: one
        # contraction per distinct partial image (at most 2^k of them).
        xs, inverse = torch.unique(x[todo], dim=0, return_inverse=True)
        both = torch.cat([xs, xs])
        both[: len(xs), k], both[len(xs):, k] = 0, 1
        lm = log_marginal(model, both, options)
        p1 = torch.sigmoid(lm[len(xs):] - lm[: len(xs)]).cpu()[inverse]
        u = torch.rand(len(p1), generator=generator, dtype=p1.dtype)
        x[todo, k] = (u < p1).long()
    return x


def sample(model: PositivePEPS, n: int, *, options: BoundaryMPSOptions | None = None, seed: int = 0) -> torch.Tensor:
    """n exact samples, shape (n, rows * cols), values 0/1 (raster order)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((n, model.n_pixels), -1, dtype=torch.long)
    return _fill(model, x, torch.ones_like(x, dtype=torch.bool), options, gen)


def conditional_sample(model: PositivePEPS, x, known, *, options: BoundaryMPSOptions | None = None,
                       seed: int = 0) -> torch.Tensor:
    """Inpainting: for each row of x (B, n), keep the pixels where ``known`` is
    True and draw the others from p(hidden | known).  ``known`` is (n,) or (B, n)."""
    x = torch.as_tensor(x, dtype=torch.long)
    known = torch.as_tensor(known, dtype=torch.bool).expand(x.shape)
    if x.dim() != 2 or x.shape[1] != model.n_pixels:
        raise ValueError(f"positive PEPS: images must have shape (B, {model.n_pixels}), got {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(seed)
    return _fill(model, x, ~known, options, gen)

"""Lorentzian broadening of reciprocals in backward rules.

The backward rules of SVD and eigh contain factors 1/(s_j - s_i), 1/(s_j + s_i)
and 1/s_i that diverge for degenerate or vanishing spectra.  Following Liao et
al., PRX 9, 031041 (2019), every such reciprocal is replaced by

    1/x  ->  x / (x**2 + eps)

which equals 1/x up to O(eps/x**2) and is exactly 0 at x = 0, so exactly
degenerate or zero values give finite (gauge-consistent) gradients.
"""

import torch

__all__ = ["DEFAULT_EPS", "lorentzian"]

#: Default broadening of 1/x in the backward rules (PRX 9, 031041, Sec. III).
DEFAULT_EPS = 1e-12


def lorentzian(x: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Return ``x / (x**2 + eps)``, the broadened reciprocal of ``x``."""
    return x / (x * x + eps)

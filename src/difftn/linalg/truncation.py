"""How many singular values a truncated decomposition keeps: one rule for every scheme.

A value is kept when it exceeds ``cutoff`` times the largest, at most ``chi``
of them, at least one.  Two guards keep rounding from deciding a bond
dimension (values at the 1e-16 level differ between CPUs):

* ``cutoff == 0`` keeps min(chi, r) values without looking at them, so a null
  value computed as 0.0 on one machine and 1e-17 on another is kept on both;
* a positive cutoff is raised to ``NOISE_FLOOR`` times the dtype's machine
  epsilon, so that in float32 (eps ~ 1e-7) the default 1e-12 does not keep
  or drop values that are rounding noise.  In float64 the floor (~2e-14) lies
  below every default cutoff and changes nothing.
"""

import torch

__all__ = ["NOISE_FLOOR", "effective_cutoff", "kept_count"]

#: Multiple of the machine epsilon below which relative singular values are noise.
NOISE_FLOOR = 100


def effective_cutoff(cutoff: float, dtype: torch.dtype) -> float:
    """The relative cutoff actually applied for spectra of ``dtype`` (0 stays 0)."""
    if cutoff <= 0:
        return 0.0
    return max(cutoff, NOISE_FLOOR * torch.finfo(dtype).eps)


def kept_count(s: torch.Tensor, cutoff: float, chi: int | None = None) -> int:
    """Number of values of the spectrum ``s`` (any order, >= 0) to keep.

    A batch of spectra (..., r) gets one count, the largest over the batch
    (each spectrum measured against its own largest value).
    """
    cut = effective_cutoff(cutoff, s.dtype)
    if cut > 0:
        count = int((s > cut * s.max(dim=-1, keepdim=True).values).sum(dim=-1).max()) if s.numel() else 0
    else:
        count = s.shape[-1]
    if chi is not None:
        count = min(count, chi)
    return max(count, 1)

"""Levin-Nave tensor renormalization group (TRG) on the square lattice.

Reference: M. Levin and C. P. Nave, PRL 99, 120601 (2007); differentiable
version as in Liao et al., PRX 9, 031041 (2019), Sec. IV A.

Index convention of the bulk tensor (one tensor per site, legs to the
neighbours)::

            u
            |
        l --T-- r        T[u, l, d, r]
            |
            d

One step splits T by SVD in two ways on the two sublattices, truncating the
new bond to chi,

    A sites: T[u,l,d,r] = sum_k S1[u,l,k] S2[k,d,r]      (matrix (ul) x (dr))
    B sites: T[u,l,d,r] = sum_k S3[l,d,k] S4[k,r,u]      (matrix (ld) x (ru))

and contracts the four half-tensors around every other plaquette into the
tensor of a lattice rotated by 45 degrees with half as many sites::

    T'[a,b,c,d] = sum S1[x,y,a] S4[b,y,z] S2[c,z,w] S3[w,x,d],
    new legs (u, l, d, r) = (d, c, b, a).

The contraction goes pairwise (S1 S4) and (S2 S3), each a chi^4 array, then
the two pairs: peak memory O(chi^4), cost O(chi^6); never a chi^5 array.

Each step first divides T by its Frobenius norm g_n; with T_n standing for
2^n sites,

    ln Z / N = sum_n ln(g_n) / 2^n + ln Tr(T_final) / 2^steps.
"""

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from .linalg import DEFAULT_EPS, svd

__all__ = ["TRGOptions", "TRGInfo", "trg_lnz", "trg_step"]


@dataclass(frozen=True)
class TRGOptions:
    """Options of a TRG run.

    Attributes
    ----------
    chi : int
        Bond dimension cutoff (>= 1).
    steps : int
        Number of coarse-graining steps (>= 1); 2^steps sites in the end.
    checkpoint : bool
        Recompute every step in the backward instead of storing its
        intermediates (less memory, about one more forward in time).
    eps : float
        Lorentzian broadening in the SVD backward.
    """

    chi: int = 30
    steps: int = 30
    checkpoint: bool = False
    eps: float = DEFAULT_EPS

    def __post_init__(self):
        if not isinstance(self.chi, int) or self.chi < 1:
            raise ValueError(f"TRG chi must be an integer >= 1, got {self.chi!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"TRG steps must be an integer >= 1, got {self.steps!r}")
        if not self.eps > 0:
            raise ValueError(f"TRG eps must be > 0, got {self.eps!r}")


@dataclass
class TRGInfo:
    """What a TRG run did: bond dimension and truncation error per step.

    ``truncation_error[n]`` is the discarded weight sum(s_k^2, k >= chi) /
    sum(s_k^2) of the sublattice-A split at step n.
    """

    bond_dims: list
    truncation_error: list


def _split(M: torch.Tensor, chi: int, eps: float):
    """Truncated SVD split M ~= L @ R with sqrt(S) on both sides."""
    U, S, V = svd(M, eps=eps)
    k = min(chi, S.shape[0])
    weight = S.detach() ** 2
    discarded = weight[k:].sum() / weight.sum()
    root = torch.sqrt(S[:k])
    return U[:, :k] * root, (V[:, :k] * root).mT, float(discarded)


def trg_step(T: torch.Tensor, chi: int, eps: float = DEFAULT_EPS):
    """One Levin-Nave step: T[u,l,d,r] (dim D) -> T'[u,l,d,r] (dim <= chi).

    Returns the new tensor and the truncation error of the A split.
    """
    D = T.shape[0]
    S1, S2, err = _split(T.reshape(D * D, D * D), chi, eps)
    S3, S4, _ = _split(T.permute(1, 2, 3, 0).reshape(D * D, D * D), chi, eps)
    k = S1.shape[1]
    S1 = S1.reshape(D, D, k)  # [u, l, a]
    S2 = S2.reshape(k, D, D)  # [c, d, r]
    S3 = S3.reshape(D, D, k)  # [l, d, d']
    S4 = S4.reshape(k, D, D)  # [b, r, u]
    # Plaquette: S1[x,y,a] S4[b,y,z] S2[c,z,w] S3[w,x,d]; pairs are chi^4.
    left = torch.einsum("xya,byz->xabz", S1, S4)
    right = torch.einsum("czw,wxd->zcxd", S2, S3)
    Tn = torch.einsum("xabz,zcxd->dcba", left, right)
    return Tn.contiguous(), err


def trg_lnz(T: torch.Tensor, options: TRGOptions = TRGOptions()):
    """ln Z per site of the infinite square lattice of bulk tensor T.

    Parameters
    ----------
    T : torch.Tensor
        Real 4-leg tensor T[u, l, d, r], all legs of one dimension; may
        require grad (derivatives of any order flow through the SVDs).
    options : TRGOptions

    Returns
    -------
    lnz : torch.Tensor
        Scalar ln Z / N.
    info : TRGInfo
    """
    if T.dim() != 4 or len(set(T.shape)) != 1:
        raise ValueError(f"TRG needs a 4-leg tensor with equal legs, got {tuple(T.shape)}")
    if T.is_complex():
        raise TypeError("TRG supports real tensors only")
    lnz = T.new_zeros(())
    dims, errs = [], []
    for n in range(options.steps):
        norm = torch.linalg.vector_norm(T)
        T = T / norm
        lnz = lnz + torch.log(norm) / 2**n
        if options.checkpoint and T.requires_grad:
            T, err = checkpoint(trg_step, T, options.chi, options.eps, use_reentrant=False)
        else:
            T, err = trg_step(T, options.chi, options.eps)
        dims.append(T.shape[0])
        errs.append(err)
    trace = torch.einsum("abab->", T)
    lnz = lnz + torch.log(trace) / 2**options.steps
    return lnz, TRGInfo(bond_dims=dims, truncation_error=errs)

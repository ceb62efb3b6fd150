"""Singular value decomposition with an AD-stable, twice-differentiable backward.

Forward: thin SVD ``A = U diag(S) V^T`` (LAPACK via ``torch.linalg.svd``),
A of shape (m, n), r = min(m, n); U is (m, r), S is (r,), V is (n, r).
Truncation to k < r is slicing of the thin factors, so the backward stays exact
(it sees the discarded spectrum too).

Backward (Liao et al., PRX 9, 031041 (2019), Eqs. 3-5; Townsend 2016)::

    Abar = U [ 1/2 F+ o (U^T Ubar - Ubar^T U) + 1/2 F- o (V^T Vbar - Vbar^T V)
               + diag(Sbar) ] V^T
         + (1 - U U^T) Ubar S^-1 V^T + U S^-1 Vbar^T (1 - V V^T)

    F+-_ij = 1/(s_j - s_i) +- 1/(s_j + s_i)   (i != j),   F+-_ii = 0

with every reciprocal broadened as 1/x -> x/(x^2 + eps) (see ``broadening``),
so exactly degenerate or zero singular values give finite gradients.  The two
projector terms exist only for rectangular A.

The backward is written in differentiable torch operations on the saved
*outputs*, so autograd differentiates it again: second derivatives (specific
heat) flow through the SVD twice.

Cost: when only the leading k columns of the cotangents are nonzero (the
truncated factors of TRG), the backward costs O(r^2 k) instead of O(r^3).
"""

import torch

from .broadening import DEFAULT_EPS, lorentzian

__all__ = ["svd"]


def svd(A: torch.Tensor, k: int | None = None, eps: float = DEFAULT_EPS):
    """Thin SVD of a real matrix with a stable backward.

    Parameters
    ----------
    A : torch.Tensor
        Real matrix of shape (m, n).
    k : int, optional
        Keep only the k largest singular triplets (truncation by slicing; the
        backward stays exact).  ``None`` keeps all r = min(m, n).
    eps : float
        Lorentzian broadening of 1/x in the backward.

    Returns
    -------
    U, S, V : torch.Tensor
        Shapes (m, k), (k,), (n, k) with ``A ~= U @ diag(S) @ V.T``;
        S is non-negative and descending.
    """
    if A.dim() != 2:
        raise ValueError(f"svd expects a matrix, got shape {tuple(A.shape)}")
    if A.is_complex():
        raise TypeError("difftn.linalg.svd supports real matrices only")
    U, S, V = _SVD.apply(A, eps)
    if k is not None:
        if k < 1:
            raise ValueError(f"svd: k must be >= 1, got {k}")
        U, S, V = U[:, :k], S[:k], V[:, :k]
    return U, S, V


class _SVD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, eps):
        U, S, Vh = torch.linalg.svd(A, full_matrices=False)
        V = Vh.mT.contiguous()
        ctx.eps = eps
        ctx.save_for_backward(U, S, V)
        return U, S, V

    @staticmethod
    def backward(ctx, gU, gS, gV):
        U, S, V = ctx.saved_tensors
        return svd_backward(U, S, V, gU, gS, gV, ctx.eps), None


def _leading_support(gU, gS, gV) -> int:
    """Number of leading singular triplets whose cotangents are not all zero."""
    mask = (gU != 0).any(0) | (gV != 0).any(0) | (gS != 0)
    nonzero = mask.nonzero()
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


def svd_backward(U, S, V, gU, gS, gV, eps=DEFAULT_EPS):
    """Cotangent of A given cotangents of the thin factors (see module doc)."""
    m, r = U.shape
    n = V.shape[0]
    k = _leading_support(gU, gS, gV)
    if k == 0:
        return U.new_zeros(m, n)
    gUk, gVk, gSk = gU[:, :k], gV[:, :k], gS[:k]
    Uk, Vk, Sk = U[:, :k], V[:, :k], S[:k]
    Ur, Vr, Sr = U[:, k:], V[:, k:], S[k:]

    # J = U^T Ubar and K = V^T Vbar vanish outside their first k columns, so
    # the bracket B is needed only in three blocks: kept-kept (k, k),
    # rest-kept (r-k, k) and kept-rest (k, r-k).  Nothing of size r x r.
    J = U.mT @ gUk  # (r, k)
    K = V.mT @ gVk
    Jk, Kk, Jr, Kr = J[:k], K[:k], J[k:], K[k:]

    def fpm(s_i, s_j):  # broadened 1/(s_j - s_i) and 1/(s_j + s_i)
        return (
            lorentzian(s_j[None, :] - s_i[:, None], eps),
            lorentzian(s_j[None, :] + s_i[:, None], eps),
        )

    a, c = fpm(Sk, Sk)
    off = 1.0 - torch.eye(k, dtype=S.dtype, device=S.device)
    B_kk = 0.5 * off * ((a + c) * (Jk - Jk.mT) + (a - c) * (Kk - Kk.mT)) + torch.diag(gSk)
    a, c = fpm(Sr, Sk)  # rows i >= k, columns j < k
    B_rk = 0.5 * ((a + c) * Jr + (a - c) * Kr)
    B_kr = 0.5 * ((a - c) * Jr + (a + c) * Kr).mT

    # U B V^T = U_k (B_kk V_k^T + B_kr V_r^T) + (U_r B_rk) V_k^T
    gA = Uk @ (B_kk @ Vk.mT + B_kr @ Vr.mT) + (Ur @ B_rk) @ Vk.mT

    inv_s = lorentzian(Sk, eps)
    if m > r:  # (1 - U U^T) Ubar S^-1 V^T
        gA = gA + ((gUk - U @ J) * inv_s) @ Vk.mT
    if n > r:  # U S^-1 Vbar^T (1 - V V^T)
        gA = gA + (Uk * inv_s) @ (gVk - V @ K).mT
    return gA

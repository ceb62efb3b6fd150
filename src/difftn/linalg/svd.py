"""Singular value decomposition with an AD-stable, twice-differentiable backward.

Forward: thin SVD ``A = U diag(S) V^T`` (LAPACK via ``torch.linalg.svd``),
A of shape (m, n), r = min(m, n); U is (m, r), S is (r,), V is (n, r).
A leading batch shape (..., m, n) decomposes every matrix of the batch at
once (one batched LAPACK call; the backward is batched matrix algebra), with
one k for all of them.
Truncation to k < r returns the leading k triplets, but the autograd node
keeps all r, so the backward stays exact (it sees the discarded spectrum).

Backward (Liao et al., PRX 9, 031041 (2019), Eqs. 3-5; Townsend 2016)::

    Abar = U [ 1/2 F+ o (U^T Ubar - Ubar^T U) + 1/2 F- o (V^T Vbar - Vbar^T V)
               + diag(Sbar) ] V^T
         + (1 - U U^T) Ubar S^-1 V^T + U S^-1 Vbar^T (1 - V V^T)

    F+-_ij = 1/(s_j - s_i) +- 1/(s_j + s_i)   (i != j),   F+-_ii = 0

with every reciprocal broadened as 1/x -> x/(x^2 + eps) (see ``broadening``),
so exactly degenerate or zero singular values give finite gradients.  The two
projector terms exist only for rectangular A.

Degeneracies: at exactly equal singular values the broadened factors vanish,
so the intra-block part of the rule is dropped (the paper's convention).  This
is exact for losses that see a degenerate block only through its spectrum or
its complete subspace (projectors, truncation at a gap; the Ising TRG, checked
against exact enumeration on small tori); it is not for a
loss like <W, U diag(S) V^T> restricted to the block, whose gradient there
needs information that the factor cotangents do not carry.

The backward is written in differentiable torch operations on the saved
*outputs*, so autograd differentiates it again: second derivatives (specific
heat) flow through the SVD twice.

Cost: the autograd node returns the kept triplets (U_k, S_k, V_k) and the
discarded ones (U_r, S_r, V_r) as separate outputs.  A first backward gets
cotangents for the kept ones only, (m, k) and not zero-padded (m, r), and
costs O(r^2 k); nothing of size r x r is formed.  Only a second backward,
which differentiates the first one and so reaches U_r, S_r, V_r, needs the
full O(r^3) rule.
"""

import torch

from .broadening import DEFAULT_EPS, lorentzian

__all__ = ["svd"]


def svd(A: torch.Tensor, k: int | None = None, eps: float = DEFAULT_EPS, *, factors=None):
    """Thin SVD of a real matrix with a stable backward.

    Parameters
    ----------
    A : torch.Tensor
        Real matrix of shape (m, n), or a batch of them (..., m, n).
    k : int, optional
        Keep only the k largest singular triplets (the backward stays exact).
        ``None`` keeps all r = min(m, n).
    eps : float
        Lorentzian broadening of 1/x in the backward.
    factors : tuple of torch.Tensor, optional
        ``torch.linalg.svd(A.detach(), full_matrices=False)``, if already
        computed (e.g. to choose k from the spectrum); it is reused, not
        recomputed, and not copied: the results and the autograd node hold
        views of it, so it must not be modified in place afterwards.

    Returns
    -------
    U, S, V : torch.Tensor
        Shapes (m, k), (k,), (n, k) with ``A ~= U @ diag(S) @ V.T``;
        S is non-negative and descending (batched: (..., m, k) etc.).
    """
    if A.dim() < 2:
        raise ValueError(f"svd expects a matrix or a batch of matrices, got shape {tuple(A.shape)}")
    if A.is_complex():
        raise TypeError("difftn.linalg.svd supports real matrices only")
    if k is not None and k < 1:
        raise ValueError(f"svd: k must be >= 1, got {k}")
    r = min(A.shape[-2:])
    k = r if k is None else min(k, r)
    if not (torch.is_grad_enabled() and A.requires_grad):
        # No graph: the leading triplets, without the autograd node's copies.
        U, S, Vh = torch.linalg.svd(A, full_matrices=False) if factors is None else factors
        return U[..., :k], S[..., :k], Vh[..., :k, :].mT
    Uk, Sk, Vk, _, _, _ = _SVD.apply(A, eps, k, factors)
    return Uk, Sk, Vk


class _SVD(torch.autograd.Function):
    """A -> (U_k, S_k, V_k, U_r, S_r, V_r): kept and discarded triplets."""

    @staticmethod
    def forward(ctx, A, eps, k, factors):
        U, S, Vh = torch.linalg.svd(A, full_matrices=False) if factors is None else factors
        V = Vh.mT
        parts = (U[..., :k], S[..., :k], V[..., :k], U[..., k:], S[..., k:], V[..., k:])
        # Views of the caller's factors when given (a recomputation from
        # stored factors: no copies); fresh tensors otherwise.
        out = (
            parts
            if factors is not None
            else tuple(x.clone(memory_format=torch.contiguous_format) for x in parts)
        )
        ctx.eps = eps
        ctx.set_materialize_grads(False)  # unused outputs get None, not zeros
        ctx.save_for_backward(*out)
        return out

    @staticmethod
    def backward(ctx, gUk, gSk, gVk, gUr, gSr, gVr):
        Uk, Sk, Vk, Ur, Sr, Vr = ctx.saved_tensors
        if all(g is None for g in (gUk, gSk, gVk, gUr, gSr, gVr)):
            return None, None, None, None
        if gUr is None and gSr is None and gVr is None:
            gA = svd_backward(Uk, Sk, Vk, Ur, Sr, Vr, gUk, gSk, gVk, ctx.eps)
        else:
            # Cotangents on the discarded triplets too: all r count as kept.
            def join(x, y, gx, gy, dim):
                gx = torch.zeros_like(x) if gx is None else gx
                gy = torch.zeros_like(y) if gy is None else gy
                return torch.cat([x, y], dim), torch.cat([gx, gy], dim)

            U, gU = join(Uk, Ur, gUk, gUr, -1)
            S, gS = join(Sk, Sr, gSk, gSr, -1)
            V, gV = join(Vk, Vr, gVk, gVr, -1)
            gA = svd_backward(U, S, V, Ur[..., :0], Sr[..., :0], Vr[..., :0], gU, gS, gV, ctx.eps)
        return gA, None, None, None


def svd_backward(Uk, Sk, Vk, Ur, Sr, Vr, gUk, gSk, gVk, eps=DEFAULT_EPS):
    """Cotangent of A given cotangents of the kept triplets (see module doc).

    (Uk, Sk, Vk) are the k kept triplets, (Ur, Sr, Vr) the r - k others,
    whose cotangents are zero; ``None`` cotangents are zero too.
    """
    m, k = Uk.shape[-2:]
    n = Vk.shape[-2]
    r = k + Sr.shape[-1]
    gUk = torch.zeros_like(Uk) if gUk is None else gUk
    gVk = torch.zeros_like(Vk) if gVk is None else gVk
    gSk = torch.zeros_like(Sk) if gSk is None else gSk

    # J = U^T Ubar and K = V^T Vbar vanish outside their first k columns, so
    # the bracket B is needed only in three blocks: kept-kept (k, k),
    # rest-kept (r-k, k) and kept-rest (k, r-k).  Nothing of size r x r.
    Jk, Jr = Uk.mT @ gUk, Ur.mT @ gUk  # (k, k), (r-k, k)
    Kk, Kr = Vk.mT @ gVk, Vr.mT @ gVk

    def fpm(s_i, s_j):  # broadened 1/(s_j - s_i) and 1/(s_j + s_i)
        return (
            lorentzian(s_j[..., None, :] - s_i[..., :, None], eps),
            lorentzian(s_j[..., None, :] + s_i[..., :, None], eps),
        )

    a, c = fpm(Sk, Sk)
    off = 1.0 - torch.eye(k, dtype=Sk.dtype, device=Sk.device)
    B_kk = 0.5 * off * ((a + c) * (Jk - Jk.mT) + (a - c) * (Kk - Kk.mT)) + torch.diag_embed(gSk)
    a, c = fpm(Sr, Sk)  # rows i >= k, columns j < k
    B_rk = 0.5 * ((a + c) * Jr + (a - c) * Kr)
    B_kr = 0.5 * ((a - c) * Jr + (a + c) * Kr).mT

    # U B V^T = U_k (B_kk V_k^T + B_kr V_r^T) + (U_r B_rk) V_k^T
    gA = Uk @ (B_kk @ Vk.mT + B_kr @ Vr.mT) + (Ur @ B_rk) @ Vk.mT

    inv_s = lorentzian(Sk, eps)[..., None, :]
    if m > r:  # (1 - U U^T) Ubar S^-1 V^T
        gA = gA + ((gUk - Uk @ Jk - Ur @ Jr) * inv_s) @ Vk.mT
    if n > r:  # U S^-1 Vbar^T (1 - V V^T)
        gA = gA + (Uk * inv_s) @ (gVk - Vk @ Kk - Vr @ Kr).mT
    return gA

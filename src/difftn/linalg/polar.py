"""Polar decomposition's orthogonal factor with a degeneracy-free backward.

Forward: ``M = U H`` for a real square M, U orthogonal, H symmetric positive
semidefinite; from the SVD M = W diag(s) V^T, U = W V^T and H = V diag(s) V^T.

Backward (N. J. Higham, Functions of Matrices, SIAM 2008, Sec. 8.1, the
Frechet derivative of the polar factor): dU = U Omega with Omega
antisymmetric, H Omega + Omega H = U^T dM - dM^T U, which in the eigenbasis
of H reads Omega_ij = (V^T (U^T dM - dM^T U) V)_ij / (s_i + s_j).  Hence

    Mbar = U V [ K o (V^T (G - G^T) V) ] V^T,   G = U^T Ubar,
    K_ij = 1/(s_i + s_j),

with 1/x Lorentzian-broadened.  Only sums s_i + s_j appear, never
differences, so a degenerate s (M orthogonal: all s = 1) is harmless; the
rule needs M invertible (at most one s = 0).
"""

import torch

from .broadening import DEFAULT_EPS, lorentzian

__all__ = ["polar"]


def polar(M: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Orthogonal polar factor U of a real square matrix M (the orthogonal matrix nearest to M)."""
    if M.dim() != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"polar expects a square matrix, got shape {tuple(M.shape)}")
    return _Polar.apply(M, eps)


class _Polar(torch.autograd.Function):
    @staticmethod
    def forward(ctx, M, eps):
        W, s, Vh = torch.linalg.svd(M)
        U = W @ Vh
        ctx.eps = eps
        ctx.save_for_backward(U, s, Vh)
        return U

    @staticmethod
    def backward(ctx, gU):
        U, s, Vh = ctx.saved_tensors
        G = U.mT @ gU
        K = lorentzian(s[:, None] + s[None, :], ctx.eps)
        inner = K * (Vh @ (G - G.mT) @ Vh.mT)
        return U @ Vh.mT @ inner @ Vh, None

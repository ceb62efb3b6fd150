"""Symmetric eigendecomposition with an AD-stable, twice-differentiable backward.

Forward: ``A = Q diag(L) Q^T`` for real symmetric A (``torch.linalg.eigh``,
eigenvalues ascending; only the lower triangle of A is read).

Backward (Liao et al., PRX 9, 031041 (2019), Eq. 6)::

    Abar = Q [ diag(Lbar) + F o (Q^T Qbar - Qbar^T Q) / 2 ] Q^T,
    F_ij = 1/(l_j - l_i)  (i != j),  F_ii = 0,

with 1/x broadened to x/(x^2 + eps), so exact degeneracies give finite
gradients.  The result is symmetric (the gradient with respect to a symmetric
argument).
"""

import torch

from .broadening import DEFAULT_EPS, lorentzian

__all__ = ["eigh"]


def eigh(A: torch.Tensor, eps: float = DEFAULT_EPS):
    """Eigenvalues (ascending) and orthonormal eigenvectors of a real symmetric matrix.

    Parameters
    ----------
    A : torch.Tensor
        Real symmetric matrix (n, n).  Only its lower triangle is read, as in
        ``torch.linalg.eigh``; symmetrize it yourself if unsure.
    eps : float
        Lorentzian broadening of 1/(l_j - l_i) in the backward.

    Returns
    -------
    L, Q : torch.Tensor
        Shapes (n,) and (n, n), ``A = Q @ diag(L) @ Q.T``.
    """
    if A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"eigh expects a square matrix, got shape {tuple(A.shape)}")
    if A.is_complex():
        raise TypeError("difftn.linalg.eigh supports real matrices only")
    return _Eigh.apply(A, eps)


class _Eigh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, eps):
        L, Q = torch.linalg.eigh(A)
        ctx.eps = eps
        ctx.save_for_backward(L, Q)
        return L, Q

    @staticmethod
    def backward(ctx, gL, gQ):
        L, Q = ctx.saved_tensors
        return eigh_backward(L, Q, gL, gQ, ctx.eps), None


def eigh_backward(L, Q, gL, gQ, eps=DEFAULT_EPS):
    """Cotangent of the symmetric A given cotangents of L and Q.

    Callers that keep k of the n eigenpairs (CTMRG's projector) pass cotangents
    that are exactly zero outside those k columns.  With M = F o (Q^T Qbar),
    F o (J - J^T) = M + M^T, and M has only the k columns where Qbar is
    nonzero, so Abar = (X + X^T)/2 + Q_K diag(Lbar_K) Q_K^T with
    X = (Q M_K) Q_K^T: about 4 n^2 k operations instead of 3 n^3.  K is chosen
    by exact zeros (structural, the same on every machine), so both paths give
    the same gradient.
    """
    n = L.shape[0]
    with torch.no_grad():
        K = torch.nonzero((gQ != 0).any(0) | (gL != 0)).reshape(-1)
    if 2 * K.numel() > n:
        J = Q.mT @ gQ
        F = lorentzian(L[None, :] - L[:, None], eps)  # zero on the diagonal
        B = 0.5 * F * (J - J.mT) + torch.diag(gL)
        return Q @ B @ Q.mT
    QK = Q[:, K]
    # J[j, j] drops out of J - J^T; zero it, or F's slope 1/eps at 0 multiplies it in the
    # second derivative (the two 1e12-sized terms cancel only up to rounding: 3e-5 measured).
    off_diagonal = torch.ones(n, K.numel(), dtype=Q.dtype, device=Q.device)
    off_diagonal[K, torch.arange(K.numel(), device=Q.device)] = 0
    M = lorentzian(L[K][None, :] - L[:, None], eps) * (Q.mT @ gQ[:, K] * off_diagonal)  # F[:, K] o J[:, K]
    X = (Q @ M) @ QK.mT
    return 0.5 * (X + X.mT) + (QK * gL[K]) @ QK.mT

"""QR decomposition with a twice-differentiable backward for both shapes.

Forward: reduced QR ``A = Q R`` (``torch.linalg.qr``), A of shape (m, n).

Backward for m >= n (Liao et al., PRX 9, 031041 (2019), Sec. III B)::

    M = R Rbar^T - Qbar^T Q,
    Abar = [Qbar + Q copyltu(M)] R^-T,

where copyltu(M) copies the lower triangle of M onto the upper one.
For m < n, split A = [X | Y] with X square: X = Q R1, Y = Q R2, so

    Xbar = backward_tall(Qbar + Y R2bar^T, R1bar),   Ybar = Q R2bar.

R must have a nonzero diagonal (A of full rank): R^-T appears in the rule.
"""

import torch

__all__ = ["qr"]


def qr(A: torch.Tensor):
    """Reduced QR of a real matrix with a stable, twice-differentiable backward.

    Parameters
    ----------
    A : torch.Tensor
        Real matrix (m, n) of full rank.

    Returns
    -------
    Q, R : torch.Tensor
        Shapes (m, min(m, n)) and (min(m, n), n).
    """
    if A.dim() != 2:
        raise ValueError(f"qr expects a matrix, got shape {tuple(A.shape)}")
    if A.is_complex():
        raise TypeError("difftn.linalg.qr supports real matrices only")
    return _QR.apply(A)


class _QR(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A):
        Q, R = torch.linalg.qr(A, mode="reduced")
        ctx.save_for_backward(Q, R)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        Q, R = ctx.saved_tensors
        return qr_backward(Q, R, gQ, gR)


def _copyltu(M):
    return M.tril() + M.tril(-1).mT


def _qr_backward_tall(Q, R, gQ, gR):
    M = R @ gR.mT - gQ.mT @ Q
    b = gQ + Q @ _copyltu(M)
    # b R^-T, as the solution X of R X^T = b^T.
    return torch.linalg.solve_triangular(R, b.mT, upper=True).mT


def qr_backward(Q, R, gQ, gR):
    """Cotangent of A given cotangents of the reduced factors Q and R."""
    m, n = Q.shape[0], R.shape[1]
    if m >= n:
        return _qr_backward_tall(Q, R, gQ, gR)
    R1, R2 = R[:, :m], R[:, m:]
    gR1, gR2 = gR[:, :m], gR[:, m:]
    Y = Q @ R2
    gX = _qr_backward_tall(Q, R1, gQ + Y @ gR2.mT, gR1)
    gY = Q @ gR2
    return torch.cat([gX, gY], 1)

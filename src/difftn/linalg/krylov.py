"""Restarted GMRES for linear operators given as functions on torch vectors.

Solves ``A x = b`` for a linear map ``A`` known only through ``matvec(v)``
(Y. Saad and M. H. Schultz, SIAM J. Sci. Stat. Comput. 7, 856 (1986)).
Each cycle builds an orthonormal Krylov basis V_j of span{r, A r, ...} by
Arnoldi (classical Gram-Schmidt with one re-orthogonalization pass), keeps
the Hessenberg matrix H (A V_j = V_{j+1} H) in QR form by Givens rotations,
so the residual norm |b - A x_j| is known after every matvec, and stops when
it is below ``tol * |b|``.  After ``restart`` vectors the cycle's solution
is formed and a new cycle starts from the true residual.

Pure torch on the vector's device; only the small Hessenberg problem lives
on the CPU.  Used by ``difftn.contract.fixedpoint`` for the adjoint equation.
"""

import math
from dataclasses import dataclass

import torch

__all__ = ["GMRESInfo", "gmres"]


@dataclass
class GMRESInfo:
    """Outcome of ``gmres``: converged?, matvecs done, final relative residual |b - A x|/|b|."""

    converged: bool
    iterations: int
    residual: float


def gmres(matvec, b: torch.Tensor, x0: torch.Tensor | None = None, *, tol: float = 1e-12,
          restart: int = 40, max_iter: int = 400):  # fmt: skip
    """Solve ``matvec(x) = b`` to relative residual ``tol``.

    Parameters
    ----------
    matvec : callable
        v -> A v on 1-d tensors shaped like ``b``.
    b : torch.Tensor
        Right-hand side (1-d, real).
    x0 : torch.Tensor, optional
        Starting guess (default zero).
    tol : float
        Stop when |b - A x| <= tol |b| (the true residual, checked at the end
        of each cycle).
    restart : int
        Krylov vectors per cycle.
    max_iter : int
        Cap on matvecs in total.

    Returns
    -------
    x : torch.Tensor
    info : GMRESInfo
    """
    if b.dim() != 1:
        raise ValueError(f"gmres expects a 1-d right-hand side, got shape {tuple(b.shape)}")
    bnorm = float(torch.linalg.vector_norm(b))
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    if bnorm == 0.0:
        return torch.zeros_like(b), GMRESInfo(True, 0, 0.0)
    iterations = 0
    r = b - matvec(x) if x0 is not None else b.clone()
    iterations += x0 is not None
    beta = float(torch.linalg.vector_norm(r))
    while True:
        if beta <= tol * bnorm:
            return x, GMRESInfo(True, iterations, beta / bnorm)
        if iterations >= max_iter:
            return x, GMRESInfo(False, iterations, beta / bnorm)
        m = min(restart, max_iter - iterations)
        V = torch.empty((m + 1, b.numel()), dtype=b.dtype, device=b.device)
        V[0] = r / beta
        H = torch.zeros((m + 1, m), dtype=torch.float64)
        cs, sn = [], []
        g = [beta] + [0.0] * m  # rotated right-hand side beta e_1
        j_done = 0
        for j in range(m):
            w = matvec(V[j])
            iterations += 1
            h = V[: j + 1] @ w
            w = w - h @ V[: j + 1]
            h2 = V[: j + 1] @ w  # re-orthogonalize once (CGS2)
            w = w - h2 @ V[: j + 1]
            h = (h + h2).cpu().double()
            hn = float(torch.linalg.vector_norm(w))
            col = h.tolist() + [hn]
            for i in range(j):  # apply earlier rotations to the new column
                a, c = col[i], col[i + 1]
                col[i], col[i + 1] = cs[i] * a + sn[i] * c, -sn[i] * a + cs[i] * c
            rho = math.hypot(col[j], col[j + 1])
            c_j, s_j = (1.0, 0.0) if rho == 0.0 else (col[j] / rho, col[j + 1] / rho)
            cs.append(c_j)
            sn.append(s_j)
            col[j], col[j + 1] = rho, 0.0
            g[j], g[j + 1] = c_j * g[j], -s_j * g[j]
            H[: j + 2, j] = torch.tensor(col, dtype=torch.float64)
            j_done = j + 1
            if hn > 0.0:
                V[j + 1] = w / hn
            if abs(g[j + 1]) <= tol * bnorm or hn == 0.0 or iterations >= max_iter:
                break
        R = H[:j_done, :j_done]
        y = torch.linalg.solve_triangular(R, torch.tensor(g[:j_done], dtype=torch.float64)[:, None], upper=True)[:, 0]
        x = x + y.to(b) @ V[:j_done]
        r = b - matvec(x)  # true residual (one more matvec per cycle)
        iterations += 1
        beta = float(torch.linalg.vector_norm(r))

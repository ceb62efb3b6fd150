"""Leading eigenpairs (by |eigenvalue|) of a real symmetric matrix, warm-started.

Block subspace iteration with Rayleigh-Ritz (Saad, *Numerical Methods for
Large Eigenvalue Problems*, 2nd ed., Sec. 5.2): a block V of b = k + p
orthonormal columns (k wanted, p oversampling) is multiplied by M, the Ritz
pairs of M in span(V) are computed, and the next block is M times the Ritz
vectors, orthonormalized.  The wanted k Ritz pairs converge at the rate
|lambda_{b+1} / lambda_i| per iteration; a warm start (e.g. the projector of
the previous CTMRG step) that already spans them to accuracy delta needs only
~log(delta / tol) / log(|lambda_k| / |lambda_{b+1}|) iterations.

Each iteration costs one (n x n) @ (n x b) product and an eigendecomposition
of a b x b matrix, against ~10 n^3 for a full ``eigh``.  Convergence is
declared when every wanted residual ||M u - theta u|| is below ``tol`` times
the largest |theta|; otherwise the caller gets ``None`` and should fall back
to the full decomposition.  No derivative: this is for forward iterations
without a graph (the differentiated step keeps ``difftn.linalg.eigh``).
"""

import torch

__all__ = ["top_eigh"]


def top_eigh(M: torch.Tensor, k: int, guess: torch.Tensor | None = None, *, oversample: int | None = None,
             tol: float = 1e-12, max_iter: int = 30, seed: int = 0):  # fmt: skip
    """The k eigenpairs of largest |eigenvalue| of the symmetric M, or None if not converged.

    Parameters
    ----------
    M : torch.Tensor
        Real symmetric (n, n) matrix (no graph is recorded).
    k : int
        Number of eigenpairs wanted.
    guess : torch.Tensor, optional
        (n, m) starting columns (need not be orthonormal); completed to the
        block size with seeded random columns.
    oversample : int, optional
        Extra block columns p (default max(8, k // 4)).
    tol : float
        Relative residual bound: max_i ||M u_i - theta_i u_i|| <= tol * max |theta|.
    max_iter : int
        Cap on the iterations (matrix products).
    seed : int
        Seed of the random completion (deterministic result for given inputs).

    Returns
    -------
    (L, Q, iterations) or None
        L: (k,) sorted by |eigenvalue| descending; Q: (n, k) orthonormal.
    """
    n = M.shape[0]
    p = max(8, k // 4) if oversample is None else oversample
    b = min(k + p, n)
    with torch.no_grad():
        columns = [] if guess is None else [guess[:, :b].to(M)]
        missing = b - (0 if guess is None else columns[0].shape[1])
        if missing > 0:
            gen = torch.Generator().manual_seed(seed)
            columns.append(torch.randn(n, missing, generator=gen, dtype=torch.float64).to(M))
        V, _ = torch.linalg.qr(torch.cat(columns, dim=1))
        for iteration in range(1, max_iter + 1):
            W = M @ V
            H = V.mT @ W
            theta, S = torch.linalg.eigh(0.5 * (H + H.mT))
            order = torch.argsort(theta.abs(), descending=True)
            theta, S = theta[order], S[:, order]
            U, MU = V @ S, W @ S
            residual = torch.linalg.vector_norm(MU[:, :k] - U[:, :k] * theta[:k], dim=0).max()
            if float(residual) <= tol * float(theta[0].abs()):
                return theta[:k], U[:, :k], iteration
            V, _ = torch.linalg.qr(MU)
    return None

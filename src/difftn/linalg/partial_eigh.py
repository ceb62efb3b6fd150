"""Leading eigenpairs (by |eigenvalue|) of a real symmetric matrix, warm-started.

Restarted block Krylov iteration with Rayleigh-Ritz (Saad, *Numerical
Methods for Large Eigenvalue Problems*, 2nd ed., Secs. 5.2 and 6.2): a block
V of b = k + p orthonormal columns (k wanted, p oversampling) is extended to
the block Krylov space [V, M V, ..., M^q V], the Ritz pairs of M in that
space are computed, and the b leading ones (by |theta|) are the next V.
With q = 0 this is plain subspace iteration, whose wanted pairs converge at
the rate |lambda_{b+1} / lambda_i| per product; the Krylov blocks act as a
polynomial filter and converge markedly faster per product on the slowly
decaying corner spectra of CTMRG (measured: see ``benchmarks/bench_ctmrg_step.py``).
A warm start (e.g. the projector of the previous CTMRG step) that already
spans the wanted space to accuracy delta needs only a few restarts.

Each product costs (n x n) @ (n x b), against ~10 n^3 for a full ``eigh``.  Convergence is
declared when every wanted residual ||M u - theta u|| is below ``tol`` times
the largest |theta|; otherwise the caller gets ``None`` and should fall back
to the full decomposition.  No derivative: this is for forward iterations
without a graph (the differentiated step keeps ``difftn.linalg.eigh``).
"""

import torch

__all__ = ["top_eigh"]


def top_eigh(M: torch.Tensor, k: int, guess: torch.Tensor | None = None, *, oversample: int | None = None,
             krylov: int = 2, tol: float = 1e-12, max_iter: int = 30, seed: int = 0):  # fmt: skip
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
    krylov : int
        Blocks M V, ..., M^krylov V added to the block V before each
        Rayleigh-Ritz (0: plain subspace iteration).
    tol : float
        Relative residual bound: max_i ||M u_i - theta_i u_i|| <= tol * max |theta|.
    max_iter : int
        Cap on the matrix products.
    seed : int
        Seed of the random completion (deterministic result for given inputs).

    Returns
    -------
    (L, Q, products) or None
        L: (k,) sorted by |eigenvalue| descending; Q: (n, k) orthonormal;
        products: the number of (n x n) @ (n x b) products spent.
    """
    n = M.shape[0]
    p = max(8, k // 4) if oversample is None else oversample
    b = min(k + p, n)
    krylov = max(0, min(krylov, n // b - 1))
    with torch.no_grad():
        columns = [] if guess is None else [guess[:, :b].to(M)]
        missing = b - (0 if guess is None else columns[0].shape[1])
        if missing > 0:
            gen = torch.Generator().manual_seed(seed)
            columns.append(torch.randn(n, missing, generator=gen, dtype=torch.float64).to(M))
        V, _ = torch.linalg.qr(torch.cat(columns, dim=1))
        products = 0
        while products < max_iter:
            basis, images = [V], []
            for j in range(krylov + 1):
                images.append(M @ basis[-1])
                products += 1
                if j == krylov:
                    break
                B = torch.cat(basis, dim=1)
                X = images[-1]
                for _ in range(2):  # block Gram-Schmidt, twice for orthogonality to working precision
                    X = X - B @ (B.mT @ X)
                    X, _ = torch.linalg.qr(X)
                basis.append(X)
            B, MB = torch.cat(basis, dim=1), torch.cat(images, dim=1)
            H = B.mT @ MB
            theta, S = torch.linalg.eigh(0.5 * (H + H.mT))
            order = torch.argsort(theta.abs(), descending=True)[:b]
            theta, S = theta[order], S[:, order]
            U, MU = B @ S, MB @ S
            residual = torch.linalg.vector_norm(MU[:, :k] - U[:, :k] * theta[:k], dim=0).max()
            if float(residual) <= tol * float(theta[0].abs()):
                return theta[:k], U[:, :k], products
            V = U if krylov else torch.linalg.qr(MU)[0]
    return None

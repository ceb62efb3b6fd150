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

Two savings per restart (measured on an enlarged corner of the D=5, chi=100
published state, 9th step from the identity boundary, bound 1e-6: 1072
columns multiplied by M against 1800, 2.7 s against 3.8 s on one thread, the
same eigenvalues to 4e-12): the image M V of the new block is not
recomputed, since V = B S and M V = (M B) S are both at hand after the
Rayleigh-Ritz; and only the columns whose residual is still above the bound
are extended by Krylov blocks (soft locking: converged Ritz vectors stay in
the basis, so the Rayleigh-Ritz keeps them, but cost no more products).
Krylov blocks are orthonormalized by ``cholesky_qr``.

Each product costs (n x n) @ (n x b), against ~10 n^3 for a full ``eigh``.  Convergence is
declared when every wanted residual ||M u - theta u|| is below ``tol`` times
the largest |theta|; otherwise the caller gets ``None`` and should fall back
to the full decomposition.  No derivative: this is for forward iterations
without a graph (the differentiated step keeps ``difftn.linalg.eigh``).
"""

import torch

__all__ = ["top_eigh", "cholesky_qr"]

#: ``cholesky_qr`` takes the Cholesky route only when the column-scaled Gram
#: matrix G satisfies |G - I|_F <= this bound, i.e. cond(G) <= (1 + 1/2) / (1 - 1/2)
#: = 3: orthonormality is then lost only at the rounding level times cond(G),
#: far from where rounding could decide the branch.
CHOLQR_MAX_DEVIATION = 0.5


def cholesky_qr(X: torch.Tensor, max_deviation: float = CHOLQR_MAX_DEVIATION):
    """Orthonormal basis Q of the columns of X (m >= n, full rank): (Q, R, used_cholesky).

    Cholesky QR (Stathopoulos and Wu, SIAM J. Sci. Comput. 23, 2165 (2002);
    Fukaya et al., CholeskyQR2, 2014): with the column scaling S = diag(G)^(-1/2)
    of the Gram matrix G = X^T X, factor S G S = R_s^T R_s and set
    Q = X S R_s^(-1), R = R_s S^(-1).  It loses orthogonality like
    eps cond(X)^2, so it is used only where |S G S - I|_F <= ``max_deviation``
    (< 1, which bounds cond(S G S) by (1 + d) / (1 - d)); otherwise, or if
    the factorization fails, Householder QR (``torch.linalg.qr``) is used
    and ``used_cholesky`` is False.  Q equals Householder's Q with positive
    diag(R) up to rounding.  No graph is recorded.
    """
    with torch.no_grad():
        G = X.mT @ X
        norms = torch.sqrt(torch.diagonal(G))
        if bool((norms > 0).all()):
            scale = 1.0 / norms
            Gs = G * scale[:, None] * scale[None, :]
            eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
            deviation = float(torch.linalg.matrix_norm(Gs - eye))
            if deviation <= max_deviation:
                Rs, info = torch.linalg.cholesky_ex(Gs, upper=True)
                if int(info) == 0:
                    Q = torch.linalg.solve_triangular(Rs, X * scale, upper=True, left=False)
                    return Q, Rs * norms[None, :], True
        Q, R = torch.linalg.qr(X)
        return Q, R, False


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
        Blocks M V, ..., M^krylov V (of the columns not yet converged) added
        to the block V before each Rayleigh-Ritz (0: plain subspace iteration).
    tol : float
        Relative residual bound: max_i ||M u_i - theta_i u_i|| <= tol * max |theta|.
    max_iter : int
        Cap on the matrix products (each of M with at most b = k + p columns).
    seed : int
        Seed of the random completion (deterministic result for given inputs).

    Returns
    -------
    (L, Q, products) or None
        L: (k,) sorted by |eigenvalue| descending; Q: (n, k) orthonormal;
        products: the number of products of M with a block spent.
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
        MV, active, products = None, None, 0
        while products < max_iter:
            if MV is None:
                MV = M @ V
                products += 1
            basis, images = [V], [MV]
            X = MV if active is None else MV[:, active]
            for _ in range(krylov):
                if products >= max_iter:
                    break
                B = torch.cat(basis, dim=1)
                for _ in range(2):  # block Gram-Schmidt, twice for orthogonality to working precision
                    X = X - B @ (B.mT @ X)
                    X = cholesky_qr(X)[0]
                basis.append(X)
                X = M @ X
                images.append(X)
                products += 1
            B, MB = torch.cat(basis, dim=1), torch.cat(images, dim=1)
            H = B.mT @ MB
            theta, S = torch.linalg.eigh(0.5 * (H + H.mT))
            order = torch.argsort(theta.abs(), descending=True)[:b]
            theta, S = theta[order], S[:, order]
            U, MU = B @ S, MB @ S  # M U without a product (its rounding, ~eps |M| per restart, stays far below tol)
            residual = torch.linalg.vector_norm(MU - U * theta, dim=0)
            bound = tol * float(theta[0].abs())
            if float(residual[:k].max()) <= bound:
                return theta[:k], U[:, :k], products
            V, MV = U, MU
            if krylov:
                active = torch.nonzero(residual > bound).flatten()
            else:
                V, MV = torch.linalg.qr(MU)[0], None
    return None

"""Quasiparticle excitations of a row transfer matrix on its CTMRG boundary: gaps and correlation lengths.

The boundary MPS of a converged C4v CTMRG (the edge tensor E[a, s, b],
repeated along a row) is the leading eigenvector of the row transfer matrix,
the MPO W[m, s, t, n] = T[u=s, l=m, d=t, r=n] (eigenvalue Lambda per site).
Its excitations are sought in the quasiparticle ansatz (Haegeman et al.,
PRB 85, 100408 (2012); for transfer matrices and MPOs: Zauner et al., New J.
Phys. 17, 053002 (2015); Haegeman and Verstraete, Annu. Rev. Condens. Matter
Phys. 8, 355 (2017))::

    |Phi_p(B)> = sum_n p^n |... A_L A_L B(n) A_R A_R ...>,   p = exp(i k), k in {0, pi}

with A_L, A_R the left and right orthonormal forms of E, C the bond matrix
(A_L C = C A_R) and B = V_L X, V_L spanning the null space of A_L^T (this
gauge makes <Phi(B')|Phi(B)> = tr X'^T X).  With W divided by Lambda, the
matrix element <Phi(B')| W |Phi(B)> is the sum over the distance j of B' from
B: j = 0, F_L (B W B') F_R; j > 0 and j < 0, geometric series of the mixed
channel operators (ket A_R, bra A_L) and (ket A_L, bra A_R), summed as
p (1 - p T_mixed)^(-1) with their eigenvalue-1 direction projected out (its
weight vanishes at an exact fixed point).  The eigenvalues omega of the
resulting (chi^2 (d - 1))-dimensional problem are exp(-epsilon(k)).

A ``flip`` (a Z2 acting as a sign vector on every leg, e.g. (1, -1) in the
parity basis of ``models.ising.ising_tensor``) turns the ansatz into domain
walls between the boundary and its Z2 image (A_R -> A_R flip on the physical
leg): the elementary excitations of the symmetry-broken phase, where the
mixed channels have no eigenvalue 1 and nothing is projected.

Why this and not the column transfer matrix (``ctmrg.transfer_spectrum``):
its subleading eigenvalue resolves the continuum of the infinite column only
as discrete levels of a chi-state environment, so xi converges algebraically
in chi (1.2e-2 low at chi = 32 for the Ising model at beta = 0.35).  The
ansatz takes the momentum as a quantum number, and epsilon(0) converges with
the boundary MPS itself, i.e. exponentially in chi (3e-12 at chi = 8 there).

Correlation length: the slowest decay of connected correlations along a
lattice axis is exp(-epsilon(0) r) for a one-particle gap (xi = 1/epsilon),
and exp(-2 epsilon(0) r) at the two-kink threshold of a symmetry-broken phase
(xi = 1/(2 epsilon), ``flip`` given).  This assumes the dispersion minimum at
k = 0 (true for the ferromagnetic Ising model; compare ``momentum=pi``).

Everything here is graph-free linear algebra on detached tensors (numpy and
scipy); the environment is taken as converged.  Matrices of the mixed
channels are built and LU-factored when they have at most ``DENSE_MAX``
rows, and solved by GMRES otherwise.
"""

import math

import numpy as np
import torch

__all__ = ["DENSE_MAX", "excitation_gaps", "quasiparticle_correlation_length"]

#: Mixed channels (chi^2 d_m rows) up to this size are built and LU-factored; larger ones use GMRES.
DENSE_MAX = 4096
#: Convergence of the left-orthonormal form (change of the bond matrix per QR sweep).
CANONICAL_TOL = 1e-14
CANONICAL_MAX_ITER = 10000


def _left_orthonormal(A):
    """(A_L, L) with L A = A_L L, A_L left orthonormal, L upper triangular with positive diagonal, |L| = 1."""
    chi, d, _ = A.shape
    L, last = np.eye(chi), np.inf
    for _ in range(CANONICAL_MAX_ITER):
        Q, R = np.linalg.qr(np.tensordot(L, A, axes=([1], [0])).reshape(chi * d, chi))
        signs = np.where(np.diag(R) < 0, -1.0, 1.0)
        Q, R = Q * signs, signs[:, None] * R
        R /= np.linalg.norm(R)
        change = float(np.linalg.norm(R - L))
        # done at the tolerance, or where rounding (~1e-16 sqrt(chi)) stops the progress below 1e-12
        if change < CANONICAL_TOL or (change < 1e-12 and change >= last):
            return Q.reshape(chi, d, chi), R
        L, last = R, change
    raise RuntimeError(f"quasiparticle: the boundary MPS did not reach left-orthonormal form in {CANONICAL_MAX_ITER} sweeps")


def _left(F, X, W, Y):
    """Row vector F[a, m, a'] times the channel (ket X, MPO W, bra Y): [b, n, b']."""
    t = np.tensordot(F, X, axes=([0], [0]))  # [m, a', s, b]
    t = np.tensordot(t, W, axes=([0, 2], [0, 1]))  # [a', b, t, n]
    return np.tensordot(t, Y, axes=([0, 2], [0, 1]))  # [b, n, b']


def _right(X, W, Y, G):
    """The channel (ket X, MPO W, bra Y) times the column vector G[b, n, b']: [a, m, a']."""
    t = np.tensordot(X, G, axes=([2], [0]))  # [a, s, n, b']
    t = np.tensordot(t, W, axes=([1, 2], [1, 3]))  # [a, b', m, t]
    return np.tensordot(t, Y, axes=([1, 3], [2, 1]))  # [a, m, a']


def _site(F, X, W, G):
    """F[a, m, a'] X[a, s, b] W[m, s, t, n] G[b, n, b'] with the bra tensor left open: [a', t, b']."""
    t = np.tensordot(F, X, axes=([0], [0]))  # [m, a', s, b]
    t = np.tensordot(t, W, axes=([0, 2], [0, 1]))  # [a', b, t, n]
    return np.tensordot(t, G, axes=([1, 3], [0, 1]))  # [a', t, b']


def _leading(apply, n, seed=0):
    """Eigenvalue of largest modulus of a real linear map (real part) and its (real) eigenvector."""
    from scipy.sparse.linalg import LinearOperator, eigs

    v0 = np.random.default_rng(seed).standard_normal(n)
    vals, vecs = eigs(LinearOperator((n, n), matvec=apply, dtype=np.float64), k=1, which="LM", tol=1e-15, v0=v0)
    return float(vals[0].real), np.real(vecs[:, 0])


class _Series:
    """x -> p (1 - p T)^(-1) x for the mixed channel T of (ket X, MPO W, bra Y), on the complement of
    its eigenvalue-1 direction when p T has one.

    ``side``: "left" (row vectors, x T) or "right" (column vectors, T x).
    """

    def __init__(self, X, W, Y, p, side):
        shape = (X.shape[0], W.shape[0], Y.shape[0])
        n = math.prod(shape)
        self.p, self.shape = p, shape
        left = lambda x: _left(x.reshape(shape), X, W, Y).ravel()  # noqa: E731
        right = lambda x: _right(X, W, Y, x.reshape(shape)).ravel()  # noqa: E731
        lam, l = _leading(left, n)
        # eigenvalue 1: E's own sector (1 to ~1e-12); domain walls between orthogonal boundaries stay
        # below it (Ising, chi 16: 0.79 at beta = 0.5, 0.92 at beta_c + 0.02, 0.978 at beta_c + 0.005)
        self.project = abs(p * lam - 1.0) < 1e-6
        if self.project:  # the right eigenvector is needed only for the projection
            _, r = _leading(right, n)
            # along the solve's side: the vector the solution is orthogonal to, and the one removed from the input
            self.keep, self.drop = (r, l) if side == "left" else (l, r)
            self.norm = float(l @ r)
        self.apply = left if side == "left" else right
        self.lu = None
        if n <= DENSE_MAX:
            from scipy.linalg import lu_factor

            M = np.tensordot(np.tensordot(X, W, axes=([1], [1])), Y, axes=([3], [1]))  # [a, b, m, n, a', b']
            M = M.transpose(0, 2, 4, 1, 3, 5).reshape(n, n)  # [(a m a'), (b n b')]
            M = np.eye(n) - p * (M.T if side == "left" else M)
            if self.project:
                M = M + np.outer(self.drop, self.keep) / self.norm
            self.lu = lu_factor(M)

    def __call__(self, y):
        y = y.ravel()
        if self.project:
            y = y - (y @ self.keep) * self.drop / self.norm
        if self.lu is not None:
            from scipy.linalg import lu_solve

            x = lu_solve(self.lu, y)
        else:
            from scipy.sparse.linalg import LinearOperator, gmres

            def op(x):
                out = x - self.p * self.apply(x)
                return out + (x @ self.keep) * self.drop / self.norm if self.project else out

            x, info = gmres(LinearOperator((y.size, y.size), matvec=op, dtype=np.float64), y, rtol=1e-14, atol=0.0,
                            restart=60, maxiter=500)  # fmt: skip
            if info != 0:
                raise RuntimeError(f"quasiparticle: GMRES did not converge ({info})")
        return self.p * x.reshape(self.shape)


def excitation_gaps(E, T, *, flip=None, momentum: float = 0.0, k: int = 1) -> np.ndarray:
    """The k smallest quasiparticle gaps epsilon_i(momentum) = -ln omega_i of the row transfer matrix.

    Parameters
    ----------
    E : torch.Tensor
        Converged edge tensor E[a, s, b] of ``ctmrg.ctmrg`` (chi x d x chi, symmetric in a, b).
    T : torch.Tensor
        Bulk tensor T[u, l, d, r] it was computed with (invariant under the
        reflections of the square lattice, as C4v CTMRG requires).
    flip : sequence of float, optional
        Z2 acting as signs on every leg of T (module doc): domain walls
        between E and its image.  None: excitations of E's own sector.
    momentum : float
        0 or pi (real arithmetic).
    k : int
        Number of gaps (1 <= k < chi^2 (d - 1) - 1).

    Returns
    -------
    numpy.ndarray
        Ascending epsilon_i = -ln omega_i, omega_i the k eigenvalues of
        largest real part of the effective problem (module doc).
    """
    from scipy.sparse.linalg import LinearOperator, eigs

    if momentum not in (0.0, math.pi):
        raise ValueError(f"quasiparticle: momentum must be 0 or pi, got {momentum!r}")
    A = E.detach().cpu().double().numpy()
    W = T.detach().cpu().double().numpy().transpose(1, 0, 2, 3)  # W[m=l, s=u, t=d, n=r]
    chi, d, chi2 = A.shape
    if chi != chi2 or W.shape[1] != d or W.shape[2] != d:
        raise ValueError(f"quasiparticle: E {tuple(E.shape)} and T {tuple(T.shape)} do not fit")
    m = chi * chi * (d - 1)
    if not isinstance(k, int) or not 1 <= k < m - 1:
        raise ValueError(f"quasiparticle: k must be an integer in [1, {m - 2}], got {k!r}")
    p = 1.0 if momentum == 0.0 else -1.0
    shape = (chi, W.shape[0], chi)
    n = math.prod(shape)

    AL, L = _left_orthonormal(A)
    AR = AL.transpose(2, 1, 0)  # E is symmetric in its virtual legs: A R = R A_R with R = L^T
    C = L @ L.T
    C = C / np.linalg.norm(C)  # a normalized MPS: the channels' scale is then Lambda's alone
    lam, FL = _leading(lambda x: _left(x.reshape(shape), AL, W, AL).ravel(), n)
    _, FR = _leading(lambda x: _right(AR, W, AR, x.reshape(shape)).ravel(), n)
    FL, FR = FL.reshape(shape), FR.reshape(shape)
    FL = FL / np.tensordot(np.tensordot(C.T, np.tensordot(FL, C, axes=([2], [0])), axes=([1], [0])), FR, axes=3)
    W = W / lam
    if flip is not None:
        z = np.asarray(flip, dtype=np.float64)
        if z.shape != (d,) or not np.all(np.abs(z) == 1):
            raise ValueError(f"quasiparticle: flip must be {d} signs +-1, got {flip!r}")
        AR, FR = AR * z[None, :, None], FR * z[None, :, None]
    # null space of A_L^T: the rest of an orthonormal basis of (chi d)-space
    VL = np.linalg.svd(AL.reshape(chi * d, chi), full_matrices=True)[0][:, chi:]

    right_of_b = _Series(AR, W, AL, p, "left")  # between B and a B' to its right: ket A_R, bra A_L
    left_of_b = _Series(AL, W, AR, p, "right")  # between a B' to its left and B: ket A_L, bra A_R

    def effective(x):
        B = (VL @ x.reshape(-1, chi)).reshape(chi, d, chi)
        Y = _site(FL, B, W, FR)  # B' on B's site
        Y = Y + _site(right_of_b(_left(FL, B, W, AL)), AR, W, FR)  # B' to the right of B
        Y = Y + _site(FL, AL, W, left_of_b(_right(B, W, AR, FR)))  # B' to the left of B
        return (VL.T @ Y.reshape(chi * d, chi)).ravel()

    v0 = np.random.default_rng(0).standard_normal(m)
    omega = eigs(LinearOperator((m, m), matvec=effective, dtype=np.float64), k=k, which="LR", tol=1e-13, v0=v0,
                 return_eigenvectors=False)  # fmt: skip
    omega = np.sort(omega.real)[::-1]
    if not np.all(omega > 0):
        raise RuntimeError(f"quasiparticle: non-positive transfer eigenvalues {omega}")
    return -np.log(omega)


def quasiparticle_correlation_length(E, T, *, flip=None) -> float:
    """xi along a lattice axis from the gap at momentum 0: 1/epsilon, or 1/(2 epsilon) with ``flip`` (two kinks)."""
    eps = float(excitation_gaps(E, T, flip=flip)[0])
    return 1.0 / (2.0 * eps if flip is not None else eps)

"""Negative curvature at the stop of a C4v iPEPS optimization, and a step off it.

L-BFGS can stop short of its gradient tolerance ("line search failed", "no
change") on a plateau whose Hessian has a small negative eigenvalue: at
D = 3, chi = 50 an index-1 saddle at E = -0.667541 (eigenvalue -4.2e-4, the
largest 18.6) whose two sides lead to the two chi = 50 minima, and the
default study's D = 3, chi = 30 stop (-1.1e-3) whose descent side ends
4.7e-4 lower with one thread (docs/MEASUREMENTS.md, rounds 33-34; with two
threads the path, the stop and the basin reached differ).  ``check_curvature`` finds
the lowest curvature of E(A) by Lanczos on Hessian-vector products (double
backward through a checkpointed CTMRG run, ``methods.hessian``), restricted
to the directions that change the state:

- C4v-symmetric tensors (``symmetric_basis``): E depends on the
  symmetrized A only;
- orthogonal to A: E does not depend on the scale;
- orthogonal to the continuous symmetries (``flat_directions``): an
  orthogonal gauge O on all four virtual legs (D(D-1)/2 generators) and the
  spin rotation about y (real in the sublattice-rotated frame, and a
  symmetry of the J1-J2 model too) keep A real, C4v-symmetric and E fixed.
  Left in, they are zero modes only at a critical point, where their computed
  eigenvalues scatter around 0 by the CTMRG tolerance (+-4e-6 at tol 1e-12);
  elsewhere E(exp(tX) A) = E(A) for all t gives v.Hv = -grad E . X^2 A along
  v = X A, of either sign.  Either could pass for a negative mode.

A Ritz value below ``-tol`` certifies negative curvature whether or not
Lanczos has converged (it is a Rayleigh quotient); a Ritz value above it is
the lowest eigenvalue only when Lanczos spanned the whole reduced space or
its residual is small (``Curvature.exhausted``, ``Curvature.residual``).
``step_off`` then moves A by ``step`` |A| along the negative mode, to the side
the gradient descends to.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..contract.ctmrg import CTMRGOptions
from .hessian import hessian_operator
from .ipeps import evaluate, symmetrize

__all__ = ["symmetric_basis", "flat_directions", "state_directions", "reduced_dimension", "Curvature", "lanczos_lowest",
           "check_curvature", "SLOPE_TOL", "StepOff", "step_off"]

# The eight elements of C4v as permutations of the virtual legs (u, l, d, r), as in ipeps.symmetrize.
_C4V = [perm for k in range(4) for perm in ([(i + k) % 4 for i in range(4)], [(k - i) % 4 for i in range(4)])]


def symmetric_basis(D: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Orthonormal basis of the C4v-symmetric tensors A[s, u, l, d, r], as columns of a (2 D^4, m) matrix.

    One column per physical index and orbit of the virtual index tuples
    under C4v: the normalized indicator of the orbit (``symmetrize`` maps
    every tensor into their span).  m = 42 at D = 3, 6 * 2 at D = 2.
    """
    index = np.arange(D**4).reshape(D, D, D, D)
    orbit = np.min([index.transpose(perm) for perm in _C4V], axis=0).reshape(-1)  # smallest member names the orbit
    _, label = np.unique(orbit, return_inverse=True)
    n_orbits = int(label.max()) + 1
    B = np.zeros((2, D**4, 2, n_orbits))
    for s in range(2):
        B[s, np.arange(D**4), s, label] = 1.0
    B = B.reshape(2 * D**4, 2 * n_orbits)
    return torch.as_tensor(B / np.linalg.norm(B, axis=0), dtype=dtype, device=device)


def flat_directions(A: torch.Tensor) -> torch.Tensor:
    """Tangents at A of the continuous symmetries of E (columns; see the module docstring).

    The gauge generator X = e_ab - e_ba acts on each virtual leg (the
    derivative of O A O O O at O = 1); the spin rotation about y acts on s
    with the real generator [[0, 1], [-1, 0]].  For a C4v-symmetric A all are
    C4v-symmetric.
    """
    D = A.shape[1]
    columns = []
    for a in range(D):
        for b in range(a + 1, D):
            X = torch.zeros(D, D, dtype=A.dtype, device=A.device)
            X[a, b], X[b, a] = 1.0, -1.0
            columns.append(torch.einsum("xu,sulDr->sxlDr", X, A) + torch.einsum("xl,suldr->suxdr", X, A)
                           + torch.einsum("xd,suldr->sulxr", X, A) + torch.einsum("xr,suldr->suldx", X, A))
    J = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=A.dtype, device=A.device)
    columns.append(torch.einsum("ts,suldr->tuldr", J, A))
    return torch.stack([c.reshape(-1) for c in columns], dim=1)


def state_directions(a: torch.Tensor, symmetries: bool = True) -> torch.Tensor:
    """Orthonormal columns spanning the C4v-symmetric directions orthogonal to a (a symmetric tensor).

    With ``symmetries`` also orthogonal to ``flat_directions(a)``: the
    directions that change the state (module docstring).  Dimensions at
    D = 2, 3, 4, 5: 9, 37, 102, 228 (11, 41, 109, 239 without ``symmetries``).
    """
    V = torch.cat([a.reshape(-1, 1), flat_directions(a)], dim=1) if symmetries else a.reshape(-1, 1)
    Q, sv, _ = torch.linalg.svd(V, full_matrices=False)
    Q = Q[:, sv > 1e-8 * sv.max()]  # a zero tangent (a gauge generator that a does not feel) spans nothing
    B = symmetric_basis(a.shape[1], a.dtype, a.device)
    U, sv, _ = torch.linalg.svd(B - Q @ (Q.T @ B), full_matrices=False)
    return U[:, sv > 0.5]  # singular values 1 on the complement, 0 on span(V) (which lies in span(B))


def _unit_symmetric(A: torch.Tensor) -> torch.Tensor:
    """The point the curvature is taken at: A symmetrized under C4v, |A| = 1 (the Hessian scales as 1/|A|^2)."""
    a = symmetrize(A.detach())
    return a / torch.linalg.vector_norm(a)


def reduced_dimension(A: torch.Tensor) -> int:
    """Number of directions that change the state at A (``state_directions``): the products a full check needs."""
    return state_directions(_unit_symmetric(A)).shape[1]


@dataclass
class Curvature:
    """Lowest curvature of E(A) at a point, in the reduced space.

    Attributes
    ----------
    value : float
        Lowest Ritz value (the lowest eigenvalue when ``exhausted`` or ``residual`` is small).
    vector : torch.Tensor
        Its Ritz vector in the full parameter space (unit norm, shaped like A).
    residual : float
        |H v - value v| in the reduced space.
    products : int
        Hessian-vector products spent.
    dimension : int
        Dimension of the reduced space.
    exhausted : bool
        Lanczos spanned an invariant subspace (all of the reduced space, or a
        breakdown): the Ritz values are eigenvalues.
    energy : float
        E at the point, grad: dE/dA there (shaped like A).
    ctm_iterations : int
        CTMRG steps of the run that the products differentiate (from a fresh start).
    ctm_converged : bool
        Whether that run converged (if not, the curvature is approximate).
    """

    value: float
    vector: torch.Tensor
    residual: float
    products: int
    dimension: int
    exhausted: bool
    energy: float
    grad: torch.Tensor
    ctm_iterations: int
    ctm_converged: bool


def lanczos_lowest(matvec, m: int, max_products: int, dtype=torch.float64, seed: int = 0, device="cpu"):
    """Lowest eigenpair of a symmetric m x m operator by Lanczos with full reorthogonalization.

    At most ``min(m, max_products)`` products from a seeded random start
    (CPU generator: the same start on every machine).  Returns (value,
    vector, residual, products, exhausted); ``exhausted`` when the Krylov
    space became invariant (m products, or a breakdown), so that ``value``
    is an eigenvalue to rounding.
    """
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(m, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)
    Q = [q / torch.linalg.vector_norm(q)]
    alphas, betas = [], []
    exhausted = False
    for k in range(min(m, max_products)):
        w = matvec(Q[k])
        alphas.append(float(Q[k] @ w))
        basis = torch.stack(Q, dim=1)
        for _ in range(2):  # full reorthogonalization, twice (Kahan: twice is enough)
            w = w - basis @ (basis.T @ w)
        beta = float(torch.linalg.vector_norm(w))
        scale = max(abs(a) for a in alphas)
        betas.append(beta)
        if k + 1 == m or beta <= 1e-10 * max(scale, 1e-300):
            exhausted = True
            break
        Q.append(w / beta)
    n = len(alphas)
    T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if n > 1:
        off = torch.tensor(betas[: n - 1], dtype=torch.float64)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    values, vectors = torch.linalg.eigh(T)
    y = vectors[:, 0]
    residual = abs(betas[n - 1] * float(y[-1]))
    vector = torch.stack(Q[:n], dim=1) @ y.to(Q[0])
    return float(values[0]), vector, residual, n, exhausted


def check_curvature(A: torch.Tensor, h: torch.Tensor, ctm: CTMRGOptions, env=None, *, estimator: str = "plaquette",
                    J2: float = 0.0, max_products: int = 60, seed: int = 0,
                    progress: bool = False) -> Curvature:  # fmt: skip
    """Lowest curvature of E at A/|A| in the directions that change the state (module docstring).

    ``ctm`` is used with ``grad_mode="checkpoint"`` (twice differentiable;
    the fixed-point backward is not), starting from ``env``.  One forward
    and backward with a graph, then one product per Lanczos step, at most
    ``max_products``; the reduced space has 2 (number of C4v orbits) - 1 -
    D(D-1)/2 - 1 dimensions (37 at D = 3, 228 at D = 5), so at D <= 3 the
    whole space is spanned within the default 60 products.  ``progress``:
    a progress bar over the products.
    """
    ctm = CTMRGOptions(**{**ctm.__dict__, "grad_mode": "checkpoint"})
    a = _unit_symmetric(A)

    infos = []

    def energy(x):
        value, _, _, info = evaluate(x, h, ctm, env=env, estimator=estimator, J2=J2)
        infos.append(info)
        return value

    loss, grad, matvec = hessian_operator(energy, a)
    Q = state_directions(a)

    bar = tqdm(total=min(Q.shape[1], max_products), disable=not progress, desc="Hessian", unit="HVP")

    def reduced(y):
        bar.update(1)
        return Q.T @ matvec((Q @ y).reshape(a.shape)).reshape(-1)

    value, y, residual, products, exhausted = lanczos_lowest(reduced, Q.shape[1], max_products, a.dtype, seed,
                                                             a.device)  # fmt: skip
    bar.close()
    return Curvature(value=value, vector=(Q @ y).reshape(a.shape), residual=residual, products=products,
                     dimension=Q.shape[1], exhausted=exhausted, energy=float(loss), grad=grad,
                     ctm_iterations=infos[0].iterations, ctm_converged=bool(infos[0].converged))  # fmt: skip


#: |dE/dA . v| below which the gradient does not pick the side of a step off a saddle (energies do):
#: at a critical point it is rounding, and its sign would differ between machines.
SLOPE_TOL = 1e-8


@dataclass
class StepOff:
    """A step off a saddle (``step_off``): the new point, the energies of its side and the other, |dE/dA . v|,
    and what chose the side ("gradient" or "energy")."""

    point: torch.Tensor
    energy: float
    energy_other: float
    slope: float
    by: str


def step_off(A: torch.Tensor, curvature: Curvature, h: torch.Tensor, ctm: CTMRGOptions, env=None, *,
             step: float = 0.05, estimator: str = "plaquette", J2: float = 0.0) -> StepOff:  # fmt: skip
    """A/|A| + step * v along the curvature's mode v, on its descent side.

    The side is the one the gradient descends to (dE/dA . v < 0, ``by =
    "gradient"``), the standard choice of negative-curvature methods, unless
    |dE/dA . v| < ``SLOPE_TOL`` (a critical point): then the side of lower
    energy (``by = "energy"``).  Both sides are evaluated (CTMRG from
    ``env``, no graph), for the record: where CTMRG has two fixed points
    (the default study's D = 3 stop) their energies differ from the check's
    by ~1e-6, more than the step changes E, so the energy alone would choose
    by the branch.  Measured there with one thread: the gradient's side leads
    to the paper's minimum (-0.66799), the other to -0.66752 (MEASUREMENTS,
    round 33); with two threads the run stops three iterations later on a
    stronger mode (-1.9e-2), and its gradient's side led to -0.66752 (round 34).
    """
    a = _unit_symmetric(A)
    v = curvature.vector
    slope = float((curvature.grad * v).sum())
    v = -v if slope > 0 else v
    energies = []
    with torch.no_grad():
        for sign in (1.0, -1.0):
            energy = float(evaluate(a + sign * step * v, h, ctm, env=env, estimator=estimator, J2=J2)[0])
            energies.append(energy if math.isfinite(energy) else math.inf)
    by = "gradient" if abs(slope) >= SLOPE_TOL else "energy"
    sign = 1.0 if by == "gradient" or energies[0] <= energies[1] else -1.0
    chosen, other = energies if sign > 0 else energies[::-1]
    return StepOff(point=a + sign * step * v, energy=chosen, energy_other=other, slope=abs(slope), by=by)

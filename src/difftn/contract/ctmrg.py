"""C4v-symmetric corner transfer matrix renormalization group (CTMRG).

References: T. Nishino and K. Okunishi, J. Phys. Soc. Jpn. 65, 891 (1996);
R. Orus and G. Vidal, PRB 80, 094403 (2009); the C4v form used for iPEPS
optimization in Liao et al., PRX 9, 031041 (2019), Sec. V.

The bulk tensor T[u, l, d, r] (bond dimension d; for iPEPS the double-layer
tensor, d = D^2) must be symmetric under the point group C4v of the square.
The environment is one corner C (chi x chi, symmetric) and one edge
E[a, m, b] (chi x d x chi, symmetric in a <-> b), repeated around the lattice::

    C --- E --- C          E[a, m, b]: a toward the corner it touches
    |     |     |          first, m into the bulk, b away from it
    E --- T --- E
    |     |     |
    C --- E --- C

One step (``ctmrg_step``) absorbs one row and column into the corner,

    C'[(e, d), (c, r)] = sum C[a, b] E[b, t, c] E[a, l, e] T[t, l, d, r],

diagonalizes the symmetric C' with ``difftn.linalg.eigh``, keeps the chi
eigenvectors P of largest |eigenvalue|, and sets C <- P^T C' P (diagonal),
E <- P^T (E T) P, each divided by its norm.  In the forward iterations the
sign of every eigenvector is fixed against the previous edge
(``_sign_vector``).

Convergence is judged on gauge-free quantities: by default the half-row
density matrix ``row_density`` and the sorted corner spectrum
(``default_observable``), or whatever ``observable`` the caller passes (e.g.
the bond density matrix its loss uses); never on a basis-ordered spectrum.

Fixed-point gradients need x* = (C*, E*) to be a fixed point element by
element, which a sign fix cannot give when the corner spectrum has
(near-)degenerate multiplets (e.g. the Z2-broken phase of Ising, where the
eigenvectors inside each pair rotate freely from step to step).  After
convergence, ``_match_gauge`` finds the orthogonal U (block diagonal over
multiplets, no threshold-sensitive decision) with U^T step(x*) U closest to
x*; the projector P* = P U then serves as a constant reference, and the step
of the backward, ``ctmrg_step(..., ref=P*)``, rotates its kept eigenvectors
to the basis of their span nearest to P* (``_align``: a polar factor, which
depends only on the span, so degeneracies inside the kept set do not matter).

Gradient modes of ``ctmrg`` (``grad_mode``):

``"unrolled"``      autograd records every iteration (memory grows with them);
``"checkpoint"``    every iteration recomputed in the backward (one step's memory);
                    both start from the fresh environment, also when handed a
                    warm one: the steps they differentiate must be enough to
                    converge the derivative of the environment too;
``"fixed_point"``   forward without a graph, backward by the implicit function
                    theorem at the fixed point (Eq. 7 of the paper): the
                    adjoint equation solved by GMRES (``difftn.contract.fixedpoint``);
                    memory independent of the number of iterations.  Without
                    an element-wise fixed point (|step(x*) - x*| above
                    ``fp_mismatch``, or no convergence) the run falls back to
                    an ``"unrolled"`` run from the fresh start (a ``"checkpoint"``
                    one when that graph could be large: ``fallback_mode``) and
                    logs a warning;
                    an unconverged adjoint raises ``FixedPointError``.
                    First derivatives only: a differentiable backward
                    (``create_graph=True``, Hessian-vector products) raises
                    ``FixedPointError`` too.
"""

import logging
import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from ..infra.runtime import trim_heap
from ..linalg.broadening import DEFAULT_EPS
from ..linalg.eigh import eigh
from ..linalg.polar import polar
from ..linalg.partial_eigh import top_eigh

__all__ = [
    "GRAD_MODES",
    "CTMRGOptions",
    "CTMRGInfo",
    "NotConvergedError",
    "init_env",
    "register_layers",
    "ctmrg_step",
    "ctmrg",
    "fallback_mode",
    "row_density",
    "default_observable",
    "lnz_per_site",
    "site_expectation",
    "transfer_matvec",
    "transfer_spectrum",
    "correlation_length",
    "extrapolated_correlation_length",
]

log = logging.getLogger(__name__)

#: Allowed gradient modes (see module docstring).
GRAD_MODES = ("unrolled", "checkpoint", "fixed_point")

#: Return the heap's free pages to the OS before every checkpointed step (``ctmrg``);
#: False only to measure what that saves (benchmarks/bench_ctmrg_step.py --no-trim).
TRIM_CHECKPOINTED_STEPS = True
#: Without an element-wise fixed point, the "fixed_point" mode differentiates
#: a run from the fresh start: unrolled when its whole graph fits in this many
#: bytes even at ``max_iter`` steps, checkpointed otherwise.  Recomputing every
#: step costs time, and torch.utils.checkpoint imports torch._dynamo on first
#: use (1.1 s, a quarter of a whole D = 2, chi = 30 optimization).
UNROLLED_FALLBACK_BYTES = 512 * 2**20
#: Bound on what autograd saves per unrolled step, in (chi D^2)^2-sized tensors
#: (measured 6.2-8.0 at D = 2..4, chi = 12..50, the energy estimator included).
SAVED_PER_STEP = 10


class NotConvergedError(RuntimeError):
    """CTMRG did not reach its tolerance within the iteration cap."""


@dataclass(frozen=True)
class CTMRGOptions:
    """Options of a C4v CTMRG run.

    Attributes
    ----------
    chi : int
        Environment bond dimension (>= 1).
    tol : float
        Convergence: the largest element-wise change, between two
        iterations, of the observable (``ctmrg``'s ``observable``; default
        the normalized half-row density matrix ``row_density``) is below
        ``tol``.  Gauge- and ordering-independent.
    max_iter : int
        Iteration cap; a run that hits it is reported as not converged.
    grad_mode : str
        One of ``GRAD_MODES``.
    eps : float
        Lorentzian broadening in the eigh and polar backward.
    fp_tol : float
        Fixed-point backward: GMRES stops when the adjoint equation's
        residual is below ``fp_tol`` times its right-hand side.
    fp_max_iter : int
        Cap on GMRES matvecs (each one vector-Jacobian product of a step);
        not converging within it raises ``FixedPointError``.
    fp_mismatch : float
        Largest element-wise change |step(x*) - x*| (C and E have unit norm)
        accepted as a fixed point.  In ``"fixed_point"`` mode the forward keeps
        iterating past ``tol`` until it is reached (within ``max_iter``);
        otherwise it falls back to ``"checkpoint"`` and logs a warning.
    """

    chi: int = 30
    tol: float = 1e-10
    max_iter: int = 200
    grad_mode: str = "fixed_point"
    eps: float = DEFAULT_EPS
    fp_tol: float = 1e-12
    fp_max_iter: int = 200
    fp_mismatch: float = 1e-9

    def __post_init__(self):
        if not isinstance(self.chi, int) or self.chi < 1:
            raise ValueError(f"CTMRG chi must be an integer >= 1, got {self.chi!r}")
        if not self.tol > 0:
            raise ValueError(f"CTMRG tol must be > 0, got {self.tol!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"CTMRG max_iter must be an integer >= 1, got {self.max_iter!r}")
        if self.grad_mode not in GRAD_MODES:
            raise ValueError(f"CTMRG grad_mode must be one of {GRAD_MODES}, got {self.grad_mode!r}")
        if not self.fp_tol > 0:
            raise ValueError(f"CTMRG fp_tol must be > 0, got {self.fp_tol!r}")
        if not isinstance(self.fp_max_iter, int) or self.fp_max_iter < 1:
            raise ValueError(f"CTMRG fp_max_iter must be an integer >= 1, got {self.fp_max_iter!r}")
        if not self.fp_mismatch > 0:
            raise ValueError(f"CTMRG fp_mismatch must be > 0, got {self.fp_mismatch!r}")


@dataclass
class CTMRGInfo:
    """Outcome of a CTMRG run.

    Attributes
    ----------
    converged : bool
        The observable's change fell below ``tol``.
    iterations : int
        Steps done (of the run that produced the environment).
    error : float
        Last change of the observable.
    truncation_error : float
        Discarded weight of the last step.
    elementwise_change : float
        Last max |x_n - x_{n-1}| of (C, E) in the forward's sign gauge; in
        ``"fixed_point"`` mode, |step(x*) - x*| after the gauge is matched
        (inf if it could not be).
    grad_mode : str
        Gradient mode actually attached (``"fixed_point"`` may fall back to
        ``"checkpoint"``), or ``"none"`` when T needs no gradient.
    adjoint_iterations, adjoint_residual : int, float
        Fixed-point backward only, filled in when the backward runs: GMRES
        matvecs and final relative residual of the adjoint equation
        (-1 and nan before).
    """

    converged: bool
    iterations: int
    error: float
    truncation_error: float = 0.0
    elementwise_change: float = float("inf")
    grad_mode: str = "none"
    adjoint_iterations: int = -1
    adjoint_residual: float = float("nan")


def init_env(T: torch.Tensor, boundary: torch.Tensor | None = None):
    """Starting corner and edge: T with the outward legs closed by ``boundary``.

    ``boundary`` is a vector of length d (default: all ones).  For a
    double-layer iPEPS tensor pass the flattened identity (ket = bra on the
    boundary); for a classical model a boundary spin state.  The dimension
    then grows d, d^2, ... up to chi over the first steps.
    """
    d = T.shape[0]
    v = T.new_ones(d) if boundary is None else boundary.to(T)
    C = torch.einsum("uldr,u,l->dr", T, v, v)
    E = torch.einsum("uldr,l->urd", T, v)
    return _normalize(0.5 * (C + C.mT)), _normalize(0.5 * (E + E.permute(2, 1, 0)))


def _normalize(X):
    return X / torch.linalg.vector_norm(X)


def enlarged_corner(C, E, T, layers=None):
    """C'[(e, d), (c, r)] of one step, as a symmetric (chi d) x (chi d) matrix.

    ``layers``: the single-layer A[s, u, l, d, r] of which T is the double
    layer (``register_layers``); the ket and bra layers are then absorbed one
    after the other, 4 chi^2 D^6 operations instead of chi^2 D^8 with T.
    """
    chi, d = E.shape[0], T.shape[0]
    X = torch.einsum("ab,btc->atc", C, E)
    if layers is None:
        Y = torch.einsum("ale,atc->eltc", E, X)
        Cp = torch.einsum("eltc,tldr->edcr", Y, T).reshape(chi * d, chi * d)
    else:
        Cp = _corner_by_layers(E, X, layers)
    return 0.5 * (Cp + Cp.mT)


#: Graph-free layer contractions on the CPU run in slices of the free environment
#: leg sized so that the largest intermediate holds about this many numbers
#: (cache-sized: measured at D=5, chi=100, one thread, 0.6 s per corner against
#: 1.1 s for the whole-tensor einsum, limited by memory traffic); other devices
#: take one slice.
LAYER_SLICE_NUMBERS = 2**18


def _slices(n, per_row, device):
    if torch.device(device).type != "cpu":
        return [slice(0, n)]
    m = max(1, min(n, LAYER_SLICE_NUMBERS // max(1, per_row)))
    return [slice(i, min(i + m, n)) for i in range(0, n, m)]


def _corner_by_layers(E, X, A):
    """C'[(e, D d), (c, R r)] from E[a, (L l), e], X[a, (T t), c] = (C E) and the single layer A.

    Y = E^T X, then the ket layer (over L, T) and the bra layer (over s, t, l),
    each one matrix product over a slice of e.  Same numbers as the einsum
    chain E, X, A, A (4 chi^2 D^6 multiplications, no D^8 tensor).
    """
    chi, d = E.shape[0], E.shape[1]
    S, D = A.shape[0], A.shape[1]
    ket = A.permute(2, 1, 0, 3, 4).reshape(D * D, S * D * D)  # [L T | s D R]
    bra = A.reshape(S * D * D, D * D)  # [s t l | d r]
    X = X.reshape(chi, d * chi)
    out = E.new_empty(chi, D, D, chi, D, D)  # [e, D, d, c, R, r]
    for sl in _slices(chi, chi * S * D**4, E.device):
        w = sl.stop - sl.start
        Y = E[:, :, sl].reshape(chi, d * w).mT @ X  # [(L l e), (T t c)]
        Y = Y.reshape(D, D, w, D, D, chi).permute(1, 2, 4, 5, 0, 3).reshape(-1, D * D)  # [l e t c | L T]
        K = (Y @ ket).reshape(D, w, D, chi, S, D, D).permute(1, 3, 5, 6, 4, 2, 0).reshape(-1, S * D * D)
        out[sl] = (K @ bra).reshape(w, chi, D, D, D, D).permute(0, 2, 4, 1, 3, 5)  # [e c D R | d r] -> [e D d c R r]
    return out.reshape(chi * d, chi * d)


def _edge_by_layers(P, E, A):
    """P^T (E T) P, i.e. E'[x, (R r), y], with T's ket and bra layers A absorbed one after the other.

    Z[x, (U u), (L l), e] = sum_a P[(a, U u), x] E[a, (L l), e]; then the ket
    layer (over U, L), the bra layer (over s, u, l) and P again over (e, D d),
    each one matrix product over a slice of x.
    """
    chi_old, d = E.shape[0], E.shape[1]
    S, D = A.shape[0], A.shape[1]
    k = P.shape[1]
    ket = A.permute(1, 2, 0, 3, 4).reshape(D * D, S * D * D)  # [U L | s D R]
    bra = A.reshape(S * D * D, D * D)  # [s u l | d r]
    P3 = P.reshape(chi_old, d, k)
    E2 = E.reshape(chi_old, d * chi_old)
    out = E.new_empty(k, d, k)
    for sl in _slices(k, chi_old * S * D**4, E.device):
        w = sl.stop - sl.start
        Z = P3[:, :, sl].reshape(chi_old, d * w).mT @ E2  # [(U u x), (L l e)]
        Z = Z.reshape(D, D, w, D, D, chi_old).permute(1, 2, 4, 5, 0, 3).reshape(-1, D * D)  # [u x l e | U L]
        K = (Z @ ket).reshape(D, w, D, chi_old, S, D, D).permute(1, 3, 5, 6, 4, 0, 2).reshape(-1, S * D * D)
        W = (K @ bra).reshape(w, chi_old, D, D, D, D).permute(0, 3, 5, 1, 2, 4)  # [x e D R | d r] -> [x R r e D d]
        out[sl] = (W.reshape(w * d, chi_old * d) @ P).reshape(w, d, k)
    return out


#: Graph-free steps absorb a registered double layer as separate ket and bra
#: layers from this bond dimension on (4 chi^2 D^6 multiplications instead of
#: chi^2 D^8, but more, smaller products and permutations).  Measured, one
#: thread, published states (corner / edge, ms, layers against T): D = 3,
#: chi = 30: 4.35 / 3.74 against 1.70 / 1.95; D = 4, chi = 64: 52.8 / 46.2
#: against 46.1 / 48.8; D = 5, chi = 100: 526 / 393 against 691 / 637.
LAYERS_MIN_D = 5

#: Double-layer tensors declared by ``register_layers``: data pointer ->
#: (weak reference to T, its version counter, the single layer A).
_LAYERS = {}


def register_layers(T: torch.Tensor, A: torch.Tensor) -> None:
    """Declare T[(u u'), (l l'), (d d'), (r r')] = sum_s A[s,u,l,d,r] A[s,u',l',d',r'].

    Forward steps without a graph then contract A's ket and bra layers
    separately from D = ``LAYERS_MIN_D`` on (``enlarged_corner``, edge
    update; the column transfer matrix at any D), also for ``T.detach()``
    (same storage); steps that are differentiated keep T.  The declaration
    lapses when T is freed or modified in place.
    """
    key = T.data_ptr()
    _LAYERS[key] = (weakref.ref(T, lambda _: _LAYERS.pop(key, None)), T._version, A.detach())


def _registered_layers(T):
    entry = _LAYERS.get(T.data_ptr())
    if entry is None:
        return None
    ref, version, A = entry
    original = ref()
    if original is None or original.shape != T.shape or T._version != version or original.data_ptr() != T.data_ptr():
        return None
    return A.to(T)


def ctmrg_step(C, E, T, chi: int, eps: float = DEFAULT_EPS, ref=None, return_projector: bool = False):
    """One gauge-fixed C4v CTMRG step; returns (C, E, corner spectrum, truncation error).

    ``ref``: the previous step's projector (chi_old d x chi).  When given (and
    of the same shape), the kept basis is rotated to the orthogonal basis of
    the kept eigenspace nearest to it (``_align``), which fixes the full gauge
    also inside degenerate multiplets; C is then P^T C' P, symmetric but not
    diagonal.  Without it, eigenvectors are sign-fixed against E
    (``_sign_vector``, adequate for non-degenerate spectra).  The spectrum
    returned is |L|/max|L| sorted descending, independent of the basis.
    ``return_projector=True`` appends the projector P to the result.

    A step that records no graph (grad disabled or no input requiring grad)
    takes two shortcuts that leave its result unchanged to ~1e-12: the top
    chi eigenpairs of C' come from ``linalg.partial_eigh.top_eigh``,
    warm-started from the previous step's projector when E is that step's
    output (else, or if it does not converge, the full eigh), and a double
    layer declared by ``register_layers`` is absorbed as separate ket and bra
    layers when D >= ``LAYERS_MIN_D``.  A step that is differentiated always takes the full
    ``difftn.linalg.eigh`` (and its backward) and T itself.
    """
    chi_old, d = E.shape[0], T.shape[0]
    graph = torch.is_grad_enabled() and (C.requires_grad or E.requires_grad or T.requires_grad)
    layers = None if graph else _registered_layers(T)
    if layers is not None and layers.shape[1] < LAYERS_MIN_D:
        layers = None  # small D: the fused double layer is faster (fewer, larger products)
    Cp = enlarged_corner(C, E, T, layers)
    k = min(chi, Cp.shape[0])
    top = None if graph else _top_eigenpairs(Cp, k, E)
    if top is None:
        L, Q = eigh(Cp, eps=eps)
        order = torch.argsort(L.detach().abs(), descending=True)
        keep = order[:k]
        L, P = L[keep], Q[:, keep]
    else:
        L, P = top
    spectrum = L.detach().abs() / L.detach().abs().max()
    aligned = ref is not None and tuple(ref.shape) == tuple(P.shape)
    if aligned:
        P = _align(P, ref, eps)
    elif C.shape[0] == k:  # same order as the previous corner (ties in |L| come in +- pairs)
        perm = _match_order(L.detach(), torch.diagonal(C).detach())
        L, P = L[perm], P[:, perm]
    weight = L.detach() ** 2
    trunc = float(1 - weight.sum() / (Cp.detach() ** 2).sum())

    if layers is None:
        P3 = P.reshape(chi_old, d, k)
        Z = torch.einsum("aux,ale->xule", P3, E)
        W = torch.einsum("xule,uldr->xedr", Z, T)
        En = torch.einsum("xedr,edy->xry", W, P3)
    else:  # ket, then bra layer
        En = _edge_by_layers(P, E, layers)
    En = 0.5 * (En + En.permute(2, 1, 0))
    if aligned:
        Cn = P.mT @ Cp @ P
        Cn = 0.5 * (Cn + Cn.mT)
    else:
        signs = _sign_vector(En, E)
        En, P = En * signs[:, None, None] * signs[None, None, :], P * signs
        Cn = torch.diag(L)
    Cn, En = _normalize(Cn), _normalize(En)
    if not graph:
        last = _WARM["spectrum"]
        same = last is not None and last.shape == spectrum.shape
        change = float(torch.linalg.vector_norm(spectrum - last)) if same else 1.0
        _WARM.update(edge=weakref.ref(En), projector=P.detach(), spectrum=spectrum, change=change)
    out = (Cn, En, spectrum, max(trunc, 0.0))
    return out + (P.detach(),) if return_projector else out


def _align(P, ref, eps):
    """Basis of span(P) nearest to ``ref``: P polar(P^T ref).

    This is the orthogonal Procrustes solution: of all orthonormal bases P U
    of the kept eigenspace it minimizes |P U - ref|.  It depends on the
    eigenvectors only through the projector P P^T onto their span, so it is
    continuous through (near-)degeneracies inside the kept spectrum and
    needs no threshold to detect them; at a fixed point, where span(P) =
    span(ref), it returns ref exactly.  ``ref`` is held constant (no graph).
    """
    return P @ polar(P.mT @ ref.detach().to(P), eps)


#: Forward steps without a graph: the projector of the last step, with (a weak
#: reference to) the edge it produced.  The next step warm-starts its partial
#: eigensolver from that projector only when it is handed that very edge
#: object (the previous step's output), so a result depends on the inputs of
#: the ``ctmrg`` run alone, never on unrelated earlier runs.
_WARM = {"edge": None, "projector": None, "spectrum": None, "change": 1.0}

#: Partial eigensolver settings: relative residual bound (measured: the
#: converged CTMRG energy then equals the full-eigh one to ~1e-13) and the
#: iteration cap before falling back to the full ``eigh``.
PARTIAL_TOL = 1e-12
PARTIAL_MAX_ITER = 40
#: Far from convergence the eigenpairs need not be exact: the residual bound
#: is max(PARTIAL_TOL, min(PARTIAL_LOOSE, PARTIAL_FRACTION x the corner
#: spectrum change of the previous step)), so the error a step adds stays a
#: hundredth of the step's own change and tends to PARTIAL_TOL at convergence.
PARTIAL_LOOSE = 1e-6
PARTIAL_FRACTION = 1e-2
#: Block of the partial eigensolver: k + max(16, PARTIAL_OVERSAMPLE x k) columns,
#: PARTIAL_KRYLOV Krylov blocks per restart.
PARTIAL_OVERSAMPLE = 0.5
PARTIAL_KRYLOV = 2
#: Below this matrix size the full ``eigh`` is cheap anyway (measured: 0.01 s at n = 243, one thread).
PARTIAL_MIN_N = 1024


def _top_eigenpairs(Cp, k, E):
    """Top-k eigenpairs of the enlarged corner from the previous projector, or None (use the full eigh).

    Only when E is the edge the previous graph-free step returned, its
    projector has the right shape, and the block (k plus oversampling) is at
    most half the matrix; otherwise, or if the solver does not converge
    within ``PARTIAL_MAX_ITER`` products, the caller takes the full ``eigh``.
    """
    ref, guess = _WARM["edge"], _WARM["projector"]
    if ref is None or ref() is not E or guess.shape != (Cp.shape[0], k):
        return None
    oversample = max(16, int(PARTIAL_OVERSAMPLE * k))
    if Cp.shape[0] < PARTIAL_MIN_N or 2 * (k + oversample) > Cp.shape[0]:
        return None
    tol = max(PARTIAL_TOL, min(PARTIAL_LOOSE, PARTIAL_FRACTION * _WARM["change"]))
    top = top_eigh(Cp.detach(), k, guess, oversample=oversample, krylov=PARTIAL_KRYLOV, tol=tol,
                   max_iter=PARTIAL_MAX_ITER)  # fmt: skip
    if top is None:
        log.debug("partial eigensolver not converged in %d products: full eigh", PARTIAL_MAX_ITER)
        return None
    L, P, _ = top
    return L, P


def _match_order(L_new, L_old):
    """Permutation of L_new whose signed ranks follow those of L_old.

    Corner spectra of iPEPS often come in pairs +-lambda of (nearly) equal
    magnitude, whose order by |lambda| can swap from one iteration to the next;
    matching signed ranks to the previous corner keeps each eigenvector in its
    slot, so that the converged step is an element-wise fixed point.
    """
    perm = torch.empty_like(L_new, dtype=torch.long)
    perm[torch.argsort(L_old)] = torch.argsort(L_new)
    return perm


def _sign_vector(E_new, E_old):
    """Signs s_x such that basis vectors x -> s_x x make E_new match E_old element-wise.

    Eigenvectors come with arbitrary signs; C = diag(L) does not see them but
    E[x, m, y] changes by s_x s_y.  Going through x in order, s_x is the sign
    of sum_{y<x} s_y <E_new[y, :, x], E_old[y, :, x]>; a vector coupled to no
    earlier one keeps +1 (E is then block diagonal and the relative sign of
    the blocks does not show).  The signs are piecewise constant, so they
    carry no derivative.
    """
    if E_new.shape != E_old.shape:
        return E_new.new_ones(E_new.shape[0])  # chi still growing: no previous basis to align with
    with torch.no_grad():
        G = torch.einsum("ymx,ymx->yx", E_new, E_old.to(E_new)).cpu().numpy()
    scale = float(np.abs(G).max())
    s = np.ones(G.shape[0], dtype=G.dtype)
    for x in range(1, G.shape[0]):  # numpy, not torch: one small dot per x, where torch's call overhead dominated
        w = float(s[:x] @ G[:x, x])
        if abs(w) > 1e-12 * scale:
            s[x] = 1.0 if w > 0 else -1.0
    return torch.as_tensor(s).to(E_new)


def row_density(C, E):
    """Half-row density matrix rho[m, m'] of the environment, trace 1.

    The two-row network (C E C on top, C E C below) with the middle edges'
    bulk legs m, m' open: the environment of one bulk bond.  It is invariant
    under the gauge and ordering of the environment basis, and is the
    first part of the default convergence observable of ``ctmrg``.
    """
    upper = torch.einsum("ab,bmc,cd->amd", C, E, C)
    rho = torch.einsum("amd,and->mn", upper, upper)
    return rho / torch.trace(rho)


def default_observable(C, E):
    """Convergence observable of ``ctmrg``: ``row_density`` and the sorted corner spectrum.

    Both are independent of the gauge and of the order of the basis: the
    half-row density matrix (flattened) followed by |eigenvalues of C|
    sorted descending, divided by the largest.
    """
    spectrum = torch.linalg.eigvalsh(C).abs().sort(descending=True).values
    return torch.cat([row_density(C, E).reshape(-1), spectrum / spectrum[0]])


def _elementwise_change(old, new):
    if old is None or any(a.shape != b.shape for a, b in zip(old, new)):
        return float("inf")
    return max(float((a - b).abs().max()) for a, b in zip(old, new))


def _out_of_reach(previous, mismatch, steps, target, budget) -> bool:
    """Whether |step(x*) - x*|, falling from ``previous`` to ``mismatch`` in ``steps`` steps, misses ``target``.

    The fixed-point forward iterates past convergence until the mismatch
    reaches fp_mismatch, within ``budget`` more steps.  At the rate measured
    since its first look it would need log(target / mismatch) / log(rate) more steps; if that exceeds what is left
    of max_iter (or the mismatch did not fall), more steps are wasted and the
    caller falls back to checkpointed unrolling at once.  Measured: D = 2 near
    a product state (a corner spectrum ending in rounding-level eigenvalues)
    falls from 1.4e-8 to 1.4e-9 in 190 steps, never to 1e-9 in the budget.
    """
    if steps == 0 or not math.isfinite(previous):
        return False  # first look: no rate yet
    if mismatch >= previous:
        return True
    rate = (mismatch / previous) ** (1 / steps)
    return math.log(target / mismatch) / math.log(rate) > budget


#: Element-wise rounds of the fixed-point forward: a probe of this many steps
#: measures the rate at which |step(x*) - x*| falls; the next round takes the
#: steps that rate needs to reach fp_mismatch, times ``ROUND_MARGIN``, at
#: most a quarter of the steps so far (at least ``ROUND_CAP_MIN``) before the
#: next look.  Measured at D = 4, chi = 64 from a converged environment:
#: 4.6e-9 after the observable settled, 1e-9 needed, 3.7e-13 after the
#: fixed round of 10 steps that this schedule replaced.
ROUND_PROBE = 3
ROUND_MARGIN = 1.5
ROUND_CAP_MIN = 10


def _round_steps(first, mismatch, steps, target, iterations) -> int:
    """Steps of the next element-wise round: ``ROUND_PROBE`` at first, then what the rate needs."""
    if steps == 0 or not math.isfinite(first) or mismatch >= first:
        return ROUND_PROBE  # no rate yet (an infinite first look: no element-wise comparison)
    rate = (mismatch / first) ** (1 / steps)
    need = math.log(target / mismatch) / math.log(rate)
    return max(1, min(math.ceil(ROUND_MARGIN * need), max(ROUND_CAP_MIN, iterations // 4)))


def _iterate(C, E, T, options, step, observable, *, min_iter=0):
    """Iterate ``step`` until ``observable`` changes by less than ``options.tol``.

    ``min_iter``: at least that many steps.
    Returns C, E, the last projector and the info.
    """
    obs, err, change, trunc, P, it = None, float("inf"), float("inf"), 0.0, None, 0
    for it in range(1, options.max_iter + 1):
        Cn, En, _, trunc, P = step(C, E, T, P)
        change = _elementwise_change((C.detach(), E.detach()), (Cn.detach(), En.detach()))
        C, E = Cn, En
        with torch.no_grad():
            new_obs = observable(C.detach(), E.detach())
        err = float((new_obs - obs).abs().max()) if obs is not None and obs.shape == new_obs.shape else float("inf")
        obs = new_obs
        if it >= min_iter and err < options.tol:
            break
    return C, E, P, CTMRGInfo(err < options.tol, it, err, trunc, change)


def _fixed_point_gauge(C, E, T, options):
    """Projector P* making (C, E) an element-wise fixed point of the aligned step, and the mismatch.

    One step from (C, E) gives (C1, E1) in the basis of its projector P1;
    ``_match_gauge`` finds the orthogonal U with U^T (C1, E1) U closest to
    (C, E), and P* = P1 U.  The step aligned to the constant reference P*
    (``ctmrg_step(..., ref=P*)``) maps (C, E) to U^T (C1, E1) U (its enlarged
    corner is the same, and the alignment of P1 to P1 U returns P1 U), so the
    mismatch is the largest element-wise difference of U^T (C1, E1) U from
    (C, E), which ``_match_gauge`` computed; taking it from there saves a
    second step.  The fixed-point backward re-checks it with the step it
    differentiates.
    """
    C1, E1, _, _, P1 = ctmrg_step(C, E, T, options.chi, options.eps, return_projector=True)
    if C1.shape != C.shape or E1.shape != E.shape:
        return None, float("inf")
    U, mismatch = _match_gauge(C1, E1, C, E)
    if U is None:
        return None, float("inf")
    return P1 @ U, mismatch


def _match_gauge(C1, E1, C, E, cluster: float = 1e-6):
    """Orthogonal U minimizing |U^T C1 U - C|^2 + sum_m |U^T E1[:, m, :] U - E[:, m, :]|^2.

    In the eigenbases of C1 and C (C1 = V1 diag(l) V1^T, C = V diag(l) V^T
    at a fixed point), U = V1 W V^T with W block diagonal over groups of
    eigenvalues closer than ``cluster`` (relative to the largest): +-1 for an
    isolated eigenvalue, an orthogonal block inside a (near-)degenerate
    multiplet.  W is the null vector of the linear conditions
    E1'_m W - W E'_m = 0 and (l1_i - l_j) W_ij = 0 (lowest eigenvector of their
    normal matrix), then made
    orthogonal block by block (polar).  The eigenvalue conditions make the
    result insensitive to ``cluster``: a group that is too wide only adds
    unknowns that those conditions pin to zero.  Where the null space is
    larger than one (symmetric, e.g. Z2-broken, environments), the
    combinations of the two lowest eigenvectors are tried and the
    best-matching U kept.  Returns U and max(|U^T C1 U - C|, |U^T E1 U - E|)
    (element-wise), or (None, inf) if the spectra of C1 and C differ.
    """
    l1, V1 = torch.linalg.eigh(C1)
    l0, V0 = torch.linalg.eigh(C)
    scale = float(l0.abs().max())
    if float((l1 - l0).abs().max()) > 1e-4 * scale:
        return None, float("inf")
    chi, d = C.shape[0], E.shape[1]
    A1 = torch.einsum("ai,amb,bj->mij", V1, E1, V1)
    A0 = torch.einsum("ai,amb,bj->mij", V0, E, V0)
    l0_values = l0.cpu().numpy()
    groups = np.split(np.arange(chi), np.flatnonzero(np.diff(l0_values) > cluster * scale) + 1)
    # Unknowns W[k, l] for k, l in the same group, group by group, row-major.
    ks = torch.as_tensor(np.concatenate([np.repeat(g, len(g)) for g in groups]), device=C.device)
    ls = torch.as_tensor(np.concatenate([np.tile(g, len(g)) for g in groups]), device=C.device)
    # Normal matrix N = A^T A of the linear conditions on the unknowns
    # W[k_u, l_u] (columns of A: E1'_m[:, k_u] e_{l_u}^T - e_{k_u} E'_m[l_u, :]
    # over m, i, j, and the eigenvalue rows), assembled without forming A
    # (whose d chi^2 rows would not fit in memory at large chi).
    G1 = torch.einsum("mik,mil->kl", A1, A1)
    G0 = torch.einsum("mkj,mlj->kl", A0, A0)
    same_l = (ls[:, None] == ls[None, :]).to(C.dtype)
    same_k = (ks[:, None] == ks[None, :]).to(C.dtype)
    mixed = _mixed_rows(A1, A0, groups, ks, ls)
    N = same_l * G1[ks[:, None], ks[None, :]] + same_k * G0[ls[:, None], ls[None, :]] - mixed - mixed.mT
    lam = (l1[ks] - l0[ls]) / scale
    N = N + torch.diag(lam * lam)
    Vh = _lowest_eigenvectors(0.5 * (N + N.mT), 2)  # rows: eigenvectors, the lowest last
    candidates = [Vh[-1]]
    if Vh.shape[0] > 1:
        candidates += [Vh[-2], (Vh[-1] + Vh[-2]) / 2**0.5, (Vh[-1] - Vh[-2]) / 2**0.5]
    best, best_err = None, float("inf")
    singles = torch.as_tensor([g[0] for g in groups if len(g) == 1], dtype=torch.long, device=C.device)
    multiplets = [torch.as_tensor(g, device=C.device) for g in groups if len(g) > 1]
    for w in candidates:
        W = torch.zeros(chi, chi, dtype=C.dtype, device=C.device)
        W[ks, ls] = w
        # Polar factor of each block: the sign for a 1 x 1 block (all at once), U V^T of its SVD otherwise.
        W[singles, singles] = torch.where(W[singles, singles] < 0, -1.0, 1.0).to(W)
        for idx in multiplets:
            block = W[idx[:, None], idx[None, :]]
            Wb, _, Vb = torch.linalg.svd(block)
            W[idx[:, None], idx[None, :]] = Wb @ Vb
        U = V1 @ W @ V0.mT
        err = max(float((U.mT @ C1 @ U - C).abs().max()),
                  float((torch.einsum("ax,amb,by->xmy", U, E1, U) - E).abs().max()))  # fmt: skip
        if err < best_err:
            best, best_err = U, err
    return best, best_err


def _mixed_rows(A1, A0, groups, ks, ls):
    """mixed[u, v] = sum_m A1[m, k_u, k_v] A0[m, l_u, l_v] over the unknowns u = (k_u, l_u) of ``_match_gauge``.

    Row by row blocks: the rows of a multiplet g (k, l in g, k-major like
    ``ks``, ``ls``) are one contraction over m of A1[:, g, ks] and A0[:, g, ls],
    and the rows of all isolated eigenvalues s (u = (s, s)) one more.  That
    avoids a d x n x n gather of single elements, which took 0.13 s of 0.27 s
    per call for a 30-fold near-degenerate group at D = 3, chi = 50 (n = 864).
    """
    n = ks.shape[0]
    starts = np.cumsum([0] + [len(g) ** 2 for g in groups])[:-1]  # each group's first row
    singles = [(int(g[0]), start) for g, start in zip(groups, starts) if len(g) == 1]
    mixed = A1.new_empty(n, n)
    if singles:
        index, rows = (torch.as_tensor(x, device=ks.device) for x in zip(*singles))
        mixed[rows] = torch.einsum("msv,msv->sv", A1.index_select(1, index).index_select(2, ks),
                                   A0.index_select(1, index).index_select(2, ls))  # fmt: skip
    for g, start in zip(groups, starts):
        if len(g) > 1:  # a run of consecutive eigenvalue indices
            lo, hi = int(g[0]), int(g[-1]) + 1
            block = torch.einsum("mkv,mlv->klv", A1[:, lo:hi].index_select(2, ks), A0[:, lo:hi].index_select(2, ls))
            mixed[start:start + len(g) ** 2] = block.reshape(-1, n)
    return mixed


def _lowest_eigenvectors(N, count):
    """The ``count`` eigenvectors of the symmetric N with the lowest eigenvalues, as rows, the lowest last.

    LAPACK's ``syevr`` for the wanted pairs only (SciPy), on the CPU: 4x
    faster than a full ``eigh`` at n = 900, measured.
    """
    from scipy.linalg import eigh as scipy_eigh

    count = min(count, N.shape[0])
    _, vectors = scipy_eigh(N.cpu().numpy(), subset_by_index=[0, count - 1], driver="evr")
    return torch.as_tensor(vectors.T[::-1].copy()).to(N)


def ctmrg(T: torch.Tensor, options: CTMRGOptions = CTMRGOptions(), env=None, boundary=None, observable=None):
    """Converge the C4v environment of T.

    Parameters
    ----------
    T : torch.Tensor
        C4v-symmetric bulk tensor T[u, l, d, r]; may require grad.
    options : CTMRGOptions
    env : (C, E), optional
        Starting environment (e.g. cached from a previous run); its values
        are used, never its graph.  Only the ``"fixed_point"`` mode and runs
        without a gradient start from it: ``"unrolled"`` and ``"checkpoint"``
        differentiate the steps they take, which from a warm start are too
        few for the derivative of the environment, so they start afresh.
    boundary : torch.Tensor, optional
        Boundary vector for ``init_env`` when no ``env`` is given.
    observable : callable, optional
        ``observable(C, E) -> Tensor`` (called without a graph): the run has
        converged when it changes by less than ``options.tol`` (largest
        element).  Default ``default_observable``.  Pass what the loss measures,
        e.g. the bond density matrix.

    Returns
    -------
    C, E : torch.Tensor
        Converged corner and edge, differentiable according to
        ``options.grad_mode``.
    info : CTMRGInfo
        ``info.converged`` is False if the cap was hit; callers must check it.
        In ``"fixed_point"`` mode the backward later fills in
        ``info.adjoint_iterations`` and ``info.adjoint_residual``.

    Raises
    ------
    difftn.contract.fixedpoint.FixedPointError
        In the backward of ``"fixed_point"`` mode, if the adjoint equation
        does not converge (a wrong gradient is never returned).
    """
    if T.dim() != 4 or len(set(T.shape)) != 1:
        raise ValueError(f"CTMRG needs a 4-leg tensor with equal legs, got {tuple(T.shape)}")
    observable = default_observable if observable is None else observable

    def step(C, E, T, ref):
        # The forward keeps the sign gauge (ref=None): aligning each step to
        # the previous projector lets the gauge inside degenerate multiplets
        # wander (measured: Ising beta=0.5 never settles element-wise, and
        # unrolled derivatives blow up).  The fixed-point backward instead
        # matches the gauge once, at the end (``_match_gauge``).
        return ctmrg_step(C, E, T, options.chi, options.eps, ref=None, return_projector=True)

    def trimmed_step(C, E, T, ref):
        # A checkpointed run keeps each step's inputs alive between the freed (chi D^2)^2
        # temporaries of the steps, and glibc keeps the freed memory around them resident:
        # D = 5, chi = 64, 100 steps and their backward peaked at 13.1 GiB of RSS, 1.4 GiB with
        # this trim before each step and its recomputation (99 s against 103 s; D = 4,
        # chi = 48, 20 steps: 0.18 against 0.6 GB above imports, ~10 % slower).
        if TRIM_CHECKPOINTED_STEPS:
            trim_heap()
        return step(C, E, T, ref)

    def ck_step(C, E, T, ref):
        return checkpoint(trimmed_step, C, E, T, ref, use_reentrant=False)

    def fresh():
        with torch.no_grad():
            return init_env(T.detach(), boundary)

    mode = options.grad_mode if T.requires_grad else "none"
    # Unrolled and checkpointed gradients differentiate the steps they take,
    # with the start held constant: from a warm start (an environment converged
    # for a nearby T) that is a step or two, and the derivative of the
    # environment, the series sum_n J^n dstep/dT, is cut after as many terms
    # (measured: 1.3e-4 off at D = 2, chi = 16, where |grad| = 2e-8).  They
    # start afresh, where the steps the observable needs also converge the series.
    warm_ok = env is not None and mode in ("none", "fixed_point")
    starts = [lambda: tuple(x.detach().to(T) for x in env), fresh] if warm_ok else [fresh]

    def run(C, E, mode, **kw):
        if mode == "checkpoint":
            return _iterate(C, E, T, options, ck_step, observable, **kw)
        if mode == "unrolled":
            return _iterate(C, E, T, options, step, observable, **kw)
        with torch.no_grad():
            return _iterate(C, E, T.detach(), options, step, observable, **kw)

    # A warm start can carry a slowly decaying spurious sector (e.g. from a
    # smaller D's environment); if it does not converge, start afresh.
    for start in starts:
        C, E, P, info = run(*start(), mode)
        if info.converged:
            break
        log.info("CTMRG from %s start not converged (%d iterations)", "cached" if start is not fresh else "fresh",
                 info.iterations)  # fmt: skip
    info.grad_mode = mode
    if mode == "fixed_point":
        ref, mismatch, extra, first, since = None, float("inf"), 0, float("inf"), 0
        while info.converged:
            with torch.no_grad():
                ref, mismatch = _fixed_point_gauge(C, E, T.detach(), options)
            if mismatch <= options.fp_mismatch or extra >= options.max_iter:
                break
            if not math.isfinite(first):
                # The rate is measured from the first finite look: a look can be
                # infinite (the spectra of step(x*) and x* differ), and a rate
                # from it would be 0 (fig4-cpu's D = 3 run, round 32: log(0)).
                first, since = mismatch, extra
            elif extra - since >= ROUND_CAP_MIN and _out_of_reach(first, mismatch, extra - since, options.fp_mismatch,
                                                                  options.max_iter - extra):  # fmt: skip
                break  # judged on >= 10 steps: a probe's few steps may still oscillate
            # Entries can settle more slowly than the observables (measured
            # on Ising at beta = 0.35: 4e-7 when the observables have settled
            # to 1e-13): iterate on, a short probe first, then as many steps as
            # the rate measured since the first look needs (``_round_steps``).
            n = min(_round_steps(first, mismatch, extra - since, options.fp_mismatch, info.iterations),
                    options.max_iter - extra)  # fmt: skip
            C, E, _, more = run(C, E, mode, min_iter=n)
            extra += more.iterations
            info = CTMRGInfo(more.converged, info.iterations + more.iterations, more.error, more.truncation_error,
                             more.elementwise_change, mode)  # fmt: skip
        info.elementwise_change = mismatch
        if mismatch <= options.fp_mismatch:
            from .fixedpoint import fixed_point as implicit

            def gauge_fixed_step(C, E, T):
                return ctmrg_step(C, E, T, options.chi, options.eps, ref=ref)

            C, E = implicit(gauge_fixed_step, T, (C, E), options, info)
        else:
            # No element-wise fixed point to differentiate at: differentiate a
            # run from the fresh start instead, whose steps to
            # convergence also converge the adjoint series (~rho^n, as the
            # forward); steps from x* itself would cut that series short.
            fallback = fallback_mode(T, options)
            log.warning("CTMRG: no element-wise fixed point (|step(x*) - x*| = %.1e > fp_mismatch %.1e after %d "
                        "iterations); gradient by %s run from the fresh start instead", mismatch, options.fp_mismatch,
                        info.iterations, "a checkpointed" if fallback == "checkpoint" else "an unrolled")  # fmt: skip
            C, E, _, info = run(*fresh(), fallback)
            info.grad_mode = fallback
    return C, E, info


def fallback_mode(T, options) -> str:
    """Gradient mode of the fixed-point mode's fallback: "unrolled" when its graph is small, else "checkpoint".

    Judged on shapes only (``UNROLLED_FALLBACK_BYTES``, ``SAVED_PER_STEP``).
    """
    side = options.chi * T.shape[0]
    graph_bytes = options.max_iter * SAVED_PER_STEP * side**2 * T.element_size()
    return "unrolled" if graph_bytes <= UNROLLED_FALLBACK_BYTES else "checkpoint"


def _corner_network(C, E, T_center):
    """Value of the 3x3 network C E C / E T E / C E C."""
    half = torch.einsum("ab,btc,cd->atd", C, E, C)  # top row: C E C, open a (left), t, d (right)
    left = torch.einsum("atd,ale->tlde", half, E)  # attach the left edge
    right = torch.einsum("tlde,drf->tlerf", left, E)  # and the right edge
    full = torch.einsum("tlerf,tlgr->efg", right, T_center)
    bottom = torch.einsum("eh,hgi,if->efg", C, E, C)
    return torch.einsum("efg,efg->", full, bottom)


def lnz_per_site(C, E, T):
    """ln Z per site from the C4v environment: Z1 Z0 / Z_edge^2.

    Z1: 3x3 network with T in the middle; Z0 = Tr C^4; Z_edge: two corners
    and an edge on each side with no T (the 2x3 network C E C / C E C).
    Normalizations of C and E cancel in the ratio.
    """
    z1 = _corner_network(C, E, T)
    z0 = torch.einsum("ab,bc,cd,da->", C, C, C, C)
    upper = torch.einsum("ab,btc,cd->atd", C, E, C)
    z_edge = torch.einsum("atd,atd->", upper, upper)
    return torch.log(z1 * z0 / z_edge**2)


def site_expectation(C, E, T, T_impurity):
    """<O> = value of the 3x3 network with T_impurity in the middle over that with T."""
    return _corner_network(C, E, T_impurity) / _corner_network(C, E, T)


def transfer_matvec(E, T, v, layers=None):
    """One application of the column transfer matrix M (E above, T, E below) to v[x, m, y].

    ::

        x --- E --- x'         v'[x', r, y'] = sum v[x, l, y] E[x, u, x']
        |     u                                   T[u, l, d, r] E[y, d, y']
        l --- T --- r
        |     d
        y --- E --- y'

    M moves one site along the row; its spectrum gives the correlation
    length (``transfer_spectrum``).  ``layers``: the single layer A of which
    T is the double layer (``register_layers``), contracted ket then bra
    (chi^2 D^5 operations per term instead of chi^2 D^8 through T).
    """
    chi, d = E.shape[0], E.shape[1]
    v = v.reshape(chi, d, chi)
    X = torch.einsum("xly,xuz->zuly", v, E)  # [x', u, l, y]
    if layers is None:
        Y = torch.einsum("zuly,uldr->zydr", X, T)
    else:
        D = layers.shape[1]
        X = X.reshape(chi, D, D, D, D, chi)  # [x', u ket, u bra, l ket, l bra, y]
        K = torch.einsum("zUuLly,sULDR->zulysDR", X, layers)  # ket layer
        Y = torch.einsum("zulysDR,suldr->zyDdRr", K, layers).reshape(chi, chi, d, d)  # bra layer
    return torch.einsum("zydr,ydw->zrw", Y, E).reshape(-1)


#: Below this dimension chi^2 d the transfer matrix is built and diagonalized densely.
DENSE_TRANSFER_MAX = 512


def transfer_spectrum(E, T, k: int = 4, tol: float = 0.0, seed: int = 0):
    """Leading eigenvalues of the column transfer matrix, normalized: lambda_i / |lambda_0|.

    Parameters
    ----------
    E : torch.Tensor
        Converged edge tensor E[a, m, b] of ``ctmrg`` (chi x d x chi).
    T : torch.Tensor
        Bulk tensor T[u, l, d, r] it was computed with.  A double layer
        declared by ``register_layers`` (``ipeps.double_layer``) is applied
        through its single layer, never as T itself.
    k : int
        Number of eigenvalues (1 <= k < chi^2 d - 1).
    tol : float
        Relative accuracy of the Arnoldi eigenvalues (0: machine precision).
    seed : int
        Seed of the Arnoldi start vector (results independent of it to ``tol``).

    Returns
    -------
    torch.Tensor
        Complex, length k, sorted by descending modulus; the first has
        modulus 1.  ``correlation_length`` turns it into xi.

    Notes
    -----
    M has dimension n = chi^2 d and is used only through ``transfer_matvec``
    (ARPACK's implicitly restarted Arnoldi, ``scipy.sparse.linalg.eigs``);
    only for n <= ``DENSE_TRANSFER_MAX`` is it built as a matrix.  The
    environment is taken as converged and constant (no gradient flows).
    """
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigs

    E, T = E.detach(), T.detach()
    chi, d = E.shape[0], E.shape[1]
    n = chi * chi * d
    # ARPACK needs k < n - 1; a small matrix is diagonalized whole and gives min(k, n) values
    if not isinstance(k, int) or k < 1 or (n > DENSE_TRANSFER_MAX and not k < n - 1):
        raise ValueError(f"transfer_spectrum needs 1 <= k < chi^2 d - 1 = {n - 1}, got k={k!r}")
    layers = _registered_layers(T)
    with torch.no_grad():
        if n <= DENSE_TRANSFER_MAX:
            M = torch.stack([transfer_matvec(E, T, e, layers) for e in torch.eye(n, dtype=E.dtype, device=E.device)], 1)
            vals = torch.linalg.eigvals(M).cpu().numpy()
        else:

            def mv(x):
                x = torch.as_tensor(np.ascontiguousarray(x).reshape(-1), dtype=E.dtype, device=E.device)
                return transfer_matvec(E, T, x, layers).cpu().numpy()

            dtype = np.complex128 if E.is_complex() else np.float64
            v0 = np.random.default_rng(seed).standard_normal(n).astype(dtype)
            op = LinearOperator((n, n), matvec=mv, dtype=dtype)
            vals = eigs(op, k=k, which="LM", tol=tol, v0=v0, return_eigenvectors=False)
    vals = vals[np.argsort(-np.abs(vals), kind="stable")][:k]
    return torch.as_tensor(vals / np.abs(vals[0]), dtype=torch.complex128)


def correlation_length(spectrum, n: int = 1) -> float:
    """xi = -1 / ln |lambda_n / lambda_0| in lattice units, from ``transfer_spectrum``.

    ``n = 1`` is the usual definition.  When lambda_0 is (near-)degenerate
    because the environment did not break a symmetry (a cat-like fixed
    point), the decay of connected correlations is set by the first
    eigenvalue after the degenerate block: pass its index.  Returns inf when
    |lambda_n| = |lambda_0| exactly.
    """
    import math

    if len(spectrum) <= n:  # a transfer matrix of fewer levels (e.g. a product state's 1 x 1): no decay length
        return 0.0
    ratio = float(abs(spectrum[n]) / abs(spectrum[0]))
    return math.inf if ratio >= 1.0 else -1.0 / math.log(ratio)


def extrapolated_correlation_length(spectra, levels=(1, 2)) -> float:
    """xi at infinite chi from spectra at several chi: linear fit of eps_a against delta = eps_b - eps_a.

    eps_i = -ln |lambda_i / lambda_0|, (a, b) = ``levels``.  At finite chi
    the transfer matrix resolves the continuum above lambda_a only as
    discrete levels, so eps_a(chi) converges slowly (algebraically) from
    above; eps_a is close to linear in the level spacing delta, which
    vanishes as chi -> infinity (Rams, Czarnik, Cincio, PRX 8, 041033
    (2018)).  Pick b as the next level *outside* a's multiplet (e.g.
    (1, 3) when lambda_1 and lambda_2 are a degenerate pair).
    Returns 1 / intercept of the least-squares line (>= 2 spectra).
    """
    import numpy as np

    a, b = levels
    if len(spectra) < 2:
        raise ValueError(f"extrapolated_correlation_length needs spectra at >= 2 chi, got {len(spectra)}")
    eps = np.array([[-np.log(abs(complex(sp[i])) / abs(complex(sp[0]))) for i in (a, b)] for sp in spectra])
    slope, intercept = np.polyfit(eps[:, 1] - eps[:, 0], eps[:, 0], 1)
    return float(1.0 / intercept)

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
E <- P^T (E T) P, each divided by its norm.  The sign of every eigenvector is
fixed against the previous edge (``_fix_signs``) so that the converged
environment is an element-wise fixed point of the step, which the
fixed-point backward (``difftn.fixedpoint``) needs.

Gradient modes of ``ctmrg`` (``grad_mode``):

``"unrolled"``      autograd records every iteration (memory grows with them);
``"checkpoint"``    every iteration recomputed in the backward (one step's memory);
``"fixed_point"``   forward without a graph, backward by the implicit function
                    theorem at the fixed point (Eq. 7 of the paper), memory
                    independent of the number of iterations.
"""

import logging
import weakref
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from .linalg import DEFAULT_EPS, eigh
from .linalg.partial_eigh import top_eigh

__all__ = [
    "GRAD_MODES",
    "CTMRGOptions",
    "CTMRGInfo",
    "NotConvergedError",
    "init_env",
    "register_layers",
    "ctmrg_step",
    "ctmrg",
    "lnz_per_site",
    "site_expectation",
]

log = logging.getLogger(__name__)

#: Allowed gradient modes (see module docstring).
GRAD_MODES = ("unrolled", "checkpoint", "fixed_point")


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
        Convergence: change of the normalized corner spectrum between two
        iterations (2-norm) below ``tol``.
    max_iter : int
        Iteration cap; a run that hits it is reported as not converged.
    grad_mode : str
        One of ``GRAD_MODES``.
    eps : float
        Lorentzian broadening in the eigh backward.
    fp_tol, fp_max_iter : float, int
        Fixed-point backward: the adjoint series stops when its new term is
        below ``fp_tol`` times the accumulated sum, or after ``fp_max_iter``.
    """

    chi: int = 30
    tol: float = 1e-10
    max_iter: int = 200
    grad_mode: str = "fixed_point"
    eps: float = DEFAULT_EPS
    fp_tol: float = 1e-12
    fp_max_iter: int = 200

    def __post_init__(self):
        if not isinstance(self.chi, int) or self.chi < 1:
            raise ValueError(f"CTMRG chi must be an integer >= 1, got {self.chi!r}")
        if not self.tol > 0:
            raise ValueError(f"CTMRG tol must be > 0, got {self.tol!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"CTMRG max_iter must be an integer >= 1, got {self.max_iter!r}")
        if self.grad_mode not in GRAD_MODES:
            raise ValueError(f"CTMRG grad_mode must be one of {GRAD_MODES}, got {self.grad_mode!r}")


@dataclass
class CTMRGInfo:
    """Outcome of a CTMRG run: converged?, iterations done, last spectrum change."""

    converged: bool
    iterations: int
    error: float
    truncation_error: float = 0.0


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
    Y = torch.einsum("ale,atc->eltc", E, X)
    if layers is None:
        Cp = torch.einsum("eltc,tldr->edcr", Y, T).reshape(chi * d, chi * d)
    else:
        D = layers.shape[1]
        Y = Y.reshape(chi, D, D, D, D, chi)  # [e, l ket, l bra, t ket, t bra, c]
        K = torch.einsum("eLlTtc,sTLDR->eltcsDR", Y, layers)  # ket layer
        Cp = torch.einsum("eltcsDR,stldr->eDdcRr", K, layers).reshape(chi * d, chi * d)  # bra layer
    return 0.5 * (Cp + Cp.mT)


#: Double-layer tensors declared by ``register_layers``: data pointer ->
#: (weak reference to T, its version counter, the single layer A).
_LAYERS = {}


def register_layers(T: torch.Tensor, A: torch.Tensor) -> None:
    """Declare T[(u u'), (l l'), (d d'), (r r')] = sum_s A[s,u,l,d,r] A[s,u',l',d',r'].

    Forward steps without a graph then contract A's ket and bra layers
    separately (``enlarged_corner``, edge update), also for ``T.detach()``
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


def ctmrg_step(C, E, T, chi: int, eps: float = DEFAULT_EPS):
    """One gauge-fixed C4v CTMRG step; returns (C, E, corner spectrum, truncation error).

    A step that records no graph (grad disabled or no input requiring grad)
    takes two shortcuts that leave its result unchanged to ~1e-12: the top
    chi eigenpairs of C' come from ``linalg.partial_eigh.top_eigh``,
    warm-started from the previous step's projector when E is that step's
    output (else, or if it does not converge, the full eigh), and a double
    layer declared by ``register_layers`` is absorbed as separate ket and bra
    layers.  A step that is differentiated always takes the full
    ``difftn.linalg.eigh`` (and its backward) and T itself.
    """
    chi_old, d = E.shape[0], T.shape[0]
    graph = torch.is_grad_enabled() and (C.requires_grad or E.requires_grad or T.requires_grad)
    layers = None if graph else _registered_layers(T)
    Cp = enlarged_corner(C, E, T, layers)
    k = min(chi, Cp.shape[0])
    top = None
    if not graph:
        top = _top_eigenpairs(Cp, k, E)
    if top is None:
        L, Q = eigh(Cp, eps=eps)
        order = torch.argsort(L.detach().abs(), descending=True)
        keep = order[:k]
        L, P = L[keep], Q[:, keep]
    else:
        L, P = top
    if C.shape[0] == k:  # same order as the previous corner (ties in |L| come in +- pairs)
        perm = _match_order(L.detach(), torch.diagonal(C).detach())
        L, P = L[perm], P[:, perm]
    weight = L.detach() ** 2
    trunc = float(1 - weight.sum() / (Cp.detach() ** 2).sum())

    P3 = P.reshape(chi_old, d, k)
    Z = torch.einsum("aux,ale->xule", P3, E)
    if layers is None:
        W = torch.einsum("xule,uldr->xedr", Z, T)
    else:  # ket, then bra layer
        D = layers.shape[1]
        Z = Z.reshape(k, D, D, D, D, chi_old)  # [x, u ket, u bra, l ket, l bra, e]
        K = torch.einsum("xUuLle,sULDR->xulesDR", Z, layers)
        W = torch.einsum("xulesDR,suldr->xeDdRr", K, layers).reshape(k, chi_old, d, d)
    En = torch.einsum("xedr,edy->xry", W, P3)
    En = 0.5 * (En + En.permute(2, 1, 0))
    En = _fix_signs(En, E)
    Cn = torch.diag(L)
    spectrum = L.detach().abs() / L.detach().abs().max()
    En = _normalize(En)
    if not graph:
        last = _WARM["spectrum"]
        same = last is not None and last.shape == spectrum.shape
        change = float(torch.linalg.vector_norm(spectrum - last)) if same else 1.0
        _WARM.update(edge=weakref.ref(En), projector=P.detach(), spectrum=spectrum, change=change)
    return _normalize(Cn), En, spectrum, max(trunc, 0.0)


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
    oversample = max(16, k // 2)  # measured at D=4, chi=64: 15 products against 21 with k // 4
    if Cp.shape[0] < PARTIAL_MIN_N or 2 * (k + oversample) > Cp.shape[0]:
        return None
    tol = max(PARTIAL_TOL, min(PARTIAL_LOOSE, PARTIAL_FRACTION * _WARM["change"]))
    top = top_eigh(Cp.detach(), k, guess, oversample=oversample, krylov=2, tol=tol,
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


def _fix_signs(E_new, E_old):
    """Flip basis vectors x -> s_x x so that E_new matches E_old element-wise.

    Eigenvectors come with arbitrary signs; C = diag(L) does not see them but
    E[x, m, y] changes by s_x s_y.  Going through x in order, s_x is the sign
    of sum_{y<x} s_y <E_new[y, :, x], E_old[y, :, x]>; a vector coupled to no
    earlier one keeps +1 (E is then block diagonal and the relative sign of
    the blocks does not show).  The signs are piecewise constant, so they
    carry no derivative.
    """
    if E_new.shape != E_old.shape:
        return E_new  # chi still growing: no previous basis to align with
    with torch.no_grad():
        G = torch.einsum("ymx,ymx->yx", E_new, E_old.to(E_new)).cpu()
        scale = float(G.abs().max())
        s = torch.ones(G.shape[0], dtype=G.dtype)
        for x in range(1, G.shape[0]):
            w = float((s[:x] * G[:x, x]).sum())
            if abs(w) > 1e-12 * scale:
                s[x] = 1.0 if w > 0 else -1.0
        s = s.to(E_new)
    return E_new * s[:, None, None] * s[None, None, :]


def _spectrum_change(old, new):
    if old is None or old.shape != new.shape:
        return float("inf")
    return float(torch.linalg.vector_norm(old - new))


def _iterate(C, E, T, options, step):
    """Iterate ``step`` to convergence of the corner spectrum."""
    spectrum, err, trunc = None, float("inf"), 0.0
    for it in range(1, options.max_iter + 1):
        C, E, new_spectrum, trunc = step(C, E, T)
        err = _spectrum_change(spectrum, new_spectrum)
        spectrum = new_spectrum
        if err < options.tol:
            return C, E, CTMRGInfo(True, it, err, trunc)
    return C, E, CTMRGInfo(False, options.max_iter, err, trunc)


def ctmrg(T: torch.Tensor, options: CTMRGOptions = CTMRGOptions(), env=None, boundary=None):
    """Converge the C4v environment of T.

    Parameters
    ----------
    T : torch.Tensor
        C4v-symmetric bulk tensor T[u, l, d, r]; may require grad.
    options : CTMRGOptions
    env : (C, E), optional
        Starting environment (e.g. cached from a previous run); its values
        are used, never its graph.
    boundary : torch.Tensor, optional
        Boundary vector for ``init_env`` when no ``env`` is given.

    Returns
    -------
    C, E : torch.Tensor
        Converged corner and edge, differentiable according to
        ``options.grad_mode``.
    info : CTMRGInfo
        ``info.converged`` is False if the cap was hit; callers must check it.
    """
    if T.dim() != 4 or len(set(T.shape)) != 1:
        raise ValueError(f"CTMRG needs a 4-leg tensor with equal legs, got {tuple(T.shape)}")

    def step(C, E, T):
        return ctmrg_step(C, E, T, options.chi, options.eps)

    def fresh():
        with torch.no_grad():
            return init_env(T.detach(), boundary)

    starts = [fresh] if env is None else [lambda: tuple(x.detach().to(T) for x in env), fresh]
    fixed_point = options.grad_mode == "fixed_point" and T.requires_grad
    if options.grad_mode == "checkpoint" and T.requires_grad:

        def run(C, E):
            ck_step = lambda C, E, T: checkpoint(step, C, E, T, use_reentrant=False)  # noqa: E731
            return _iterate(C, E, T, options, ck_step)

    elif fixed_point:

        def run(C, E):
            with torch.no_grad():
                return _iterate(C, E, T.detach(), options, step)

    else:

        def run(C, E):
            return _iterate(C, E, T, options, step)

    # A warm start can carry a slowly decaying spurious sector (e.g. from a
    # smaller D's environment); if it does not converge, start afresh.
    for start in starts:
        C, E, info = run(*start())
        if info.converged:
            break
        log.info("CTMRG from %s start not converged (%d iterations)", "cached" if start is not fresh else "fresh",
                 info.iterations)  # fmt: skip
    if fixed_point:
        from .fixedpoint import fixed_point as implicit

        C, E = implicit(step, T, (C, E), options)
    return C, E, info


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

"""Levin-Nave tensor renormalization group (TRG) on the square lattice.

Reference: M. Levin and C. P. Nave, PRL 99, 120601 (2007); differentiable
version as in Liao et al., PRX 9, 031041 (2019), Sec. IV A.

Index convention of the bulk tensor (one tensor per site, legs to the
neighbours)::

            u
            |
        l --T-- r        T[u, l, d, r]
            |
            d

Legs u and d sit on vertical bonds, l and r on horizontal ones.  One step
splits T by SVD in two ways on the two sublattices, truncating the new bond
to chi,

    A sites: T[u,l,d,r] = sum_k S1[u,l,k] S2[k,d,r]      (matrix (ul) x (dr))
    B sites: T[u,l,d,r] = sum_k S3[l,d,k] S4[k,r,u]      (matrix (ld) x (ru))

and contracts the four half-tensors around every other plaquette into the
tensor of a lattice rotated by 45 degrees with half as many sites::

    T'[a,b,c,d] = sum S1[x,y,a] S4[b,y,z] S2[c,z,w] S3[w,x,d],
    new legs (u, l, d, r) = (d, c, b, a).

The contraction goes pairwise, P[(a,b),(x,z)] = (S1 S4) and
Q[(x,z),(c,d)] = (S2 S3), each a chi^4 array, then T' = P Q as a matrix
product: peak memory O(chi^4), cost O(chi^6); never a chi^5 array.

Z2 symmetry (``TRGOptions.symmetry = "z2"``)
--------------------------------------------
Every basis index of a bond carries a parity, 0 or 1, and T vanishes unless
the parities of its four indices add up to an even number (the Ising tensor,
with parity = index).  Then T is stored as its blocks of fixed leg parities
(8 of the 16, see ``_blocks``), every split matrix is block diagonal in the
parity of its fused row index, and every SVD and the chi^6 product P Q go
block by block: two matrices of half the size, about 4x less work and half
the memory.  The chi largest singular values over both blocks are kept --
exactly those the dense SVD keeps -- and the new bond lists the even ones
first.  Without symmetry every parity is 0: one block, the dense algorithm.

Memory
------
Second derivatives (reverse mode over reverse mode) keep the graph of the
forward pass and of the first backward until the second backward, and the
second backward runs through every node of the first backward before any
node of the forward pass, holding the cotangents it sends to the latter.
So each step is one autograd node (``_Advance``) from the half-tensors of
the previous step to its own (chi^3 numbers, not chi^4), storing its input
and the full SVD factors U, S, V of its four parity blocks (the exact
backward needs the discarded singular vectors too), nothing else.  Its
backward is a node of its own (``_AdvanceVJP``) storing only chi^3 tensors
(input and cotangents); it recomputes the step's graph from the stored
factors, without new SVDs, when evaluated and again when differentiated.
The second-order SVD terms of a step thus become cotangents of its chi^3
input at once, where autograd over the stored graph held two chi^4
cotangents per SVD block (of U and V) for every step until the backward
came back to it.  With ``checkpoint`` not even the factors are stored; the
SVDs are recomputed (in the first backward and twice in the second).
The contraction and its backward are nodes of their own (``_Plaquette``,
``_PlaquetteVJP``) that recompute P, Q and their cotangents (chi^4 each)
when needed instead of storing them.

Normalisation
-------------
Step n divides T_n (standing for 2^n sites) by g_n h_n, so that

    ln Z / N = sum_n ln(g_n h_n) / 2^n + ln Tr(T_final) / 2^steps.

g_n = ||T_n|| is taken as a constant: the SVD input T_n / g_n has unit norm
(the scale the Lorentzian broadening refers to) without a differentiable
chi^4 division, whose graph would keep T_n.  This is exact because a step is
homogeneous (T -> c T gives T' -> c^2 T' with the same truncation), so
ln Z / N is the same function of the bulk tensor for any choice of g_n.
h_n, the largest singular value of the A split of T_n / g_n, is
differentiable and divides the singular values of both splits (T' by h_n^2):
it pins the scale of every T_n, so derivatives stay O(1) instead of growing
like 2^n and cancelling at the end (a constant normalisation alone left
~1e-6 rounding noise in the second derivative).
"""

import itertools
import math
from dataclasses import dataclass

import torch

from ..linalg.broadening import DEFAULT_EPS
from ..linalg.svd import svd
from ..linalg.truncation import kept_count

__all__ = ["SYMMETRIES", "Z2_TOLERANCE", "TRGOptions", "TRGInfo", "trg_lnz", "trg_step"]

#: Values of ``TRGOptions.symmetry``.
SYMMETRIES = ("none", "z2")

#: Largest |T| on odd-parity entries, relative to max |T|, accepted as Z2.
Z2_TOLERANCE = 1e-12


@dataclass(frozen=True)
class TRGOptions:
    """Options of a TRG run.

    Attributes
    ----------
    chi : int
        Bond dimension cutoff (>= 1).
    steps : int
        Number of coarse-graining steps (>= 1); 2^steps sites in the end.
    checkpoint : bool
        Store no SVD factors: every backward recomputes the SVDs of each
        step (once in a first backward, twice in a second).  The least
        memory (chi^3 numbers per step), 1.6-2.1x the time of ln Z with
        first and second derivatives (benchmarks/bench_ising.py).
    eps : float
        Lorentzian broadening in the SVD backward.
    cutoff : float
        Singular values at or below ``cutoff`` times the largest one of a
        split are dropped even when fewer than chi remain.  The default
        drops rounding noise (~1e-16 relative): the first steps have fewer
        than chi nonzero singular values, and noise values s ~ 1e-17, kept,
        enter through sqrt(s), whose derivatives ~ s^-1/2 and s^-3/2 turn
        their rounding errors into errors of the second derivative (5e-7
        relative in the Ising specific heat at chi=30, beta=0.4, and
        meaningless values with Z2 blocks).  0 keeps min(chi, r) triplets of
        an r-value spectrum, exact zeros included (no value test at all).
    symmetry : str
        ``"none"`` (dense, any real tensor) or ``"z2"`` (block-sparse SVDs
        and contraction for a Z2-symmetric tensor; needs the ``parity`` of
        the leg basis in ``trg_lnz``).  Same result, less time and memory.
    """

    chi: int = 30
    steps: int = 30
    checkpoint: bool = False
    eps: float = DEFAULT_EPS
    cutoff: float = 1e-12
    symmetry: str = "none"

    def __post_init__(self):
        if not isinstance(self.chi, int) or self.chi < 1:
            raise ValueError(f"TRG chi must be an integer >= 1, got {self.chi!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"TRG steps must be an integer >= 1, got {self.steps!r}")
        if not self.eps > 0:
            raise ValueError(f"TRG eps must be > 0, got {self.eps!r}")
        if not 0 <= self.cutoff < 1:
            raise ValueError(f"TRG cutoff must be in [0, 1), got {self.cutoff!r}")
        if self.symmetry not in SYMMETRIES:
            raise ValueError(f"TRG symmetry must be one of {SYMMETRIES}, got {self.symmetry!r}")


@dataclass
class TRGInfo:
    """What a TRG run did: bond dimension and truncation error per step.

    ``bond_dims[n]`` is the dimension of the vertical legs after step n;
    ``truncation_error[n]`` is the discarded weight, sum(s_k^2) over the
    dropped singular values (beyond chi or below the cutoff) / sum(s_k^2),
    of the sublattice-A split at step n.
    """

    bond_dims: list
    truncation_error: list


# --------------------------------------------------------------------------
# Z2 block-sparse tensors
#
# The basis of every bond is sorted by parity, even first, so a bond is its
# pair of dimensions (n0, n1).  A tensor is a dict {parities: block} with an
# entry, possibly empty, for every tuple of leg parities with an even sum;
# the other blocks vanish by symmetry and are not stored.  Without symmetry
# every bond is (D, 0) and the only non-empty block is the whole tensor.


def _even(legs: int):
    """Tuples of leg parities with an even sum."""
    return [p for p in itertools.product((0, 1), repeat=legs) if sum(p) % 2 == 0]


def _pairs(q: int):
    """Parities (p1, p2) of two fused legs with p1 + p2 = q (mod 2), in the
    order in which they line up along a fused index of parity q."""
    return ((0, q), (1, 1 - q))


def _blocks(T: torch.Tensor, parity: torch.Tensor):
    """Blocks of a dense 4-leg tensor whose legs have the given parities."""
    D = T.shape[0]
    order = torch.argsort(parity, stable=True)
    if not torch.equal(order, torch.arange(D, device=order.device)):
        for leg in range(4):  # the same basis permutation on every leg
            T = T.index_select(leg, order)
    n1 = int(parity.sum())
    ranges = (slice(0, D - n1), slice(D - n1, D))
    blocks = {p: T[tuple(ranges[x] for x in p)] for p in _even(4)}
    return blocks, (D - n1, n1)


def _segments(bond1, bond2, q: int):
    """Segments of a fused index (i, j) of parity q of two bonds: tuples
    (parities, dim i, dim j, range), in the order the blocks line up."""
    start = 0
    for p in _pairs(q):
        d1, d2 = bond1[p[0]], bond2[p[1]]
        yield p, d1, d2, slice(start, start + d1 * d2)
        start += d1 * d2


def _fuse(piece, rows: tuple, cols: tuple, q: int) -> torch.Tensor:
    """Parity-q matrix with rows fused from the bonds ``rows`` (a pair) and
    columns from ``cols``; ``piece(prow, pcol)`` gives the 4-leg block."""
    return torch.cat(
        [
            torch.cat(
                [piece(pr, pc).reshape(d1 * d2, d3 * d4) for pc, d3, d4, _ in _segments(*cols, q)],
                1,
            )
            for pr, d1, d2, _ in _segments(*rows, q)
        ],
        0,
    )


def _unfuse(M: torch.Tensor, rows: tuple, cols: tuple, q: int) -> dict:
    """The 4-leg blocks {prow + pcol: block} of a parity-q matrix (views)."""
    return {
        pr + pc: M[r, c].reshape(d1, d2, d3, d4)
        for pr, d1, d2, r in _segments(*rows, q)
        for pc, d3, d4, c in _segments(*cols, q)
    }


def _matrix(blocks: dict, bonds: tuple, rows: tuple, cols: tuple, q: int) -> torch.Tensor:
    """Parity-q block of a 4-leg tensor as a matrix with legs ``rows`` (two
    positions) fused into its rows and legs ``cols`` into its columns."""
    order = rows + cols

    def piece(prow, pcol):
        parities = [0] * 4
        for leg, p in zip(order, prow + pcol):
            parities[leg] = p
        return blocks[tuple(parities)].permute(order)

    return _fuse(piece, (bonds[rows[0]], bonds[rows[1]]), (bonds[cols[0]], bonds[cols[1]]), q)


# --------------------------------------------------------------------------
# One step
#
# A step maps the half-tensors of the previous step (for the first step: the
# blocks of T) to its own half-tensors:
#
#     halves_{n-1} --plaquette--> T_n --/ g_n--> A and B splits --> halves_n
#
# so that the state carried from step to step is chi^3 numbers, not chi^4.

#: Rows and columns of the A split ((ul) x (dr)) and of the B split ((ld) x (ru)).
_SPLITS = (((0, 1), (2, 3)), ((1, 2), (3, 0)))

#: Number of outputs of a step: 16 half-tensor blocks and ln h.
_OUTPUTS = 17


@dataclass
class _Plan:
    """What the first evaluation of a step decided; recomputations replay it.

    ``bonds`` are the bonds of T_n (v, h, v, h); ``prev`` the bonds (a, b, v)
    of the half-tensors the step starts from, None when it starts from the
    blocks of T.  ``norm`` (g_n), ``kept`` (per split, the kept triplets per
    parity block), ``top`` (the parity block of the A split with the largest
    singular value) and ``discarded`` (truncation error of the A split) are
    set by the first evaluation.
    """

    bonds: tuple
    prev: tuple | None
    chi: int
    eps: float
    cutoff: float
    rescale: bool
    norm: float | None = None
    kept: list | None = None
    top: int = 0
    discarded: float = 0.0

    @property
    def new(self) -> tuple:
        """Bonds (a, b, v) of the half-tensors the step produces."""
        return (self.kept[0], self.kept[1], self.bonds[0])


def _choose(plan: _Plan, factors) -> None:
    """Kept triplets of both splits from their spectra (into ``plan``).

    Per split, the chi largest singular values over both parity blocks that
    exceed ``cutoff`` times the largest -- exactly those the dense SVD keeps.
    """
    kept = []
    for i, pair in enumerate(factors):
        ref = next(f[1] for f in pair if f is not None)
        spectra = [f[1] if f is not None else ref.new_zeros(0) for f in pair]
        s = torch.cat(spectra).cpu()
        order = torch.argsort(s, descending=True, stable=True)  # ties: even first
        n = kept_count(s, plan.cutoff, plan.chi)  # no rounding decides n (see linalg.truncation)
        k0 = int((order[:n] < len(spectra[0])).sum())
        kept.append((k0, n - k0))
        if i == 0:
            plan.top = int(order[0] >= len(spectra[0]))
            weight = s[order] ** 2
            plan.discarded = float(weight[n:].sum() / weight.sum())
    plan.kept = kept


def _factor(mats, factors, kept, bonds, rows, cols, eps: float, top: int, scale):
    """Half-tensors of one split, T ~= sum_k L[rows, k] R[k, cols] * scale.

    ``mats`` are the two parity blocks of the split matrix, ``factors`` their
    SVDs (``torch.linalg.svd`` of the detached matrix), ``kept`` the kept
    triplets per block.  sqrt(S / scale) goes to both sides; ``scale`` None
    means the largest singular value (differentiable), in block ``top``.

    Returns L and R as 3-leg block dicts (legs (rows..., new) and (new,
    cols...)) and the scale.
    """
    svds = [svd(M, k=k, eps=eps, factors=f) if k else None for M, k, f in zip(mats, kept, factors)]
    if scale is None:
        scale = svds[top][1][0]
    left, right = {}, {}
    for q, M, k, f in zip((0, 1), mats, kept, svds):
        if k:
            U, S, V = f
            root = torch.sqrt(S / scale)
            L, R = U * root, (V * root).mT
        else:
            L, R = M.new_zeros(M.shape[0], 0), M.new_zeros(0, M.shape[1])
        for p, d1, d2, r in _segments(bonds[rows[0]], bonds[rows[1]], q):
            left[p + (q,)] = L[r].reshape(d1, d2, k)
        for p, d1, d2, c in _segments(bonds[cols[0]], bonds[cols[1]], q):
            right[(q,) + p] = R[:, c].reshape(k, d1, d2)
    return left, right, scale


def _half_products(q, S1, S4, S2, S3, a, b, v):
    """Parity-q blocks P_q = (S1 S4)[(a,b),(x,z)] and Q_q = (S2 S3)[(x,z),(c,d)].

    The parity of the summed index (y, resp. w) follows from the others.
    """

    def p_piece(pab, pxz):
        (pa, pb), (px, pz) = pab, pxz
        py = (px + pa) % 2
        return torch.einsum("xya,byz->abxz", S1[(px, py, pa)], S4[(pb, py, pz)])

    def q_piece(pxz, pcd):
        (px, pz), (pc, pd) = pxz, pcd
        pw = (pc + pz) % 2
        return torch.einsum("czw,wxd->xzcd", S2[(pc, pz, pw)], S3[(pw, px, pd)])

    return _fuse(p_piece, (a, b), (v, v), q), _fuse(q_piece, (v, v), (a, b), q)


def _half_products_vjp(q, gP, gQ, S1, S4, S2, S3, a, b, v, grads):
    """Add the cotangents of the half-tensor blocks, given those of P_q and
    Q_q, to ``grads`` (dicts g1, g4, g2, g3 by block)."""
    g1, g4, g2, g3 = grads
    for (pa, pb, px, pz), g in _unfuse(gP, (a, b), (v, v), q).items():
        py = (px + pa) % 2
        g1[(px, py, pa)] += torch.einsum("abxz,byz->xya", g, S4[(pb, py, pz)])
        g4[(pb, py, pz)] += torch.einsum("abxz,xya->byz", g, S1[(px, py, pa)])
    for (px, pz, pc, pd), g in _unfuse(gQ, (v, v), (a, b), q).items():
        pw = (pc + pz) % 2
        g2[(pc, pz, pw)] += torch.einsum("xzcd,wxd->czw", g, S3[(pw, px, pd)])
        g3[(pw, px, pd)] += torch.einsum("xzcd,czw->wxd", g, S2[(pc, pz, pw)])


def _unflatten(halves):
    """Four 3-leg block dicts from their 16 blocks, in ``_even(3)`` order."""
    keys = _even(3)
    return [dict(zip(keys, halves[i : i + 4])) for i in range(0, 16, 4)]


def _plaquette_products(bonds, *halves):
    """T'_q = P_q Q_q for q = 0, 1 from the half-tensor blocks."""
    a, b, v = bonds
    S1, S4, S2, S3 = _unflatten(halves)
    return tuple(P @ Q for P, Q in (_half_products(q, S1, S4, S2, S3, a, b, v) for q in (0, 1)))


def _plaquette_vjp(bonds, gT0, gT1, *halves):
    """Cotangents of the 16 half-tensor blocks given those of T'_0, T'_1."""
    a, b, v = bonds
    S = _unflatten(halves)
    grads = [{p: torch.zeros_like(x) for p, x in Si.items()} for Si in S]
    for q, gT in ((0, gT0), (1, gT1)):
        P, Q = _half_products(q, *S, a, b, v)
        _half_products_vjp(q, gT @ Q.mT, P.mT @ gT, *S, a, b, v, grads)
    return tuple(g[p] for g in grads for p in _even(3))


class _Plaquette(torch.autograd.Function):
    """(S1, S4, S2, S3) blocks -> (T'_0, T'_1), storing only the chi^3
    half-tensors; P and Q (chi^4) are recomputed in the backward.

    With ``values`` False the outputs are zeros of the right shapes, for a
    recomputation that needs only the graph (no backward reads them); with
    ``vjp_values`` False so are those of the backward (``_PlaquetteVJP``),
    for a first backward that is only differentiated.
    """

    @staticmethod
    def forward(ctx, bonds, values, vjp_values, *halves):
        ctx.bonds, ctx.vjp_values = bonds, vjp_values
        ctx.save_for_backward(*halves)
        if values:
            return _plaquette_products(bonds, *halves)
        (a0, a1), (b0, b1), _ = bonds
        return halves[0].new_zeros((a0 * b0 + a1 * b1,) * 2), halves[0].new_zeros(
            (a0 * b1 + a1 * b0,) * 2
        )

    @staticmethod
    def backward(ctx, gT0, gT1):
        # ``vjp_values`` holds for the first backward only: a later one
        # (a second-order cotangent reaching this node) needs the values.
        values, ctx.vjp_values = ctx.vjp_values, True
        vjp = _PlaquetteVJP.apply(ctx.bonds, values, gT0, gT1, *ctx.saved_tensors)
        return None, None, None, *vjp


def _fresh(saved, higher: bool) -> list:
    """Inputs from which a backward recomputes and differentiates its node.

    Detached leaves, unless the backward itself is differentiated
    (``higher``, i.e. create_graph): then views of the saved tensors, which
    keep the result connected to their history.  Views and not the tensors
    themselves: a gradient with respect to a saved tensor would also collect
    the paths through the history of the others (a cotangent depends on the
    half-tensors it is paired with), where a backward must return partial
    derivatives.
    """
    if higher:
        return [x.view_as(x) if x.requires_grad else x for x in saved]
    return [x.detach().requires_grad_() for x in saved]


class _PlaquetteVJP(torch.autograd.Function):
    """The backward of _Plaquette as a node of its own, for second
    derivatives: it stores only its inputs (the cotangents of T' and the
    half-tensors) and recomputes its chi^4 intermediates when differentiated,
    instead of a graph keeping them from the first backward to the second."""

    @staticmethod
    def forward(ctx, bonds, values, *inputs):
        ctx.bonds = bonds
        ctx.save_for_backward(*inputs)
        if values:
            return _plaquette_vjp(bonds, *inputs)
        return tuple(torch.zeros_like(x) for x in inputs[2:])

    @staticmethod
    def backward(ctx, *cotangents):
        # Recompute, then differentiate (see ``_fresh``).
        higher = torch.is_grad_enabled()
        inputs = _fresh(ctx.saved_tensors, higher)
        wrt = [x for x in inputs if x.requires_grad]
        with torch.enable_grad():
            outputs = _plaquette_vjp(ctx.bonds, *inputs)
        grads = iter(
            torch.autograd.grad(outputs, wrt, cotangents, allow_unused=True, create_graph=higher)
        )
        return None, None, *(next(grads) if x.requires_grad else None for x in inputs)


def _contract(halves, prev, values: bool = True, vjp_values: bool = True) -> dict:
    """Blocks of the next T[u,l,d,r] from the 16 half-tensor blocks.

    T'[a,b,c,d] = sum S1[x,y,a] S4[b,y,z] S2[c,z,w] S3[w,x,d] with bonds
    ``prev`` = (a, b, v): a (legs a, c), b (legs b, d), v (legs x, z).  Per
    parity q: P_q = (S1 S4)[(a,b),(x,z)], Q_q = (S2 S3)[(x,z),(c,d)],
    T'_q = P_q Q_q.  New legs (u, l, d, r) = (d, c, b, a), bonds (b, a, b, a).
    ``values``, ``vjp_values`` False: zeros, only the graph (see ``_Plaquette``).
    """
    a, b, _ = prev
    products = _Plaquette.apply(prev, values, vjp_values, *halves)
    T = {**_unfuse(products[0], (a, b), (a, b), 0), **_unfuse(products[1], (a, b), (a, b), 1)}
    return {p[::-1]: block.permute(3, 2, 1, 0) for p, block in T.items()}


def _advance(plan: _Plan, inputs, factors=None, vjp_values: bool = True):
    """One step as a plain differentiable function of its inputs.

    ``inputs`` are the blocks of T in ``_even(4)`` order (``plan.prev`` None)
    or the 16 half-tensor blocks of the previous step.  T_n is divided by
    ``plan.norm`` (its norm on first evaluation) and split both ways; with
    ``plan.rescale`` the singular values are divided by h, the largest of
    the A split.  ``factors`` (per split and parity block, the SVD of the
    detached matrix or None) are computed when not given.  ``vjp_values``
    False: a backward through the result is only to be differentiated, its
    values are not needed (see ``_Plaquette``).

    Returns the 16 half-tensor blocks (S1, S4, S2, S3, each in ``_even(3)``
    order), ln h (None without rescale) and the factors.
    """
    if plan.prev is None:
        blocks = dict(zip(_even(4), inputs))
    else:
        # Given the factors, the SVDs do not read T_n: only its graph is needed.
        blocks = _contract(inputs, plan.prev, factors is None, vjp_values)
    if plan.norm is None:
        plan.norm = math.sqrt(sum(float(x.detach().square().sum()) for x in blocks.values()))
    if plan.norm != 1.0:
        blocks = {p: x / plan.norm for p, x in blocks.items()}
    mats = [[_matrix(blocks, plan.bonds, rows, cols, q) for q in (0, 1)] for rows, cols in _SPLITS]
    if factors is None:
        # Spectra first, to choose the kept triplets over both blocks; the
        # SVDs are then reused by ``svd``, not recomputed.
        factors = [
            [
                torch.linalg.svd(M.detach(), full_matrices=False) if min(M.shape) else None
                for M in pair
            ]
            for pair in mats
        ]
    if plan.kept is None:
        _choose(plan, factors)
    scale = None if plan.rescale else 1.0
    halves = []
    for (rows, cols), pair, f, kept in zip(_SPLITS, mats, factors, plan.kept):
        left, right, scale = _factor(
            pair, f, kept, plan.bonds, rows, cols, plan.eps, plan.top, scale
        )
        halves.append((left, right))
    (S1, S2), (S3, S4) = halves
    flat = [S[p] for S in (S1, S4, S2, S3) for p in _even(3)]
    return flat, torch.log(scale) if plan.rescale else None, factors


def _pack(plan: _Plan, factors) -> list:
    """The factors of the kept blocks as a flat list (empty tensors elsewhere)."""
    empty = torch.empty(0)
    return [
        x
        for pair, kept in zip(factors, plan.kept)
        for f, k in zip(pair, kept)
        for x in (f if k else (empty,) * 3)
    ]


def _unpack(plan: _Plan, packed):
    """Inverse of ``_pack``; None when nothing was stored (checkpointing)."""
    if not packed:
        return None
    it = iter(packed)
    triples = [[tuple(next(it) for _ in range(3)) for _ in kept] for kept in plan.kept]
    return [
        [f if k else None for f, k in zip(pair, kept)] for pair, kept in zip(triples, plan.kept)
    ]


def _grad(outputs, inputs, cotangents, create_graph: bool = False):
    """``torch.autograd.grad`` over the pairs that take part; None for the
    inputs that do not require grad or that no output depends on."""
    pairs = [(y, g) for y, g in zip(outputs, cotangents) if y.requires_grad and g is not None]
    wrt = [x for x in inputs if x.requires_grad]
    grads = iter(
        torch.autograd.grad(
            [y for y, _ in pairs],
            wrt,
            [g for _, g in pairs],
            allow_unused=True,
            create_graph=create_graph,
        )
        if pairs and wrt
        else [None] * len(wrt)
    )
    return [next(grads) if x.requires_grad else None for x in inputs]


def _step_vjp(plan: _Plan, inputs, cotangents, packed, create_graph: bool):
    """Cotangents of a step's inputs: its graph is recomputed from ``inputs``
    and the stored SVD factors (new SVDs only when none are stored), then
    differentiated.  With ``create_graph`` the result is differentiable in
    ``inputs`` and ``cotangents`` (which must then require grad)."""
    with torch.enable_grad():
        if not create_graph:
            inputs = [x.detach().requires_grad_() for x in inputs]
        # With create_graph the result is only differentiated (_AdvanceVJP).
        flat, log_h, _ = _advance(plan, inputs, _unpack(plan, packed), not create_graph)
        grads = _grad([*flat, log_h], inputs, cotangents, create_graph)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


class _Advance(torch.autograd.Function):
    """One step as one autograd node: inputs -> (16 half-tensor blocks, ln h).

    Saves its inputs (chi^3) and, unless checkpointing, the SVD factors the
    step used -- nothing of the step's intermediates.  Its backward is a node
    of its own, _AdvanceVJP, that recomputes the step's graph from these
    (without new SVDs) when evaluated and again when differentiated.  So a
    first backward with ``create_graph`` keeps only chi^3 cotangents per
    step, and the second backward differentiates one step at a time, turning
    the second-order SVD terms into cotangents of the chi^3 inputs at once
    (autograd would hold chi^4 cotangents of every step's SVD factors until
    the backward reached that step).
    """

    @staticmethod
    def forward(ctx, plan, store, *inputs):
        flat, log_h, factors = _advance(plan, inputs)
        ctx.plan, ctx.n = plan, len(inputs)
        ctx.save_for_backward(*inputs, *(_pack(plan, factors) if store else ()))
        # Fresh tensors: the blocks are views of the split matrices.
        return (*(x.clone() for x in flat), log_h)

    @staticmethod
    def backward(ctx, *cotangents):
        saved = ctx.saved_tensors
        inputs, packed = saved[: ctx.n], saved[ctx.n :]
        return None, None, *_AdvanceVJP.apply(ctx.plan, ctx.n, *inputs, *cotangents, *packed)


class _AdvanceVJP(torch.autograd.Function):
    """(inputs, output cotangents, factors) -> input cotangents of a step.

    Stores what it was given (chi^3 tensors and references to the factors)
    and recomputes the step when differentiated: the second derivative of a
    step, one step at a time.  The factors are constants here: the graph of
    the recomputed step differentiates through them (``difftn.linalg.svd``).
    """

    @staticmethod
    def forward(ctx, plan, n, *args):
        ctx.plan, ctx.n = plan, n
        ctx.save_for_backward(*args)
        inputs, cotangents, packed = args[:n], args[n : n + _OUTPUTS], args[n + _OUTPUTS :]
        return tuple(_step_vjp(plan, inputs, cotangents, packed, create_graph=False))

    @staticmethod
    def backward(ctx, *grads):
        higher = torch.is_grad_enabled()
        saved = ctx.saved_tensors
        n, packed = ctx.n, saved[ctx.n + _OUTPUTS :]
        args = _fresh(saved[: n + _OUTPUTS], higher)
        with torch.enable_grad():
            vjp = _step_vjp(ctx.plan, args[:n], args[n:], packed, create_graph=True)
            out = _grad(vjp, args, grads, create_graph=higher)
        return None, None, *out, *(None,) * len(packed)


def trg_step(T: torch.Tensor, chi: int, eps: float = DEFAULT_EPS, cutoff: float = 0.0):
    """One dense Levin-Nave step: T[u,l,d,r] (dim D) -> T'[u,l,d,r] (dim <= chi).

    Keeps the min(chi, D^2) largest singular triplets of each split, less,
    for ``cutoff`` > 0, those at or below ``cutoff`` times the largest (see
    ``TRGOptions``); the default 0 keeps exact zeros too.
    Returns the new tensor and the truncation error of the A split.
    """
    blocks, bond = _blocks(T, torch.zeros(T.shape[0], dtype=torch.long, device=T.device))
    plan = _Plan((bond,) * 4, None, chi, eps, cutoff, rescale=False, norm=1.0)
    halves, _, _ = _advance(plan, [blocks[p] for p in _even(4)])
    return _contract(halves, plan.new)[(0, 0, 0, 0)].contiguous(), plan.discarded


# --------------------------------------------------------------------------
# ln Z


def _parity(T: torch.Tensor, symmetry: str, parity) -> torch.Tensor:
    """Parities of the leg basis (all 0 without symmetry), checked."""
    D = T.shape[0]
    if symmetry == "none":
        if parity is not None:
            raise ValueError("TRG parity is only used with symmetry='z2'")
        return torch.zeros(D, dtype=torch.long, device=T.device)
    if parity is None:
        raise ValueError("TRG symmetry='z2' needs the parity (0 or 1) of each leg index")
    p = torch.as_tensor(parity, device=T.device)
    if p.shape != (D,) or p.is_floating_point() or not ((p == 0) | (p == 1)).all():
        raise ValueError(f"TRG parity must be {D} integers 0 or 1, got {parity!r}")
    p = p.long()
    odd = (p[:, None, None, None] + p[None, :, None, None] + p[None, None, :, None] + p) % 2 == 1
    scale = float(T.detach().abs().max())
    leak = float(T.detach()[odd].abs().max()) if odd.any() else 0.0
    if leak > Z2_TOLERANCE * scale:
        raise ValueError(
            "TRG tensor is not Z2 symmetric for the given parity: entries with an odd "
            f"sum of leg parities reach {leak:.3g} (max |T| = {scale:.3g})"
        )
    return p


def trg_lnz(T: torch.Tensor, options: TRGOptions = TRGOptions(), parity=None):
    """ln Z per site of the infinite square lattice of bulk tensor T.

    Parameters
    ----------
    T : torch.Tensor
        Real 4-leg tensor T[u, l, d, r], all legs of one dimension D; may
        require grad (derivatives of any order flow through the SVDs).
    options : TRGOptions
    parity : sequence of int or torch.Tensor, optional
        With ``options.symmetry == "z2"`` (and only then): the parity, 0 or
        1, of each of the D basis indices of a leg (the same on all four
        legs).  T must vanish on index combinations of odd total parity.

    Returns
    -------
    lnz : torch.Tensor
        Scalar ln Z / N.
    info : TRGInfo

    Raises
    ------
    ValueError
        For a malformed T or parity, or a T that is not Z2 symmetric.
    """
    if T.dim() != 4 or len(set(T.shape)) != 1:
        raise ValueError(f"TRG needs a 4-leg tensor with equal legs, got {tuple(T.shape)}")
    if T.is_complex():
        raise TypeError("TRG supports real tensors only")
    blocks, bond = _blocks(T, _parity(T, options.symmetry, parity))
    state, bonds, prev = [blocks[p] for p in _even(4)], (bond,) * 4, None
    graph = torch.is_grad_enabled() and T.requires_grad
    lnz = T.new_zeros(())
    dims, errs = [], []
    for n in range(options.steps):
        # Normalisation in two factors (see the module docstring): a constant
        # g (the plan's norm) makes the SVD input of unit norm; the step
        # divides it by h.
        plan = _Plan(bonds, prev, options.chi, options.eps, options.cutoff, rescale=True)
        if graph:
            *state, log_h = _Advance.apply(plan, not options.checkpoint, *state)
        else:
            state, log_h, _ = _advance(plan, state)
        lnz = lnz + (math.log(plan.norm) + log_h) / 2**n
        prev = plan.new
        bonds = (prev[1], prev[0], prev[1], prev[0])
        dims.append(sum(bonds[0]))
        errs.append(plan.discarded)
    blocks = _contract(state, prev)
    # Tr T = sum T[u,l,u,l] over the blocks with equal parities on u, d and l, r.
    trace = sum(torch.einsum("abab->", blocks[(p, q, p, q)]) for p in (0, 1) for q in (0, 1))
    lnz = lnz + torch.log(trace) / 2**options.steps
    return lnz, TRGInfo(bond_dims=dims, truncation_error=errs)

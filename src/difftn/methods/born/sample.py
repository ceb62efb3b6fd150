"""Exact sampling from an MPS Born machine, unconditional and with given pixels fixed.

Han et al., PRX 8, 031012 (2018), Sec. III C ("zipper" / direct sampling;
Ferris and Vidal, PRB 85, 165146 (2012)).  With the MPS canonical at center
0 (every tensor right of site 0 right-orthonormal, Z = 1), the marginal of
the first k+1 sites is

    p(x_0, ..., x_k) = || A0[:, x_0, :] A1[:, x_1, :] ... Ak[:, x_k, :] ||^2,

so x_0, x_1, ... are drawn one after the other from their exact conditionals
p(x_k | x_<k): independent samples, no Markov chain.

``conditional_sample`` draws the free sites from p(x_free | x_fixed) for a
per-sample set of fixed sites (inpainting).  The sites right of k then no
longer sum to the identity, so it first builds per-sample right environments
(index order ``R[n, a, a']``, ket and bra bond)::

    R_k = sum_{s allowed at k} A_k[:, s, :] R_{k+1} A_k[:, s, :]^T,   R_n = 1,

where a fixed site allows only its given value, and then sweeps left to
right with p(x_k = s | ...) proportional to v A_k[:, s, :] R_{k+1} (v A_k[:, s, :])^T.
Cost O(N n d D^3).

Random numbers come from a CPU ``torch.Generator`` (uniforms, then moved to
the MPS's device), so a seed gives the same samples on CPU and GPU.
"""

import torch

from .mps import MPS, _check_data, canonicalize

__all__ = ["sample", "conditional_sample"]


def _draw(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Index drawn from each row of non-negative ``weights`` (N, d) given uniforms (N,) in [0, 1)."""
    cdf = torch.cumsum(weights, dim=1)
    cdf = cdf / cdf[:, -1:]
    return torch.clamp((cdf <= uniforms[:, None]).sum(dim=1), max=weights.shape[1] - 1)


def _generator(seed):
    return torch.Generator().manual_seed(int(seed))


def sample(mps: MPS, n_samples: int, *, seed: int = 0) -> torch.Tensor:
    """``n_samples`` independent exact samples x ~ p(x), shape (n_samples, n), dtype long.

    The MPS is brought to canonical form with center 0 first if it is not.
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if mps.center != 0:
        mps = canonicalize(mps, 0)
    gen = _generator(seed)
    A = mps.tensors
    device = A[0].device
    rows = torch.arange(n_samples, device=device)
    v = A[0].new_ones(n_samples, 1)
    out = torch.empty(n_samples, len(A), dtype=torch.long, device=device)
    for k, T in enumerate(A):
        Dl, d, Dr = T.shape
        w = (v @ T.reshape(Dl, d * Dr)).reshape(n_samples, d, Dr)
        u = torch.rand(n_samples, generator=gen, dtype=torch.float64).to(device)
        out[:, k] = _draw(w.square().sum(dim=2), u)
        v = w[rows, out[:, k]]
        v = v / v.norm(dim=1, keepdim=True)  # only the direction matters for the next conditional
    return out


def conditional_sample(mps: MPS, x, fixed, *, seed: int = 0) -> torch.Tensor:
    """Exact samples of the free sites given the fixed ones: x_free ~ p(x_free | x_fixed).

    Parameters
    ----------
    mps : MPS
    x : array-like of int, shape (N, n)
        Values of the fixed sites (entries at free sites are ignored).
    fixed : array-like of bool, shape (N, n)
        True where the site is given (kept), False where it is drawn.
    seed : int

    Returns
    -------
    torch.Tensor
        Shape (N, n), long: ``x`` at the fixed sites, samples elsewhere.

    Raises
    ------
    ValueError
        If the fixed values of a row have probability zero.
    """
    n, d = mps.n_sites, mps.phys_dim
    device = mps.tensors[0].device
    fixed = torch.as_tensor(fixed, dtype=torch.bool, device=device)
    x = torch.as_tensor(x).to(device)
    if fixed.shape != x.shape:
        raise ValueError(f"fixed has shape {tuple(fixed.shape)}, x has {tuple(x.shape)}")
    x = _check_data(torch.where(fixed, x, torch.zeros_like(x)), n, d)
    N = x.shape[0]
    A = mps.tensors
    rows = torch.arange(N, device=device)
    # allowed[n, k, s]: 1 where site k may take value s in row n.
    allowed = torch.ones(N, n, d, dtype=A[0].dtype, device=device)
    allowed[fixed] = torch.nn.functional.one_hot(x[fixed], d).to(A[0].dtype)

    R = [None] * (n + 1)
    R[n] = A[0].new_ones(N, 1, 1)
    for k in range(n - 1, 0, -1):
        # R_k[n,a,a'] = sum_s allowed[n,k,s] A[a,s,b] R_{k+1}[n,b,b'] A[a',s,b']
        AR = torch.einsum("asb,nbc->nasc", A[k], R[k + 1])  # (N, Dl, d, Dr)
        env = torch.einsum("nasc,esc,ns->nae", AR, A[k], allowed[:, k])
        scale = env.abs().amax(dim=(1, 2), keepdim=True)  # rescaled per row: no underflow over many sites
        R[k] = env / torch.where(scale > 0, scale, torch.ones_like(scale))

    gen = _generator(seed)
    out = x.clone()
    v = A[0].new_ones(N, 1)
    for k, T in enumerate(A):
        Dl, _, Dr = T.shape
        w = (v @ T.reshape(Dl, d * Dr)).reshape(N, d, Dr)
        q = torch.einsum("nsb,nbc,nsc->ns", w, R[k + 1], w).clamp(min=0) * allowed[:, k]
        if not torch.all(q.sum(dim=1) > 0):
            bad = torch.nonzero(q.sum(dim=1) <= 0).flatten().tolist()
            raise ValueError(f"conditional_sample: the fixed values of rows {bad[:10]} have probability zero")
        u = torch.rand(N, generator=gen, dtype=torch.float64).to(device)
        out[:, k] = torch.where(fixed[:, k], x[:, k], _draw(q, u))
        v = w[rows, out[:, k]]
        v = v / v.norm(dim=1, keepdim=True)
    return out

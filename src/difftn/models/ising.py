"""Classical 2D Ising model on the square lattice (J = 1, no field).

Bulk tensor (Liao et al., PRX 9, 031041 (2019), Eq. 9): each bond weight
exp(beta s s') = sum_k W[s,k] W[s',k] with

    W = [[sqrt(cosh beta),  sqrt(sinh beta)],
         [sqrt(cosh beta), -sqrt(sinh beta)]],

and one tensor per site, T[u,l,d,r] = sum_s W[s,u] W[s,l] W[s,d] W[s,r], so that
Z = Tr prod T.  T is invariant under any permutation of its legs and has a Z2
symmetry: T vanishes unless u + l + d + r is even.

Exact solution (L. Onsager, Phys. Rev. 65, 117 (1944); K. Huang, Statistical
Mechanics, 2nd ed., Sec. 15.2), per site, with k = 2 sinh(2b)/cosh(2b)^2:

    ln Z/N = ln(2 cosh 2b) + 1/pi int_0^{pi/2} ln[(1 + sqrt(1 - k^2 sin^2 t))/2] dt
    E/N    = -coth(2b) [1 + 2/pi (2 tanh(2b)^2 - 1) K(k)]
    C/N    = -b^2 d(E/N)/d b, differentiated in closed form with
             dK/dk = E/(k (1 - k^2)) - K/k

K, E: complete elliptic integrals of the first and second kind with modulus k.
Critical point beta_c = ln(1 + sqrt 2)/2.
"""

import math

import numpy as np
import torch
from scipy import integrate, special


__all__ = [
    "BETA_C",
    "ising_tensor",
    "exact_lnz",
    "exact_energy",
    "exact_specific_heat",
    "exact_magnetization",
    "exact_correlation_length",
    "exact_dispersion",
    "SPIN_FLIP",
]

#: Critical inverse temperature ln(1 + sqrt 2)/2.
BETA_C = 0.5 * math.log(1.0 + math.sqrt(2.0))


#: The spin flip s -> -s on a bond index of ``ising_tensor``: W[-s, b] = W[s, b] (-1)^b.
SPIN_FLIP = (1.0, -1.0)


def ising_tensor(beta: torch.Tensor) -> torch.Tensor:
    """Bulk tensor T[u,l,d,r] of Eq. 9, differentiable in ``beta`` (> 0)."""
    c, s = torch.sqrt(torch.cosh(beta)), torch.sqrt(torch.sinh(beta))
    W = torch.stack([torch.stack([c, s]), torch.stack([c, -s])])
    return torch.einsum("su,sl,sd,sr->uldr", W, W, W, W)


def _check_beta(beta):
    beta = np.asarray(beta, dtype=float)
    if not np.all(beta > 0) or not np.all(np.isfinite(beta)):
        raise ValueError(f"beta must be finite and > 0, got {beta}")
    return beta


def _one_minus_k2(beta):
    # 1 - k^2 = (1 - sinh^2 2b)^2 / cosh^4 2b, written without cancellation.
    sh2 = np.sinh(2 * beta) ** 2
    return (1.0 - sh2) ** 2 / (1.0 + sh2) ** 2


def exact_lnz(beta):
    """Onsager's ln Z per site (vectorised over beta), accurate to ~1e-13."""
    beta = _check_beta(beta)

    def one(b):
        k2 = 1.0 - _one_minus_k2(b)
        f = lambda t: math.log((1.0 + math.sqrt(max(0.0, 1.0 - k2 * math.sin(t) ** 2))) / 2)
        val, _ = integrate.quad(f, 0.0, math.pi / 2, epsabs=1e-14, epsrel=1e-14, limit=200)
        return math.log(2 * math.cosh(2 * b)) + val / math.pi

    return np.vectorize(one, otypes=[float])(beta)[()]


def exact_energy(beta):
    """Onsager's energy per site -d(ln Z/N)/d beta; -sqrt 2 at beta_c."""
    beta = _check_beta(beta)
    p = _one_minus_k2(beta)
    t2m1 = 2 * np.tanh(2 * beta) ** 2 - 1
    with np.errstate(invalid="ignore"):
        term = np.where(p > 0, t2m1 * special.ellipkm1(p), 0.0)  # -> 0 at beta_c
    return (-1.0 / np.tanh(2 * beta) * (1 + 2 / np.pi * term))[()]


def exact_specific_heat(beta):
    """Onsager's specific heat per site beta^2 d^2(ln Z/N)/d beta^2 (log-divergent at beta_c).

    With q = 2 tanh(2b)^2 - 1, E/N = -coth(2b) [1 + 2/pi q K(k)] and
    dq/db = 8 sinh(2b)/cosh(2b)^3.  The product q dK/db, singular-looking at
    beta_c, is written in its finite closed form
    q dK/db = -2 E(k) coth(2b) + 2 (1 - sinh(2b)^2)^2 K(k) / (cosh(2b)^3 sinh(2b)).
    """
    beta = _check_beta(beta)
    p = _one_minus_k2(beta)
    K, E = special.ellipkm1(p), special.ellipe(1.0 - p)
    sh, ch = np.sinh(2 * beta), np.cosh(2 * beta)
    coth = ch / sh
    q = 2 * np.tanh(2 * beta) ** 2 - 1
    with np.errstate(invalid="ignore"):
        qK = np.where(p > 0, q * K, 0.0)
    dq = 8 * sh / ch**3
    q_dK = -2 * E * coth + 2 * (1 - sh**2) ** 2 * K / (ch**3 * sh)
    du = 2 / sh**2 * (1 + 2 / np.pi * qK) - coth * 2 / np.pi * (dq * K + q_dK)
    return (-(beta**2) * du)[()]


def exact_magnetization(beta):
    """Spontaneous magnetization (1 - sinh(2b)^-4)^(1/8) for beta > beta_c, else 0."""
    beta = _check_beta(beta)
    inner = np.clip(1.0 - np.sinh(2 * beta) ** -4.0, 0.0, None)
    # Decide the phase on beta itself: sinh(2 beta_c) rounds to either side of 1.
    return np.where(beta > BETA_C, inner**0.125, 0.0)[()]


def exact_correlation_length(beta):
    """Exponential correlation length along a lattice axis, in lattice spacings (diverging at beta_c).

    With the dual coupling K* (tanh K* = exp(-2 beta)), the connected spin-spin
    correlation along a row decays as exp(-r / xi) (times a power of r) with

        1/xi = 2 (K* - beta)   for beta < beta_c  (one-particle gap),
        1/xi = 4 (beta - K*)   for beta > beta_c  (two-particle threshold;
                                the one-particle state is degenerate with
                                the ground state in the ordered phase),

    so xi(beta > beta_c) = xi(beta* < beta_c) / 2.  B. M. McCoy and T. T. Wu,
    The Two-Dimensional Ising Model (Harvard, 1973), Ch. XI; T. T. Wu,
    B. M. McCoy, C. A. Tracy, E. Barouch, PRB 13, 316 (1976).  On the
    column transfer matrix of the symmetry-broken phase: xi = -1/ln|lambda_1/lambda_0|.
    """
    beta = _check_beta(beta)
    dual = np.arctanh(np.exp(-2 * beta))
    with np.errstate(divide="ignore"):
        # Decide the phase on beta itself (dual - beta rounds to either sign at beta_c).
        inv = np.where(beta < BETA_C, 2 * (dual - beta), 4 * (beta - dual))
        return np.where(inv > 0, 1.0 / np.maximum(inv, np.finfo(float).tiny), np.inf)[()]


def exact_dispersion(beta, k):
    """Quasiparticle energy epsilon(k) of the row transfer matrix: lambda(k)/lambda_0 = exp(-epsilon(k)).

    cosh epsilon(k) = cosh 2K* cosh 2K - sinh 2K* sinh 2K cos k, K = beta and
    tanh K* = exp(-2K) (Onsager, Phys. Rev. 65, 117 (1944); B. Kaufman, Phys.
    Rev. 76, 1232 (1949)).  Symmetric in K and K*, so the same formula gives
    the particles above beta_c's dual and the domain walls (kinks) of the
    ordered phase; epsilon(0) = 2 |K* - K| is 1/xi below beta_c and half of
    1/xi above it (``exact_correlation_length``).
    """
    beta = _check_beta(beta)
    dual = np.arctanh(np.exp(-2 * beta))
    c = np.cosh(2 * dual) * np.cosh(2 * beta) - np.sinh(2 * dual) * np.sinh(2 * beta) * np.cos(k)
    return np.arccosh(c)[()]

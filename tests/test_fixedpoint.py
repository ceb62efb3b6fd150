"""Fixed-point backward machinery: GMRES, polar factor, gauge matching, failure paths."""

import dataclasses
import logging

import pytest
import torch

from difftn.contract import ctmrg as ctmrg_module
from difftn.contract.ctmrg import CTMRGOptions, _lowest_eigenvectors, _match_gauge, _mixed_rows, ctmrg
from difftn.contract.fixedpoint import FixedPointError
from difftn.methods.ipeps import double_layer, identity_boundary, prepare
from difftn.linalg import gmres, polar
from difftn.studies.heisenberg import random_tensor


def _system(n, seed):
    gen = torch.Generator().manual_seed(seed)
    A = torch.eye(n, dtype=torch.float64) + 0.9 * torch.randn(n, n, generator=gen, dtype=torch.float64) / n**0.5
    return A, torch.randn(n, generator=gen, dtype=torch.float64)


def test_gmres_solves_a_nonsymmetric_system_to_its_tolerance():
    A, b = _system(120, 0)
    x, info = gmres(lambda v: A @ v, b, tol=1e-12, restart=30, max_iter=1000)
    assert info.converged and 0 < info.iterations < 1000
    assert float(torch.linalg.vector_norm(A @ x - b) / torch.linalg.vector_norm(b)) <= 1e-12
    # measured 8e-12 (condition number times the residual)
    assert float((x - torch.linalg.solve(A, b)).abs().max()) < 1e-10


def test_gmres_reports_non_convergence():
    A, b = _system(120, 0)
    _, info = gmres(lambda v: A @ v, b, tol=1e-12, restart=10, max_iter=15)
    assert not info.converged and info.iterations == 15 + 1 and info.residual > 1e-12  # +1: true residual


@pytest.mark.parametrize("orthogonal", [False, True])
def test_polar_factor_and_its_gradient(orthogonal):
    gen = torch.Generator().manual_seed(5)
    M = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    if orthogonal:  # all singular values 1: degenerate, where an SVD backward breaks down
        M = torch.linalg.qr(M)[0]
    U = polar(M)
    assert float((U.mT @ U - torch.eye(6, dtype=torch.float64)).abs().max()) < 1e-14
    H = U.mT @ M
    assert float((H - H.mT).abs().max()) < 1e-13 and float(torch.linalg.eigvalsh(H).min()) > 0
    assert torch.autograd.gradcheck(lambda X: polar(X, eps=0.0), (M.clone().requires_grad_(),))


def test_gauge_matching_resolves_degenerate_corner_spectra():
    # Corner with a twofold and a threefold degenerate eigenvalue: a sign-only
    # fix cannot undo a rotation inside those multiplets; the matching must.
    gen = torch.Generator().manual_seed(2)
    chi, d = 7, 3
    C = torch.diag(torch.tensor([1.0, 0.5, 0.5, 0.3, 0.2, 0.2, 0.2], dtype=torch.float64))
    E = torch.randn(chi, d, chi, generator=gen, dtype=torch.float64)
    E = E + E.permute(2, 1, 0)
    Q = torch.linalg.qr(torch.randn(chi, chi, generator=gen, dtype=torch.float64))[0]
    C1, E1 = Q.mT @ C @ Q, torch.einsum("ax,amb,by->xmy", Q, E, Q)
    U, mismatch = _match_gauge(C1, E1, C, E)
    assert float((U.mT @ C1 @ U - C).abs().max()) < 5e-15  # measured 4e-16
    assert float((torch.einsum("ax,amb,by->xmy", U, E1, U) - E).abs().max()) < 5e-14  # measured 6e-15
    assert mismatch == max(float((U.mT @ C1 @ U - C).abs().max()),
                           float((torch.einsum("ax,amb,by->xmy", U, E1, U) - E).abs().max()))  # fmt: skip


def test_gauge_matching_with_a_cluster_of_small_distinct_eigenvalues():
    # Four eigenvalues near 1e-7 of the largest lie closer than the clustering
    # tolerance (1e-6) and form one group of 16 unknowns, which the eigenvalue
    # conditions pin to the signs; the case of a random D = 3 start at chi = 50 (30 of them).
    gen = torch.Generator().manual_seed(3)
    chi, d = 9, 4
    C = torch.diag(torch.tensor([1.0, 0.6, 0.6, 0.25, 1.0e-7, 1.3e-7, 1.7e-7, 2.2e-7, 0.1], dtype=torch.float64))
    E = torch.randn(chi, d, chi, generator=gen, dtype=torch.float64)
    E = E + E.permute(2, 1, 0)
    Q = torch.linalg.qr(torch.randn(chi, chi, generator=gen, dtype=torch.float64))[0]
    C1, E1 = Q.mT @ C @ Q, torch.einsum("ax,amb,by->xmy", Q, E, Q)
    U, mismatch = _match_gauge(C1, E1, C, E)
    assert mismatch < 1e-13  # measured 7e-15
    assert float((U.mT @ U - torch.eye(chi, dtype=torch.float64)).abs().max()) < 1e-13


def test_normal_matrix_rows_and_lowest_eigenvectors_match_their_definitions():
    """``_match_gauge``'s block-wise sum_m A1[m, k_u, k_v] A0[m, l_u, l_v] and its partial eigensolver."""
    import numpy as np

    gen = torch.Generator().manual_seed(4)
    chi, d = 10, 3
    groups = np.split(np.arange(chi), [1, 4, 5, 6])  # sizes 1, 3, 1, 1, 4
    ks = torch.as_tensor(np.concatenate([np.repeat(g, len(g)) for g in groups]))
    ls = torch.as_tensor(np.concatenate([np.tile(g, len(g)) for g in groups]))
    A1, A0 = (torch.randn(d, chi, chi, generator=gen, dtype=torch.float64) for _ in range(2))
    mixed = _mixed_rows(A1, A0, groups, ks, ls)
    n = ks.shape[0]
    assert n == 1 + 9 + 1 + 1 + 16
    expected = torch.tensor([[float((A1[:, ks[u], ks[v]] * A0[:, ls[u], ls[v]]).sum()) for v in range(n)]
                             for u in range(n)], dtype=torch.float64)  # fmt: skip
    assert float((mixed - expected).abs().max()) < 1e-13

    X = torch.randn(n, n, generator=gen, dtype=torch.float64)
    N = X @ X.mT
    values, vectors = torch.linalg.eigh(N)
    lowest = _lowest_eigenvectors(N, 2)  # rows, the lowest last
    for row, column in ((1, 0), (0, 1)):
        v, w = lowest[row], vectors[:, column]
        assert float((v - torch.sign(v @ w) * w).abs().max()) < 1e-10
        assert float((N @ v - values[column] * v).abs().max()) < 1e-10 * float(values[-1])


def _random_T():
    return double_layer(prepare(random_tensor(2, 1))).requires_grad_()


def test_unreachable_adjoint_tolerance_raises():
    T = _random_T()
    C, E, info = ctmrg(T, CTMRGOptions(chi=8, tol=1e-12, fp_max_iter=2), boundary=identity_boundary(2))
    assert info.grad_mode == "fixed_point"
    with pytest.raises(FixedPointError, match="GMRES did not reach"):
        torch.autograd.grad(torch.einsum("ab,ab->", C, C) + E.sum(), T)


@pytest.mark.parametrize("budget, fallback", [(ctmrg_module.UNROLLED_FALLBACK_BYTES, "unrolled"), (0, "checkpoint")])
def test_unconverged_fixed_point_mode_falls_back_and_says_so(caplog, monkeypatch, budget, fallback):
    T = _random_T()
    monkeypatch.setattr(ctmrg_module, "UNROLLED_FALLBACK_BYTES", budget)
    options = CTMRGOptions(chi=8, tol=1e-14, max_iter=4)
    with caplog.at_level(logging.WARNING, logger="difftn.contract.ctmrg"):
        C, E, info = ctmrg(T, options, boundary=identity_boundary(2))
    assert not info.converged and info.grad_mode == fallback
    assert "no element-wise fixed point" in caplog.text
    assert C.requires_grad and E.requires_grad
    # Both fallbacks differentiate the same steps: measured equal bit for bit.
    g_fallback = torch.autograd.grad(torch.einsum("ab,ab->", C, C) + E.sum(), T)[0]
    C, E, _ = ctmrg(T, dataclasses.replace(options, grad_mode=fallback), boundary=identity_boundary(2))
    g_direct = torch.autograd.grad(torch.einsum("ab,ab->", C, C) + E.sum(), T)[0]
    assert torch.allclose(g_fallback, g_direct, rtol=1e-12, atol=0)


@pytest.mark.parametrize("D, chi, fallback", [(2, 30, "unrolled"), (3, 20, "unrolled"), (3, 50, "checkpoint"),
                                              (5, 100, "checkpoint")])  # fmt: skip
def test_the_fallback_is_unrolled_only_where_its_graph_is_small(D, chi, fallback):
    T = torch.zeros((D * D,) * 4, dtype=torch.float64)
    assert ctmrg_module.fallback_mode(T, CTMRGOptions(chi=chi)) == fallback


def test_saved_per_step_bounds_what_an_unrolled_step_keeps():
    # fallback_mode's estimate must not undercount: what autograd saves for an
    # unrolled run, per step, in (chi D^2)^2-sized tensors (measured 6.7 here).
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    T = _random_T()
    options = CTMRGOptions(chi=16, tol=1e-300, max_iter=20, grad_mode="unrolled")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, _, info = ctmrg(T, options, boundary=identity_boundary(2))
    per_step = saved[0] / (info.iterations * (options.chi * T.shape[0]) ** 2 * T.element_size())
    assert 1 < per_step <= ctmrg_module.SAVED_PER_STEP


def test_element_wise_rounds_stop_when_the_target_is_out_of_reach():
    from difftn.contract.ctmrg import _out_of_reach

    assert not _out_of_reach(float("inf"), 1e-6, 0, 1e-9, 200)  # first look: no rate yet
    assert _out_of_reach(1e-8, 1e-8, 10, 1e-9, 200)  # not falling
    # 1e-6 -> 1e-7 in 10 steps: 1e-9 in 20 more, within 30 but not within 15
    assert not _out_of_reach(1e-6, 1e-7, 10, 1e-9, 30)
    assert _out_of_reach(1e-6, 1e-7, 10, 1e-9, 15)
    # the measured D = 2 case: 1.4e-8 -> 1.4e-9 in 200 steps would need ~30 more of a budget of 0
    assert _out_of_reach(1.4e-8, 1.4e-9, 200, 1e-9, 0)


def test_element_wise_rounds_are_sized_by_the_measured_rate():
    from difftn.contract.ctmrg import ROUND_CAP_MIN, ROUND_MARGIN, ROUND_PROBE, _round_steps

    assert _round_steps(4.6e-9, 4.6e-9, 0, 1e-9, 2) == ROUND_PROBE  # first look: a probe
    assert _round_steps(1e-8, 2e-8, 3, 1e-9, 2) == ROUND_PROBE  # not falling yet: probe again
    assert _round_steps(float("inf"), 1e-8, 3, 1e-9, 2) == ROUND_PROBE  # an infinite first look: no rate
    # 1e-6 -> 1e-7 in 3 steps: 3 log10(50) = 5.1 more reach 2e-9, 7.6 -> 8 with the margin
    assert ROUND_MARGIN == 1.5 and _round_steps(1e-6, 1e-7, 3, 2e-9, 2) == 8
    # a slow rate: capped at a quarter of the steps so far, at least ROUND_CAP_MIN
    assert _round_steps(1.4e-8, 1.39e-8, 3, 1e-9, 20) == ROUND_CAP_MIN
    assert _round_steps(1.4e-8, 1.39e-8, 3, 1e-9, 400) == 100


def _contraction_step(x, theta):
    # x -> 0.5 x + theta: fixed point x* = 2 theta, Jacobian 0.5, dx*/dtheta = 2
    return (0.5 * x + theta,)


@pytest.mark.parametrize("offset, raises", [(0.0, False), (5e-9, False), (1e-6, True)])
def test_backward_rechecks_the_fixed_point_with_a_margin(offset, raises):
    # The forward decides at fp_mismatch; the backward's own step may differ
    # from the forward's by more than rounding (ctmrg: full eigh vs graph-free
    # step), so it raises only beyond BACKWARD_MARGIN x fp_mismatch: 5e-9 is
    # accepted, a point 1e-6 off is refused.
    from difftn.contract.fixedpoint import BACKWARD_MARGIN, fixed_point

    options = CTMRGOptions(fp_mismatch=1e-9)
    assert BACKWARD_MARGIN * options.fp_mismatch > 5e-9
    theta = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    x_star = 2 * theta.detach() + 2 * offset  # step(x*) - x* = -offset
    (x,) = fixed_point(_contraction_step, theta, (x_star,), options)
    if raises:
        with pytest.raises(FixedPointError, match="not a fixed point"):
            torch.autograd.grad(x.sum(), theta)
        return
    (g,) = torch.autograd.grad(x.sum(), theta)
    assert float((g - 2).abs().max()) < 1e-12  # exact 2: GMRES on a scalar multiple of the identity


def test_adjoint_iterations_are_reported():
    T = _random_T()
    C, E, info = ctmrg(T, CTMRGOptions(chi=8, tol=1e-12), boundary=identity_boundary(2))
    assert info.adjoint_iterations == -1  # filled in by the backward
    torch.autograd.grad(E.sum(), T)
    assert info.adjoint_iterations > 0 and info.adjoint_residual <= 1e-12


@pytest.mark.parametrize("field, value", [("fp_tol", 0.0), ("fp_max_iter", 0), ("fp_mismatch", -1.0)])
def test_bad_fixed_point_options_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        CTMRGOptions(**{field: value})


def test_an_infinite_first_look_does_not_stop_the_element_wise_rounds(monkeypatch):
    # |step(x*) - x*| is inf when the spectra of step(x*) and x* differ.  After
    # such a first look the rate must be measured from the next, finite one;
    # a rate from inf was 0, and log(0) stopped fig4-cpu's D = 3 run (round 32).
    real, looks = ctmrg_module._fixed_point_gauge, []

    def first_look_infinite(*args):
        ref, mismatch = real(*args)
        looks.append(mismatch)
        return (None, float("inf")) if len(looks) == 1 else (ref, mismatch)

    monkeypatch.setattr(ctmrg_module, "_fixed_point_gauge", first_look_infinite)
    T = _random_T()
    options = CTMRGOptions(chi=8, tol=1e-6)  # loose: the rounds must take the entries from ~1e-6 to fp_mismatch
    C, E, info = ctmrg(T, options, boundary=identity_boundary(2))
    assert len(looks) >= 3 and looks[1] > options.fp_mismatch and info.grad_mode == "fixed_point"
    assert info.elementwise_change <= options.fp_mismatch
    g = torch.autograd.grad(torch.einsum("ab,ab->", C, C) + E.sum(), T)[0]
    # The same gradient as without the infinite look (C and E are gauge-fixed alike in both runs).
    monkeypatch.setattr(ctmrg_module, "_fixed_point_gauge", real)
    C, E, _ = ctmrg(T, options, boundary=identity_boundary(2))
    g_plain = torch.autograd.grad(torch.einsum("ab,ab->", C, C) + E.sum(), T)[0]
    assert float((g - g_plain).abs().max()) < 5e-9  # measured 4.2e-10 (max |g| = 1.27)

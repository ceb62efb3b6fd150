"""Negative curvature of the iPEPS energy and the optimizer's escape from a saddle (difftn.methods.saddle).

Oracles: Burnside's count of the C4v orbits; the symmetries themselves
(finite gauge and spin rotations leave E unchanged, and their derivatives are
the flat directions); ``torch.linalg.eigh`` for Lanczos; second differences
of E for the curvature; the Neel product state, a critical point of the
D = 2 energy whose entangling directions lower E (a saddle); and the best
known D = 2 energy, which an optimization started on that saddle reaches only
by stepping off it.
"""

import json

import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.methods.ipeps import evaluate, symmetrize
from difftn.methods.saddle import (SLOPE_TOL, check_curvature, flat_directions, lanczos_lowest, step_off,
                                  symmetric_basis)
from difftn.models.heisenberg import bond_hamiltonian
from difftn.studies import heisenberg

F64 = torch.float64
H = bond_hamiltonian(rotated=True)
# The best-known D = 2 energy (tests/test_optimize.py: Hasik et al., chi-independent from chi = 16).
D2_ENERGY = -0.6602310934799582


def _neel(D, noise):
    """The Neel product state (all spins up in the rotated frame) at bond D, padded with seeded noise."""
    A1 = torch.zeros(2, 1, 1, 1, 1, dtype=F64)
    A1[0] = 1.0
    return heisenberg.pad_tensor(A1, D, noise, seed=0)


def _orthogonal(X, t):
    return torch.linalg.matrix_exp(t * X)


@pytest.mark.parametrize("D", [2, 3, 4])
def test_symmetric_basis_counts_the_orbits_and_spans_the_symmetric_tensors(D):
    B = symmetric_basis(D)
    # Burnside: C4v on the 4 legs has (D^4 + 2 D^3 + 3 D^2 + 2 D) / 8 orbits, one column per orbit and spin.
    assert B.shape == (2 * D**4, 2 * (D**4 + 2 * D**3 + 3 * D**2 + 2 * D) // 8)
    torch.testing.assert_close(B.T @ B, torch.eye(B.shape[1], dtype=F64), rtol=0, atol=1e-14)
    x = torch.randn(2, D, D, D, D, generator=torch.Generator().manual_seed(D), dtype=F64)
    # symmetrize is the orthogonal projector onto span(B): measured 4e-16
    torch.testing.assert_close(symmetrize(x).reshape(-1), B @ (B.T @ x.reshape(-1)), rtol=0, atol=1e-13)


def test_flat_directions_are_the_tangents_of_gauge_and_spin_rotations():
    D, t = 3, 1e-5
    A = symmetrize(torch.rand(2, D, D, D, D, generator=torch.Generator().manual_seed(1), dtype=F64))
    F = flat_directions(A)
    assert F.shape == (A.numel(), D * (D - 1) // 2 + 1)

    def gauge(O):
        return torch.einsum("xu,yl,zd,wr,suldr->sxyzw", O, O, O, O, A)

    def spin(R):
        return torch.einsum("ts,suldr->tuldr", R, A)

    X = torch.zeros(D, D, dtype=F64)
    X[0, 1], X[1, 0] = 1.0, -1.0  # the first generator of flat_directions
    J = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    for column, move in ((0, lambda s: gauge(_orthogonal(X, s))), (-1, lambda s: spin(_orthogonal(J, s)))):
        derivative = (move(t) - move(-t)).reshape(-1) / (2 * t)  # central difference: measured 5e-10, 1e-11
        torch.testing.assert_close(F[:, column], derivative, rtol=0, atol=1e-9)


def test_gauge_and_spin_rotations_leave_the_energy_unchanged():
    D = 2
    A = symmetrize(torch.rand(2, D, D, D, D, generator=torch.Generator().manual_seed(2), dtype=F64))
    ctm = CTMRGOptions(chi=12, tol=1e-12, max_iter=500)
    O = _orthogonal(torch.tensor([[0.0, 0.7], [-0.7, 0.0]], dtype=F64), 1.0)
    R = _orthogonal(torch.tensor([[0.0, 0.4], [-0.4, 0.0]], dtype=F64), 1.0)
    moved = torch.einsum("ts,xu,yl,zd,wr,suldr->txyzw", R, O, O, O, O, A)
    e0, e1 = (float(evaluate(x, H, ctm)[0]) for x in (A, moved))
    assert e1 == pytest.approx(e0, rel=0, abs=1e-12)  # measured 3e-16; a symmetric generator moves E by 3e-3


def test_lanczos_finds_the_lowest_eigenpair():
    gen = torch.Generator().manual_seed(5)
    U, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=F64))
    spectrum = torch.tensor([-0.3, -0.1, 1e-3] + [float(k) for k in range(1, 10)], dtype=F64)
    M = U @ torch.diag(spectrum) @ U.T
    value, vector, residual, products, exhausted = lanczos_lowest(lambda y: M @ y, 12, 60)
    assert exhausted and products == 12
    assert value == pytest.approx(-0.3, rel=0, abs=1e-12)
    assert abs(float(vector @ U[:, 0])) == pytest.approx(1.0, rel=0, abs=1e-12)
    # Cut short: the Ritz value is a Rayleigh quotient, so it bounds the lowest eigenvalue from above.
    value, vector, residual, products, exhausted = lanczos_lowest(lambda y: M @ y, 12, 4)
    assert not exhausted and products == 4
    assert float(torch.linalg.vector_norm(vector)) == pytest.approx(1.0, abs=1e-13)
    assert float(vector @ M @ vector) == pytest.approx(value, rel=0, abs=1e-12)
    assert value >= -0.3 - 1e-12
    assert residual == pytest.approx(float(torch.linalg.vector_norm(M @ vector - value * vector)), rel=1e-6)


def test_the_neel_state_is_a_saddle_of_the_d2_energy():
    A = _neel(2, 1e-12)
    ctm = CTMRGOptions(chi=8, tol=1e-10, max_iter=200)
    curvature = check_curvature(A, H, ctm)
    assert curvature.energy == pytest.approx(-0.5, abs=1e-9)  # the classical Neel energy
    assert curvature.exhausted and curvature.dimension == 9
    assert curvature.value < -0.5  # measured -1.0000000 (2 products: the reduced Hessian has two distinct eigenvalues)
    # The Ritz value is the second derivative of E along its vector: a second difference
    # with step s = 1e-3 agrees to O(s^2) (measured 7.5e-7; 6.7e-6 at s = 3e-3).
    a = symmetrize(A) / symmetrize(A).norm()
    v, s = curvature.vector, 1e-3
    energy = lambda x: float(evaluate(x, H, ctm)[0])  # noqa: E731
    second = (energy(a + s * v) + energy(a - s * v) - 2 * energy(a)) / s**2
    assert second == pytest.approx(curvature.value, rel=0, abs=5e-6)
    off = step_off(A, curvature, H, ctm, step=0.05)
    # a critical point: the gradient (measured |dE/dA . v| = 7e-13) cannot choose, the energies do
    assert off.by == "energy" and off.slope < SLOPE_TOL
    assert off.energy <= off.energy_other < curvature.energy  # both sides lower E (measured -0.5012477, 7e-14 apart)
    assert float(evaluate(off.point, H, ctm)[0]) == pytest.approx(off.energy, rel=0, abs=1e-12)


def test_off_a_critical_point_the_gradient_picks_the_side():
    A = _neel(2, 1e-3)  # near the saddle, not on it: |dE/dA| = 3.5e-4
    ctm = CTMRGOptions(chi=8, tol=1e-10, max_iter=200)
    curvature = check_curvature(A, H, ctm)
    off = step_off(A, curvature, H, ctm, step=0.05)
    a = symmetrize(A) / symmetrize(A).norm()
    assert off.by == "gradient" and off.slope > 1e3 * SLOPE_TOL
    assert float((curvature.grad * (off.point - a)).sum()) == pytest.approx(-0.05 * off.slope, rel=1e-12)
    # measured -0.5012825 on this side, -0.5012133 on the other
    assert off.energy < off.energy_other < curvature.energy


def test_curvature_at_the_d2_minimum_matches_finite_differences():
    from difftn.data.reference import published_state_path

    A = heisenberg.read_json_tensor(published_state_path(2))
    ctm = CTMRGOptions(chi=16, tol=1e-12, max_iter=500)
    curvature = check_curvature(A, H, ctm)
    assert curvature.exhausted and curvature.value > 1e-3  # a minimum: measured 1.3e-2 at chi = 8
    # The Hessian of E in the same reduced space from central differences of the AD gradient.
    a = symmetrize(A) / symmetrize(A).norm()
    flat = torch.cat([a.reshape(-1, 1), flat_directions(a)], dim=1)
    B = symmetric_basis(2)
    F, _ = torch.linalg.qr(flat)
    weights, vectors = torch.linalg.eigh(B @ B.T - F @ F.T)  # the projector onto the reduced space
    Q = vectors[:, weights > 0.5]
    assert Q.shape[1] == curvature.dimension

    def grad(x):
        x = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(evaluate(x, H, ctm)[0], x)
        return g.reshape(-1)

    step = 1e-4
    columns = [(grad(a + step * q.reshape(a.shape)) - grad(a - step * q.reshape(a.shape))) / (2 * step) for q in Q.T]
    hessian = Q.T @ torch.stack(columns, dim=1)
    lowest = float(torch.linalg.eigvalsh(0.5 * (hessian + hessian.T))[0])
    assert curvature.value == pytest.approx(lowest, rel=2e-6)  # measured 2.5e-7 for steps 1e-3 ... 1e-5


@pytest.fixture
def neel_json(tmp_path):
    """The Neel state as a D = 1 published-format tensor, for ``optimize(init=...)``."""
    path = tmp_path / "neel.json"
    path.write_text(json.dumps({"sites": [{"physDim": 2, "auxDim": 1, "entries": ["0 0 0 0 0 1.0"]}]}))
    return path


def test_optimize_steps_off_the_neel_saddle_to_the_d2_minimum(tmp_path, neel_json):
    # Started on the saddle (noise 1e-12: |gradient| ~ 1e-13, above the tolerance 1e-14), the line
    # search finds no lower point and L-BFGS stops; the curvature check finds the negative mode, and
    # from one of its sides (by energy: a critical point) L-BFGS reaches the best-known D = 2 energy.
    # Measured: 5 iterations, 9 s.
    common = dict(init=neel_json, noise=1e-12, tol_grad=1e-14, max_iter=60, ctm_tol=1e-10, device="cpu", progress=False)
    stuck = heisenberg.optimize(2, 8, tmp_path / "stuck.nc", saddle_escapes=0, **common)
    assert stuck.attrs["stop_reason"] == "line search failed"
    assert float(stuck.energy[-1]) == pytest.approx(-0.5, abs=1e-9)
    assert json.loads(stuck.attrs["saddle_checks"]) == []

    state = heisenberg.optimize(2, 8, tmp_path / "escaped.nc", saddle_escapes=2, **common)
    checks = json.loads(state.attrs["saddle_checks"])
    assert checks[0]["escaped"] and checks[0]["lowest_curvature"] < -0.5 and checks[0]["energy_off"] < -0.5
    # the run ends at the D = 2 minimum (measured 4e-11 above the chi-converged value at chi = 8),
    # where the next check finds no negative curvature (measured lowest 1.3e-2)
    assert float(state.energy[-1]) == pytest.approx(D2_ENERGY, rel=0, abs=1e-9)
    assert not checks[-1]["escaped"] and checks[-1]["lowest_curvature"] > 1e-3 and checks[-1]["exhausted"]
    assert len(checks) == 2 and all(c["ctm_converged"] for c in checks)
    # a resumed run is already done, and keeps the record
    again = heisenberg.optimize(2, 8, tmp_path / "escaped.nc", resume=True, saddle_escapes=2, **common)
    assert json.loads(again.attrs["saddle_checks"]) == checks


def test_optimize_does_not_check_where_the_products_cannot_span_the_space(tmp_path, neel_json):
    # D = 4: more directions than SADDLE_MAX_PRODUCTS (105 here: the three gauge generators that do not
    # touch bond index 0 leave the Neel state unchanged, so 3 of the generic 6 drop out); the stop is
    # recorded as not checked.
    state = heisenberg.optimize(4, 8, tmp_path / "d4.nc", init=neel_json, noise=1e-12, tol_grad=1e-14, max_iter=5,
                                saddle_escapes=1, device="cpu", progress=False)  # fmt: skip
    assert state.attrs["stop_reason"] == "line search failed"
    (check,) = json.loads(state.attrs["saddle_checks"])
    assert check == {"iteration": 1, "energy_stop": pytest.approx(-0.5, abs=1e-9), "dimension": 105,
                     "checked": False, "escaped": False}  # fmt: skip

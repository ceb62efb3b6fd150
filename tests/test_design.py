"""Tests of difftn.methods.fidelity_design: the TFIM Hamiltonian against Kronecker products, its
ground energy against the free-fermion solution, gradients through eigh
against Hellmann-Feynman, the free-fermion route and finite differences, and
the design of a target ground state to fidelity >= 0.999."""

import functools

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from difftn.methods import fidelity_design as d
from difftn.models import tfim
from difftn.studies import design as study

DT = torch.float64
X = np.array([[0.0, 1.0], [1.0, 0.0]])
Z = np.diag([1.0, -1.0])


def kron_operator(n, ops):
    """Tensor product over n sites with ``ops[i]`` at site i (identity elsewhere); site 0 leftmost."""
    return functools.reduce(np.kron, [ops.get(i, np.eye(2)) for i in range(n)])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_hamiltonian_equals_kronecker_construction(n):
    J, h = tfim.random_parameters(n, seed=n)
    H = -sum(J[i].item() * kron_operator(n, {i: Z, i + 1: Z}) for i in range(n - 1))
    H = H - sum(h[i].item() * kron_operator(n, {i: X}) for i in range(n))
    np.testing.assert_allclose(tfim.tfim_hamiltonian(J, h).numpy(), H, rtol=0, atol=1e-14)


@pytest.mark.parametrize("n, seed", [(2, 0), (4, 1), (6, 2), (8, 3)])
def test_ground_energy_equals_free_fermions(n, seed):
    J, h = tfim.random_parameters(n, seed, low=0.2, high=2.0)
    E0, state, gap = tfim.ground_state(J, h)
    # Measured <= 2.7e-15 (E0 up to ~10) and 5.6e-16.
    assert float(E0) == pytest.approx(float(tfim.free_fermion_ground_energy(J, h)), abs=3e-14)
    assert float(torch.linalg.norm(state)) == pytest.approx(1.0, abs=5e-15) and gap > 0


def test_two_sites_closed_form():
    # Uniform 2-site chain: E0 = -sqrt(J^2 + 4 h^2).
    J, h = torch.tensor([0.7], dtype=DT), torch.tensor([1.3, 1.3], dtype=DT)
    assert float(tfim.ground_state(J, h)[0]) == pytest.approx(-np.sqrt(0.49 + 4 * 1.69), abs=5e-15)  # measured 4.4e-16


def test_energy_gradient_is_hellmann_feynman_and_matches_free_fermions():
    n = 5
    J, h = (x.requires_grad_() for x in tfim.random_parameters(n, seed=7))
    E0, state, _ = tfim.ground_state(J, h)
    dJ, dh = torch.autograd.grad(E0, (J, h))
    g = state.detach().numpy()
    # dE0/dJ_i = -<Z_i Z_i+1>, dE0/dh_i = -<X_i>.
    zz = [-g @ kron_operator(n, {i: Z, i + 1: Z}) @ g for i in range(n - 1)]
    xx = [-g @ kron_operator(n, {i: X}) @ g for i in range(n)]
    # Measured 5.6e-17 and 1.1e-16 (Hellmann-Feynman), 1.0e-15 and 1.3e-15 (free fermions).
    np.testing.assert_allclose(dJ.numpy(), zz, rtol=0, atol=1e-15)
    np.testing.assert_allclose(dh.numpy(), xx, rtol=0, atol=1e-15)
    fJ, fh = torch.autograd.grad(tfim.free_fermion_ground_energy(J, h), (J, h))
    torch.testing.assert_close(fJ, dJ, rtol=0, atol=1e-14)
    torch.testing.assert_close(fh, dh, rtol=0, atol=1e-14)


def test_fidelity_gradient_through_eigh():
    n = 3
    _, target, _ = tfim.ground_state(*tfim.random_parameters(n, seed=1))
    target = target.detach()

    def fidelity(J, h):
        return d.fidelity(tfim.ground_state(J, h)[1], target)

    J, h = (x.requires_grad_() for x in tfim.random_parameters(n, seed=2))
    assert gradcheck(fidelity, (J, h), atol=1e-8, rtol=1e-7)
    assert gradgradcheck(fidelity, (J, h), atol=1e-7, rtol=1e-6)


def test_fidelity_is_sign_gauge_invariant():
    _, state, _ = tfim.ground_state(*tfim.random_parameters(4, seed=0))
    _, target, _ = tfim.ground_state(*tfim.random_parameters(4, seed=5))
    assert float(d.fidelity(state, target)) == pytest.approx(float(d.fidelity(-state, target)), abs=1e-16)
    assert float(d.fidelity(state, state)) == pytest.approx(1.0, abs=1e-14)


def test_design_reaches_the_target():
    n = 6
    J_t, h_t = tfim.random_parameters(n, seed=0)
    _, target, _ = tfim.ground_state(J_t, h_t)
    result = d.design(target, torch.ones(n - 1, dtype=DT), torch.ones(n, dtype=DT))
    assert result.initial_fidelity < 0.95  # measured 0.938: the start is not already there
    assert result.fidelity >= 0.999  # the target
    assert 1 - result.fidelity < 4e-8  # measured 1 - F = 3.7e-9
    assert result.infidelity_history[-1] == pytest.approx(1 - result.fidelity, abs=1e-15)  # measured identical
    # Fidelity 1 - 4e-9 does not pin the parameters: they differ from the
    # target's (up to scale) by up to 13 % along flat directions.


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tfim.tfim_hamiltonian(torch.ones(3, dtype=DT), torch.ones(3, dtype=DT)), "J must have"),
        (lambda: tfim.tfim_hamiltonian(torch.ones(12, dtype=DT), torch.ones(13, dtype=DT)), "1 to 12"),
        (lambda: d.design(torch.ones(8, dtype=DT), torch.ones(2, dtype=DT), torch.ones(3, dtype=DT)), "normalized"),
        (lambda: d.design(torch.ones(4, dtype=DT) / 2, torch.ones(2, dtype=DT), torch.ones(3, dtype=DT)), "shape"),
        (lambda: tfim.random_parameters(3, 0, low=0.0), "low"),
        (lambda: study.compute(sites=1), "sites"),
    ],
)
def test_bad_inputs_are_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_study_point():
    ds = study.compute(sites=4, seed=3)
    assert float(ds.fidelity) >= 0.999 and float(ds.initial_fidelity) < float(ds.fidelity)  # target
    # Measured 1 - F = 4.0e-15 (rounding of F itself), initial F = 0.978.
    assert 1 - float(ds.fidelity) < 5e-14 and float(ds.initial_fidelity) < 0.99
    assert ds.sizes["iteration"] == len(ds.infidelity) and ds.sizes["site"] == 4 and ds.sizes["bond"] == 3
    assert float(ds.gap) > 0 and ds.attrs["difftn_stage"] == "design" and "source_hash" in ds.attrs

"""C4v iPEPS: symmetrization, exact product-state values, density-matrix properties."""

import pytest
import torch

from difftn.ctmrg import CTMRGOptions
from difftn.ipeps import evaluate, symmetrize, two_site_rdm
from difftn.models.heisenberg import bond_hamiltonian
from difftn.studies.heisenberg import pad_env, pad_tensor, random_tensor


def test_symmetrize_is_a_c4v_projector():
    A = random_tensor(3, seed=1)
    S = symmetrize(A)
    assert torch.allclose(symmetrize(S), S)
    assert torch.allclose(S, S.permute(0, 2, 3, 4, 1))  # rotation
    assert torch.allclose(S, S.permute(0, 1, 4, 3, 2))  # reflection l <-> r


def test_neel_product_state_is_exact():
    A = torch.zeros(2, 1, 1, 1, 1, dtype=torch.float64)
    A[0] = 1.0  # all up in the rotated frame = Neel state
    energy, m, _, info = evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=4))
    assert info.converged
    assert float(energy) == pytest.approx(-0.5, abs=1e-14)  # 2 bonds x (-1/4)
    assert float(m) == pytest.approx(0.5, abs=1e-14)


def test_reduced_density_matrix_is_a_density_matrix():
    A = symmetrize(random_tensor(2, seed=2))
    _, _, (C, E), _ = evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=16, tol=1e-12, max_iter=1000))
    rho = two_site_rdm(C, E, A / A.abs().max()).reshape(4, 4)
    assert float(torch.trace(rho)) == pytest.approx(1.0, abs=1e-12)
    assert torch.allclose(rho, rho.T, atol=1e-12)
    assert float(torch.linalg.eigvalsh(rho).min()) > -1e-10


def test_padding_a_state_keeps_its_energy():
    options = CTMRGOptions(chi=16, tol=1e-12, max_iter=1000)
    A = random_tensor(2, seed=3)
    e2, m2, env, _ = evaluate(A, bond_hamiltonian(), options)
    A3 = pad_tensor(A, 3, noise=1e-12, seed=0)
    e3, m3, _, info = evaluate(A3, bond_hamiltonian(), options, env=pad_env(env, 2, 3))
    assert info.converged
    assert float(e3) == pytest.approx(float(e2), abs=1e-9)
    assert float(m3) == pytest.approx(float(m2), abs=1e-9)

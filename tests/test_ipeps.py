"""C4v iPEPS: symmetrization, exact product-state values, density-matrix properties."""

import itertools

import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.methods.ipeps import evaluate, symmetrize, two_site_rdm
from difftn.models.heisenberg import bond_hamiltonian
from difftn.data.reference import QMC_ENERGY, QMC_ENERGY_ERROR
from difftn.studies.heisenberg import pad_env, pad_tensor, random_tensor


def test_symmetrize_is_a_c4v_projector():
    A = random_tensor(3, seed=1)
    S = symmetrize(A)
    # Rounding level: measured 2.2e-16, 1.1e-16, 5.6e-17 (|S| <= 1); 1e-14 leaves
    # two decades for other CPUs, a wrong group element gives O(0.1).
    close = dict(rtol=0, atol=1e-14)
    torch.testing.assert_close(symmetrize(S), S, **close)
    torch.testing.assert_close(S, S.permute(0, 2, 3, 4, 1), **close)  # rotation
    torch.testing.assert_close(S, S.permute(0, 1, 4, 3, 2), **close)  # reflection l <-> r


def test_neel_product_state_is_exact():
    A = torch.zeros(2, 1, 1, 1, 1, dtype=torch.float64)
    A[0] = 1.0  # all up in the rotated frame = Neel state
    energy, m, _, info = evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=4))
    assert info.converged
    # Measured exact (0.0); 1e-14 is rounding headroom.
    assert float(energy) == pytest.approx(-0.5, rel=0, abs=1e-14)  # 2 bonds x (-1/4)
    assert float(m) == pytest.approx(0.5, rel=0, abs=1e-14)


def test_reduced_density_matrix_is_a_density_matrix():
    A = symmetrize(random_tensor(2, seed=2))
    _, _, (C, E), _ = evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=16, tol=1e-12, max_iter=1000))
    rho = two_site_rdm(C, E, A / A.abs().max()).reshape(4, 4)
    # Trace and symmetry at rounding level (measured 0 and 1.1e-16).
    assert float(torch.trace(rho)) == pytest.approx(1.0, rel=0, abs=1e-12)
    torch.testing.assert_close(rho, rho.T, rtol=0, atol=1e-12)
    # Positive: smallest eigenvalue measured +2.5e-4 (of 2.5e-4, 1.2e-3, 2.4e-3, 0.996).
    assert float(torch.linalg.eigvalsh(rho).min()) > 1e-5


def test_padding_a_state_keeps_its_energy():
    options = CTMRGOptions(chi=16, tol=1e-12, max_iter=1000)
    A = random_tensor(2, seed=3)
    e2, m2, env, _ = evaluate(A, bond_hamiltonian(), options)
    A3 = pad_tensor(A, 3, noise=1e-12, seed=0)
    e3, m3, _, info = evaluate(A3, bond_hamiltonian(), options, env=pad_env(env, 2, 3))
    assert info.converged
    assert QMC_ENERGY - QMC_ENERGY_ERROR < float(e2)  # variational (measured e2 = -0.50)
    # The 1e-12 noise can move E, m by O(1e-12); measured 2.2e-16 and 4.4e-16.
    assert float(e3) == pytest.approx(float(e2), rel=0, abs=1e-11)
    assert float(m3) == pytest.approx(float(m2), rel=0, abs=1e-11)


# Best known D = 2 single-site C4v state of the Heisenberg model (sublattice-rotated
# frame, as bond_hamiltonian(rotated=True)): J. Hasik, D. Poilblanc, F. Becca,
# SciPost Phys. 10, 012 (2021), data set "j1j2_ipeps_states" (CC BY 4.0), file
# state_1s_A1_j20.0_D2_chi_opt48. A C4v tensor is fixed by, for each physical s,
# its value on virtual configurations with 0, 1, 2 adjacent, 2 opposite, 3, 4 legs set.
_HASIK_D2_CLASSES = (
    (1.0, 0.017282585382645214, -4.472056243694618e-05, -4.470003014145945e-05, -2.5360940365643496e-05,
     -1.9191912448893797e-06),
    (-0.01619483563921434, 0.41985986298862715, 0.030093429238755503, 0.03009336749550069,
     0.0016170125837876856, 7.727794758781616e-05),
)  # fmt: skip
# Its energy and m as published, identical at chi_obs = 16 ... 192 to 1e-15.
_HASIK_D2_ENERGY, _HASIK_D2_M = -0.6602310934799582, 0.39112367945806437


@pytest.fixture
def hasik_d2():
    A = torch.zeros(2, 2, 2, 2, 2, dtype=torch.float64)
    for s, (u, l, d, r) in itertools.product(range(2), itertools.product(range(2), repeat=4)):
        n = u + l + d + r
        cls = {0: 0, 1: 1, 2: 3 if u == d else 2, 3: 4, 4: 5}[n]  # u == d with n = 2: u, d or l, r set
        A[s, u, l, d, r] = _HASIK_D2_CLASSES[s][cls]
    return A


def test_published_d2_state_energy_and_magnetization(hasik_d2):
    torch.testing.assert_close(symmetrize(hasik_d2), hasik_d2, rtol=0, atol=1e-14)  # C4v: measured 5.6e-17
    for chi in (16, 20):
        energy, m, _, info = evaluate(hasik_d2, bond_hamiltonian(rotated=True), CTMRGOptions(chi=chi, tol=1e-12))
        assert info.converged
        # Measured E off by 3.3e-16 (chi 16), 7.8e-16 (chi 20); m by 6.6e-15, 6.5e-15.
        # Variational: above the exact ground-state energy (QMC).
        assert QMC_ENERGY - QMC_ENERGY_ERROR < float(energy)
        assert float(energy) == pytest.approx(_HASIK_D2_ENERGY, rel=0, abs=1e-12)
        assert float(m) == pytest.approx(_HASIK_D2_M, rel=0, abs=1e-12)

"""Heisenberg Hamiltonian against exact diagonalization and exact spectra."""

import numpy as np
import pytest
import torch

from difftn.models.heisenberg import bond_hamiltonian, cluster_hamiltonian, exact_ground_energy


@pytest.mark.parametrize("rotated", [False, True])
def test_bond_spectrum_is_singlet_and_triplet(rotated):
    h = bond_hamiltonian(rotated).reshape(4, 4)
    assert torch.allclose(h, h.T)
    np.testing.assert_allclose(torch.linalg.eigvalsh(h).numpy(), [-0.75, 0.25, 0.25, 0.25], atol=1e-14)


def test_rotation_maps_neel_to_ferromagnet():
    # <up up| h_rot |up up> equals <up down| h |up down> = -1/4 (Sz Sz of a Neel pair).
    h_rot, h = bond_hamiltonian(True), bond_hamiltonian(False)
    assert float(h_rot[0, 0, 0, 0]) == pytest.approx(-0.25)
    assert float(h[0, 1, 0, 1]) == pytest.approx(-0.25)


@pytest.mark.parametrize("lx, ly", [(2, 2), (4, 2)])
def test_rotated_cluster_has_the_same_spectrum(lx, ly):
    plain = np.linalg.eigvalsh(cluster_hamiltonian(lx, ly).toarray())
    rotated = np.linalg.eigvalsh(cluster_hamiltonian(lx, ly, rotated=True).toarray())
    np.testing.assert_allclose(plain, rotated, atol=1e-12)


def test_4x4_ground_state_energy():
    # E0/N of the 4x4 periodic cluster, -11.228483208/16 (e.g. Schulz, Ziman,
    # Poilblanc, J. Phys. I France 6, 675 (1996)).
    assert exact_ground_energy(4, 4) == pytest.approx(-0.7017802005, abs=1e-9)
    assert exact_ground_energy(4, 4, rotated=True) == pytest.approx(-0.7017802005, abs=1e-9)


def test_bad_cluster_rejected():
    with pytest.raises(ValueError, match="even"):
        cluster_hamiltonian(3, 2)

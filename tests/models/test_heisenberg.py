"""Heisenberg Hamiltonian against exact diagonalization and exact spectra."""

import numpy as np
import pytest
import torch

from difftn.models.heisenberg import bond_hamiltonian, cluster_hamiltonian, exact_ground_energy


@pytest.mark.parametrize("rotated", [False, True])
def test_bond_spectrum_is_singlet_and_triplet(rotated):
    h = bond_hamiltonian(rotated).reshape(4, 4)
    torch.testing.assert_close(h, h.T, rtol=0, atol=1e-14)  # measured exact (0.0)
    # measured exact (0.0); 1e-14 is rounding headroom
    np.testing.assert_allclose(torch.linalg.eigvalsh(h).numpy(), [-0.75, 0.25, 0.25, 0.25], rtol=0, atol=1e-14)


def test_rotation_maps_neel_to_ferromagnet():
    # <up up| h_rot |up up> equals <up down| h |up down> = -1/4 (Sz Sz of a Neel pair).
    h_rot, h = bond_hamiltonian(True), bond_hamiltonian(False)
    # measured exact (0.0 off)
    assert float(h_rot[0, 0, 0, 0]) == pytest.approx(-0.25, rel=0, abs=1e-15)
    assert float(h[0, 1, 0, 1]) == pytest.approx(-0.25, rel=0, abs=1e-15)


@pytest.mark.parametrize("lx, ly", [(2, 2), (4, 2)])
def test_rotated_cluster_has_the_same_spectrum(lx, ly):
    plain = np.linalg.eigvalsh(cluster_hamiltonian(lx, ly).toarray())
    rotated = np.linalg.eigvalsh(cluster_hamiltonian(lx, ly, rotated=True).toarray())
    # Dense eigvalsh rounding: measured 1.3e-15 (2x2), 1.0e-14 (4x2); 1e-12 is the floor.
    np.testing.assert_allclose(plain, rotated, rtol=0, atol=1e-12)


def test_4x4_ground_state_energy():
    # E0/N of the 4x4 periodic cluster, -11.228483208/16 (e.g. Schulz, Ziman,
    # Poilblanc, J. Phys. I France 6, 675 (1996)).
    # The published E0 has 9 decimals (+-5e-10 / 16 = 3e-11 per site): measured
    # 2.7e-11 off; rotated and plain agree to 4e-16.
    e0 = exact_ground_energy(4, 4)
    assert e0 == pytest.approx(-11.228483208 / 16, rel=0, abs=1e-10)
    assert exact_ground_energy(4, 4, rotated=True) == pytest.approx(e0, rel=0, abs=1e-12)


def test_bad_cluster_rejected():
    with pytest.raises(ValueError, match="even"):
        cluster_hamiltonian(3, 2)

"""difftn.methods.born.mps: normalization against the dense state vector, canonical form,
storage, and the NLL gradient against finite differences."""

import itertools
import math

import pytest
import torch
from torch.autograd import gradcheck

from difftn.methods.born.mps import (
    MPS,
    canonicalize,
    from_flat,
    log_amplitude,
    log_partition,
    log_prob,
    nll,
    random_mps,
    to_flat,
)

DT = torch.float64


def all_configs(n, d=2):
    return torch.tensor(list(itertools.product(range(d), repeat=n)), dtype=torch.long)


def dense_state(tensors):
    """Psi as a dense vector over all d^n configurations (lexicographic, site 0 most significant)."""
    psi = tensors[0][0]  # (d, D_1)
    for A in tensors[1:]:
        psi = torch.einsum("xa,asb->xsb", psi, A).reshape(-1, A.shape[2])
    return psi[:, 0]


def signed_mps(n, D, seed, d=2):
    """Random signed MPS, not canonical, with bonds up to D (and a non-trivial overall scale)."""
    mps = random_mps(n, D, phys_dim=d, seed=seed, positive=False)
    return MPS([3.0 * A for A in mps.tensors])


@pytest.mark.parametrize("n, D, d", [(1, 1, 2), (2, 2, 2), (5, 3, 2), (9, 4, 2), (16, 5, 2), (6, 4, 3)])
def test_partition_function_equals_brute_force_sum(n, D, d):
    mps = signed_mps(n, D, seed=n, d=d)
    psi = dense_state(mps.tensors)
    assert psi.numel() == d**n
    Z = psi.square().sum()
    # Measured over all cases: 7.1e-15 (ln Z), 3.4e-14 relative on p >= 1e-3 max p,
    # 6.2e-15 (ln sum p).
    assert float(log_partition(mps.tensors)) == pytest.approx(float(torch.log(Z)), abs=7e-14)
    # log p(x) for every configuration: exactly Psi(x)^2 / Z, and it sums to one.
    lp = log_prob(mps.tensors, all_configs(n, d))
    p = psi.square() / Z  # signed tensors: some Psi(x) nearly cancel, hence the absolute floor
    assert torch.allclose(lp.exp(), p, rtol=3e-13, atol=1e-13 * float(p.max()))
    assert float(torch.logsumexp(lp, 0)) == pytest.approx(0.0, abs=6e-14)


def test_log_amplitude_without_underflow_on_many_sites():
    # 300 sites: Psi(x) ~ 1e-100 or smaller for a canonical MPS; the rescaled
    # contraction must agree with the canonical form's log Z = 0 and a
    # per-site product of a D = 1 state.
    q = torch.linspace(0.2, 0.8, 300, dtype=DT)
    tensors = [torch.stack([torch.sqrt(1 - qk), torch.sqrt(qk)]).reshape(1, 2, 1) for qk in q]
    x = (torch.arange(300) % 2).reshape(1, -1)
    expected = torch.where(x[0] == 1, torch.log(q), torch.log1p(-q)).sum()
    # Measured 5.2e-15 and 7.8e-16 relative; 4.9e-15 relative for the scaled MPS.
    assert float(log_partition(tensors)) == pytest.approx(0.0, abs=5e-14)
    assert float(log_prob(tensors, x)[0]) == pytest.approx(float(expected), rel=8e-15)
    big = random_mps(300, 6, seed=1)
    scaled = [10.0 * A for A in big.tensors]  # Z = 100^300, far beyond float64
    x = torch.randint(0, 2, (4, 300))
    assert torch.allclose(log_prob(scaled, x), log_prob(big.tensors, x), rtol=5e-14, atol=0)


@pytest.mark.parametrize("center", [0, 3, 6])
def test_canonical_form(center):
    mps = signed_mps(7, 4, seed=2)
    x = all_configs(7)
    can = canonicalize(mps, center)
    assert can.center == center
    # Measured over the three centers: 1.2e-15, 0, 4.3e-14 (log p ~ -10), 8.9e-16.
    assert float(log_partition(can.tensors)) == pytest.approx(0.0, abs=1.2e-14)
    assert float(can.tensors[center].norm()) == pytest.approx(1.0, abs=1e-14)
    assert torch.allclose(log_prob(can.tensors, x), log_prob(mps.tensors, x), atol=4e-13, rtol=0)
    for k, A in enumerate(can.tensors):
        Dl, d, Dr = A.shape
        if k < center:  # left-orthonormal
            M = A.reshape(Dl * d, Dr)
            assert torch.allclose(M.T @ M, torch.eye(Dr, dtype=DT), atol=1e-14, rtol=0)
        elif k > center:  # right-orthonormal
            M = A.reshape(Dl, d * Dr)
            assert torch.allclose(M @ M.T, torch.eye(Dl, dtype=DT), atol=1e-14, rtol=0)


def test_random_mps_bonds_are_capped_by_the_hilbert_space():
    mps = random_mps(6, 16, seed=0)
    assert mps.bond_dimensions == [1, 2, 4, 8, 4, 2, 1]
    assert mps.center == 0
    psi = dense_state(random_mps(6, 3, seed=0, positive=True).tensors)
    assert bool((psi > 0).all() or (psi < 0).all())  # no configuration starts at p = 0


def test_flat_storage_round_trip():
    mps = canonicalize(signed_mps(6, 5, seed=3), 0)
    data, bonds = to_flat(mps)
    assert list(bonds) == mps.bond_dimensions
    assert data.size == sum(A.numel() for A in mps.tensors)
    back = from_flat(data, bonds, center=0)
    assert all(torch.equal(a, b) for a, b in zip(back.tensors, mps.tensors))
    with pytest.raises(ValueError, match="need"):
        from_flat(data[:-1], bonds)


def test_nll_gradient_matches_finite_differences():
    mps = signed_mps(5, 3, seed=4)
    x = torch.randint(0, 2, (7, 5), generator=torch.Generator().manual_seed(0))
    params = tuple(A.clone().requires_grad_(True) for A in mps.tensors)
    assert gradcheck(lambda *t: nll(list(t), x), params, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_nll_is_scale_invariant_and_its_gradient_orthogonal_to_the_tensors():
    # NLL(c A_k) = NLL(A_k) for every site, hence <A_k, dNLL/dA_k> = 0.
    mps = signed_mps(6, 3, seed=5)
    x = torch.randint(0, 2, (9, 6), generator=torch.Generator().manual_seed(1))
    params = [A.clone().requires_grad_(True) for A in mps.tensors]
    grads = torch.autograd.grad(nll(params, x), params)
    for A, g in zip([p.detach() for p in params], grads):
        assert abs(float((A * g).sum())) < 1e-12 * float(g.norm() * A.norm()) + 1e-14
        assert float(g.norm()) > 1e-3  # a real gradient, not a vanishing one


def test_bad_input_is_rejected():
    mps = random_mps(4, 2, seed=0)
    with pytest.raises(ValueError, match="shape"):
        log_amplitude(mps.tensors, torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_amplitude(mps.tensors, torch.full((2, 4), 2))
    with pytest.raises(ValueError, match="integer"):
        log_amplitude(mps.tensors, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="bond"):
        MPS([torch.ones(1, 2, 2), torch.ones(3, 2, 1)])
    with pytest.raises(ValueError, match="open boundary"):
        MPS([torch.ones(2, 2, 1)])
    with pytest.raises(ValueError, match="center"):
        canonicalize(mps, 4)
    with pytest.raises(ValueError, match="bond_dim"):
        random_mps(3, 0)


def test_product_state_probability():
    # D = 1: p(x) is the product of per-site probabilities |a_k(x_k)|^2 / sum_s |a_k(s)|^2.
    a = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], dtype=DT)
    tensors = [row.reshape(1, 2, 1) for row in a]
    x = torch.tensor([[1, 0, 1]])
    expected = math.log(4 / 5) + math.log(9 / 10) + math.log(1 / 2)
    assert float(log_prob(tensors, x)[0]) == pytest.approx(expected, abs=1e-14)

"""J1-J2 model on the single-site C4v iPEPS: the diagonal density matrix of the 2x2 plaquette.

Oracles: the published optimized states at J2/J1 = 0.5 (Hasik, Poilblanc,
Becca, SciPost Phys. 10, 012 (2021); shared/reference/ipeps_states, see
SOURCE.md there) with their listed energies; a naive contraction of the whole
2x2 plaquette network; product states, whose density matrices factorize.
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions, ctmrg
from difftn.methods import ipeps
from difftn.methods.ipeps import (bond_energy, diagonal_rdm, double_layer, evaluate, identity_boundary,
                                  plaquette_energy, plaquette_rdm, plaquette_rdms, prepare)  # fmt: skip
from difftn.models.heisenberg import bond_hamiltonian
from difftn.studies.heisenberg import measure, optimize, random_tensor, read_json_tensor, resume_check

# <repo>/../shared, as under CI; DIFFTN_SHARED points elsewhere (as in test_published_states)
SHARED = Path(os.environ.get("DIFFTN_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
STATES = SHARED / "reference" / "ipeps_states"


def _published_j2(D):
    if not STATES.is_dir():
        pytest.skip(f"published states not found at {STATES} (shared/ beside the clone)")
    (json_path,) = STATES.glob(f"j20.5_state_1s_A1_j20.5_D{D}_chi_opt*.json")
    table = np.loadtxt(json_path.with_suffix(".dat"), comments="#")
    assert np.all(table[:, 0] == 0.5)  # J2/J1 of every row
    return json_path, {int(row[2]): (row[3], row[4]) for row in table}


def _environment(A, chi, tol=1e-12, max_iter=1000):
    As = prepare(A)
    C, E, info = ctmrg(double_layer(As), CTMRGOptions(chi=chi, tol=tol, max_iter=max_iter),
                       boundary=identity_boundary(A.shape[1], A.dtype))  # fmt: skip
    assert info.converged
    return C, E, As


def _naive_plaquette(C, E, A, open_sites):
    """rho over the four plaquette sites [s1 s2 s3 s4, s1' s2' s3' s4'] (1 = (0,0), 2 = (0,1), 3 = (1,0), 4 = (1,1)).

    The whole network C E E C / E A A E / E A A E / C E E C contracted row by
    row, sites in ``open_sites`` with open physical legs (others dimension 1);
    no use of the quadrant structure.  C and E are symmetric (C4v CTMRG), so
    the orientation of each boundary tensor is immaterial.
    """
    D = A.shape[1]
    d = D * D
    opened = torch.einsum("suldr,SULDR->sSuUlLdDrR", A, A).reshape(2, 2, d, d, d, d)
    closed = torch.einsum("ssuldr->uldr", opened).reshape(1, 1, d, d, d, d)
    T1, T2, T3, T4 = (opened if k in open_sites else closed for k in (1, 2, 3, 4))
    top = torch.einsum("ab,buc,cvf,fg->auvg", C, E, E, C)
    # sites 1 (ket p, bra P) and 2 (q, Q); x: 1 -> 3, z: 2 -> 4, y: 1 -> 2
    row1 = torch.einsum("auvg,ola,pPulxy->vgopPxy", top, E, T1)
    row1 = torch.einsum("vgopPxy,qQvyzr,grh->opPqQxzh", row1, T2, E)
    # sites 3 (t, T) and 4 (w, W); j: 3 -> bottom, k: 4 -> bottom, m: 3 -> 4
    row2 = torch.einsum("opPqQxzh,nlo,tTxljm->npPqQtTjmzh", row1, E, T3)
    row2 = torch.einsum("npPqQtTjmzh,wWzmkr,hri->npPqQtTwWjki", row2, T4, E)
    bottom = torch.einsum("ib,bkc,cjf,fn->ikjn", C, E, E, C)
    rho = torch.einsum("npPqQtTwWjki,ikjn->pqtwPQTW", row2, bottom)
    return rho / torch.einsum("pqtwpqtw->", rho)


def test_plaquette_density_matrices_match_the_naive_contraction():
    A = random_tensor(2, seed=7)
    C, E, As = _environment(A, chi=6)
    bond, diag = plaquette_rdms(C, E, As)
    naive_diag = _naive_plaquette(C, E, As, {1, 4}).reshape(2, 2, 2, 2)  # [s1 s4 s1' s4']
    naive_anti = _naive_plaquette(C, E, As, {2, 3}).reshape(2, 2, 2, 2)  # the other diagonal
    naive_bond = _naive_plaquette(C, E, As, {1, 2}).reshape(2, 2, 2, 2)
    close = dict(rtol=0, atol=1e-14)  # measured 1.9e-16 .. 7.2e-16
    torch.testing.assert_close(diag, naive_diag, **close)
    torch.testing.assert_close(diagonal_rdm(C, E, As), naive_diag, **close)
    torch.testing.assert_close(naive_anti, naive_diag, **close)  # C4v: both diagonals alike
    torch.testing.assert_close(bond, naive_bond, **close)
    torch.testing.assert_close(plaquette_rdm(C, E, As), naive_bond, **close)
    # The diagonal is far from a product of one-site matrices here (measured 0.21), so a wrong pairing shows.
    rho1 = torch.einsum("stSt->sS", naive_diag)
    assert float((naive_diag - torch.einsum("aA,bB->abAB", rho1, rho1)).abs().max()) > 0.05


@pytest.mark.parametrize("route", ["small", "checkpointed", "large"])
@pytest.mark.parametrize("which", ["heisenberg", "random"])
def test_plaquette_energy_equals_the_density_matrix_route(which, route, monkeypatch):
    """The memory-lean bond energy (one closed quadrant at a time) against Tr(rho h) of the naive plaquette.

    "random": an h with no symmetry at all, so that the symmetrization of the
    pair matrix (exact, since Tr(Q_i Q_j C'^2) is symmetric in i, j) is tested;
    "heisenberg" has a vanishing eigenvalue, whose term is skipped.  Routes:
    "small" keeps every term's graph; "checkpointed" recomputes the terms in
    the backward; "large" also recomputes the ket layer in every term.
    """
    if route != "small":
        monkeypatch.setattr(ipeps, "PLAQUETTE_CHECKPOINT_BYTES", 0)
    if route == "large":
        monkeypatch.setattr(ipeps, "PLAQUETTE_KEEP_KET_BYTES", 0)
    A = random_tensor(2, seed=7)
    C, E, As = _environment(A, chi=6)
    if which == "heisenberg":
        h = bond_hamiltonian(rotated=True)
    else:
        h = torch.randn(2, 2, 2, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    naive = bond_energy(_naive_plaquette(C, E, As, {1, 2}).reshape(2, 2, 2, 2), h)
    lean = plaquette_energy(C, E, As, h)
    assert float(lean) == pytest.approx(float(naive), rel=0, abs=1e-14)  # measured 1.1e-16 .. 6.1e-16
    grads = []
    for energy in (lambda C, E, As: plaquette_energy(C, E, As, h),
                   lambda C, E, As: bond_energy(plaquette_rdm(C, E, As), h)):  # fmt: skip
        inputs = [x.clone().requires_grad_() for x in (C, E, As)]
        grads.append(torch.autograd.grad(energy(*inputs), inputs))
    for lean_grad, rdm_grad in zip(*grads):  # measured 1.1e-13 .. 4.0e-13 relative (summation order)
        assert float((lean_grad - rdm_grad).abs().max()) <= 1e-12 * float(rdm_grad.abs().max())


def test_diagonal_rdm_is_a_density_matrix():
    C, E, As = _environment(random_tensor(3, seed=2), chi=9)
    rho = diagonal_rdm(C, E, As)
    matrix = rho.reshape(4, 4)
    assert float(torch.trace(matrix)) == pytest.approx(1.0, rel=0, abs=1e-14)  # measured 0
    torch.testing.assert_close(matrix, matrix.T, rtol=0, atol=1e-14)  # measured 7e-17
    torch.testing.assert_close(rho, rho.permute(1, 0, 3, 2), rtol=0, atol=1e-14)  # site exchange, measured 6e-16
    # Positive definite: eigenvalues measured 0.094, 0.096, 0.36, 0.45.
    assert float(torch.linalg.eigvalsh(matrix).min()) > 0.01


@pytest.mark.parametrize("theta", [0.0, 0.7, math.pi / 2, 2.5])
def test_product_state_diagonal_factorizes(theta):
    """D = 1: every spin along n = (sin theta, 0, cos theta) in the rotated frame (Neel along n).

    Then rho_diag = rho_1 (x) rho_1 exactly, and per site E = 2 (-1/4) + 2 J2 (+1/4).
    """
    A = torch.zeros(2, 1, 1, 1, 1, dtype=torch.float64)
    A[0], A[1] = math.cos(theta / 2), math.sin(theta / 2)
    C, E, As = _environment(A, chi=4)
    v = As.reshape(2) / As.norm()
    rho1 = torch.outer(v, v)
    expected = torch.einsum("aA,bB->abAB", rho1, rho1)
    torch.testing.assert_close(diagonal_rdm(C, E, As), expected, rtol=0, atol=1e-14)  # measured <= 1.1e-16
    energy, _, _, info = evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=4), J2=0.3)
    assert info.converged
    assert float(energy) == pytest.approx(-0.5 + 0.5 * 0.3, rel=0, abs=1e-14)  # measured <= 5.6e-17


@pytest.mark.parametrize("D, chi", [(2, 32), (3, 27)])
def test_published_j1j2_energies_are_reproduced(D, chi):
    """Our energy of the published J2/J1 = 0.5 tensors at a listed chi (the smallest for each D)."""
    path, listed = _published_j2(D)
    assert chi == min(listed)
    with torch.no_grad():
        energy, mag, _, info = evaluate(read_json_tensor(path), bond_hamiltonian(),
                                        CTMRGOptions(chi=chi, tol=1e-12, max_iter=300), J2=0.5)  # fmt: skip
    assert info.converged
    # measured |dE| 1.1e-15 (D=2), 3.8e-15 (D=3); |dm| 6.5e-15, 9e-16
    assert float(energy) == pytest.approx(listed[chi][0], rel=0, abs=1e-13)
    assert float(mag) == pytest.approx(listed[chi][1], rel=0, abs=1e-13)
    # The J2 term matters at this level: the Heisenberg energy of the same tensor is far off.
    with torch.no_grad():
        heisenberg, *_ = evaluate(read_json_tensor(path), bond_hamiltonian(), CTMRGOptions(chi=chi, tol=1e-12))
    assert abs(float(heisenberg) - listed[chi][0]) > 0.1


def test_j2_zero_is_the_heisenberg_energy_and_j2_enters_linearly():
    A = random_tensor(2, seed=3)
    options = CTMRGOptions(chi=8, tol=1e-12, max_iter=1000)
    h = bond_hamiltonian()
    e0, m0, (C, E), _ = evaluate(A, h, options)
    e00, m00, _, _ = evaluate(A, h, options, J2=0.0)
    assert torch.equal(e0, e00) and torch.equal(m0, m00)  # the unchanged code path, bit for bit
    e5, _, _, _ = evaluate(A, h, options, env=(C, E), J2=0.5)
    diag = bond_energy(diagonal_rdm(C, E, prepare(A)), bond_hamiltonian(rotated=False))
    assert float(e5) == pytest.approx(float(e0 + diag), rel=0, abs=1e-14)  # measured 5.6e-17
    with pytest.raises(ValueError, match="needs the plaquette estimator"):
        evaluate(A, h, options, estimator="bond", J2=0.5)


def test_j1j2_energy_gradient_matches_finite_differences():
    """d E / d A at J2 = 0.5 through the plaquette (bond + diagonal), unrolled CTMRG, float64."""
    options = CTMRGOptions(chi=6, tol=1e-13, max_iter=500, grad_mode="unrolled")
    h = bond_hamiltonian()
    A = random_tensor(2, seed=4).requires_grad_()
    energy, _, env, _ = evaluate(A, h, options, J2=0.5)
    (grad,) = torch.autograd.grad(energy, A)
    direction = random_tensor(2, seed=5)
    step = 1e-5
    with torch.no_grad():
        ep = evaluate(A + step * direction, h, options, env=env, J2=0.5)[0]
        em = evaluate(A - step * direction, h, options, env=env, J2=0.5)[0]
    fd = float(ep - em) / (2 * step)
    assert float((grad * direction).sum()) == pytest.approx(fd, rel=2e-8)  # measured 3.2e-9 (step 1e-5; 3.8e-8 at 1e-4)


def test_measure_cli_takes_j2(tmp_path):
    from difftn.cli import main
    from difftn.infra.io import read_dataset

    path, listed = _published_j2(2)
    out = tmp_path / "obs.nc"
    argv = ["heisenberg", "measure", "--state", str(path), "--chi", "32", "--J2", "0.5", "--out", str(out),
            "--threads", "1", "--ctm-tol", "1e-12"]  # fmt: skip
    assert main(argv) == 0
    ds = read_dataset(out)
    assert float(ds.energy) == pytest.approx(listed[32][0], rel=0, abs=1e-13)  # measured 1.1e-15
    assert ds.attrs["J2"] == 0.5
    assert '"J2": 0.5' in ds.attrs["parameters"]
    assert np.isnan(float(ds.energy_relative_error))  # QMC is a J2 = 0 value
    with pytest.raises(ValueError, match="needs the plaquette estimator"):
        measure(path, 32, estimator="bond", J2=0.5, device="cpu")


def test_optimize_records_j2_and_resume_treats_another_j2_as_changed(tmp_path):
    out = tmp_path / "state.nc"
    common = dict(seed=0, ctm_tol=1e-10, ctm_max_iter=200, device="cpu", progress=False)
    state = optimize(2, 6, out, J2=0.5, max_iter=3, **common)
    assert state.attrs["J2"] == 0.5
    assert '"J2": 0.5' in state.attrs["parameters"]
    assert float(state.energy[-1]) < float(state.energy[0])
    ctm = CTMRGOptions(chi=6, tol=1e-10, max_iter=200)
    assert resume_check(out, 2, 6, 0, ctm, J2=0.5) == []
    assert resume_check(out, 2, 6, 0, ctm, J2=0.0) == ["J2"]
    # The energy recorded is the J1-J2 one: a cold measurement of the saved tensor agrees.
    ds = measure(out, 6, J2=0.5, ctm_tol=1e-10, device="cpu")
    assert float(ds.energy) == pytest.approx(float(state.energy[-1]), rel=0, abs=1e-11)  # measured 8.6e-13

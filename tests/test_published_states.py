"""Published optimized C4v iPEPS states (Hasik, Poilblanc, Becca 2021) as an oracle.

Their listed energies use the 2x2 plaquette estimator; the bond estimator
differs at finite chi.  The files sit in shared/reference/ipeps_states beside
the repository (see SOURCE.md there).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions, ctmrg
from difftn.methods.ipeps import (bond_energy, bond_rdm, double_layer, evaluate, identity_boundary, plaquette_rdm, prepare,
                          site_magnetization)  # fmt: skip
from difftn.models.heisenberg import bond_hamiltonian
from difftn.studies.heisenberg import measure, random_tensor, read_json_tensor

# <repo>/../shared, as under CI; DIFFTN_SHARED points elsewhere (e.g. from a git worktree)
SHARED = Path(os.environ.get("DIFFTN_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
STATES = SHARED / "reference" / "ipeps_states"


def _published(D):
    if not STATES.is_dir():
        pytest.skip(f"published states not found at {STATES} (shared/ beside the clone)")
    (json_path,) = STATES.glob(f"j20.0_state_1s_A1_j20.0_D{D}_chi_opt*.json")
    table = np.loadtxt(json_path.with_suffix(".dat"), comments="#")
    return json_path, {int(row[2]): (row[3], row[4]) for row in table}


def _observables(A, chi, estimator):
    As = prepare(A)
    D = A.shape[1]
    C, E, info = ctmrg(double_layer(As), CTMRGOptions(chi=chi, tol=1e-12, max_iter=300), boundary=identity_boundary(D))
    assert info.converged
    rho = bond_rdm(C, E, As, estimator)
    return float(2 * bond_energy(rho, bond_hamiltonian())), float(site_magnetization(C, E, As))


@pytest.mark.parametrize("D, chi", [(2, 16), (3, 27)])
def test_published_energy_and_magnetization_are_reproduced(D, chi):
    path, listed = _published(D)
    energy, mag = _observables(read_json_tensor(path), chi, "plaquette")
    # measured 1e-16 (D=2), 2e-16 (D=3); bound above the CTMRG tolerance's reach, not rounding
    assert energy == pytest.approx(listed[chi][0], abs=1e-13)
    assert mag == pytest.approx(listed[chi][1], abs=1e-13)  # measured 6e-15 (D=2), 7e-16 (D=3)


def test_bond_estimator_stays_selectable_and_differs_at_finite_chi():
    path, listed = _published(3)
    energy, _ = _observables(read_json_tensor(path), 27, "bond")
    # the 2x1 patch's value at chi=27 (present before the plaquette estimator existed)
    assert energy == pytest.approx(-0.66794263, abs=1e-8)
    assert abs(energy - listed[27][0]) > 5e-5


def test_measure_reads_a_published_json_state():
    path, listed = _published(2)
    ds = measure(path, 16, ctm_tol=1e-12, ctm_max_iter=300, device="cpu")
    assert float(ds.energy) == pytest.approx(listed[16][0], abs=1e-13)  # measured 1e-16
    assert float(ds.magnetization) == pytest.approx(listed[16][1], abs=1e-13)  # measured 6e-15
    assert ds.attrs["estimator"] == "plaquette"
    # The measurement records the column transfer matrix's |lambda_i/lambda_0| (the .dat's l0..l5) and xi.
    table = np.loadtxt(path.with_suffix(".dat"), comments="#")
    levels = table[table[:, 2] == 16][0, 5:11]
    assert ds.transfer_eigenvalues.values == pytest.approx(levels, abs=1e-6)  # measured 9.5e-8 (test_correlation)
    assert float(ds.correlation_length) == pytest.approx(-1 / np.log(levels[1]), rel=1e-5)
    with pytest.raises(ValueError, match="estimator must be one of"):
        measure(path, 16, estimator="triangle", device="cpu")


def test_json_state_layouts(tmp_path):
    # The published files give physDim/auxDim; the later layout of the same
    # format (peps-torch's output) gives dims = [p, D, D, D, D]: same tensor.
    # Anything else is a clear ValueError, not a KeyError.
    import json

    path, _ = _published(2)
    data = json.loads(path.read_text())
    site = data["sites"][0]
    p, D = site.pop("physDim"), site.pop("auxDim")
    site["dims"] = [p, D, D, D, D]
    later = tmp_path / "later.json"
    later.write_text(json.dumps(data))
    assert torch.equal(read_json_tensor(later), read_json_tensor(path))
    del site["dims"]
    later.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="needs physDim and auxDim, or dims"):
        read_json_tensor(later)


def test_plaquette_rdm_is_a_density_matrix():
    A = prepare(random_tensor(2, seed=2))
    C, E, _ = ctmrg(double_layer(A), CTMRGOptions(chi=8, tol=1e-12, max_iter=1000), boundary=identity_boundary(2))
    rho = plaquette_rdm(C, E, A).reshape(4, 4)
    assert float(torch.trace(rho)) == pytest.approx(1.0, abs=1e-13)
    assert torch.allclose(rho, rho.T, atol=1e-12)  # measured 1e-16
    assert float(torch.linalg.eigvalsh(rho).min()) > -1e-10


def test_plaquette_energy_gradient_matches_finite_differences():
    """d E / d A through the plaquette estimator (unrolled CTMRG, float64)."""
    options = CTMRGOptions(chi=6, tol=1e-13, max_iter=500, grad_mode="unrolled")
    h = bond_hamiltonian()
    A = random_tensor(2, seed=4).requires_grad_()
    energy, _, env, _ = evaluate(A, h, options)
    (grad,) = torch.autograd.grad(energy, A)
    direction = random_tensor(2, seed=5)
    step = 1e-5
    with torch.no_grad():
        ep = evaluate(A + step * direction, h, options, env=env)[0]
        em = evaluate(A - step * direction, h, options, env=env)[0]
    fd = float(ep - em) / (2 * step)
    assert float((grad * direction).sum()) == pytest.approx(fd, rel=5e-9)  # measured 5e-10 (step 1e-5)


def test_cli_measures_a_published_state_with_either_estimator(tmp_path):
    from difftn.cli import main
    from difftn.infra.io import read_dataset

    path, listed = _published(2)
    for estimator in ("plaquette", "bond"):
        out = tmp_path / f"{estimator}.nc"
        argv = ["heisenberg", "measure", "--state", str(path), "--chi", "16", "--out", str(out), "--threads", "1",
                "--ctm-tol", "1e-12", "--estimator", estimator]  # fmt: skip
        assert main(argv) == 0
        ds = read_dataset(out)
        # D=2: both estimators agree with the listed value (measured 1e-16, 2e-16)
        assert float(ds.energy) == pytest.approx(listed[16][0], abs=1e-13)
        assert ds.attrs["estimator"] == estimator


def test_partial_eigensolver_reaches_the_full_eigh_environment(monkeypatch):
    """Forward CTMRG with the warm-started partial eigensolver = with the full eigh, D=3 published, chi=27."""
    import difftn.contract.ctmrg as ct

    path, listed = _published(3)
    A = prepare(read_json_tensor(path))
    T = double_layer(A)
    monkeypatch.setattr(ct, "PARTIAL_MIN_N", 0)  # CI-sized matrices would otherwise take the full eigh
    served = []
    original = ct._top_eigenpairs

    def spy(*args):
        out = original(*args)
        served.append(out is not None)
        return out

    energies = {}
    for mode, solver in (("partial", spy), ("full", lambda *args: None)):
        monkeypatch.setattr(ct, "_top_eigenpairs", solver)
        with torch.no_grad():
            C, E, info = ctmrg(T, CTMRGOptions(chi=27, tol=1e-12, max_iter=300), boundary=identity_boundary(3))
        assert info.converged
        energies[mode] = float(2 * bond_energy(plaquette_rdm(C, E, A), bond_hamiltonian()))
    assert sum(served) >= 40  # of 46 steps (measured 43: the first three grow chi or change shape)
    assert energies["partial"] == pytest.approx(energies["full"], abs=1e-12)  # measured 2.4e-15
    assert energies["partial"] == pytest.approx(listed[27][0], abs=1e-12)

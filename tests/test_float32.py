"""Single precision (``dtype: float32``) for CTMRG / iPEPS, against float64.

float32 resolves ~6e-8 relative, so a CTMRG run cannot push the change of the
normalized corner spectrum much below ~2e-7 (measured floor 1.8e-7 at chi = 8,
2.6e-7 at chi = 16): float32 runs here use tol = 1e-6.  The float64 reference
runs to tol = 1e-12; at tol = 1e-6 float64 itself moves E by only 7.5e-9, so the
differences below are float32 rounding, not convergence.
"""

import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.methods.ipeps import evaluate
from difftn.models.heisenberg import bond_hamiltonian
from difftn.studies import heisenberg
from difftn.studies.heisenberg import random_tensor

CHI = 8
TOL32 = 1e-6


def _evaluate(dtype, tol, requires_grad=False):
    A = random_tensor(2, seed=2, dtype=dtype).requires_grad_(requires_grad)
    energy, m, env, info = evaluate(A, bond_hamiltonian(True, dtype), CTMRGOptions(chi=CHI, tol=tol, max_iter=1000))
    assert info.converged
    return A, energy, m, env


def test_ctmrg_energy_float32_matches_float64():
    _, e64, m64, _ = _evaluate(torch.float64, 1e-12)
    _, e32, m32, (C, E) = _evaluate(torch.float32, TOL32)
    # The computation stays in single precision (no silent upcast).
    assert e32.dtype == C.dtype == E.dtype == torch.float32
    # E ~ -0.53: measured 1.7e-7 off (seeds 5, 11: 4.7e-7, 1.6e-7), m 1.8e-7 off.
    assert float(e32) == pytest.approx(float(e64), rel=0, abs=1e-6)
    assert float(m32) == pytest.approx(float(m64), rel=0, abs=1e-6)


def test_ctmrg_gradient_float32_matches_float64():
    A64, e64, _, _ = _evaluate(torch.float64, 1e-12, requires_grad=True)
    A32, e32, _, _ = _evaluate(torch.float32, TOL32, requires_grad=True)
    (g64,) = torch.autograd.grad(e64, A64)
    (g32,) = torch.autograd.grad(e32, A32)
    assert g32.dtype == torch.float32
    # Fixed-point backward in float32: measured 2.4e-5 relative.
    assert float((g32.double() - g64).norm() / g64.norm()) < 2e-4


def test_study_optimize_and_measure_in_float32(tmp_path):
    state = tmp_path / "d2.nc"
    ctm = {"ctm_tol": TOL32, "ctm_max_iter": 200, "grad_mode": "fixed_point"}
    ds = heisenberg.optimize(2, CHI, state, seed=0, **ctm, max_iter=1, device="cpu", dtype="float32",
                             progress=False)  # fmt: skip
    assert ds.attrs["dtype"] == "float32" and ds.A.dtype == "float32"
    assert int(ds.ctm_converged.values.min()) == 1
    m32 = heisenberg.measure(state, CHI, ctm_tol=TOL32, device="cpu", dtype="float32")
    m64 = heisenberg.measure(state, CHI, ctm_tol=1e-12, ctm_max_iter=1000, device="cpu", dtype="float64")
    assert m32.attrs["dtype"] == "float32" and m64.attrs["dtype"] == "float64"
    # Same state in both precisions: measured 3.5e-7 for E (-0.59), 1.2e-8 for m
    # (float32 spacing at 0.5 is 6e-8; other states above: up to 1.8e-7).
    assert float(m32.energy) == pytest.approx(float(m64.energy), rel=0, abs=1e-6)
    assert float(m32.magnetization) == pytest.approx(float(m64.magnetization), rel=0, abs=1e-6)

"""C4v CTMRG: classical Ising as oracle, convergence reporting, gradient modes."""

import dataclasses
import math
import subprocess
import sys

import pytest
import torch

from difftn.contract import ctmrg as ctmrg_module
from difftn.contract.ctmrg import CTMRGOptions, ctmrg, ctmrg_step, lnz_per_site, site_expectation
from difftn.infra.runtime import trim_heap
from difftn.methods.ipeps import evaluate
from difftn.models import ising
from difftn.models.heisenberg import bond_hamiltonian


def _ising(beta):
    c, s = math.sqrt(math.cosh(beta)), math.sqrt(math.sinh(beta))
    W = torch.tensor([[c, s], [c, -s]], dtype=torch.float64)
    T = torch.einsum("su,sl,sd,sr->uldr", W, W, W, W)
    T_spin = torch.einsum("s,su,sl,sd,sr->uldr", torch.tensor([1.0, -1.0], dtype=torch.float64), W, W, W, W)
    up = W[0]  # boundary spins up: selects the up phase below T_c
    return T, T_spin, up


@pytest.mark.parametrize(
    "beta, m_tol",
    [
        # Above T_c (beta < beta_c) the exact m is 0; the up boundary leaves a
        # remnant that decays with the CTMRG iterations: measured 2.0e-7 (0.35),
        # 8.3e-7 (0.40).
        (0.35, 1e-6),
        (0.40, 5e-6),
        # Below T_c: measured 2.0e-13 (0.46), 6e-16 (0.50), 1e-16 (0.60); 1e-12 is
        # the floor for values at rounding level.
        (0.46, 1e-12),
        (0.50, 1e-12),
        (0.60, 1e-12),
    ],
)
def test_ising_lnz_and_magnetization_match_onsager(beta, m_tol):
    T, T_spin, up = _ising(beta)
    C, E, info = ctmrg(T, CTMRGOptions(chi=24, tol=1e-11, max_iter=2000), boundary=up)
    assert info.converged
    # chi = 24 off criticality: lnZ error measured <= 2.8e-15 (beta = 0.40).
    assert float(lnz_per_site(C, E, T)) == pytest.approx(ising.exact_lnz(beta), rel=0, abs=1e-12)
    m = float(site_expectation(C, E, T, T_spin))
    assert m == pytest.approx(float(ising.exact_magnetization(beta)), rel=0, abs=m_tol)


def test_converged_environment_is_an_elementwise_fixed_point():
    T, _, up = _ising(0.46)
    C, E, info = ctmrg(T, CTMRGOptions(chi=16, tol=1e-12, max_iter=2000), boundary=up)
    C1, E1, _, _ = ctmrg_step(C, E, T, 16)
    # Entries settle more slowly than the spectrum: measured 6.5e-13 for C and
    # 8.9e-9 for E; an unfixed gauge shows as O(0.1) differences.
    assert float((C1 - C).abs().max()) < 5e-12
    assert float((E1 - E).abs().max()) < 5e-8


def test_non_convergence_is_reported():
    T, _, up = _ising(0.44)
    _, _, info = ctmrg(T, CTMRGOptions(chi=16, tol=1e-14, max_iter=3), boundary=up)
    assert not info.converged and info.iterations == 3


@pytest.mark.parametrize("field, value", [("chi", 0), ("tol", 0.0), ("max_iter", 0), ("grad_mode", "magic")])
def test_bad_options_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        CTMRGOptions(**{field: value})


def _energy_gradient(A, mode, max_iter=500):
    A = A.clone().requires_grad_()
    e, _, _, info = evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=12, tol=1e-12, max_iter=max_iter, grad_mode=mode))
    assert info.converged
    (g,) = torch.autograd.grad(e, A)
    return float(e.detach()), g


@pytest.fixture(scope="module")
def random_D2():
    gen = torch.Generator().manual_seed(7)
    return torch.randn(2, 2, 2, 2, 2, generator=gen, dtype=torch.float64)


def test_three_gradient_modes_agree_with_each_other_and_finite_differences(random_D2):
    grads = {mode: _energy_gradient(random_D2, mode)[1] for mode in ("unrolled", "checkpoint", "fixed_point")}
    ref = grads["unrolled"]
    for mode, g in grads.items():
        # checkpoint equals unrolled bit for bit; fixed_point measured 1.4e-12.
        assert float((g - ref).norm() / ref.norm()) < 1e-11, mode
    direction = torch.randn(random_D2.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    h = 1e-4

    def energy(A):
        with torch.no_grad():
            return float(evaluate(A, bond_hamiltonian(), CTMRGOptions(chi=12, tol=1e-13, max_iter=2000))[0])

    fd = (energy(random_D2 + h * direction) - energy(random_D2 - h * direction)) / (2 * h)
    for mode, g in grads.items():
        # Central-difference error O(h^2): measured 1.95e-10 at h = 1e-4 (2.0e-8 at
        # h = 1e-3, 1.8e-9 at 3e-4: it scales as h^2, so it is the FD error, not AD's).
        assert float((g * direction).sum()) == pytest.approx(fd, rel=0, abs=1e-9), mode


@pytest.mark.parametrize("mode, fp_mismatch", [("unrolled", 1e-9), ("checkpoint", 1e-9), ("fixed_point", 1e-9),
                                               ("fixed_point", 1e-30)])  # fmt: skip
def test_gradient_from_a_warm_environment_equals_the_one_from_a_fresh_start(random_D2, mode, fp_mismatch):
    """A warm start (the optimizers' case) must not cut the derivative of the environment short.

    Unrolled and checkpointed runs used to differentiate only the one or two
    steps from the converged environment they were handed: 3e-4 off on a
    gradient of 0.12 here (D = 2, chi = 8; 1.3e-4 where |grad| = 2e-8 at the
    published D = 2 state, chi = 16).  fp_mismatch = 1e-30 cannot be reached,
    which forces the fixed-point mode's fallback to an unrolled run.
    """
    h = bond_hamiltonian()
    options = CTMRGOptions(chi=8, tol=1e-12, max_iter=500)
    _, _, warm, _ = evaluate(random_D2, h, options)
    grads = {}
    for start in (None, warm):
        A = random_D2.clone().requires_grad_()
        e, _, _, info = evaluate(A, h, dataclasses.replace(options, grad_mode=mode, fp_mismatch=fp_mismatch), env=start)
        assert info.converged
        assert info.grad_mode == (mode if fp_mismatch > 1e-20 else "unrolled")  # a small graph: no checkpoint
        (grads[start is None],) = torch.autograd.grad(e, A)
    # measured: 0 (unrolled, checkpoint, fallback), 1.4e-11 (fixed point)
    assert float((grads[False] - grads[True]).norm() / grads[True].norm()) < 1e-10


def _saved_bytes(A, mode, tol, fp_mismatch=1e-9):
    """Bytes autograd saves for the backward in one energy evaluation, and the CTMRG steps taken."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    A = A.clone().requires_grad_()
    # A converged run: an unconverged one now falls back from "fixed_point"
    # to "checkpoint" (no fixed point to differentiate at).
    options = CTMRGOptions(chi=12, tol=tol, max_iter=2000, grad_mode=mode, fp_mismatch=fp_mismatch)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        *_, info = evaluate(A, bond_hamiltonian(), options)
    assert info.converged and info.grad_mode == mode
    return total[0], info.iterations


def test_fixed_point_memory_does_not_grow_with_iterations(random_D2):
    fixed = [_saved_bytes(random_D2, "fixed_point", tol, tol) for tol in (1e-4, 1e-11)]
    unrolled = [_saved_bytes(random_D2, "unrolled", tol) for tol in (1e-4, 1e-11)]
    assert fixed[1][1] > 1.5 * fixed[0][1]  # measured 38 vs 19 steps ...
    assert fixed[0][0] == fixed[1][0]  # ... same memory
    assert unrolled[1][0] > 1.5 * unrolled[0][0] > 1.5 * fixed[0][0]


@pytest.mark.parametrize("slice_numbers", [2**18, 4000])  # chi=12, D=3: one slice; six slices of 2 rows
def test_separate_ket_and_bra_layers_give_the_double_layer_step(slice_numbers, monkeypatch):
    """Graph-free steps of a registered double layer contract A's layers one at a time: same C', same step."""
    import difftn.contract.ctmrg as ct
    from difftn.contract.ctmrg import _registered_layers, enlarged_corner

    monkeypatch.setattr(ct, "LAYER_SLICE_NUMBERS", slice_numbers)
    monkeypatch.setattr(ct, "LAYERS_MIN_D", 2)  # D = 3 would otherwise take T (faster at small D)
    from difftn.methods.ipeps import double_layer, identity_boundary, prepare
    from difftn.studies.heisenberg import random_tensor

    A = prepare(random_tensor(3, seed=7))
    T = double_layer(A)
    assert _registered_layers(T.detach()) is not None  # found through a detached view too
    C, E, _ = ctmrg(T, CTMRGOptions(chi=12, tol=1e-8, max_iter=50), boundary=identity_boundary(3))
    fused = enlarged_corner(C, E, T)
    layered = enlarged_corner(C, E, T, A)
    assert torch.allclose(layered, fused, rtol=0, atol=1e-14 * float(fused.abs().max()))  # measured 6e-16
    T_plain = T.clone()  # not registered: double-layer contraction
    assert _registered_layers(T_plain) is None
    step_layers = ctmrg_step(C, E, T, 12)
    step_plain = ctmrg_step(C, E, T_plain, 12)
    for x, y in zip(step_layers[:2], step_plain[:2]):
        assert torch.allclose(x, y, rtol=0, atol=1e-13)  # measured 5e-15


def test_fixed_point_gradient_after_a_partial_eigensolver_forward(random_D2, monkeypatch):
    """The graph-free forward with the partial eigensolver feeds the fixed-point backward the same x*."""
    import difftn.contract.ctmrg as ct

    monkeypatch.setattr(ct, "PARTIAL_MIN_N", 0)  # D=2, chi=16: n = 64 would otherwise take the full eigh
    served = []
    original = ct._top_eigenpairs
    monkeypatch.setattr(ct, "_top_eigenpairs", lambda *a: served.append(original(*a)) or served[-1])

    def gradient(mode):
        A = random_D2.clone().requires_grad_()
        options = CTMRGOptions(chi=16, tol=1e-12, max_iter=500, grad_mode=mode)
        e, _, _, info = evaluate(A, bond_hamiltonian(), options)
        assert info.converged
        return torch.autograd.grad(e, A)[0]

    fixed = gradient("fixed_point")
    assert sum(x is not None for x in served) > 25  # measured 32 of 34 steps
    unrolled = gradient("unrolled")  # full eigh in every step (graph)
    assert float((fixed - unrolled).norm() / unrolled.norm()) < 3e-11  # measured 2.6e-12


_CHECKPOINTED_RUN = """
import sys, torch
import difftn.contract.ctmrg as ct
from difftn.infra.runtime import peak_memory_mb
from difftn.methods.ipeps import double_layer, prepare
from difftn.studies.heisenberg import random_tensor
torch.set_num_threads(1)
ct.TRIM_CHECKPOINTED_STEPS = sys.argv[1] == "trim"
A = random_tensor(4, seed=0).requires_grad_()
T = double_layer(prepare(A))
base = peak_memory_mb()
C, E, _ = ct.ctmrg(T, ct.CTMRGOptions(chi=48, tol=1e-30, max_iter=20, grad_mode="checkpoint"))
(C.sum() + E.sum()).backward()
print(peak_memory_mb() - base)
"""


def test_checkpointed_ctmrg_does_not_accumulate_freed_heap():
    # Between the freed (chi D^2)^2 temporaries of its steps a checkpointed run keeps
    # each step's inputs alive, and glibc kept the freed memory around them resident
    # (a D = 5, chi = 64 gradient peaked at 13.1 GiB of RSS); ctmrg trims the heap
    # before every checkpointed step.  Measured here (D = 4, chi = 48, 20 steps and
    # their backward, peak RSS above the start): 175 MB trimmed against 590 MB.
    assert ctmrg_module.TRIM_CHECKPOINTED_STEPS  # the default: only benchmarks turn it off
    if not trim_heap():
        pytest.skip("no glibc malloc_trim on this platform: nothing to trim")
    growth = {}
    for mode in ("trim", "keep"):
        done = subprocess.run([sys.executable, "-c", _CHECKPOINTED_RUN, mode], capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        growth[mode] = float(done.stdout)
    assert growth["trim"] < 0.5 * growth["keep"], growth

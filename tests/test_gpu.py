"""CUDA against CPU in float64: a TRG point and iPEPS energies with gradients.

Every test carries the ``gpu`` marker; without CUDA, tests/conftest.py skips
them with a reason that the summary prints.  Inputs are built on the CPU (CPU
generators, the same numbers on any machine), moved to the device explicitly,
and results are brought back with ``.cpu()`` before comparing.

Rounding sensitivity, measured on the CPU (what a different device can change):
the Ising point below moves by <= 5.4e-13 relative between the Z2 and dense TRG
paths; the iPEPS gradients by <= 1.0e-14 relative under a 1e-15 relative
perturbation of A or a different thread count.  1e-10 leaves room for a GPU's
other summation order and still catches a wrong number.
"""

import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.methods.ipeps import evaluate
from difftn.methods.thermodynamics import trg_observables
from difftn.models import ising
from difftn.models.heisenberg import bond_hamiltonian
from difftn.infra.runtime import resolve_device

RTOL = 1e-10


@pytest.fixture
def cuda():
    device = resolve_device("cuda")
    torch.cuda.reset_peak_memory_stats(device)
    yield device
    # The work really ran there (a silent CPU fallback allocates nothing).
    assert torch.cuda.max_memory_allocated(device) > 0


@pytest.mark.gpu
def test_trg_point_cuda_matches_cpu(cuda):
    beta, chi, steps = 0.40, 16, 20
    cpu = trg_observables(beta, chi, steps, dtype=torch.float64, device=torch.device("cpu"))
    gpu = trg_observables(beta, chi, steps, dtype=torch.float64, device=cuda)
    for name in ("lnz", "energy", "specific_heat"):
        assert gpu[name] == pytest.approx(cpu[name], rel=RTOL, abs=0), name
    # The point itself against Onsager (chi = 16, 20 steps; measured on the CPU:
    # lnZ off by 7.6e-7, E by 3.4e-5, C by 2.5e-4).
    assert cpu["lnz"] == pytest.approx(float(ising.exact_lnz(beta)), rel=0, abs=5e-6)
    assert cpu["energy"] == pytest.approx(float(ising.exact_energy(beta)), rel=0, abs=3e-4)
    assert cpu["specific_heat"] == pytest.approx(float(ising.exact_specific_heat(beta)), rel=0, abs=2e-3)


def _seeded_tensor(D, seed):
    """A[s,u,l,d,r] uniform in [-1, 1] from a CPU generator (as studies.heisenberg.random_tensor,
    without importing the study module and its xarray/NetCDF dependencies)."""
    gen = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(2, D, D, D, D, generator=gen, dtype=torch.float64) - 1


def _energy_and_gradient(D, chi, device):
    A = _seeded_tensor(D, seed=4).to(device).requires_grad_()  # built on the CPU, then moved
    h = bond_hamiltonian(rotated=True, dtype=torch.float64, device=device)
    options = CTMRGOptions(chi=chi, tol=1e-12, max_iter=2000)  # default grad_mode (fixed_point)
    energy, m, (C, E), info = evaluate(A, h, options)
    assert info.converged
    assert energy.device.type == C.device.type == device.type
    (grad,) = torch.autograd.grad(energy, A)
    assert grad.device.type == device.type
    return energy.detach().cpu(), m.detach().cpu(), grad.cpu()


@pytest.mark.gpu
@pytest.mark.parametrize("D, chi", [(2, 24), (3, 24)])
def test_ipeps_energy_and_gradient_cuda_matches_cpu(D, chi, cuda):
    e_cpu, m_cpu, g_cpu = _energy_and_gradient(D, chi, torch.device("cpu"))
    e_gpu, m_gpu, g_gpu = _energy_and_gradient(D, chi, cuda)
    # CPU values (measured): E = -0.508555984401 (D = 2), -0.606423451964 (D = 3).
    assert float(e_gpu) == pytest.approx(float(e_cpu), rel=RTOL, abs=0)
    assert float(m_gpu) == pytest.approx(float(m_cpu), rel=RTOL, abs=0)
    assert float((g_gpu - g_cpu).norm() / g_cpu.norm()) < RTOL


def _lowest_curvature(device):
    from difftn.methods.saddle import check_curvature  # the Lanczos start and bases are built on the CPU

    A = _seeded_tensor(2, seed=4).to(device)
    h = bond_hamiltonian(rotated=True, dtype=torch.float64, device=device)
    curvature = check_curvature(A, h, CTMRGOptions(chi=16, tol=1e-12, max_iter=2000))
    assert curvature.vector.device.type == device.type and curvature.ctm_converged and curvature.exhausted
    return curvature.value, curvature.vector.cpu()


@pytest.mark.gpu
def test_lowest_hessian_curvature_cuda_matches_cpu(cuda):
    # Hessian-vector products by double backward through a checkpointed CTMRG run, then Lanczos:
    # the saddle check of `difftn heisenberg optimize`.  The eigenvalue is simple, so its vector
    # agrees up to sign.
    v_cpu, x_cpu = _lowest_curvature(torch.device("cpu"))
    v_gpu, x_gpu = _lowest_curvature(cuda)
    assert v_gpu == pytest.approx(v_cpu, rel=1e-8, abs=0)
    assert abs(float((x_gpu * x_cpu).sum())) == pytest.approx(1.0, rel=0, abs=1e-6)

"""Tests of difftn.linalg.qr: forward for both shapes, errors, first and
second derivatives (gradcheck / gradgradcheck in float64).

The reduced QR of a full-rank matrix is unique up to the signs of diag(R),
and LAPACK's Householder convention fixes those signs locally, so Q and R are
smooth functions of A and can be differentiated directly.
"""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from difftn.linalg import qr

DT = torch.float64

# Central differences (step 1e-6) agree with the backward to ~1e-9 on these
# O(1) Jacobians (measured worst 8e-10); 1e-7 / 1e-6 keeps a 100x margin and is
# far tighter than the torch defaults (atol 1e-5, rtol 1e-3).
GC = dict(atol=1e-7, rtol=1e-6)

SHAPES = [(5, 5), (7, 4), (6, 1), (4, 7), (3, 6), (1, 4)]


def randn(*shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=DT)


@pytest.mark.parametrize("shape", SHAPES)
def test_factors(shape):
    m, n = shape
    r = min(m, n)
    A = randn(m, n, seed=1)
    Q, R = qr(A)
    assert Q.shape == (m, r) and R.shape == (r, n)
    assert torch.allclose(Q @ R, A, atol=1e-13 * float(torch.linalg.matrix_norm(A)), rtol=0)
    assert torch.allclose(Q.mT @ Q, torch.eye(r, dtype=DT), atol=1e-13, rtol=0)
    assert torch.equal(R, R.triu())  # upper triangular (trapezoidal if m < n)


@pytest.mark.parametrize("shape", [(5, 5), (7, 4)])
def test_r_is_a_cholesky_factor_of_the_gram_matrix(shape):
    # Independent check for m >= n: A^T A = R^T R.
    A = randn(*shape, seed=2)
    _, R = qr(A)
    assert torch.allclose(R.mT @ R, A.mT @ A, atol=5e-14, rtol=0)  # measured <= 5.3e-15 on entries ~10


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="matrix"):
        qr(torch.ones(3, dtype=DT))
    with pytest.raises(ValueError, match="matrix"):
        qr(torch.ones(2, 3, 3, dtype=DT))
    with pytest.raises(TypeError, match="real"):
        qr(torch.eye(3, dtype=torch.complex128))


@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck(shape):
    A = randn(*shape, seed=10).requires_grad_()
    assert gradcheck(qr, (A,), **GC)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradgradcheck(shape):
    A = randn(*shape, seed=11).requires_grad_()
    assert gradgradcheck(qr, (A,), **GC)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
def test_gradient_of_loss_through_both_factors(shape):
    A0 = randn(*shape, seed=12)
    W1 = randn(shape[0], min(shape), seed=13)
    W2 = randn(min(shape), shape[1], seed=14)

    def loss(A, decompose=qr):
        Q, R = decompose(A)
        return (W1 * Q).sum() * (W2 * R).sum() + (Q**3).sum()

    A = A0.clone().requires_grad_()
    (grad,) = torch.autograd.grad(loss(A), A)
    # Central differences, step 1e-6: measured error <= 3.2e-9 (O(h^2) and
    # rounding ~1e-16/h, on entries up to ~7); tolerance 2e-8.
    h = 1e-6
    fd = torch.zeros_like(A0)
    for i in range(A0.shape[0]):
        for j in range(A0.shape[1]):
            E = torch.zeros_like(A0)
            E[i, j] = h
            fd[i, j] = (loss(A0 + E) - loss(A0 - E)) / (2 * h)
    assert torch.allclose(grad, fd, atol=2e-8, rtol=0)
    # Independent implementation: torch's own QR backward (same forward).
    A = A0.clone().requires_grad_()
    (grad_torch,) = torch.autograd.grad(loss(A, torch.linalg.qr), A)
    assert torch.allclose(grad, grad_torch, atol=4e-14, rtol=0)  # measured <= 4.2e-15

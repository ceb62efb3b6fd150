"""Backward through a fixed point by the implicit function theorem.

For an iteration x_{n+1} = f(x_n, theta) converged to x* = f(x*, theta), a
loss L(x*, theta) has (Liao et al., PRX 9, 031041 (2019), Eq. 7)

    dL/dtheta = dL/dtheta|_direct + xbar^T df/dtheta(x*, theta),
    xbar = sum_{n >= 0} [(df/dx)^T]^n  dL/dx*     (the adjoint fixed point)

The forward iterates without recording a graph; the backward rebuilds the
graph of one step at x* and sums the series with vector-Jacobian products of
that one step, so memory does not grow with the number of iterations.  The
step must be gauge-fixed: x* must be a fixed point element by element, which
the backward checks.
"""

import logging

import torch

__all__ = ["fixed_point"]

log = logging.getLogger(__name__)


def fixed_point(step, theta: torch.Tensor, x_star: tuple, options):
    """Attach the implicit backward to a converged fixed point ``x_star`` of ``step``.

    Parameters
    ----------
    step : callable
        One gauge-fixed iteration ``step(*x, theta) -> (*x, ...)``,
        differentiable in x and theta.
    theta : torch.Tensor
        Parameter tensor (requires grad).
    x_star : tuple of torch.Tensor
        Converged point (values; computed without a graph).
    options
        Provides ``tol`` (forward tolerance) and ``fp_tol``, ``fp_max_iter``
        (adjoint series), e.g. ``CTMRGOptions``.

    Returns
    -------
    tuple of torch.Tensor
        x_star, now differentiable in theta.
    """
    return _FixedPoint.apply(theta, *x_star, step, options)


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, C, E, step, options):
        ctx.step, ctx.options = step, options
        ctx.save_for_backward(theta, C, E)
        return C.clone(), E.clone()

    @staticmethod
    def backward(ctx, gC, gE):
        theta, C, E = ctx.saved_tensors
        options = ctx.options
        with torch.enable_grad():
            th = theta.detach().requires_grad_()
            x = (C.detach().requires_grad_(), E.detach().requires_grad_())
            C1, E1, _, _ = ctx.step(*x, th)
            mismatch = max(float((C1.detach() - C).abs().max()), float((E1.detach() - E).abs().max()))
            if mismatch > 1e3 * options.tol**0.5:
                log.warning("fixed-point backward: step(x*) differs from x* by %.2e (gauge not fixed?)", mismatch)
            term = (gC, gE)
            total = [gC.clone(), gE.clone()]
            for n in range(options.fp_max_iter):
                term = torch.autograd.grad((C1, E1), x, term, retain_graph=True)
                total[0] += term[0]
                total[1] += term[1]
                size = max(float(t.abs().max()) for t in term)
                scale = max(float(t.abs().max()) for t in total)
                if size <= options.fp_tol * scale:
                    break
            else:
                log.warning("fixed-point backward: adjoint series not converged after %d terms", options.fp_max_iter)
            (g_theta,) = torch.autograd.grad((C1, E1), th, total)
        return g_theta, None, None, None, None

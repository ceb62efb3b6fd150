"""Backward through a fixed point by the implicit function theorem.

For an iteration x_{n+1} = f(x_n, theta) converged to x* = f(x*, theta), a
loss L(x*, theta) has (Liao et al., PRX 9, 031041 (2019), Eq. 7)

    dL/dtheta = dL/dtheta|_direct + xbar^T df/dtheta(x*, theta),
    (1 - (df/dx)^T) xbar = dL/dx*                 (the adjoint equation)

The forward iterates without recording a graph; the backward rebuilds the
graph of one step at x* and solves the adjoint equation by GMRES
(``difftn.linalg.gmres``), each matvec one vector-Jacobian product of that
step, so memory does not grow with the number of iterations.  GMRES needs
far fewer products than summing the Neumann series sum_n [(df/dx)^T]^n dL/dx*
when the step's slowest mode decays slowly (large chi, near criticality).

The step must be gauge-fixed: x* must be a fixed point element by element.
The backward checks it and the solver's convergence, and raises
``FixedPointError`` rather than return a wrong gradient.  It is a first
derivative only: asked for a differentiable backward (``create_graph=True``,
second derivatives) it raises ``FixedPointError`` too.
"""

import logging

import torch

from ..linalg.krylov import gmres

__all__ = ["FixedPointError", "fixed_point"]

log = logging.getLogger(__name__)


#: The backward re-checks |step(x*) - x*| against this multiple of ``fp_mismatch``
#: (the forward's own threshold; see ``_FixedPoint.backward``).
BACKWARD_MARGIN = 10


class FixedPointError(RuntimeError):
    """The fixed-point backward cannot give a correct gradient (no fixed point, or no adjoint convergence)."""


def fixed_point(step, theta: torch.Tensor, x_star: tuple, options, info=None):
    """Attach the implicit backward to a converged fixed point ``x_star`` of ``step``.

    Parameters
    ----------
    step : callable
        One gauge-fixed iteration ``step(*x, theta) -> (*x_new, ...)``
        (extra outputs ignored), differentiable in x and theta.
    theta : torch.Tensor
        Parameter tensor (requires grad).
    x_star : tuple of torch.Tensor
        Converged point (values; computed without a graph).
    options
        Provides ``fp_tol`` (GMRES relative residual), ``fp_max_iter``
        (GMRES matvec cap) and ``fp_mismatch`` (largest accepted
        |step(x*) - x*|), e.g. ``CTMRGOptions``.
    info : optional
        Object whose ``adjoint_iterations`` and ``adjoint_residual`` the
        backward sets (e.g. ``CTMRGInfo``).

    Returns
    -------
    tuple of torch.Tensor
        x_star, now differentiable in theta.
    """
    return _FixedPoint.apply(theta, step, options, info, *x_star)


def _flat(xs):
    return torch.cat([x.reshape(-1) for x in xs])


def _unflat(v, like):
    out, i = [], 0
    for x in like:
        out.append(v[i : i + x.numel()].view_as(x))
        i += x.numel()
    return tuple(out)


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, step, options, info, *x):
        ctx.step, ctx.options, ctx.info = step, options, info
        ctx.save_for_backward(theta, *x)
        return tuple(t.clone() for t in x)

    @staticmethod
    def backward(ctx, *grads):
        theta, *x_star = ctx.saved_tensors
        options = ctx.options
        if torch.is_grad_enabled():
            # A differentiable backward (create_graph=True, e.g. for Hessian-vector
            # products) would hold g_theta as a constant: its dependence through the
            # GMRES solution and through x* is outside the graph, and the second
            # derivative would be silently wrong (measured: 2.1e-2 off, |H v| = 2.9e-2, in H v of a
            # D=2 iPEPS energy, against finite differences).
            raise FixedPointError("fixed-point backward is not twice differentiable (create_graph=True): the "
                                  "adjoint solution is not recorded in the graph; use grad_mode='checkpoint' or "
                                  "'unrolled' for second derivatives")  # fmt: skip
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, x_star)]
        with torch.enable_grad():
            th = theta.detach().requires_grad_()
            x = tuple(t.detach().requires_grad_() for t in x_star)
            out = ctx.step(*x, th)[: len(x)]
            mismatch = max(float((o.detach() - t).abs().max()) for o, t in zip(out, x_star))
            # The forward accepted x* with |step(x*) - x*| <= fp_mismatch, measured
            # with its graph-free step; this differentiated step (full eigh, double
            # layer) may land slightly off it where the kept span is sensitive
            # (measured: 2.8e-9 here against <= 1e-9 there, D = 2, chi = 30, an
            # eigenvalue pair at the truncation boundary).  Re-deciding at the same
            # threshold would make the verdict hang on rounding; this check guards
            # against x* that was no fixed point at all.
            if mismatch > BACKWARD_MARGIN * options.fp_mismatch:
                raise FixedPointError(f"fixed-point backward: step(x*) differs from x* by {mismatch:.2e} > "
                                      f"{BACKWARD_MARGIN} x fp_mismatch {options.fp_mismatch:.1e}: not a fixed "
                                      f"point")  # fmt: skip

            def matvec(v):  # (1 - J^T) v
                vjp = torch.autograd.grad(out, x, _unflat(v, x_star), retain_graph=True)
                return v - _flat(vjp)

            b = _flat(grads)
            xbar, sol = gmres(matvec, b, tol=options.fp_tol, restart=min(options.fp_max_iter, 100),
                              max_iter=options.fp_max_iter)  # fmt: skip
            if ctx.info is not None:
                ctx.info.adjoint_iterations, ctx.info.adjoint_residual = sol.iterations, sol.residual
            log.debug("fixed-point backward: GMRES %d matvecs, relative residual %.1e", sol.iterations, sol.residual)
            if not sol.converged:
                raise FixedPointError(f"fixed-point backward: GMRES did not reach residual {options.fp_tol:.1e} in "
                                      f"{sol.iterations} matvecs (at {sol.residual:.1e}); raise fp_max_iter or use "
                                      f"grad_mode='checkpoint'")  # fmt: skip
            (g_theta,) = torch.autograd.grad(out, th, _unflat(xbar, x_star))
        return (g_theta, None, None, None) + (None,) * len(x_star)

"""Hessian-vector products of scalar losses built from the library.

For a loss L(x) the product H v = d/dt grad L(x + t v) |_{t=0} is computed
without forming H (Pearlmutter, Neural Comput. 6, 147 (1994)), in one of two
modes (``HVP_MODES``):

``"double_backward"``       reverse over reverse: g = grad L with
                            ``create_graph=True``, then H v = grad <g, v>.
                            The graph of the first backward is kept, so any
                            number of products at the same x cost one
                            backward each (``hessian_operator``).  Works
                            wherever the first backward is itself
                            differentiable: CTMRG in the ``"unrolled"`` and
                            ``"checkpoint"`` gradient modes (the eigh backward
                            is written in differentiable operations), TRG
                            (its ``_Advance``/``_Plaquette`` nodes support
                            derivatives of any order).
``"forward_over_reverse"``  forward-mode AD (dual numbers,
                            ``torch.autograd.forward_ad``) through the
                            reverse pass: x carries the tangent v, and the
                            tangent of the gradient is H v.  Needs a ``jvp``
                            rule in every custom autograd Function the loss
                            passes through; the library's decompositions
                            (``difftn.linalg``: eigh, svd, qr, polar) and the
                            TRG and fixed-point nodes define none, so a loss
                            through them raises ``NotImplementedError``
                            naming the mode and the Function (never a silent
                            fallback to the other mode).

CTMRG in the ``"fixed_point"`` gradient mode has no second derivative: its
implicit backward (``difftn.contract.fixedpoint``) solves the adjoint
equation by GMRES outside the graph, so a differentiable first backward
would miss the derivative of the solution; it raises ``FixedPointError``
when asked for one (``create_graph=True``).  Use ``"checkpoint"`` for HVPs.
"""

from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwAD

__all__ = ["HVP_MODES", "HVPResult", "hvp", "hessian_operator"]

#: Hessian-vector product modes (see module docstring).
HVP_MODES = ("double_backward", "forward_over_reverse")


@dataclass
class HVPResult:
    """Loss, gradient and Hessian-vector product at x (detached, shaped like x)."""

    loss: torch.Tensor
    grad: torch.Tensor
    hv: torch.Tensor


def _check(x, v=None):
    if not (x.is_floating_point()):
        raise TypeError(f"hvp: x must be a real floating-point tensor, got {x.dtype}")
    if v is not None and tuple(v.shape) != tuple(x.shape):
        raise ValueError(f"hvp: v has shape {tuple(v.shape)}, x has {tuple(x.shape)}")


def _scalar(loss, name):
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError(f"{name}: loss_fn must return a scalar tensor")
    return loss.reshape(())


def hessian_operator(loss_fn, x: torch.Tensor):
    """Loss, gradient and a Hessian-vector product function at x (double backward).

    One forward pass and one backward with ``create_graph=True``; the
    returned ``matvec(v)`` then costs one backward through that graph and can
    be called any number of times (the graph is retained until the returned
    function is released).

    Returns
    -------
    loss, grad : torch.Tensor
        Detached; grad shaped like x.
    matvec : callable
        ``matvec(v) -> H v`` (detached, shaped like x).
    """
    _check(x)
    xr = x.detach().clone().requires_grad_()
    loss = _scalar(loss_fn(xr), "hessian_operator")
    if not loss.requires_grad:
        raise ValueError("hessian_operator: the loss does not depend on x through a graph")
    (g,) = torch.autograd.grad(loss, xr, create_graph=True)
    differentiable = g.requires_grad

    def matvec(v: torch.Tensor) -> torch.Tensor:
        _check(xr, v)
        if not differentiable:  # g does not depend on x: the loss is linear in x
            return torch.zeros_like(xr.detach())
        (hv,) = torch.autograd.grad(g, xr, v.to(g), retain_graph=True, allow_unused=True)
        return torch.zeros_like(xr.detach()) if hv is None else hv.detach()

    return loss.detach(), g.detach(), matvec


def _function_in_traceback(tb):
    """The innermost ``torch.autograd.Function`` subclass being applied in a traceback, or None."""
    found = None
    while tb is not None:
        frame = tb.tb_frame
        cls = frame.f_locals.get("cls") if frame.f_code.co_name == "apply" else None
        if isinstance(cls, type) and issubclass(cls, torch.autograd.Function):
            found = cls
        tb = tb.tb_next
    return found


def _forward_over_reverse(loss_fn, x, v):
    xr = x.detach().clone().requires_grad_()
    try:
        with fwAD.dual_level():
            loss = _scalar(loss_fn(fwAD.make_dual(xr, v.to(xr))), "hvp")
            (g,) = torch.autograd.grad(loss, xr)
            g, hv = fwAD.unpack_dual(g)
            loss = fwAD.unpack_dual(loss).primal
    except NotImplementedError as err:
        if "jvp" not in str(err):
            raise
        cls = _function_in_traceback(err.__traceback__)
        name = "a custom autograd Function" if cls is None else f"{cls.__module__}.{cls.__qualname__}"
        raise NotImplementedError(f"hvp mode 'forward_over_reverse': {name} has no forward-mode (jvp) rule; "
                                  f"use mode='double_backward'") from err  # fmt: skip
    hv = torch.zeros_like(xr) if hv is None else hv
    return HVPResult(loss.detach(), g.detach(), hv.detach())


def hvp(loss_fn, x: torch.Tensor, v: torch.Tensor, mode: str = "double_backward") -> HVPResult:
    """Hessian-vector product of the scalar ``loss_fn(x)`` at x along v.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(x) -> scalar tensor``, differentiable in x (e.g. an iPEPS
        energy through CTMRG, ln Z through TRG).
    x : torch.Tensor
        Point (any shape; not modified).
    v : torch.Tensor
        Direction, shaped like x.
    mode : str
        One of ``HVP_MODES`` (see module docstring).

    Returns
    -------
    HVPResult
        ``loss``, ``grad`` and ``hv`` = H v at x, detached.

    Raises
    ------
    NotImplementedError
        ``"forward_over_reverse"`` through a custom autograd Function without
        a ``jvp`` rule (the message names it).
    difftn.contract.fixedpoint.FixedPointError
        ``"double_backward"`` through CTMRG in the ``"fixed_point"`` gradient
        mode, which is not twice differentiable.
    """
    if mode not in HVP_MODES:
        raise ValueError(f"hvp mode must be one of {HVP_MODES}, got {mode!r}")
    _check(x, v)
    if mode == "forward_over_reverse":
        return _forward_over_reverse(loss_fn, x, v)
    loss, g, matvec = hessian_operator(loss_fn, x)
    return HVPResult(loss, g, matvec(v))

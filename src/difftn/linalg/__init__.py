"""AD-stable linear algebra: SVD, symmetric eigensolver and QR as autograd Functions.

Each decomposition's backward follows Liao et al., PRX 9, 031041 (2019),
with Lorentzian broadening of reciprocals (``broadening``), and is itself
differentiable, so second derivatives pass through it (``polar``: first
derivatives only).  ``gmres`` solves linear systems given by a matvec.
"""

from .broadening import DEFAULT_EPS, lorentzian
from .eigh import eigh
from .krylov import GMRESInfo, gmres
from .polar import polar
from .qr import qr
from .svd import svd

__all__ = ["DEFAULT_EPS", "lorentzian", "svd", "eigh", "qr", "polar", "gmres", "GMRESInfo"]

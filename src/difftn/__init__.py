"""difftn: differentiable tensor-network programs on PyTorch.

Reproduces and extends Liao, Liu, Wang, Xiang, "Differentiable Programming
Tensor Networks", Phys. Rev. X 9, 031041 (2019).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]

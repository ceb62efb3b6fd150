"""Contraction schemes: TRG, C4v CTMRG, boundary MPS and the fixed-point backward.

Modules: ``trg``, ``ctmrg``, ``boundary_mps``, ``fixedpoint``.  They import only
``difftn.linalg``; models and methods build their tensors and call them.
"""

"""Physical models: bulk tensors, local Hamiltonians and exact reference solutions.

Modules: ``ising`` (Eq. 9 tensor, Onsager), ``heisenberg`` (bond Hamiltonian,
cluster ED), ``spinglass`` (couplings, site tensors, enumeration, transfer
matrix), ``tfim`` (transverse-field chain, ED, free fermions).  They import only
``difftn.linalg``.
"""

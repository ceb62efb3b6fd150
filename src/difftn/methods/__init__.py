"""Methods built on the contraction schemes: AD observables, iPEPS, optimizers,
inverse problems, Hamiltonian design and generative models.

Modules: ``thermodynamics`` (Ising lnZ, E, C by AD through TRG), ``ipeps``
(C4v iPEPS energy and gradient through CTMRG), ``optimize`` (L-BFGS with
snapshots), ``spinglass_solver`` (boundary-MPS moments by AD),
``inverse_ising``, ``fidelity_design``, ``born`` (MPS Born machine),
``ppeps`` (positive PEPS).
"""

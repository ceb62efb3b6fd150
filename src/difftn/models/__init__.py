"""Physical models: bulk tensors, local Hamiltonians and exact reference solutions."""

__all__ = ["ising", "heisenberg", "spinglass"]

"""Stages of the parameter studies: one computed point -> xarray.Dataset, aggregation.

Both the ``difftn`` command and the Snakemake scripts call these functions, so a
workflow stage and its command-line twin produce identical files.
"""

__all__ = ["ising", "heisenberg", "born", "ppeps", "spinglass", "inverse_ising", "design"]

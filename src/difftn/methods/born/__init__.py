"""The MPS Born machine: p(x) = |Psi(x)|^2 / Z with Psi a matrix product state.

Han, Wang, Fan, Wang, Zhang, "Unsupervised Generative Modeling Using Matrix
Product States", Phys. Rev. X 8, 031012 (2018).  ``mps``: the container,
canonical form, exact normalized likelihood; ``train``: two-site sweeps and
plain autograd training; ``sample``: exact (zipper) and conditional sampling;
``baseline``: the independent-pixel model.
"""

from .baseline import independent_pixel_nll
from .mps import MPS, canonicalize, from_flat, log_amplitude, log_partition, log_prob, nll, random_mps, to_flat
from .sample import conditional_sample, sample
from .train import GradientOptions, SweepOptions, TrainInfo, local_nll, train_gradient, train_sweeps, two_site_gradient

__all__ = [
    "MPS",
    "canonicalize",
    "from_flat",
    "log_amplitude",
    "log_partition",
    "log_prob",
    "nll",
    "random_mps",
    "to_flat",
    "GradientOptions",
    "SweepOptions",
    "TrainInfo",
    "train_gradient",
    "train_sweeps",
    "two_site_gradient",
    "local_nll",
    "sample",
    "conditional_sample",
    "independent_pixel_nll",
]

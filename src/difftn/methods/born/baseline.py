"""The independent-pixel baseline: p(x) = prod_k q_k^{x_k} (1 - q_k)^{1 - x_k}.

The product (bond dimension 1) model a Born machine is compared with (Han et
al., PRX 8, 031012 (2018)).  q_k is the additively smoothed frequency
(c_k + alpha) / (N + 2 alpha) of pixel k being 1 among the N training
images (alpha = 0: maximum likelihood, infinite NLL for a test image with a
pixel value never seen in training; alpha = 1: Laplace's rule).
"""

import numpy as np

__all__ = ["independent_pixel_nll"]


def independent_pixel_nll(train, evaluate=None, alpha: float = 1.0) -> float:
    """NLL in nats per image of the independent-pixel model fit to ``train``, on ``evaluate`` (default: train).

    Parameters
    ----------
    train, evaluate : array-like of 0/1, shape (N, n) and (M, n)
    alpha : float
        Pseudo-count (>= 0) added to both values of every pixel.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    train = np.asarray(train, dtype=np.float64)
    evaluate = train if evaluate is None else np.asarray(evaluate, dtype=np.float64)
    if train.ndim != 2 or evaluate.ndim != 2 or train.shape[1] != evaluate.shape[1]:
        raise ValueError(f"train {train.shape} and evaluate {evaluate.shape} must be (N, n) with the same n")
    q = (train.sum(axis=0) + alpha) / (len(train) + 2 * alpha)
    with np.errstate(divide="ignore"):  # alpha = 0: log 0 = -inf where a value was never seen
        logp = np.where(evaluate == 1, np.log(q), np.log1p(-q)).sum(axis=1)
    return float(-logp.mean())

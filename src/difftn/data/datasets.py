"""Binary image data sets for generative models, all available offline.

* Bars and stripes (MacKay, "Information Theory, Inference, and Learning
  Algorithms", 2003; used by Han et al., PRX 8, 031012 (2018)): every
  rows x cols image whose rows are all constant (stripes) or whose columns
  are all constant (bars); 2^rows + 2^cols - 2 distinct patterns (all-0 and
  all-1 are both).  Generated, no file.
* Handwritten digits: the 1797 8x8 images (16 gray levels) shipped inside
  scikit-learn (UCI optdigits test set; ``sklearn.datasets.load_digits``
  reads a file in the wheel, no download), binarized at ``threshold``.

Images are returned flattened in raster (row-major) order: pixel (r, c) is
column r * cols + c, values 0/1 as ``numpy.uint8``.
"""

import numpy as np

__all__ = ["bars_and_stripes", "is_bars_and_stripes", "digits", "DIGITS_SHAPE"]

#: Height and width of the scikit-learn digits.
DIGITS_SHAPE = (8, 8)


def bars_and_stripes(rows: int, cols: int) -> np.ndarray:
    """All distinct bars-and-stripes patterns, shape (2^rows + 2^cols - 2, rows * cols), sorted.

    Raises ValueError unless 1 <= rows, cols <= 12.
    """
    for name, value in (("rows", rows), ("cols", cols)):
        if not 1 <= value <= 12:
            raise ValueError(f"{name} must be in [1, 12], got {value}")
    patterns = set()
    for bits in range(2**cols):  # bars: every row equals one bit pattern of length cols
        row = [(bits >> (cols - 1 - c)) & 1 for c in range(cols)]
        patterns.add(tuple(row * rows))
    for bits in range(2**rows):  # stripes: row r constant, value bit r
        patterns.add(tuple(v for r in range(rows) for v in [(bits >> (rows - 1 - r)) & 1] * cols))
    return np.array(sorted(patterns), dtype=np.uint8)


def is_bars_and_stripes(images, rows: int, cols: int) -> np.ndarray:
    """Boolean mask: which of the flattened images (N, rows * cols) are bars-and-stripes patterns."""
    x = np.asarray(images).reshape(-1, rows, cols)
    stripes = np.all(x == x[:, :, :1], axis=(1, 2))  # every row constant
    bars = np.all(x == x[:, :1, :], axis=(1, 2))  # every column constant
    return stripes | bars


def digits(threshold: int = 8, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits binarized (pixel >= threshold -> 1), split at random into train and test.

    Parameters
    ----------
    threshold : int
        Gray level (0..16) from which a pixel counts as 1; in [1, 16].
    test_fraction : float
        Share of the 1797 images held out, in [0, 1).
    seed : int
        Seed of the permutation (``numpy.random.default_rng``).

    Returns
    -------
    train, test : numpy.ndarray
        uint8 arrays of shape (N_train, 64) and (N_test, 64), N_test = round(1797 * test_fraction).
    """
    if not 1 <= threshold <= 16:
        raise ValueError(f"threshold must be in [1, 16], got {threshold}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits  # a file inside the wheel, no download

    images = (load_digits().data >= threshold).astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    return images[order[n_test:]], images[order[:n_test]]

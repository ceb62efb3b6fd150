"""difftn.data.datasets and the independent-pixel baseline: pattern counts by
enumeration, the digits split, closed-form baseline NLLs."""

import itertools
import math

import numpy as np
import pytest

from difftn.methods.born import independent_pixel_nll
from difftn.data.datasets import bars_and_stripes, digits, is_bars_and_stripes


@pytest.mark.parametrize("rows, cols", [(1, 1), (2, 3), (3, 3), (4, 4), (3, 5)])
def test_bars_and_stripes_count_and_validity(rows, cols):
    patterns = bars_and_stripes(rows, cols)
    expected = 2**rows + 2**cols - 2 if rows * cols > 1 else 2
    assert patterns.shape == (expected, rows * cols)
    assert len(np.unique(patterns, axis=0)) == expected
    assert is_bars_and_stripes(patterns, rows, cols).all()


def test_bars_and_stripes_by_enumeration_of_all_images():
    every = np.array(list(itertools.product((0, 1), repeat=9)), dtype=np.uint8)
    valid = every[is_bars_and_stripes(every, 3, 3)]
    assert np.array_equal(valid, bars_and_stripes(3, 3))  # both sorted lexicographically


def test_bars_and_stripes_layout_is_row_major():
    images = bars_and_stripes(2, 3).reshape(-1, 2, 3)
    stripe = np.array([[1, 1, 1], [0, 0, 0]])  # top row on
    bar = np.array([[1, 0, 0], [1, 0, 0]])  # left column on
    assert any(np.array_equal(im, stripe) for im in images)
    assert any(np.array_equal(im, bar) for im in images)
    checkerboard = np.array([[1, 0, 1], [0, 1, 0]])
    assert not is_bars_and_stripes(checkerboard.ravel()[None], 2, 3)[0]
    with pytest.raises(ValueError, match="rows"):
        bars_and_stripes(0, 3)


def test_digits_split():
    from sklearn.datasets import load_digits

    train, test = digits(threshold=8, test_fraction=0.2, seed=0)
    assert train.shape == (1438, 64) and test.shape == (359, 64)
    assert train.dtype == np.uint8 and set(np.unique(train)) == {0, 1}
    reference = (load_digits().data >= 8).astype(np.uint8)
    together = np.concatenate([train, test])
    # The split is a permutation of the binarized images (compare as multisets of rows).
    assert sorted(map(bytes, together)) == sorted(map(bytes, reference))
    again = digits(threshold=8, test_fraction=0.2, seed=0)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    assert not np.array_equal(digits(seed=1)[1], test)
    assert digits(test_fraction=0.0)[1].shape == (0, 64)
    with pytest.raises(ValueError, match="threshold"):
        digits(threshold=0)
    with pytest.raises(ValueError, match="test_fraction"):
        digits(test_fraction=1.0)


def test_independent_pixel_baseline():
    # Bars and stripes: every pixel is on in exactly half of the patterns -> 16 ln 2.
    # Measured 5.3e-15.
    assert independent_pixel_nll(bars_and_stripes(4, 4), alpha=0.0) == pytest.approx(16 * math.log(2), abs=5e-14)
    train = np.array([[1, 0], [1, 1], [1, 0], [0, 0]])
    # q = (3/4, 1/4): NLL = -(1/4) sum over rows of log-probabilities.
    q = np.array([0.75, 0.25])
    expected = -np.mean([np.sum(np.where(r == 1, np.log(q), np.log(1 - q))) for r in train])
    assert independent_pixel_nll(train, alpha=0.0) == pytest.approx(expected, abs=1e-14)
    # Laplace smoothing: q = (4/6, 2/6); a test image with an unseen value stays finite.
    test = np.array([[0, 1]])
    # Measured 4.4e-16.
    assert independent_pixel_nll(train, test, alpha=1.0) == pytest.approx(-2 * math.log(2 / 6), abs=5e-15)
    assert independent_pixel_nll(np.array([[0, 0]]), test, alpha=0.0) == math.inf
    with pytest.raises(ValueError, match="alpha"):
        independent_pixel_nll(train, alpha=-1)

"""One truncation rule: no bond dimension is decided by rounding, in float64 or float32."""

import pytest
import torch

from difftn.linalg.truncation import NOISE_FLOOR, effective_cutoff, kept_count


@pytest.mark.parametrize("null", [0.0, 1e-17])
def test_cutoff_zero_keeps_null_values_however_they_are_rounded(null):
    s = torch.tensor([1.0, 0.5, null, null], dtype=torch.float64)
    assert kept_count(s, 0.0) == 4 and kept_count(s, 0.0, chi=3) == 3


def test_positive_cutoff_drops_what_lies_below_it():
    s = torch.tensor([1.0, 1e-3, 1e-11, 1e-13], dtype=torch.float64)
    assert kept_count(s, 1e-12) == 3 and kept_count(s, 1e-12, chi=2) == 2 and kept_count(s, 0.5) == 1


def test_float32_floor_drops_rounding_noise():
    # 1e-9 relative is noise in float32 (eps 1.2e-7) but a real value in float64.
    values = [1.0, 1e-2, 1e-9]
    assert kept_count(torch.tensor(values, dtype=torch.float64), 1e-12) == 3
    assert kept_count(torch.tensor(values, dtype=torch.float32), 1e-12) == 2
    assert effective_cutoff(1e-12, torch.float32) == pytest.approx(NOISE_FLOOR * 2.0**-23, rel=1e-12)
    assert effective_cutoff(1e-12, torch.float64) == 1e-12 and effective_cutoff(0.0, torch.float32) == 0.0


def test_at_least_one_value_is_kept():
    assert kept_count(torch.zeros(3, dtype=torch.float64), 1e-12) == 1

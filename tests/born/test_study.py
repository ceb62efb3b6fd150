"""difftn.studies.born and the ``difftn born`` commands: model files hold the
trained MPS exactly, samples and inpainting respect the data, aggregation and
figures."""

import math

import numpy as np
import pytest
import torch

from difftn.methods.born import log_prob
from difftn.cli import main
from difftn.data.datasets import bars_and_stripes, is_bars_and_stripes
from difftn.infra.io import read_dataset, write_dataset
from difftn.studies import born

BAS = {"rows": 3, "cols": 3}
TRAIN = {"sweeps": 5, "learning_rate": 0.2, "cutoff": 1e-7, "steps_per_bond": 1, "max_halvings": 8, "init_bond": 2}


@pytest.fixture(scope="module")
def bas_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("born")
    paths = {}
    for D in (2, 8):
        ds = born.train_point("bas", D, **BAS, **TRAIN, seed=0, n_samples=2000, device="cpu")
        paths[D] = write_dataset(ds, folder / f"Dmax{D}.nc")
    return paths


def test_model_file_round_trip_and_targets(bas_models):
    mps, ds = born.load_model(bas_models[8])
    # The stored MPS reproduces the stored NLL: it is the trained model, exactly.
    x = torch.as_tensor(bars_and_stripes(3, 3)).long()
    assert float(-log_prob(mps.tensors, x).mean()) == pytest.approx(float(ds.train_nll), abs=1e-12)
    assert list(ds.bond_dimension.values) == mps.bond_dimensions
    assert max(mps.bond_dimensions) <= 8
    # D = 8 holds 3x3 BAS exactly (Schmidt ranks <= 8); two-sided, measured 1.0e-9 above ln 14.
    assert float(ds.train_nll) >= math.log(14) - 1e-9
    assert float(ds.train_nll) == pytest.approx(math.log(14), abs=1e-8)
    assert float(ds.nll_floor) == pytest.approx(math.log(14))
    assert float(ds.valid_fraction) > 0.99 and int(ds.distinct_patterns) == 14
    assert float(ds.baseline_train_nll) == pytest.approx(9 * math.log(2))  # every pixel on in half the patterns
    assert ds.sweep.size == TRAIN["sweeps"] + 1
    assert np.all(np.diff(ds.train_nll_history.values) <= 1e-12)
    for key in ("source_hash", "git_commit", "parameters", "wall_time_s", "mps_layout"):
        assert key in ds.attrs
    assert "test_nll" not in ds  # bars and stripes: trained on all patterns, no test set


def test_samples_and_inpainting(bas_models):
    settings = born.SampleSettings(n_samples=40, n_images=5, completions=3, hide="right", seed=1)
    s = born.sample_point(bas_models[8], settings, device="cpu")
    assert s.samples.shape == (40, 3, 3) and s.inpaint_completion.shape == (5, 3, 3, 3)
    hidden = s.inpaint_hidden.values.astype(bool)
    assert hidden[:, 2].all() and not hidden[:, :2].any()  # right half of 3 columns: the last one
    given = np.broadcast_to(s.inpaint_original.values[:, None], s.inpaint_completion.shape)
    assert np.array_equal(s.inpaint_completion.values[..., ~hidden], given[..., ~hidden])
    # The model is (almost) exactly uniform on the patterns: completions are patterns.
    assert is_bars_and_stripes(s.inpaint_completion.values.reshape(-1, 9), 3, 3).all()
    assert s.inpaint_valid.values.all() and s.sample_valid.values.mean() > 0.9
    again = born.sample_point(bas_models[8], settings, device="cpu")
    assert np.array_equal(again.samples.values, s.samples.values)


def test_aggregate(bas_models, tmp_path):
    table = born.aggregate([bas_models[8], bas_models[2]])
    assert list(table.max_bond.values) == [2, 8]
    assert table.train_nll.sel(max_bond=2) > table.train_nll.sel(max_bond=8) + 0.3
    assert table.distinct_patterns.dtype.kind == "i"
    assert float(table.nll_floor) == pytest.approx(math.log(14))
    with pytest.raises(ValueError, match="twice"):
        born.aggregate([bas_models[2], bas_models[2]])
    other = born.train_point("bas", 2, rows=2, cols=3, **TRAIN, n_samples=10, device="cpu")
    with pytest.raises(ValueError, match="mix"):
        born.aggregate([bas_models[2], write_dataset(other, tmp_path / "other.nc")])


def test_digits_point_beats_the_independent_pixel_baseline():
    ds = born.train_point(
        "digits", 4, threshold=8, test_fraction=0.2, split_seed=0, **{**TRAIN, "sweeps": 2, "learning_rate": 0.1},
        n_samples=100, device="cpu",
    )  # fmt: skip
    assert float(ds.test_nll) < float(ds.baseline_test_nll) - 2.0  # measured 20.3 vs 25.2 nats
    assert float(ds.train_nll) < float(ds.baseline_train_nll) - 2.0
    assert int(ds.test_images_unseen_pixel) == 2
    assert "valid_fraction" not in ds


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="data set"):
        born.load_data("mnist", {})
    with pytest.raises(ValueError, match="completions must be >= 1, got 0"):
        born.SampleSettings(completions=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epochs'"):
        born.train_point("bas", 2, **BAS, epochs=3)
    with pytest.raises(ValueError, match="max_bond must be >= 1, got 0"):
        born.train_point("bas", 0, **BAS, **TRAIN)
    with pytest.raises(ValueError, match="cutoff must be >= 0, got -1"):
        born.train_point("bas", 2, **BAS, cutoff=-1.0)


def test_cli_train_sample_aggregate_figure(tmp_path):
    model = tmp_path / "model.nc"
    args = ["born", "train", "--data", "bas", "--rows", "2", "--cols", "3", "--max-bond", "8", "--sweeps", "4",
            "--learning-rate", "0.2", "--n-samples", "500", "--threads", "1", "--device", "cpu", "--out", str(model)]  # fmt: skip
    assert main(args) == 0
    ds = read_dataset(model)
    # 2x3 BAS, 10 patterns: two-sided, measured 4.1e-10 above ln 10.
    assert float(ds.train_nll) >= math.log(10) - 1e-9
    assert float(ds.train_nll) == pytest.approx(math.log(10), abs=4e-9)
    samples = tmp_path / "samples.nc"
    assert main(["born", "sample", "--model", str(model), "--out", str(samples), "--n-samples", "16", "--n-images", "2",
                 "--completions", "2", "--threads", "1", "--device", "cpu"]) == 0  # fmt: skip
    summary = tmp_path / "summary.nc"
    assert main(["born", "aggregate", str(model), "--out", str(summary), "--csv", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().startswith("max_bond,")
    for name, source in (("nll", summary), ("samples", samples)):
        fig = tmp_path / f"{name}.png"
        assert main(["born", "figure", name, str(source), "--out", str(fig)]) == 0
        assert fig.stat().st_size > 10_000 and fig.with_suffix(".pdf").exists()
    assert main(["born", "train", "--data", "bas", "--max-bond", "2", "--cutoff", "2", "--out", str(model)]) == 1

"""`difftn ppeps` train (with checkpoint), sample, aggregate and both figures on 3 x 3 bars and stripes."""

import numpy as np
import pytest
import xarray as xr

from difftn.cli import main


def test_train_sample_aggregate_figures(tmp_path):
    common = ["--data", "bas", "--rows", "3", "--cols", "3", "--epochs", "3", "--batch-size", "14",
              "--n-samples", "200", "--threads", "1"]  # fmt: skip
    models = []
    for D in (2, 3):
        out = tmp_path / f"D{D}.nc"
        ck = tmp_path / f"D{D}.pt"
        assert main(["ppeps", "train", *common, "--D", str(D), "--chi", str(D), "--out", str(out),
                     "--checkpoint", str(ck)]) == 0  # fmt: skip
        assert ck.exists()
        models.append(str(out))
    ds = xr.open_dataset(models[0])
    assert ds.train_nll_history.sizes["epoch"] == 4 and float(ds.train_nll) < float(ds.train_nll_history[0])
    assert int(ds.parameter_count) == ds.theta.size and 0 <= float(ds.valid_fraction) <= 1
    samples = tmp_path / "s.nc"
    assert main(["ppeps", "sample", "--model", models[1], "--out", str(samples), "--n-samples", "16",
                 "--n-images", "2", "--threads", "1"]) == 0  # fmt: skip
    s = xr.open_dataset(samples)
    assert s.samples.shape == (16, 3, 3) and s.inpaint_completion.shape == (2, 4, 3, 3)
    given = s.inpaint_hidden.values == 0
    assert (s.inpaint_completion.values[:, :, given] == s.inpaint_original.values[:, None][:, :, given]).all()
    summary = tmp_path / "sum.nc"
    assert main(["ppeps", "aggregate", *models, "--out", str(summary)]) == 0
    table = xr.open_dataset(summary)
    assert list(table.D.values) == [2, 3] and list(table.chi.values) == [2, 3]  # one model per (D, chi)
    assert float(table.train_nll.sel(chi=3, D=3)) == float(xr.open_dataset(models[1]).train_nll)
    assert np.isnan(float(table.train_nll.sel(chi=2, D=3)))  # not trained
    assert main(["ppeps", "figure", "nll", str(summary), "--out", str(tmp_path / "nll.png")]) == 0
    assert main(["ppeps", "figure", "samples", str(samples), "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "nll.png").exists() and (tmp_path / "s.png").exists()
    # the samples panel names the PEPS bond D, not the Born machine's D_max
    from difftn.plots.ppeps import ppeps_samples

    titles = [ax.get_title(loc="left") for ax in ppeps_samples(s).axes]
    assert any(t.endswith("samples, D = 3") for t in titles), titles
    # the one-panel NLL figure's title fits inside the figure
    from difftn.plots.ppeps import ppeps_nll

    fig = ppeps_nll([xr.open_dataset(summary)])
    renderer = fig.canvas.get_renderer()
    box, width = fig._suptitle.get_window_extent(renderer), fig.bbox.width
    assert box.x0 >= 0 and box.x1 <= width, (box, width)


def test_bad_arguments_are_usage_errors(tmp_path, capsys):
    out = tmp_path / "x.nc"
    with pytest.raises(SystemExit, match="^2$"):  # argparse: usage error, exit code 2
        main(["ppeps", "train", "--data", "bas", "--D", "0", "--chi", "4", "--out", str(out)])
    err = capsys.readouterr().err
    assert "argument --D: must be >= 1, got 0" in err
    assert not out.exists()

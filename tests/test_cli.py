"""The difftn command: a point, aggregation, figure and info, as a user runs them."""

import numpy as np
import pytest

from difftn.cli import main
from difftn.io import read_dataset


def test_ising_point_aggregate_figure_info(tmp_path, capsys):
    points = []
    for beta in ("0.42", "0.46"):
        out = tmp_path / f"beta_{beta}.nc"
        assert main(["ising", "--beta", beta, "--chi", "6", "--steps", "12", "--threads", "1", "--out", str(out)]) == 0
        points.append(str(out))
    ds = read_dataset(points[0])
    assert float(ds.beta) == 0.42
    for name in ("lnz", "energy", "specific_heat", "lnz_exact", "energy_exact", "specific_heat_exact"):
        assert np.isfinite(float(ds[name]))
    # chi = 6, 12 steps at beta = 0.42: measured lnZ off by 8.3e-5, energy by 8.2e-4.
    assert abs(float(ds.lnz - ds.lnz_exact)) < 5e-4
    assert abs(float(ds.energy - ds.energy_exact)) < 5e-3
    for key in ("difftn_version", "git_commit", "torch_version", "device", "dtype", "parameters",
                "source_hash", "wall_time_s", "peak_memory_mb"):  # fmt: skip
        assert key in ds.attrs

    summary = tmp_path / "summary.nc"
    assert main(["aggregate", *points, "--out", str(summary), "--csv", str(tmp_path / "s.csv")]) == 0
    assert list(read_dataset(summary).beta.values) == [0.42, 0.46]
    assert (tmp_path / "s.csv").read_text().startswith("beta,")

    fig = tmp_path / "fig.png"
    assert main(["figure", "ising-fig3", str(summary), "--out", str(fig)]) == 0
    assert fig.stat().st_size > 10_000 and fig.with_suffix(".pdf").exists()

    capsys.readouterr()
    assert main(["info", points[0]]) == 0
    printed = capsys.readouterr().out
    assert "source_hash" in printed and '"chi": 6' in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ising", "--beta", "0", "--out", "x.nc"], "argument --beta: must be > 0, got 0"),
        (["ising", "--beta", "-0.4", "--out", "x.nc"], "argument --beta: must be > 0, got -0.4"),
        (["ising", "--beta", "0.4", "--chi", "0", "--out", "x.nc"], "argument --chi: must be an integer >= 1, got 0"),
        (["ising", "--beta", "0.4", "--steps", "0", "--out", "x.nc"],
         "argument --steps: must be an integer >= 1, got 0"),
        (["ising", "--beta", "0.4"], "the following arguments are required: --out"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_with_usage_error(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="^2$") as exit_info:  # str(SystemExit(2)) is "2"
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert f"difftn ising: error: {message}" in captured.err
    assert captured.out == ""
    assert not (tmp_path / "x.nc").exists()


def test_mixed_settings_are_not_aggregated(tmp_path, caplog):
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    assert main(["ising", "--beta", "0.4", "--chi", "4", "--steps", "6", "--threads", "1", "--out", str(a)]) == 0
    assert main(["ising", "--beta", "0.5", "--chi", "5", "--steps", "6", "--threads", "1", "--out", str(b)]) == 0
    caplog.clear()
    assert main(["aggregate", str(a), str(b), "--out", str(tmp_path / "s.nc")]) == 1
    assert "difftn aggregate: aggregate: files mix (chi, steps) settings" in caplog.text
    assert not (tmp_path / "s.nc").exists()

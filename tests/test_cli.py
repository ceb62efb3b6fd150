"""The difftn command: a point, aggregation, figure and info, as a user runs them; the options adapter."""

import inspect

import numpy as np
import pytest

from difftn.cli import STAGES, build_parser, main, stage_argv
from difftn.contract.ctmrg import CTMRGOptions
from difftn.infra.options import describe
from difftn.infra.io import read_dataset


def test_ising_point_aggregate_figure_info(tmp_path, capsys):
    points = []
    for beta in ("0.42", "0.46"):
        out = tmp_path / f"beta_{beta}.nc"
        assert main(["ising", "point", "--beta", beta, "--chi", "6", "--steps", "12", "--threads", "1", "--out", str(out)]) == 0
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
    assert main(["ising", "aggregate", *points, "--out", str(summary), "--csv", str(tmp_path / "s.csv")]) == 0
    assert list(read_dataset(summary).beta.values) == [0.42, 0.46]
    assert (tmp_path / "s.csv").read_text().startswith("beta,")

    fig = tmp_path / "fig.png"
    assert main(["ising", "figure", "fig3", str(summary), "--out", str(fig)]) == 0
    assert fig.stat().st_size > 10_000 and fig.with_suffix(".pdf").exists()

    capsys.readouterr()
    assert main(["info", points[0]]) == 0
    printed = capsys.readouterr().out
    assert "source_hash" in printed and '"chi": 6' in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ising", "point", "--beta", "0", "--out", "x.nc"], "argument --beta: must be > 0, got 0"),
        (["ising", "point", "--beta", "-0.4", "--out", "x.nc"], "argument --beta: must be > 0, got -0.4"),
        (["ising", "point", "--beta", "0.4", "--chi", "0", "--out", "x.nc"], "argument --chi: must be >= 1, got 0"),
        (["ising", "point", "--beta", "0.4", "--steps", "0", "--out", "x.nc"],
         "argument --steps: must be >= 1, got 0"),
        (["ising", "point", "--beta", "0.4"], "the following arguments are required: --out"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_with_usage_error(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="^2$") as exit_info:  # str(SystemExit(2)) is "2"
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert f"difftn ising point: error: {message}" in captured.err
    assert captured.out == ""
    assert not (tmp_path / "x.nc").exists()


def test_mixed_settings_are_not_aggregated(tmp_path, caplog):
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    assert main(["ising", "point", "--beta", "0.4", "--chi", "4", "--steps", "6", "--threads", "1", "--out", str(a)]) == 0
    assert main(["ising", "point", "--beta", "0.5", "--chi", "5", "--steps", "6", "--threads", "1", "--out", str(b)]) == 0
    caplog.clear()
    assert main(["ising", "aggregate", str(a), str(b), "--out", str(tmp_path / "s.nc")]) == 1
    assert "difftn ising aggregate: aggregate: files mix (chi, steps) settings" in caplog.text
    assert not (tmp_path / "s.nc").exists()


def _stages():
    return [(study, name) for study, stages in STAGES.items() for name in stages]


@pytest.mark.parametrize("study, stage", _stages())
def test_every_stage_has_a_command_whose_help_names_every_option(study, stage, capsys):
    with pytest.raises(SystemExit, match="^0$"):
        main([study, stage, "--help"])
    text = capsys.readouterr().out
    assert f"usage: difftn {study} {stage}" in text and "--out" in text
    entry = STAGES[study][stage]
    if entry.writes in ("dataset", "itself"):
        for p in describe(entry.load()):
            if not p.option.hidden:
                assert "--" + p.name.replace("_", "-") in text, p.name


def test_defaults_come_from_the_library_in_one_place():
    # The command's default is the study function's, which is the library's own default.
    from difftn.studies.heisenberg import optimize

    args = build_parser(["heisenberg", "optimize"]).parse_args(["heisenberg", "optimize", "--D", "2", "--chi", "8",
                                                                "--out", "x.nc"])  # fmt: skip
    signature = inspect.signature(optimize).parameters
    assert args.ctm_max_iter == signature["ctm_max_iter"].default == CTMRGOptions.max_iter
    assert args.ctm_tol == CTMRGOptions.tol and args.grad_mode == CTMRGOptions.grad_mode
    assert args.estimator == "plaquette" and args.checkpoint is None and args.resume is False


def test_workflow_options_become_the_same_command_line():
    # What workflow/scripts/stage.py passes parses back to the same values (floats exactly).
    options = {"beta": 0.1 + 0.2, "chi": 8, "steps": 10, "checkpoint": True, "symmetry": "none",
               "device": "cpu", "dtype": "float64", "config_hash": "abc", "unused_default": None}  # fmt: skip
    argv = stage_argv("ising point", {k: v for k, v in options.items() if k != "unused_default"}, out="p.nc",
                      threads=1)  # fmt: skip
    args = build_parser(argv).parse_args(argv)
    for key, value in options.items():
        if value is not None:
            assert getattr(args, key) == value, key
    assert args.out == "p.nc" and args.threads == 1
    figure = stage_argv("spinglass figure correlations", {}, inputs=["a.nc", "b.nc"], out="f.png")
    args = build_parser(figure).parse_args(figure)
    assert (args.name, args.inputs, args.out) == ("correlations", ["a.nc", "b.nc"], "f.png")


def test_option_bounds_are_checked_in_the_library_too():
    from difftn.studies.inverse_ising import FitSettings

    with pytest.raises(ValueError, match="chi must be >= 1, got 0"):
        FitSettings(chi=0)
    with pytest.raises(ValueError, match="L must satisfy L\\*L <= 20"):
        FitSettings(L=5)


def test_ising_correlation_length_command(tmp_path):
    out = tmp_path / "xi.nc"
    assert main(["ising", "xi", "--beta", "0.35", "--chi", "16", "--threads", "1", "--out", str(out)]) == 0
    ds = read_dataset(out)
    rel = float(ds.correlation_length / ds.correlation_length_exact) - 1
    assert -3e-2 < rel < 0  # from below; measured -2.1e-2 at chi = 16 (tests/test_correlation.py)
    assert float(ds.transfer_eigenvalues[0]) == pytest.approx(1.0, abs=1e-14)


def test_the_heap_is_frozen_only_when_the_process_exits(tmp_path):
    """``main`` skips the shutdown's collections (gc.freeze as an exit handler), and the file it wrote is whole."""
    import gc
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "point.nc"
    child = textwrap.dedent(f"""
        import atexit, gc
        atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))  # runs after main's handler
        from difftn.cli import main
        assert main(["ising", "point", "--beta", "0.42", "--chi", "4", "--steps", "4", "--threads", "1",
                     "--out", {str(out)!r}]) == 0
        assert main(["info", {str(out)!r}]) == 0
        print("frozen while running:", gc.get_freeze_count() > 0)
    """)
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "frozen while running: False" in run.stdout and "frozen at exit: True" in run.stdout
    assert float(read_dataset(out).beta) == 0.42
    assert gc.get_freeze_count() == 0  # this process (pytest) ran main above and froze nothing


def test_a_small_heisenberg_optimization_does_not_import_torch_dynamo(tmp_path):
    """torch._dynamo costs 1.0-1.4 s to import: a fifth of a whole D = 2, chi = 30 run.

    torch.optim's optimizers and torch.utils.checkpoint import it on first use;
    difftn's L-BFGS is its own (methods.lbfgs), and the fixed-point mode's
    fallback at D = 2 (no element-wise fixed point at the random start) is an
    unrolled run.  Measured on an AMD EPYC: the first evaluation here falls back
    (its corner spectrum ends at rounding level), so both paths are covered there.
    """
    import subprocess
    import sys
    import textwrap

    child = textwrap.dedent(f"""
        import sys
        from difftn.cli import main
        assert main(["heisenberg", "optimize", "--D", "2", "--chi", "30", "--max-iter", "2", "--threads", "1",
                     "--out", {str(tmp_path / "d2.nc")!r}]) == 0
        print("dynamo imported:", "torch._dynamo" in sys.modules)
    """)
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "dynamo imported: False" in run.stdout

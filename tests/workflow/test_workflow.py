"""The Snakemake workflow: dry runs, config validation, and one tiny real run."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from support import REPO, TINY, job_counts, snakemake

from difftn.infra.io import read_dataset
from difftn.models import ising


@pytest.mark.parametrize(
    "configfile, n_points, n_born, n_ppeps, spinglass",
    [
        # spin glass: points (L x seeds x chi), exact references (L <= 16), inverse-Ising N, design
        ("config.yaml", 15, 6, (2, 1), (2 * 1 * 4, 2, 4, 1)),
        ("workflow/configs/paper.yaml", 57, 12, (6, 2), (4 * 5 * 7, 3 * 5, 9, 1)),
    ],
)
def test_dry_run(tmp_path, configfile, n_points, n_born, n_ppeps, spinglass):
    run = snakemake(tmp_path, "-n", "--configfile", str(REPO / configfile))
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    assert counts["ising_point"] == n_points
    assert counts["born_train"] == n_born  # one per data set x D_max
    assert counts["born_sample"] == 2  # the largest D_max of each data set
    assert (counts["ppeps_train"], counts["ppeps_sample"]) == n_ppeps  # data set x D; the largest D of each
    names = ("spinglass_point", "spinglass_exact", "inverse_ising_samples", "design")
    assert tuple(counts[k] for k in names) == spinglass


def test_fig4_cpu_config_plans_d2_to_d5_from_independent_starts(tmp_path):
    # An overlay merged after config.yaml: only the Heisenberg section and the threads per job
    # (one, so that --cores 2 runs two D side by side) change, and the Fig. 4 target plans
    # D = 2..5 (D = 5 at chi = 64), each from its own random start, nothing else.
    configfile = REPO / "workflow/configs/fig4-cpu.yaml"
    cfg = yaml.safe_load(configfile.read_text())
    assert set(cfg) == {"heisenberg", "threads"} and cfg["threads"] == 1
    assert cfg["heisenberg"]["D"] == [2, 3, 4, 5] and cfg["heisenberg"]["chi"] == [30, 50, 80, 64]
    # the target first: --configfile takes a list, merged in order
    run = snakemake(tmp_path, "-n", "--cores", "2", "results/figures/heisenberg_fig4.png", "--configfile",
                    str(REPO / "config.yaml"), str(configfile))  # fmt: skip
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    assert counts["heisenberg_optimize"] == 4
    assert "ising_point" not in counts and "born_train" not in counts
    for D, chi in zip((2, 3, 4, 5), (30, 50, 80, 64)):
        assert f"results/heisenberg/D{D}_chi{chi}/state.nc" in run.stdout
    # random starts: no optimization waits for another D's state
    assert set(_optimize_inputs(run.stdout).values()) == {""}
    assert "threads: 2" not in run.stdout  # with --cores 2, the dry run names a job's threads above 1


def test_several_starts_run_in_one_job_that_keeps_the_lowest(tmp_path):
    # heisenberg.starts: each start's iterations in its own progress file, state.nc the lowest.
    cfg = _with(("heisenberg", "init"), "random")
    cfg["heisenberg"].update(D=[2], chi=[8], measure_chi=[0], starts=[2])
    state = "results/heisenberg/D2_chi8/state.nc"
    run = snakemake(tmp_path, "--cores", "1", config=cfg, targets=[state])
    assert run.returncode == 0, run.stderr[-3000:]
    kept = read_dataset(tmp_path / state)
    progress = {s: read_dataset(tmp_path / f"results/heisenberg/D2_chi8/progress.seed{s}.nc") for s in (0, 1)}
    energies = {s: float(p.energy.values[-1]) for s, p in progress.items()}
    assert energies[0] != energies[1]  # two random starts after 4 iterations: ~1e-3 apart
    assert int(kept.attrs["kept_seed"]) == min(energies, key=energies.get)
    assert float(kept.energy.values[-1]) == min(energies.values())


def test_published_init_starts_each_d_from_the_packaged_state_below(tmp_path):
    # D = 2 (no packaged D = 1): random; D = 3, 6: the packaged D = 2, 5 states; D = 7 (no packaged 6): chain
    cfg = _with(("heisenberg", "init"), "published")
    cfg["heisenberg"].update(D=[2, 3, 6, 7], chi=[4, 4, 4, 4], measure_chi=[0, 0, 0, 0])
    run = snakemake(tmp_path, "-n", config=cfg,
                    targets=[f"results/heisenberg/D{D}_chi4/state.nc" for D in (2, 3, 6, 7)])  # fmt: skip
    assert run.returncode == 0, run.stderr
    packaged = REPO / "src/difftn/data/ipeps_states"
    assert _optimize_inputs(run.stdout) == {
        "results/heisenberg/D2_chi4/state.nc": "",
        "results/heisenberg/D3_chi4/state.nc": str(packaged / "j20.0_state_1s_A1_j20.0_D2_chi_opt48.json"),
        "results/heisenberg/D6_chi4/state.nc": str(packaged / "j20.0_state_1s_A1_j20.0_D5_chi_opt200.json"),
        "results/heisenberg/D7_chi4/state.nc": "results/heisenberg/D6_chi4/state.nc",
    }


def test_ppeps_trains_one_model_per_d_and_chi(tmp_path):
    cfg = _with(("ppeps", "bas", "chi"), [2, 4])
    targets = ["results/ppeps/bas/summary.nc", "results/figures/ppeps_samples_bas.png"]
    run = snakemake(tmp_path, "-n", config=cfg, targets=targets)
    assert run.returncode == 0, run.stderr
    assert job_counts(run.stdout)["ppeps_train"] == 4  # D = 2, 3 x chi = 2, 4
    assert "results/ppeps/bas/D3_chi4/samples.nc" in run.stdout  # the largest D at the largest chi


def test_paper_config_matches_the_paper():
    cfg = yaml.safe_load((REPO / "workflow/configs/paper.yaml").read_text())["ising"]
    from difftn.studies.ising import beta_grid

    betas = np.array(beta_grid(cfg["beta"], cfg["decimals"]))
    assert cfg["chi"] == [30] and cfg["steps"] == 30
    assert len(betas) >= 51 and betas.min() <= 0.35 and betas.max() >= 0.55
    near = np.abs(betas - ising.BETA_C) < 0.01
    assert np.diff(betas[near]).max() < np.diff(betas[~near]).min() + 1e-12  # denser near beta_c


def _optimize_inputs(stdout):
    """Output -> input ("" for none) of each heisenberg_optimize job in a dry run's listing."""
    jobs = {}
    for block in stdout.split("rule heisenberg_optimize:")[1:]:
        head = block.split("reason: ")[0]  # the job's own lines; no blank line separates jobs
        output = head.split("output: ")[1].split()[0]
        jobs[output] = head.split("input: ")[1].split("\n")[0] if "input: " in head else ""
    return jobs


def _with(path, value):
    """TINY with the config entry at ``path`` (a tuple of keys) replaced by ``value``."""
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return cfg


@pytest.mark.parametrize(
    "config, field",
    [
        (_with(("ising", "chi"), [0]), "chi"),
        (_with(("ising", "steps"), 0), "steps"),
        (_with(("ising", "beta"), [{"start": 0.0, "stop": 0.4, "num": 3}]), "start"),
        (_with(("ising", "beta"), [{"start": -0.3, "stop": 0.4, "num": 3}]), "start"),
        (_with(("ising", "beta"), [{"start": 0.5, "stop": 0.4, "num": 3}]), "ising.beta[0]"),
        (_with(("ising", "beta"), [{"start": 0.4, "num": 3}]), "stop"),
        (_with(("ising", "temperature"), 2.0), "temperature"),
        (_with(("threads",), 0), "threads"),
        (_with(("heisenberg", "chi"), [8]), "heisenberg.chi"),
        (_with(("heisenberg", "starts"), [3]), "heisenberg.starts"),
        (_with(("heisenberg", "starts"), [1, 0]), "heisenberg.starts[1]"),
        (_with(("heisenberg", "ctmrg"), {"tol": 1e-9, "max_iter": 100, "grad_mode": "exact"}), "grad_mode"),
        (_with(("heisenberg", "D"), [0, 2]), "D"),
        (_with(("j1j2", "chi"), [4, 8]), "j1j2.chi"),
        (_with(("j1j2", "J2"), [0.5, 1e-5]), "j1j2.J2[1]"),
        (_with(("born", "bas", "max_bond"), [0, 4]), "max_bond"),
        (_with(("born", "digits", "test_fraction"), 1.0), "test_fraction"),
        (_with(("born", "bas", "train", "cutoff"), 1.5), "cutoff"),
        (_with(("born", "figure", "hide"), "middle"), "hide"),
        (_with(("ppeps", "bas", "D"), [0, 2]), "D"),
        (_with(("ppeps", "bas", "rows"), 4), "ppeps.bas.rows"),  # not the Born machine's data
        (_with(("ppeps", "bas", "chi"), [0, 4]), "chi"),
        (_with(("spinglass", "chi"), [0]), "chi"),
        (_with(("spinglass", "exact_max_L"), 20), "exact_max_L"),
        (_with(("inverse_ising", "L"), 5), "L"),
        (_with(("inverse_ising", "method"), "exact"), "method"),
        (_with(("design", "low"), 2.0), "design.low"),
        (_with(("correlation", "heisenberg", "D"), [6]), "correlation.heisenberg.D"),  # no packaged state
        (_with(("correlation", "ising", "beta"), [{"start": 0.5, "stop": 0.4, "num": 2}]), "correlation.ising.beta"),
    ],
    ids=["chi<1", "steps<1", "beta=0", "beta<0", "start>stop", "missing-stop", "unknown-key", "threads<1",
         "chi-per-D", "starts-per-D", "starts<1", "grad-mode", "D<1", "j1j2-chi-per-D", "j1j2-J2-not-decimal",
         "born-Dmax<1", "born-test-fraction", "born-cutoff", "born-hide",
         "ppeps-D<1", "ppeps-rows-not-born's", "ppeps-chi<1",
         "sg-chi<1", "sg-exact-L", "inverse-L", "inverse-method", "design-low>high", "xi-D", "xi-beta"],  # fmt: skip
)
def test_bad_config_is_rejected_before_any_job(tmp_path, config, field):
    run = snakemake(tmp_path, "-n", config=config)
    assert run.returncode != 0
    message = run.stdout + run.stderr
    assert field in message and "config field" in message, message
    assert not (tmp_path / "results").exists()


def test_a_section_the_schema_file_lacks_is_checked_against_config_yaml(tmp_path):
    # A new study's section, before its schema is written: its keys and the types of
    # config.yaml's defaults are enforced (common.smk, _config_schema).
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Snakefile", "workflow", "envs"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, repo / name)
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())
    defaults["toy"] = {"n": 3, "rates": [0, 0.5], "grid": [{"start": 0.1, "num": 2}], "mode": "fast"}
    (repo / "config.yaml").write_text(yaml.safe_dump(defaults))

    def dry_run(toy):
        (repo / "overlay.yaml").write_text(yaml.safe_dump({"toy": toy}))
        return subprocess.run([sys.executable, "-m", "snakemake", "results/figures/ising_fig3.png", "-n", "-d", str(repo),
                               "-s", str(repo / "Snakefile"), "--configfile", str(repo / "overlay.yaml")],
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    good = dry_run({"n": 5, "rates": [1, 0.25, 2], "grid": [{"start": 0.2, "num": 4}], "mode": "slow"})
    assert good.returncode == 0, good.stderr
    for toy, field in [
        ({"n": 2.5}, "toy.n"),  # an integer default
        ({"rates": ["fast"]}, "toy.rates[0]"),
        ({"grid": [{"start": 0.2}]}, "toy.grid[0]"),  # num missing
        ({"mode": "slow", "modes": "slow"}, "toy"),  # an unknown key
    ]:
        run = dry_run(toy)
        message = run.stdout + run.stderr
        assert run.returncode != 0 and f"config field {field}" in message and "inferred from config.yaml" in message, (
            toy, message)  # fmt: skip


def test_tiny_run_writes_sane_results(tiny_run):
    tmp_path = tiny_run
    run_dir = tmp_path / "results/ising/chi6_steps12"
    for beta in ("0.400", "0.440", "0.480"):
        point = read_dataset(run_dir / f"beta_{beta}.nc")
        assert float(point.beta) == float(beta)
        assert point.attrs["chi"] == 6 and point.attrs["steps"] == 12
        assert point.attrs["source_hash"] and point.attrs["git_commit"]
    summary = read_dataset(run_dir / "summary.nc")
    assert list(summary.beta.values) == [0.40, 0.44, 0.48]
    # chi = 6 is crude; these bounds are what it reaches with margin and fail for
    # a wrong sign, factor or derivative order.  Measured |E error| 1.0e-3, 1.6e-2,
    # 5.0e-4 at beta = 0.40, 0.44, 0.48; |lnZ error| <= 1.3e-4; C off beta_c 3.1e-3, 1.7e-3.
    energy_error = np.abs(summary.energy - summary.energy_exact)
    assert np.all(energy_error.sel(beta=[0.40, 0.48]) < 5e-3) and float(energy_error.sel(beta=0.44)) < 0.05
    assert np.all(np.abs(summary.lnz - summary.lnz_exact) < 1e-3)
    off_critical = summary.sel(beta=[0.40, 0.48])
    assert np.all(np.abs(off_critical.specific_heat / off_critical.specific_heat_exact - 1) < 0.02)
    csv = (run_dir / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("beta,") and len(csv) == 4
    for ext in ("png", "pdf"):
        figure = tmp_path / f"results/figures/ising_fig3.{ext}"
        assert figure.stat().st_size > 10_000
    assert (tmp_path / "results/benchmarks/ising/chi6_steps12/beta_0.440.tsv").exists()
    heis = read_dataset(tmp_path / "results/heisenberg/summary.nc")
    assert list(heis.D.values) == [1, 2]
    # D = 1 (real tensor) is the Neel product state, E = -1/2, m = 1/2, whatever
    # the start (measured exact to the last digit).
    assert float(heis.energy.sel(D=1)) == pytest.approx(-0.5, abs=1e-14)
    assert float(heis.magnetization.sel(D=1)) == pytest.approx(0.5, abs=1e-14)
    # D = 2 chained from D = 1, 4 iterations: above the exact ground state (QMC
    # -0.66944) and within 1e-5 of the D = 2 optimum -0.6602310935 (measured
    # -0.66022966, 1.4e-6 above it).
    assert -0.669442 < float(heis.energy.sel(D=2)) < -0.6602311 + 1e-5
    assert int(heis.chi.sel(D=2)) == 10
    for ext in ("png", "pdf"):
        assert (tmp_path / f"results/figures/heisenberg_fig4.{ext}").stat().st_size > 10_000
    # Born machine: 3x3 bars and stripes at D_max = 8 = 2^3 is learned exactly (NLL ln 14).
    bas = read_dataset(tmp_path / "results/born/bas/summary.nc")
    assert list(bas.max_bond.values) == [2, 8]
    # An NLL cannot go below ln(#patterns); measured 1.7e-11 above it.
    assert np.log(14) - 1e-9 <= float(bas.train_nll.sel(max_bond=8)) <= np.log(14) + 2e-10
    assert float(bas.valid_fraction.sel(max_bond=8)) > 0.99 and int(bas.distinct_patterns.sel(max_bond=8)) == 14
    assert float(bas.train_nll.sel(max_bond=2)) > np.log(14) + 0.3
    digits = read_dataset(tmp_path / "results/born/digits/summary.nc")
    assert float(digits.test_nll.sel(max_bond=2)) < float(digits.baseline_test_nll) - 1.0  # measured 23.3 vs 25.2
    model = read_dataset(tmp_path / "results/born/bas/Dmax8/model.nc")
    assert model.attrs["source_hash"] and list(model.bond_dimension.values)[0] == 1
    for name in ("born_nll", "born_samples_bas", "born_samples_digits"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"results/figures/{name}.{ext}").stat().st_size > 10_000
    assert (tmp_path / "results/benchmarks/born/bas/Dmax8/train.tsv").exists()
    # Positive PEPS on the Born machine's 3x3 bars and stripes, exact contraction (chi 4 >= D^1).
    pp = read_dataset(tmp_path / "results/ppeps/bas/summary.nc")
    assert list(pp.D.values) == [2, 3] and list(pp.chi.values) == [4]
    nll = pp.train_nll.sel(chi=4).values
    # Gibbs: no model's NLL on all 14 patterns is below ln 14 (2.64); training beats independent pixels
    # (6.24): measured 4.55 (D = 2) and 3.38 (D = 3) after 20 epochs
    assert np.all(nll >= np.log(14) - 1e-9) and np.all(nll < float(pp.baseline_train_nll) - 0.5)
    assert nll[1] < nll[0]  # D = 3 learns more than D = 2 (measured 1.17 lower)
    model = read_dataset(tmp_path / "results/ppeps/bas/D3_chi4/model.nc")
    assert model.attrs["source_hash"] and model.sizes["parameter"] == int(pp.parameter_count.sel(chi=4, D=3))
    assert list((tmp_path / "results/ppeps/bas/D3_chi4").glob("state-*.pt"))  # the resumable state, beside the model
    samples = read_dataset(tmp_path / "results/ppeps/bas/D3_chi4/samples.nc")
    assert samples.sizes["sample"] == 16 and set(np.unique(samples.samples.values)) <= {0, 1}
    for name in ("ppeps_nll", "ppeps_samples_bas"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"results/figures/{name}.{ext}").stat().st_size > 10_000
    assert (tmp_path / "results/benchmarks/ppeps/bas/D3_chi4/train.tsv").exists()
    # Spin glass: chi = 2 = 2^(3//2) is exact on 3 x 3 (fields included); chi = 1 is not.
    sg = read_dataset(tmp_path / "results/spinglass/summary.nc").sel(L=3, seed=0)
    # measured 1.8e-15 and 1.2e-15: rounding
    assert abs(float(sg.lnz_error.sel(chi=2))) < 2e-14 and float(sg.correlation_error.sel(chi=2)) < 2e-14
    assert abs(float(sg.lnz_error.sel(chi=1))) > 1e-4 and int(sg.reference_exact) == 1
    inverse = read_dataset(tmp_path / "results/inverse_ising/L3_seed0/summary.nc")
    assert float(inverse.exact_max_error) < 1e-7  # measured 8.9e-9
    assert float(inverse.rms_error.sel(N=50000)) < float(inverse.rms_error.sel(N=500)) / 4
    fidelity = float(read_dataset(tmp_path / "results/design/sites3_seed0.nc").fidelity)
    assert 1 - 1e-13 <= fidelity <= 1 + 1e-15  # measured 1 - 7e-16
    for name in ("spinglass_convergence", "spinglass_correlations", "inverse_ising_recovery"):
        assert (tmp_path / f"results/figures/{name}.png").stat().st_size > 10_000
    assert (tmp_path / "results/benchmarks/spinglass/L3_seed0/chi2.tsv").exists()
    # Correlation lengths: Ising xi below exact on both sides of beta_c at chi = 4 (measured -0.075 at
    # beta 0.3, -0.139 at 0.6); the packaged D = 2 state at chi 4 and 8.
    xi = read_dataset(tmp_path / "results/correlation/ising/summary.nc").sel(chi=4)
    assert list(xi.beta.values) == [0.3, 0.6] and np.all((xi.relative_error < 0) & (xi.relative_error > -0.3))
    published = read_dataset(tmp_path / "results/correlation/heisenberg/summary.nc")
    assert list(published.D.values) == [2] and list(published.chi.values) == [4, 8]
    for name in ("correlation_ising", "correlation_heisenberg"):
        assert (tmp_path / f"results/figures/{name}.png").stat().st_size > 10_000
    # A second invocation has nothing to do.
    again = snakemake(tmp_path, "-n", config=TINY)
    assert "Nothing to be done" in again.stdout + again.stderr

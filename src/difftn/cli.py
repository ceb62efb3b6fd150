"""The ``difftn`` command: every workflow stage as a plain command.

    difftn ising --beta 0.44 --chi 30 --steps 30 --out point.nc
    difftn aggregate --out summary.nc --csv summary.csv point1.nc point2.nc ...
    difftn figure ising-fig3 --out fig3.png summary.nc [...]
    difftn heisenberg optimize --D 2 --chi 30 --out state.nc [--init smaller.nc] [--resume]
    difftn heisenberg measure --state state.nc --chi 40 --out obs.nc [--estimator plaquette|bond]
    difftn heisenberg measure --state published.json --chi 40 --out obs.nc
    difftn born train --data bas --max-bond 16 --out model.nc
    difftn born sample --model model.nc --out samples.nc
    difftn born aggregate --out summary.nc --csv summary.csv model1.nc model2.nc ...
    difftn born figure nll --out nll.png summary1.nc [...]   |   born figure samples --out s.png samples.nc
    difftn ppeps train --data bas --D 2 --chi 8 --out model.nc [--checkpoint state.pt]
    difftn ppeps sample --model model.nc --out samples.nc
    difftn ppeps aggregate --out summary.nc --csv summary.csv model1.nc model2.nc ...
    difftn ppeps figure nll --out nll.png summary.nc [--born born_summary.nc]   |   ppeps figure samples ...
    difftn spinglass point --L 16 --chi 32 --seed 0 --out point.nc
    difftn spinglass exact --L 16 --seed 0 --out exact.nc
    difftn spinglass aggregate --out summary.nc --csv summary.csv point.nc exact.nc ...
    difftn inverse-ising exact --L 4 --seed 0 --out exact.nc
    difftn inverse-ising samples --N 1000 --L 4 --seed 0 --out N1000.nc
    difftn inverse-ising aggregate --out summary.nc exact.nc N1000.nc ...
    difftn design --sites 6 --seed 0 --out design.nc
    difftn info FILE.nc
"""

import argparse
import json
import logging
import os
import sys

__all__ = ["main"]

log = logging.getLogger("difftn")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _nonnegative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _nonnegative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _add_runtime_args(p, device="auto"):
    from .runtime import DEVICES, DTYPES

    p.add_argument("--device", choices=DEVICES, default=device, help="auto: CUDA if present, else CPU")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    p.add_argument("--threads", type=_positive_int, default=len(os.sched_getaffinity(0)), help="torch CPU threads")


def _add_ctm_args(p, max_iter):
    """CTMRG tolerance and cap, provenance hash and runtime options of the Heisenberg stages."""
    p.add_argument("--ctm-tol", type=_positive_float, default=1e-10, help="CTMRG tolerance: largest change of the half-row density matrix and the sorted corner spectrum in one step")
    p.add_argument("--ctm-max-iter", type=_positive_int, default=max_iter, help="CTMRG iteration cap")
    p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
    _add_runtime_args(p)


def _cmd_ising(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import ising

    set_threads(args.threads)
    ds = ising.compute_point(
        args.beta,
        args.chi,
        args.steps,
        checkpoint=args.checkpoint,
        symmetry=args.symmetry,
        device=args.device,
        dtype=args.dtype,
        config_hash=args.config_hash,
    )
    write_dataset(ds, args.out)
    log.info(
        "beta=%s chi=%d steps=%d: lnZ=%.12f (err %.1e) E=%.10f (err %.1e) C=%.6f (rel err %.1e) in %.1f s, %.0f MB",
        args.beta, args.chi, args.steps,
        ds.lnz, ds.lnz - ds.lnz_exact, ds.energy, ds.energy - ds.energy_exact,
        ds.specific_heat, ds.specific_heat / ds.specific_heat_exact - 1,
        ds.attrs["wall_time_s"], ds.attrs["peak_memory_mb"],
    )  # fmt: skip


def _cmd_aggregate(args):
    from .io import write_table
    from .studies import ising

    ds = ising.aggregate(args.inputs)
    write_table(ds, args.out, args.csv)
    log.info("aggregated %d points into %s", ds.sizes["beta"], args.out)


def _cmd_figure(args):
    from . import plots_spinglass
    from .io import read_dataset
    from .plots import ising_fig3, save_figure

    datasets = [read_dataset(p) for p in args.inputs]
    if args.name == "ising-fig3":
        fig = ising_fig3(datasets)
    elif args.name == "spinglass-correlations":
        fig = plots_spinglass.spinglass_correlations(datasets)
    else:
        if len(datasets) != 1:
            raise ValueError(f"figure {args.name} takes one aggregated file, got {len(datasets)}")
        draw = {"spinglass-convergence": plots_spinglass.spinglass_convergence,
                "inverse-ising-recovery": plots_spinglass.inverse_ising_recovery}[args.name]  # fmt: skip
        fig = draw(datasets[0])
    paths = save_figure(fig, args.out)
    log.info("wrote %s", ", ".join(map(str, paths)))


def _ctm_args(args) -> dict:
    return {"tol": args.ctm_tol, "max_iter": args.ctm_max_iter, "grad_mode": args.grad_mode}


def _cmd_heisenberg_optimize(args):
    from .runtime import set_threads
    from .studies import heisenberg

    set_threads(args.threads)
    lbfgs = {"max_iter": args.max_iter, "history_size": args.history_size, "tolerance_grad": args.tol_grad}
    ds = heisenberg.optimize(
        args.D, args.chi, args.out, init=args.init, resume=args.resume, seed=args.seed, noise=args.noise,
        ctm=_ctm_args(args), estimator=args.estimator, lbfgs=lbfgs, device=args.device, dtype=args.dtype,
        config_hash=args.config_hash, progress=not args.quiet,
    )  # fmt: skip
    log.info("D=%d chi=%d: E=%.10f m=%.6f after %d iterations (%s) -> %s", args.D, args.chi,
             ds.energy.values[-1], ds.magnetization.values[-1], ds.attrs["iteration"], ds.attrs["stop_reason"],
             args.out)  # fmt: skip


def _cmd_heisenberg_measure(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import heisenberg

    set_threads(args.threads)
    ctm = {"tol": args.ctm_tol, "max_iter": args.ctm_max_iter}
    ds = heisenberg.measure(args.state, args.chi, ctm=ctm, estimator=args.estimator, device=args.device,
                            dtype=args.dtype, config_hash=args.config_hash)  # fmt: skip
    write_dataset(ds, args.out)
    log.info("D=%d chi=%d: E=%.10f (rel. err. vs QMC %.3e), m=%.6f -> %s", int(ds.D), args.chi, float(ds.energy),
             float(ds.energy_relative_error), float(ds.magnetization), args.out)  # fmt: skip


def _cmd_born_train(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import born

    set_threads(args.threads)
    if args.data == "bas":
        settings = {"rows": args.rows, "cols": args.cols}
    else:
        settings = {"threshold": args.threshold, "test_fraction": args.test_fraction, "split_seed": args.split_seed}
    train = {"sweeps": args.sweeps, "learning_rate": args.learning_rate, "cutoff": args.cutoff,
             "steps_per_bond": args.steps_per_bond, "max_halvings": args.max_halvings, "init_bond": args.init_bond}
    ds = born.train_point(args.data, args.max_bond, settings, train, seed=args.seed, n_samples=args.samples,
                          device=args.device, dtype=args.dtype, config_hash=args.config_hash)
    write_dataset(ds, args.out)
    extra = f", test {float(ds.test_nll):.4f}" if "test_nll" in ds else ""
    if "valid_fraction" in ds:
        extra += f", {float(ds.valid_fraction):.2%} valid samples, {int(ds.distinct_patterns)} distinct patterns"
    log.info("%s Dmax=%d: NLL train %.6f%s (independent pixels %.4f), largest bond %d, %.1f s -> %s", args.data,
             args.max_bond, float(ds.train_nll), extra, float(ds.baseline_train_nll), int(ds.bond_dimension.max()),
             ds.attrs["wall_time_s"], args.out)  # fmt: skip


def _cmd_born_sample(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import born

    set_threads(args.threads)
    ds = born.sample_point(args.model, n_samples=args.samples, n_images=args.images, completions=args.completions,
                           hide=args.hide, seed=args.seed, device=args.device)  # fmt: skip
    write_dataset(ds, args.out)
    log.info("%d samples, %d x %d inpaintings -> %s", ds.sizes["sample"], ds.sizes["image"], ds.sizes["completion"],
             args.out)  # fmt: skip


def _cmd_born_aggregate(args):
    from .io import write_table
    from .studies import born

    ds = born.aggregate(args.inputs)
    write_table(ds, args.out, args.csv)
    log.info("aggregated %d bond dimensions into %s", ds.sizes["max_bond"], args.out)


def _cmd_born_figure(args):
    from .io import read_dataset
    from .plots import save_figure
    from .plots_born import born_nll, born_samples

    data = [read_dataset(p) for p in args.inputs]
    if args.name == "nll":
        fig = born_nll(data)
    else:
        if len(data) != 1:
            raise ValueError("born figure samples: give exactly one samples file")
        fig = born_samples(data[0])
    log.info("wrote %s", ", ".join(map(str, save_figure(fig, args.out))))

def _cmd_ppeps_train(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import ppeps

    set_threads(args.threads)
    if args.data == "bas":
        settings = {"rows": args.rows, "cols": args.cols}
    else:
        settings = {"threshold": args.threshold, "test_fraction": args.test_fraction, "split_seed": args.split_seed}
    train = {"epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
             "optimizer": args.optimizer, "lr_decay": args.lr_decay, "init_scale": args.init_scale}
    ds = ppeps.train_point(args.data, args.D, args.chi, settings, train, seed=args.seed, n_samples=args.samples,
                           checkpoint=args.checkpoint, progress=not args.no_progress, device=args.device,
                           dtype=args.dtype, config_hash=args.config_hash)
    write_dataset(ds, args.out)
    extra = f", test {float(ds.test_nll):.4f}" if "test_nll" in ds else ""
    if "valid_fraction" in ds:
        extra += f", {float(ds.valid_fraction):.2%} valid samples"
    log.info("%s D=%d chi=%d (%d parameters): NLL train %.6f%s (independent pixels %.4f), %.1f s -> %s", args.data,
             args.D, args.chi, int(ds.parameter_count), float(ds.train_nll), extra, float(ds.baseline_train_nll),
             ds.attrs["wall_time_s"], args.out)  # fmt: skip


def _cmd_ppeps_sample(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import ppeps

    set_threads(args.threads)
    ds = ppeps.sample_point(args.model, n_samples=args.samples, n_images=args.images, completions=args.completions,
                            hide=args.hide, seed=args.seed, device=args.device)  # fmt: skip
    write_dataset(ds, args.out)
    log.info("%d samples, %d x %d inpaintings -> %s", ds.sizes["sample"], ds.sizes["image"], ds.sizes["completion"],
             args.out)  # fmt: skip


def _cmd_ppeps_aggregate(args):
    from .io import write_table
    from .studies import ppeps

    ds = ppeps.aggregate(args.inputs)
    write_table(ds, args.out, args.csv)
    log.info("aggregated %d bond dimensions into %s", ds.sizes["D"], args.out)


def _cmd_ppeps_figure(args):
    from .io import read_dataset
    from .plots import save_figure
    from .plots_ppeps import ppeps_nll, ppeps_samples

    data = [read_dataset(p) for p in args.inputs]
    if args.name == "nll":
        fig = ppeps_nll(data, born=[read_dataset(p) for p in args.born])
    else:
        if len(data) != 1:
            raise ValueError("ppeps figure samples: give exactly one samples file")
        fig = ppeps_samples(data[0])
    log.info("wrote %s", ", ".join(map(str, save_figure(fig, args.out))))

def _cmd_spinglass_point(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import spinglass

    set_threads(args.threads)
    ds = spinglass.compute_point(args.L, args.chi, args.seed, coupling_std=args.coupling_std,
                                 field_std=args.field_std, cutoff=args.cutoff, device=args.device,
                                 dtype=args.dtype, config_hash=args.config_hash)  # fmt: skip
    write_dataset(ds, args.out)
    log.info("L=%d seed=%d chi=%d: lnZ=%.12f, truncation %.2e -> %s", args.L, args.seed, args.chi, float(ds.lnz),
             float(ds.truncation_error), args.out)  # fmt: skip


def _cmd_spinglass_exact(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import spinglass

    set_threads(args.threads)
    ds = spinglass.compute_exact(args.L, args.seed, coupling_std=args.coupling_std, field_std=args.field_std,
                                 device=args.device, dtype=args.dtype, config_hash=args.config_hash)  # fmt: skip
    write_dataset(ds, args.out)
    log.info("L=%d seed=%d: exact lnZ=%.12f -> %s", args.L, args.seed, float(ds.lnz), args.out)


def _cmd_spinglass_aggregate(args):
    from .io import write_table
    from .studies import spinglass

    ds = spinglass.aggregate(args.inputs)
    write_table(ds, args.out, args.csv)
    log.info("aggregated %d L x %d seeds x %d chi into %s", ds.sizes["L"], ds.sizes["seed"], ds.sizes["chi"], args.out)


def _quiet_optimizer():
    """One log line per fit, not one per L-BFGS iteration."""
    logging.getLogger("difftn.optimize").setLevel(logging.WARNING)


def _inverse_kwargs(args) -> dict:
    return dict(coupling_std=args.coupling_std, method=args.method, chi=args.chi, tolerance_grad=args.tol_grad,
                max_iter=args.max_iter, device=args.device, dtype=args.dtype, config_hash=args.config_hash)  # fmt: skip


def _cmd_inverse_exact(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import inverse_ising

    set_threads(args.threads)
    _quiet_optimizer()
    ds = inverse_ising.compute_exact_point(args.L, args.seed, **_inverse_kwargs(args))
    write_dataset(ds, args.out)
    log.info("exact moments: max coupling error %.3e, Cramer-Rao rms %.4f -> %s", float(ds.max_error),
             float(ds.cramer_rao_rms), args.out)  # fmt: skip


def _cmd_inverse_samples(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import inverse_ising

    set_threads(args.threads)
    _quiet_optimizer()
    ds = inverse_ising.compute_samples_point(args.N, args.L, args.seed, repeats=args.repeats,
                                             sample_seed=args.sample_seed, **_inverse_kwargs(args))  # fmt: skip
    write_dataset(ds, args.out)
    log.info("N=%d: rms coupling error %.3e (mean of %d) -> %s", args.N, float(ds.rms_error.mean()), args.repeats,
             args.out)  # fmt: skip


def _cmd_inverse_aggregate(args):
    from .io import write_table
    from .studies import inverse_ising

    ds = inverse_ising.aggregate(args.inputs)
    write_table(ds, args.out, args.csv)
    log.info("recovery error against N: slope %.3f -> %s", ds.attrs["slope"], args.out)


def _cmd_design(args):
    from .io import write_dataset
    from .runtime import set_threads
    from .studies import design

    set_threads(args.threads)
    _quiet_optimizer()
    ds = design.compute(args.sites, args.seed, low=args.low, high=args.high, max_iter=args.max_iter,
                        tolerance_grad=args.tol_grad, device=args.device, dtype=args.dtype,
                        config_hash=args.config_hash)  # fmt: skip
    write_dataset(ds, args.out)
    log.info("design sites=%d seed=%d: fidelity %.12f (start %.6f) after %d iterations -> %s", args.sites, args.seed,
             float(ds.fidelity), float(ds.initial_fidelity), ds.sizes["iteration"], args.out)  # fmt: skip


def _cmd_info(args):
    from .io import read_dataset

    ds = read_dataset(args.file)
    for key, value in ds.attrs.items():
        if key == "parameters":
            value = json.dumps(json.loads(value))
        print(f"{key:>22}: {value}")
    print(f"{'variables':>22}: {', '.join(ds.data_vars)}")
    print(f"{'dimensions':>22}: {dict(ds.sizes) or 'scalar point'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="difftn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ising", help="2D Ising point: lnZ, energy, specific heat by TRG + AD")
    p.add_argument("--beta", type=_positive_float, required=True, help="inverse temperature (> 0)")
    p.add_argument("--chi", type=_positive_int, default=30, help="TRG bond dimension cutoff")
    p.add_argument("--steps", type=_positive_int, default=30, help="TRG coarse-graining steps")
    p.add_argument("--checkpoint", action="store_true", help="recompute each TRG step in the backward")
    p.add_argument("--symmetry", choices=["z2", "none"], default="z2", help="z2: block SVDs (faster); none: dense")
    p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, help="output NetCDF file")
    _add_runtime_args(p)
    p.set_defaults(func=_cmd_ising)

    p = sub.add_parser("aggregate", help="stack Ising point files along beta")
    p.add_argument("inputs", nargs="+", help="point NetCDF files of one (chi, steps)")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--csv", help="also write this CSV table")
    p.set_defaults(func=_cmd_aggregate)

    p = sub.add_parser("figure", help="draw a figure from aggregated results")
    p.add_argument("name", choices=["ising-fig3", "spinglass-convergence", "spinglass-correlations",
                                    "inverse-ising-recovery"])  # fmt: skip
    p.add_argument("inputs", nargs="+", help="aggregated NetCDF files (spinglass-correlations: the point and "
                   "exact files of one instance)")  # fmt: skip
    p.add_argument("--out", required=True, help="PNG file; a PDF is written beside it")
    p.set_defaults(func=_cmd_figure)

    from .ctmrg import GRAD_MODES
    from .ipeps import ESTIMATORS

    heis = sub.add_parser("heisenberg", help="Heisenberg iPEPS: optimize a state, measure it")
    hsub = heis.add_subparsers(dest="stage", required=True)
    p = hsub.add_parser("optimize", help="L-BFGS optimization of a C4v iPEPS; state saved every iteration")
    p.add_argument("--D", type=_positive_int, required=True, help="iPEPS bond dimension")
    p.add_argument("--chi", type=_positive_int, required=True, help="CTMRG environment dimension")
    p.add_argument("--out", required=True, help="state NetCDF file (rewritten every iteration)")
    p.add_argument("--init", help="start from this smaller-D state file, padded with noise")
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.add_argument("--seed", type=int, default=0, help="seed of the random start or padding noise")
    p.add_argument("--noise", type=_positive_float, default=1e-2, help="padding noise relative to max|A|")
    p.add_argument("--max-iter", type=_positive_int, default=100, help="L-BFGS iterations (total)")
    p.add_argument("--history-size", type=_positive_int, default=100, help="L-BFGS curvature pairs")
    p.add_argument("--tol-grad", type=_positive_float, default=1e-8, help="stop at max|gradient| below this")
    p.add_argument("--grad-mode", choices=GRAD_MODES, default="fixed_point", help="gradient through CTMRG")
    p.add_argument("--estimator", choices=ESTIMATORS, default="plaquette",
                   help="bond energy from the 2x2 plaquette or the 2x1 patch")
    _add_ctm_args(p, max_iter=200)
    p.set_defaults(func=_cmd_heisenberg_optimize)

    p = hsub.add_parser("measure", help="energy and magnetization of a state at some chi")
    p.add_argument("--state", required=True,
                   help="state file from 'difftn heisenberg optimize', or a published tensor (.json)")
    p.add_argument("--chi", type=_positive_int, required=True, help="CTMRG environment dimension")
    p.add_argument("--out", required=True, help="observables NetCDF file")
    p.add_argument("--estimator", choices=ESTIMATORS, default="plaquette",
                   help="bond energy from the 2x2 plaquette or the 2x1 patch")
    _add_ctm_args(p, max_iter=500)
    p.set_defaults(func=_cmd_heisenberg_measure)

    from .studies.born import DATASETS, HIDE

    bm = sub.add_parser("born", help="MPS Born machine: train, sample, aggregate, figures")
    bsub = bm.add_subparsers(dest="stage", required=True)
    p = bsub.add_parser("train", help="two-site sweep training at one maximal bond dimension")
    p.add_argument("--data", choices=DATASETS, required=True, help="bas: bars and stripes; digits: 8x8 digits")
    p.add_argument("--max-bond", type=_positive_int, required=True, help="maximal bond dimension D_max")
    p.add_argument("--out", required=True, help="model NetCDF file (history, NLLs, the MPS)")
    p.add_argument("--rows", type=_positive_int, default=4, help="bas: image height")
    p.add_argument("--cols", type=_positive_int, default=4, help="bas: image width")
    p.add_argument("--threshold", type=_positive_int, default=8, help="digits: gray level (1..16) counted as 1")
    p.add_argument("--test-fraction", type=float, default=0.2, help="digits: held-out share in [0, 1)")
    p.add_argument("--split-seed", type=int, default=0, help="digits: seed of the train/test split")
    p.add_argument("--sweeps", type=int, default=10, help="sweeps (left-right and back)")
    p.add_argument("--learning-rate", type=_positive_float, default=0.1, help="gradient step on the two-site tensor")
    p.add_argument("--cutoff", type=float, default=1e-7, help="relative SVD cutoff in [0, 1)")
    p.add_argument("--steps-per-bond", type=_positive_int, default=1, help="gradient steps per bond")
    p.add_argument("--max-halvings", type=int, default=8, help="backtracking halvings of the step")
    p.add_argument("--init-bond", type=_positive_int, default=2, help="bond dimension of the random start")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial MPS and the samples")
    p.add_argument("--samples", type=int, default=10_000, help="zipper samples for the sample statistics")
    p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
    _add_runtime_args(p)
    p.set_defaults(func=_cmd_born_train)

    p = bsub.add_parser("sample", help="exact samples and inpainting from a model file")
    p.add_argument("--model", required=True, help="model file from 'difftn born train'")
    p.add_argument("--out", required=True, help="samples NetCDF file")
    p.add_argument("--samples", type=int, default=48, help="independent samples")
    p.add_argument("--images", type=int, default=6, help="images to inpaint")
    p.add_argument("--completions", type=_positive_int, default=4, help="completions per image")
    p.add_argument("--hide", choices=HIDE, default="bottom", help="half of each image that is drawn")
    p.add_argument("--seed", type=int, default=0)
    _add_runtime_args(p)
    p.set_defaults(func=_cmd_born_sample)

    p = bsub.add_parser("aggregate", help="model files of one data set -> table over D_max")
    p.add_argument("inputs", nargs="+", help="model NetCDF files")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--csv", help="also write this CSV table")
    p.set_defaults(func=_cmd_born_aggregate)

    p = bsub.add_parser("figure", help="nll: NLL against D_max; samples: sample grid and inpainting")
    p.add_argument("name", choices=["nll", "samples"])
    p.add_argument("inputs", nargs="+", help="nll: summary files (one panel each); samples: one samples file")
    p.add_argument("--out", required=True, help="PNG file; a PDF is written beside it")
    p.set_defaults(func=_cmd_born_figure)

    pp = sub.add_parser("ppeps", help="positive PEPS generative model: train, sample, aggregate, figures")
    psub = pp.add_subparsers(dest="stage", required=True)
    p = psub.add_parser("train", help="NLL training at one bond dimension D and boundary-MPS chi")
    p.add_argument("--data", choices=DATASETS, required=True, help="bas: bars and stripes; digits: 8x8 digits")
    p.add_argument("--D", type=_positive_int, required=True, help="PEPS bond dimension")
    p.add_argument("--chi", type=_positive_int, required=True, help="boundary-MPS bond (exact at D^floor(cols/2))")
    p.add_argument("--out", required=True, help="model NetCDF file (history, NLLs, the tensors)")
    p.add_argument("--rows", type=_positive_int, default=4, help="bas: image height")
    p.add_argument("--cols", type=_positive_int, default=4, help="bas: image width")
    p.add_argument("--threshold", type=_positive_int, default=8, help="digits: gray level (1..16) counted as 1")
    p.add_argument("--test-fraction", type=float, default=0.2, help="digits: held-out share in [0, 1)")
    p.add_argument("--split-seed", type=int, default=0, help="digits: seed of the train/test split")
    p.add_argument("--epochs", type=int, default=100, help="passes over the training data")
    p.add_argument("--learning-rate", type=_positive_float, default=0.2, help="Adam step (L-BFGS initial step)")
    p.add_argument("--batch-size", type=_positive_int, default=100, help="images per Adam step")
    p.add_argument("--optimizer", choices=["adam", "lbfgs"], default="adam")
    p.add_argument("--lr-decay", type=_positive_float, default=1.0, help="Adam step factor per epoch, in (0, 1]")
    p.add_argument("--init-scale", type=_positive_float, default=1.0, help="std of the initial ln P")
    p.add_argument("--seed", type=int, default=0, help="seed of the start, minibatches and samples")
    p.add_argument("--samples", type=int, default=10_000, help="exact samples for the sample statistics")
    p.add_argument("--checkpoint", help="state file saved every epoch; an existing one is resumed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
    _add_runtime_args(p)
    p.set_defaults(func=_cmd_ppeps_train)

    p = psub.add_parser("sample", help="exact samples and inpainting from a model file")
    p.add_argument("--model", required=True, help="model file from 'difftn ppeps train'")
    p.add_argument("--out", required=True, help="samples NetCDF file")
    p.add_argument("--samples", type=int, default=48, help="independent samples")
    p.add_argument("--images", type=int, default=6, help="images to inpaint")
    p.add_argument("--completions", type=_positive_int, default=4, help="completions per image")
    p.add_argument("--hide", choices=HIDE, default="bottom", help="half of each image that is drawn")
    p.add_argument("--seed", type=int, default=0)
    _add_runtime_args(p)
    p.set_defaults(func=_cmd_ppeps_sample)

    p = psub.add_parser("aggregate", help="model files of one data set -> table over D")
    p.add_argument("inputs", nargs="+", help="model NetCDF files")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--csv", help="also write this CSV table")
    p.set_defaults(func=_cmd_ppeps_aggregate)

    p = psub.add_parser("figure", help="nll: NLL against parameter count (with --born); samples: samples, inpainting")
    p.add_argument("name", choices=["nll", "samples"])
    p.add_argument("inputs", nargs="+", help="nll: ppeps summary files (one panel each); samples: one samples file")
    p.add_argument("--born", nargs="*", default=[], help="nll: Born-machine summary files on the same data")
    p.add_argument("--out", required=True, help="PNG file; a PDF is written beside it")
    p.set_defaults(func=_cmd_ppeps_figure)
    sg = sub.add_parser("spinglass", help="Gaussian spin glass: lnZ and correlations by boundary MPS + AD")
    ssub = sg.add_subparsers(dest="stage", required=True)

    def instance_args(p):
        p.add_argument("--L", type=_positive_int, required=True, help="open L x L lattice")
        p.add_argument("--seed", type=_nonnegative_int, default=0, help="seed of the Gaussian couplings")
        p.add_argument("--coupling-std", type=_nonnegative_float, default=1.0, help="std of K_ij (beta J_ij)")
        p.add_argument("--field-std", type=_nonnegative_float, default=0.0, help="std of the fields h_i")
        p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
        p.add_argument("--out", required=True, help="output NetCDF file")
        _add_runtime_args(p, device="cpu")

    p = ssub.add_parser("point", help="lnZ, every <s_i s_j> and <s_i> at one chi")
    instance_args(p)
    p.add_argument("--chi", type=_positive_int, required=True, help="boundary-MPS bond dimension")
    p.add_argument("--cutoff", type=float, default=1e-12, help="relative singular-value cutoff")
    p.set_defaults(func=_cmd_spinglass_point)
    p = ssub.add_parser("exact", help="exact lnZ and correlations by the transfer matrix (L <= 16)")
    instance_args(p)
    p.set_defaults(func=_cmd_spinglass_exact)
    p = ssub.add_parser("aggregate", help="table over (L, seed, chi) of lnZ and errors")
    p.add_argument("inputs", nargs="+", help="point and exact NetCDF files")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--csv", help="also write this CSV table")
    p.set_defaults(func=_cmd_spinglass_aggregate)

    inv = sub.add_parser("inverse-ising", help="couplings from moments by L-BFGS on lnZ(K) - K.C")
    isub = inv.add_subparsers(dest="stage", required=True)

    def fit_args(p):
        p.add_argument("--L", type=_positive_int, default=4, help="open L x L lattice, L*L <= 20")
        p.add_argument("--seed", type=_nonnegative_int, default=0, help="seed of the true couplings")
        p.add_argument("--coupling-std", type=_nonnegative_float, default=0.5, help="std of the true K_ij")
        p.add_argument("--method", choices=["mps", "transfer"], default="mps", help="how lnZ is computed")
        p.add_argument("--chi", type=_positive_int, default=16, help="boundary-MPS bond dimension")
        p.add_argument("--tol-grad", type=_positive_float, default=1e-11, help="stop at max moment mismatch below")
        p.add_argument("--max-iter", type=_positive_int, default=500, help="L-BFGS iterations")
        p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
        p.add_argument("--out", required=True, help="output NetCDF file")
        _add_runtime_args(p, device="cpu")

    p = isub.add_parser("exact", help="fit to the exact moments; Fisher information by second-order AD")
    fit_args(p)
    p.set_defaults(func=_cmd_inverse_exact)
    p = isub.add_parser("samples", help="fits to the moments of N exact samples, several sample sets")
    fit_args(p)
    p.add_argument("--N", type=_positive_int, required=True, help="samples per fit")
    p.add_argument("--repeats", type=_positive_int, default=4, help="independent sample sets")
    p.add_argument("--sample-seed", type=_nonnegative_int, default=0, help="seed of the sample streams")
    p.set_defaults(func=_cmd_inverse_samples)
    p = isub.add_parser("aggregate", help="recovery error against N with its log-log slope")
    p.add_argument("inputs", nargs="+", help="one exact file and the sample files")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--csv", help="also write this CSV table")
    p.set_defaults(func=_cmd_inverse_aggregate)

    p = sub.add_parser("design", help="fit a TFIM chain to a target ground state through eigh")
    p.add_argument("--sites", type=_positive_int, default=6, help="chain length (2..12)")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="seed of the target chain's J, h")
    p.add_argument("--low", type=_positive_float, default=0.5, help="target J, h uniform in [low, high)")
    p.add_argument("--high", type=_positive_float, default=1.5, help="target J, h uniform in [low, high)")
    p.add_argument("--max-iter", type=_positive_int, default=200, help="L-BFGS iterations")
    p.add_argument("--tol-grad", type=_positive_float, default=1e-10, help="stop at max |gradient| below this")
    p.add_argument("--config-hash", default="none", help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, help="output NetCDF file")
    _add_runtime_args(p, device="cpu")
    p.set_defaults(func=_cmd_design)

    p = sub.add_parser("info", help="print the provenance of a result file")
    p.add_argument("file")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        args.func(args)
    except (ValueError, RuntimeError, FloatingPointError, FileNotFoundError) as err:
        log.error("difftn %s: %s", " ".join(filter(None, [args.command, getattr(args, "stage", None)])), err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``difftn`` command, the one adapter layer: every study stage as ``difftn <study> <stage>``.

    difftn ising point --beta 0.44 --chi 30 --steps 30 --out point.nc
    difftn ising aggregate --out summary.nc --csv summary.csv point1.nc point2.nc ...
    difftn ising figure fig3 --out fig3.png summary.nc [...]
    difftn heisenberg optimize --D 2 --chi 30 --out state.nc [--init smaller.nc] [--resume]
    difftn heisenberg measure --state state.nc --chi 40 --out obs.nc [--estimator plaquette|bond]
    difftn heisenberg measure --state published.json --chi 40 --out obs.nc
    difftn heisenberg aggregate --out summary.nc --csv summary.csv obs1.nc obs2.nc ...
    difftn heisenberg figure fig4 --out fig4.png summary.nc
    difftn born train --data bas --max-bond 16 --out model.nc
    difftn born sample --model model.nc --out samples.nc
    difftn born aggregate --out summary.nc --csv summary.csv model1.nc model2.nc ...
    difftn born figure nll|samples --out fig.png FILE.nc [...]
    difftn ppeps train --data bas --D 2 --chi 8 --out model.nc [--checkpoint state.pt]
    difftn ppeps sample --model model.nc --out samples.nc
    difftn ppeps aggregate --out summary.nc --csv summary.csv model1.nc model2.nc ...
    difftn ppeps figure nll|samples --out fig.png FILE.nc [...] [--born born_summary.nc]
    difftn spinglass point --L 16 --chi 32 --seed 0 --out point.nc
    difftn spinglass exact --L 16 --seed 0 --out exact.nc
    difftn spinglass aggregate --out summary.nc --csv summary.csv point.nc exact.nc ...
    difftn spinglass figure convergence|correlations --out fig.png FILE.nc [...]
    difftn inverse-ising exact --L 4 --seed 0 --out exact.nc
    difftn inverse-ising samples --N 1000 --L 4 --seed 0 --out N1000.nc
    difftn inverse-ising aggregate --out summary.nc exact.nc N1000.nc ...
    difftn inverse-ising figure recovery --out fig.png summary.nc
    difftn design point --sites 6 --seed 0 --out design.nc
    difftn ising xi --beta 0.35 --chi 32 --out xi.nc
    difftn correlation aggregate --out summary.nc --csv summary.csv xi1.nc xi2.nc ...   (or measurements)
    difftn correlation figure ising|heisenberg --out fig.png summary.nc
    difftn info FILE.nc

A compute stage's options are the keyword parameters of its study function
(``difftn.studies.*``): names, types, defaults, bounds and help text come from
the signature (``difftn.infra.options``), so ``--help`` shows the defaults the
library uses.  The Snakemake rules run these same commands
(``workflow/scripts/stage.py``).
"""

import argparse
import atexit
import gc
import importlib
import inspect
import json
import logging
import os
import pkgutil
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["main", "STAGES", "stage_argv"]

log = logging.getLogger("difftn")


class _Stages(Mapping):
    """Command name -> {stage name -> Stage} of every study module that declares ``STAGES``.

    A study module is imported when its command is first looked up, so that
    ``difftn heisenberg optimize`` does not import the other studies (and
    their libraries) only to build its parser.
    """

    def __init__(self, package: str):
        self._package, self._loaded = package, {}

    def _names(self) -> list:
        package = importlib.import_module(self._package)
        return [info.name.replace("_", "-") for info in pkgutil.iter_modules(package.__path__)]

    def _load(self, command: str):
        if command not in self._loaded:
            module = importlib.import_module(f"{self._package}.{command.replace('-', '_')}")
            self._loaded[command] = getattr(module, "STAGES", None)
        return self._loaded[command]

    def __getitem__(self, command):
        if command not in self._names() or self._load(command) is None:
            raise KeyError(command)
        return self._loaded[command]

    def __iter__(self):
        return iter([name for name in self._names() if self._load(name) is not None])

    def __len__(self):
        return sum(1 for _ in self)


#: Every study's stages, as declared by the study modules (``difftn.studies.*.STAGES``).
STAGES = _Stages("difftn.studies")

_TYPES = {int: int, float: float, str: str, Path: Path}


def _typed(parameter):
    """argparse type of one option: its Python type with the option's bounds checked."""
    convert = _TYPES[parameter.kind]

    def check(text):
        value = convert(text)
        if why := parameter.option.violation(value):
            raise argparse.ArgumentTypeError(why)
        return value

    check.__name__ = parameter.kind.__name__  # argparse names the type in its messages
    return check


def _add_options(parser, function):
    """One ``--name`` per documented parameter of ``function`` (difftn.infra.options)."""
    from .infra.options import describe

    for p in describe(function):
        flag = "--" + p.name.replace("_", "-")
        help_text = argparse.SUPPRESS if p.option.hidden else p.option.help
        if p.kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=p.default, help=help_text)
            continue
        kwargs = {"type": _typed(p), "help": help_text, "dest": p.name}
        if p.choices:
            kwargs.update(choices=p.choices, type=type(p.choices[0]))
        if p.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = p.default
        parser.add_argument(flag, **kwargs)


def _add_stage(sub, study, name, stage):
    p = sub.add_parser(name, help=stage.help, description=stage.help,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    p.set_defaults(study=study, stage=name)
    if stage.writes == "figure":
        p.add_argument("name", choices=list(stage.figures), help="which figure")
        p.add_argument("inputs", nargs="+", help="NetCDF files the figure is drawn from")
        if stage.extra_inputs:
            p.add_argument("--" + stage.extra_inputs, nargs="*", default=[], help="further files (see the help above)")
        p.add_argument("--out", required=True, help="PNG file; a PDF is written beside it")
        return
    if stage.writes == "table":
        p.add_argument("inputs", nargs="+", help="NetCDF files to aggregate")
        p.add_argument("--out", required=True, help="output NetCDF file")
        p.add_argument("--csv", help="also write this CSV table")
        return
    _add_options(p, stage.load())
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch CPU threads")


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser; a stage's options are built only for the stage named in ``argv`` (fast --help)."""
    argv = sys.argv[1:] if argv is None else argv
    words = [a for a in argv if not a.startswith("-")]
    parser = argparse.ArgumentParser(prog="difftn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors (no progress bars)")
    sub = parser.add_subparsers(dest="command", required=True)
    # `difftn STUDY ...` builds (and imports) that study only, `difftn info` none; anything else lists them all
    if words and words[0] == "info":
        named = []
    else:
        named = [words[0]] if words and words[0] in STAGES else list(STAGES)
    for study in named:
        stages = STAGES[study]
        sp = sub.add_parser(study, help=f"{study} study: {', '.join(stages)}")
        ssub = sp.add_subparsers(dest="stage", required=True)
        for name, stage in stages.items():
            if words[:2] == [study, name]:
                _add_stage(ssub, study, name, stage)
            else:
                ssub.add_parser(name, help=stage.help)
    p = sub.add_parser("info", help="print the provenance of a result file")
    p.add_argument("file")
    return parser


def _run_stage(args):
    from .infra.io import read_dataset, write_dataset, write_table

    stage = STAGES[args.study][args.stage]
    if stage.writes == "figure":
        from .plots.common import save_figure

        draw, several = stage.load(args.name), stage.figures[args.name][1]
        data = [read_dataset(p) for p in args.inputs]
        if not several and len(data) != 1:
            raise ValueError(f"figure {args.name} takes one file, got {len(data)}")
        # a figure that takes further files (ppeps nll: the Born machine's tables) names them in its signature
        extra = {stage.extra_inputs: [read_dataset(p) for p in getattr(args, stage.extra_inputs)]} \
            if stage.extra_inputs and stage.extra_inputs in inspect.signature(draw).parameters else {}  # fmt: skip
        fig = draw(data if several else data[0], **extra)
        log.info("wrote %s", ", ".join(map(str, save_figure(fig, args.out))))
        return
    function = stage.load()
    if stage.writes == "table":
        ds = function(args.inputs)
        write_table(ds, args.out, args.csv)
        log.info("aggregated %d files into %s", len(args.inputs), args.out)
        return
    from .infra.options import call_kwargs, describe
    from .infra.runtime import set_threads

    set_threads(args.threads)
    values = call_kwargs(function, {p.name: getattr(args, p.name) for p in describe(function)})
    accepts = inspect.signature(function).parameters
    if "progress" in accepts:  # a progress bar on a terminal, none in a workflow's log file
        values["progress"] = not args.quiet and sys.stderr.isatty()
    if stage.writes == "itself":
        function(out=args.out, **values)
        return
    ds = function(**values)
    write_dataset(ds, args.out)
    log.info("wrote %s", args.out)


def _info(args):
    from .infra.io import read_dataset

    ds = read_dataset(args.file)
    for key, value in ds.attrs.items():
        if key == "parameters":
            value = json.dumps(json.loads(value))
        print(f"{key:>22}: {value}")
    print(f"{'variables':>22}: {', '.join(ds.data_vars)}")
    print(f"{'dimensions':>22}: {dict(ds.sizes) or 'scalar point'}")


def stage_argv(stage: str, options: dict, inputs=(), named_inputs=None, out=None, csv=None, threads=None) -> list:
    """The ``difftn`` argument list of a stage run: what the workflow's one script passes to ``main``.

    ``stage``: "study stage" (e.g. "ising point", "born figure nll");
    ``options``: option name -> value (``None``: left at its default; booleans
    become ``--name`` / ``--no-name``; lists become several values).
    """
    argv = stage.split()
    for name, value in {**(named_inputs or {}), **options}.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(repr_value, value)]
        else:
            argv += [flag, repr_value(value)]
    if out is not None:
        argv += ["--out", str(out)]
    if csv is not None:
        argv += ["--csv", str(csv)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    return argv + [str(p) for p in inputs]


def repr_value(value) -> str:
    """A value as a command-line word that parses back to the same value (floats exactly)."""
    return repr(value) if isinstance(value, float) else str(value)


def _skip_collection_at_exit() -> None:
    """At interpreter exit, exempt every live object from the shutdown's garbage collections.

    Shutdown collects several times over everything the process still holds:
    the objects of torch, of ``torch._dynamo`` (which torch's optimizers import)
    and of xarray, ~0.3 M of them.  Measured, that is 0.7 s of the 5.6 s of
    ``difftn heisenberg optimize --D 2 --chi 30``, and it is paid by every
    workflow job.  ``gc.freeze`` runs as an exit handler, so nothing is frozen
    while the process goes on (a test session, a notebook calling ``main``);
    the other exit handlers (logging's flush) still run, and every file difftn
    writes is closed by its writer before then.  Idempotent.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    logging.captureWarnings(True)
    _skip_collection_at_exit()
    try:
        _info(args) if args.command == "info" else _run_stage(args)
    except (ValueError, RuntimeError, FloatingPointError, FileNotFoundError) as err:
        log.error("difftn %s: %s", " ".join(filter(None, [args.command, getattr(args, "stage", None)])), err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Shared by all rules: config validation, derived parameter lists, input functions.
import dataclasses
import hashlib
import json
from pathlib import Path

import yaml

from snakemake.logging import logger
from snakemake.utils import validate

from difftn.infra.io import FORMAT_VERSION, ResultFileError, read_dataset
from difftn.data.reference import PACKAGED_D, published_state_path
from difftn.infra.provenance import source_hash
from difftn.studies import born as born_study
from difftn.studies import heisenberg as heisenberg_study
from difftn.studies import ising as ising_study
from difftn.studies import ppeps as ppeps_study


def _allowed(schema):
    """The allowed values of one schema node, in words."""
    words = [schema["type"]] if "type" in schema else []
    for key, text in (("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"),
                      ("exclusiveMaximum", "< {}"), ("minItems", "at least {} items")):  # fmt: skip
        if key in schema:
            words.append(text.format(schema[key]))
    if "enum" in schema:
        words.append("one of " + ", ".join(map(str, schema["enum"])))
    if schema.get("additionalProperties") is False:
        words.append("keys " + ", ".join(schema.get("properties", {})))
    if "description" in schema:
        words.append(f"({schema['description']})")
    return " ".join(words)


def _validate_config():
    """Every schema violation, each with the field's dotted name and what is allowed."""
    import jsonschema

    path = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    schema = yaml.safe_load(path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(
        validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))
    ):
        field = "".join(
            f"[{k}]" if isinstance(k, int) else f".{k}" for k in err.absolute_path
        ).lstrip(".")
        problems.append(
            f"config field {field or '(top level)'}: {err.message}; allowed: {_allowed(err.schema)}"
        )
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))
    validate(config, "../schemas/config.schema.yaml")  # fills schema defaults, if any


_validate_config()


def _check_config():
    """Checks JSON schema cannot express; stop before any job with the field named."""
    for i, r in enumerate(config["ising"]["beta"]):
        if r["start"] > r["stop"]:
            raise ValueError(
                f"config field ising.beta[{i}]: start ({r['start']}) must not exceed stop ({r['stop']})"
            )
        if r["num"] > 1 and r["start"] == r["stop"]:
            raise ValueError(
                f"config field ising.beta[{i}]: start == stop needs num == 1, got num = {r['num']}"
            )

    h = config["heisenberg"]
    for key in ("chi", "measure_chi"):
        if len(h[key]) != len(h["D"]):
            raise ValueError(
                f"config field heisenberg.{key}: needs one entry per D ({len(h['D'])}), got {len(h[key])}"
            )
    if h.get("optimizer") == "newton" and h["ctmrg"]["grad_mode"] == "fixed_point":
        raise ValueError(
            "config field heisenberg.optimizer: newton needs heisenberg.ctmrg.grad_mode checkpoint or unrolled "
            "(the fixed-point backward is not twice differentiable)"
        )


_check_config()


def _set_aside_if_unreadable(path):
    """Never use a corrupted result or one of another format: move it aside, so it is recomputed.

    A file that fails ``difftn.infra.io.read_dataset`` is renamed to ``<name>.unreadable``
    (kept for inspection; no rule reads that name); its job then runs again
    for the rule that needs it.  Outputs already up to date downstream were
    made from the file while it was whole and stay valid.  A dry run only reports.
    """
    path = Path(path)
    if not (path.suffix == ".nc" and path.exists()):
        return
    try:
        read_dataset(path).close()
    except ResultFileError as err:
        if workflow.dryrun:
            logger.warning(f"{err}\n  (a real run moves it aside and recomputes it)")
            return
        aside = path.with_name(f"{path.name}.unreadable")
        path.replace(aside)
        logger.warning(
            f"{err}\n  moved to {aside}; recomputed for the rule that needs it"
        )


def checked(inputs):
    """Wrap an input function, a pattern or a list of files: existing inputs are checked first.

    Input functions run while Snakemake builds the job graph, so a file moved
    aside here is then missing and its job is planned again.
    """

    def function(wildcards):
        if callable(inputs):
            files = inputs(wildcards)
        elif isinstance(inputs, str):
            files = inputs.format(**dict(wildcards.items()))
        else:
            files = list(inputs)
        paths = (
            files.values()
            if isinstance(files, dict)
            else [files] if isinstance(files, str) else files
        )
        for path in paths:
            _set_aside_if_unreadable(path)
        return files

    return function


BETA_DECIMALS = config["ising"]["decimals"]
BETAS = ising_study.beta_grid(config["ising"]["beta"], BETA_DECIMALS)
ISING_DIRS = [
    f"chi{chi}_steps{config['ising']['steps']}" for chi in config["ising"]["chi"]
]


def config_hash(section):
    """Hash of one config section, recorded in every result it produces."""
    text = json.dumps(config[section], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


wildcard_constraints:
    chi=r"\d+",
    steps=r"\d+",
    beta=r"\d+\.\d{%d}" % BETA_DECIMALS,
    D=r"\d+",
    mchi=r"\d+",
    data="|".join(born_study.DATASETS),
    L=r"\d+",
    seed=r"\d+",
    N=r"\d+",
    sites=r"\d+",


# Each rule's params.options are the options of its `difftn <study> <stage>` command
# (workflow/scripts/stage.py runs it); config keys map onto option names here.


def ising_options(wildcards):
    section = config["ising"]
    return {
        "beta": float(wildcards.beta),
        "chi": int(wildcards.chi),
        "steps": int(wildcards.steps),
        **{k: section[k] for k in ("checkpoint", "symmetry", "device", "dtype")},
        "config_hash": config_hash("ising"),
    }


def ising_points(wildcards):
    return expand(
        "results/ising/chi{chi}_steps{steps}/beta_{beta}.nc",
        chi=wildcards.chi,
        steps=wildcards.steps,
        beta=[ising_study.format_beta(b, BETA_DECIMALS) for b in BETAS],
    )


HEIS = config["heisenberg"]
HEIS_CHI = dict(zip(HEIS["D"], HEIS["chi"]))
HEIS_MEASURE_CHI = dict(zip(HEIS["D"], HEIS["measure_chi"]))


def heisenberg_dir(D):
    return f"results/heisenberg/D{D}_chi{HEIS_CHI[int(D)]}"


def packaged_state(D):
    """The checkout's copy of the packaged published state at D (a path fixed by the checkout).

    The path of the imported package's copy would change with where difftn is
    imported from (a copied package in the rerun tests, another install) and
    so rerun every job that reads it; the data are the same files.
    """
    name = published_state_path(int(D)).name
    return str(Path(workflow.basedir, "src/difftn/data/ipeps_states", name))


def heisenberg_init(wildcards):
    """The start of D's optimization: {} (random) or {"init": file}.

    chain: the previous D's state of this study; published: the packaged
    published state at D - 1 where the package has it (D - 1 = 2..5), else
    the previous D's state as for chain; random: nothing.
    """
    order = HEIS["D"]
    D = int(wildcards.D)
    i = order.index(D)
    if HEIS["init"] == "published" and D - 1 in PACKAGED_D:
        return {"init": packaged_state(D - 1)}
    if HEIS["init"] in ("chain", "published") and i > 0:
        return {"init": f"{heisenberg_dir(order[i - 1])}/state.nc"}
    return {}


def heisenberg_observables(wildcards=None):
    files = []
    for D in HEIS["D"]:
        chis = [HEIS_CHI[D]] + ([HEIS_MEASURE_CHI[D]] if HEIS_MEASURE_CHI[D] else [])
        files += [f"{heisenberg_dir(D)}/observables_chi{chi}.nc" for chi in chis]
    return files


def heisenberg_optimize_options(wildcards):
    lbfgs, ctm = HEIS["lbfgs"], HEIS["ctmrg"]
    return {
        "D": int(wildcards.D),
        "chi": int(wildcards.chi),
        "seed": HEIS["seed"],
        "noise": HEIS["noise"],
        "J2": HEIS.get("J2", 0.0),
        "max_iter": lbfgs.get("max_iter"),
        "history_size": lbfgs.get("history_size"),
        "tol_grad": lbfgs.get("tolerance_grad"),
        "grad_mode": ctm.get("grad_mode"),
        "ctm_tol": ctm.get("tol"),
        "ctm_max_iter": ctm.get("max_iter"),
        "optimizer": HEIS.get("optimizer"),
        "checkpoint": f"results/heisenberg/D{wildcards.D}_chi{wildcards.chi}/progress.nc",
        "save_every": HEIS.get("save_every"),
        "device": HEIS["device"],
        "dtype": HEIS["dtype"],
        "config_hash": config_hash("heisenberg"),
    }


def heisenberg_measure_options(wildcards):
    return {
        "chi": int(wildcards.mchi),
        "J2": HEIS.get("J2", 0.0),
        "ctm_tol": HEIS["ctmrg"].get("tol"),
        "device": HEIS["device"],
        "dtype": HEIS["dtype"],
        "config_hash": config_hash("heisenberg"),
    }


def heisenberg_gpu(wildcards):
    return 1 if int(wildcards.D) >= HEIS["gpu_from_D"] else 0


def heisenberg_gpu_model(wildcards):
    """The configured GPU type on GPU jobs only (the SLURM plugin asks for a GPU when it is set)."""
    return HEIS["gpu_model"] if heisenberg_gpu(wildcards) else ""


BORN = config["born"]
BORN_DATA = [name for name in born_study.DATASETS if BORN[name]["max_bond"]]


def data_train_options(study, wildcards, bonds):
    """Options of a train job of a data-set study (born, ppeps) at the wildcards' data set and bond.

    The data set's own settings (shape, threshold, split: every key of its section
    but the bond list ``bonds`` and ``train``, e.g. ppeps' ``chi``), its training
    options, and the study's seed, sample count, device, dtype and config hash.
    """
    top = config[study]
    section = top[wildcards.data]
    return {
        "data": wildcards.data,
        bonds: int(wildcards.D),
        **{k: v for k, v in section.items() if k not in (bonds, "train")},
        **section["train"],
        "seed": top["seed"],
        "n_samples": top["samples"],
        "device": top["device"],
        "dtype": top["dtype"],
        "config_hash": data_config_hash(study, wildcards),
    }


def data_sample_options(study, wildcards):
    """Options of a sample job of a data-set study: its ``figure`` settings, seed, device."""
    top = config[study]
    figure = top["figure"]
    return {
        "n_samples": figure["samples"],
        "n_images": figure["images"],
        "completions": figure["completions"],
        "hide": figure["hide"],
        "seed": top["seed"],
        "device": top["device"],
        "config_hash": data_config_hash(study, wildcards),
    }


def data_config_hash(study, wildcards):
    """Hash of what a data set's results depend on: its subsection, the study's shared settings."""
    top = config[study]
    shared = {k: v for k, v in top.items() if k not in born_study.DATASETS}
    text = json.dumps(
        {"shared": shared, wildcards.data: top[wildcards.data]}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def born_train_options(wildcards):
    """A data set's own settings (shape, threshold, split) and training options at one D_max."""
    return data_train_options("born", wildcards, "max_bond")


def born_sample_options(wildcards):
    return data_sample_options("born", wildcards)


def born_models(wildcards):
    return expand(
        "results/born/{data}/Dmax{D}/model.nc",
        data=wildcards.data,
        D=BORN[wildcards.data]["max_bond"],
    )


def born_figure_samples(wildcards):
    """Samples of the largest D_max of the data set."""
    D = max(BORN[wildcards.data]["max_bond"])
    return f"results/born/{wildcards.data}/Dmax{D}/samples.nc"


def born_outputs():
    """Tables and sample figures of each data set with a D_max list; NLL figure."""
    files = [
        *expand("results/born/{data}/summary.{ext}", data=BORN_DATA, ext=["nc", "csv"]),
        *expand(
            "results/figures/born_samples_{data}.{ext}",
            data=BORN_DATA,
            ext=["png", "pdf"],
        ),
    ]
    if BORN_DATA:
        files += expand("results/figures/born_nll.{ext}", ext=["png", "pdf"])
    return files


PPEPS = config["ppeps"]
PPEPS_DATA = [name for name in ppeps_study.DATASETS if PPEPS[name]["D"]]
PPEPS_SOURCE = source_hash(*ppeps_study.MODULES)


def _check_ppeps_config():
    """The positive PEPS is compared with the Born machine on the same data: same settings."""
    for name in PPEPS_DATA:
        if not BORN[name]["max_bond"]:
            continue
        for key, value in BORN[name].items():
            if key in PPEPS[name] and key != "train" and PPEPS[name][key] != value:
                raise ValueError(
                    f"config field ppeps.{name}.{key}: must equal born.{name}.{key} ({value}), the Born "
                    f"machine it is compared with, got {PPEPS[name][key]}"
                )


_check_ppeps_config()


def ppeps_train_options(wildcards):
    """A data set's settings, chi and training options at bond D; the resumable state beside the model.

    The state file's name holds a hash of the options and the library source, so
    a killed job resumes its own state and a job with other settings or code
    starts afresh (``train`` refuses a state of other options and would resume
    one of other data settings or code).
    """
    options = {**data_train_options("ppeps", wildcards, "D"), "chi": int(wildcards.chi)}
    key = json.dumps([options, PPEPS_SOURCE, FORMAT_VERSION], sort_keys=True)
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    return {
        **options,
        "checkpoint": f"{ppeps_dir(wildcards)}/state-{tag}.pt",
    }


def ppeps_dir(wildcards):
    return f"results/ppeps/{wildcards.data}/D{wildcards.D}_chi{wildcards.chi}"


def ppeps_sample_options(wildcards):
    return data_sample_options("ppeps", wildcards)


def ppeps_models(wildcards):
    """One model per (D, chi) of the data set."""
    return expand(
        "results/ppeps/{data}/D{D}_chi{chi}/model.nc",
        data=wildcards.data,
        D=PPEPS[wildcards.data]["D"],
        chi=PPEPS[wildcards.data]["chi"],
    )


def ppeps_figure_samples(wildcards):
    """Samples of the largest D at the largest chi of the data set."""
    section = PPEPS[wildcards.data]
    return f"results/ppeps/{wildcards.data}/D{max(section['D'])}_chi{max(section['chi'])}/samples.nc"


def ppeps_born_summaries():
    """The Born machine's tables of the data sets both studies train on (drawn beside the PEPS)."""
    return [
        f"results/born/{data}/summary.nc" for data in PPEPS_DATA if data in BORN_DATA
    ]


def ppeps_outputs():
    """Tables and sample figures of each data set with a D list; NLL figure."""
    files = [
        *expand(
            "results/ppeps/{data}/summary.{ext}", data=PPEPS_DATA, ext=["nc", "csv"]
        ),
        *expand(
            "results/figures/ppeps_samples_{data}.{ext}",
            data=PPEPS_DATA,
            ext=["png", "pdf"],
        ),
    ]
    if PPEPS_DATA:
        files += expand("results/figures/ppeps_nll.{ext}", ext=["png", "pdf"])
    return files


def get_final_output():
    return [
        "results/benchmarks/summary.csv",
        *expand("results/ising/{run}/summary.{ext}", run=ISING_DIRS, ext=["nc", "csv"]),
        *expand("results/figures/ising_fig3.{ext}", ext=["png", "pdf"]),
        *expand("results/heisenberg/summary.{ext}", ext=["nc", "csv"]),
        *expand("results/figures/heisenberg_fig4.{ext}", ext=["png", "pdf"]),
        *born_outputs(),
        *ppeps_outputs(),
        *spinglass_final_output(),
        *correlation_final_output(),  # correlation.smk
        *j1j2_outputs(),  # j1j2_common.smk
    ]


# --------------------------------------------------------------------------
# Spin-glass studies (spinglass.smk)
from difftn.studies import design as design_study
from difftn.studies import inverse_ising as inverse_study
from difftn.studies import spinglass as spinglass_study

SG = config["spinglass"]
INV = config["inverse_ising"]
DESIGN = config["design"]


def spinglass_options(wildcards):
    """Options of a spin-glass point (wildcard chi) or of its exact reference."""
    options = {
        "L": int(wildcards.L),
        "seed": int(wildcards.seed),
        **{k: SG[k] for k in ("coupling_std", "field_std", "device", "dtype")},
        "config_hash": config_hash("spinglass"),
    }
    if hasattr(wildcards, "chi"):
        options.update(chi=int(wildcards.chi), cutoff=SG["cutoff"])
    return options


def _check_spinglass_config():
    """Cross-field checks of the spin-glass sections, naming the field."""
    if INV["L"] ** 2 > 20:
        raise ValueError(
            f"config field inverse_ising.L: L*L must be <= 20 (exact moments), got L = {INV['L']}"
        )
    if DESIGN["low"] > DESIGN["high"]:
        raise ValueError(
            f"config field design.low: must not exceed design.high ({DESIGN['low']} > {DESIGN['high']})"
        )


_check_spinglass_config()

INV_TAG = f"L{INV['L']}_seed{INV['seed']}"
INV_FIT = {f.name: INV[f.name] for f in dataclasses.fields(inverse_study.FitSettings)}
DESIGN_FILE = f"results/design/sites{DESIGN['sites']}_seed{DESIGN['seed']}.nc"


def spinglass_files(wildcards=None):
    """Every point file and the exact reference of every L <= exact_max_L."""
    files = expand(
        "results/spinglass/L{L}_seed{seed}/chi{chi}.nc",
        L=SG["L"],
        seed=SG["seeds"],
        chi=SG["chi"],
    )
    exact_L = [L for L in SG["L"] if L <= SG["exact_max_L"]]
    return files + expand(
        "results/spinglass/L{L}_seed{seed}/exact.nc", L=exact_L, seed=SG["seeds"]
    )


def spinglass_figure_files(wildcards=None):
    """Points of the smallest L and first seed, with its exact reference if there is one."""
    L, seed = min(SG["L"]), SG["seeds"][0]
    files = expand(
        "results/spinglass/L{L}_seed{seed}/chi{chi}.nc", L=L, seed=seed, chi=SG["chi"]
    )
    if L <= SG["exact_max_L"]:
        files.append(f"results/spinglass/L{L}_seed{seed}/exact.nc")
    return files


def spinglass_mem_mb(wildcards):
    """MB for a boundary-MPS point: the backward keeps 2 L^2 SVDs of (4 chi) x (2 chi), ~200 chi^2 bytes
    each at full rank (an upper bound: measured 0.49 GB at L = 32, chi = 128, whose ranks stay below 64).
    """
    L, chi = int(wildcards.L), min(int(wildcards.chi), 2 ** (int(wildcards.L) // 2))
    return 1000 + L * L * chi * chi // 2500


def inverse_ising_files(wildcards=None):
    return [f"results/inverse_ising/{INV_TAG}/exact.nc"] + expand(
        "results/inverse_ising/{tag}/N{N}.nc", tag=INV_TAG, N=INV["N"]
    )


def spinglass_final_output():
    return [
        *expand("results/spinglass/summary.{ext}", ext=["nc", "csv"]),
        *expand(
            "results/figures/spinglass_{name}.{ext}",
            name=["convergence", "correlations"],
            ext=["png", "pdf"],
        ),
        *expand(
            "results/inverse_ising/{tag}/summary.{ext}", tag=INV_TAG, ext=["nc", "csv"]
        ),
        *expand("results/figures/inverse_ising_recovery.{ext}", ext=["png", "pdf"]),
        DESIGN_FILE,
    ]


def benchmark_files():
    """The benchmark record of every compute job (Snakemake writes them beside the job)."""
    mirrored = [  # results/<path>.nc -> results/benchmarks/<path>.tsv
        *expand(
            "results/ising/{run}/beta_{beta}.nc",
            run=ISING_DIRS,
            beta=[ising_study.format_beta(b, BETA_DECIMALS) for b in BETAS],
        ),
        *spinglass_files(),
        *inverse_ising_files(),
        DESIGN_FILE,
    ]
    files = [
        f"results/benchmarks/{path.removeprefix('results/').removesuffix('.nc')}.tsv"
        for path in mirrored
    ]
    for D in HEIS["D"]:
        run = f"results/benchmarks/heisenberg/D{D}_chi{HEIS_CHI[D]}"
        files.append(f"{run}/optimize.tsv")
        chis = [HEIS_CHI[D]] + ([HEIS_MEASURE_CHI[D]] if HEIS_MEASURE_CHI[D] else [])
        files += [f"{run}/measure_chi{chi}.tsv" for chi in chis]
    for data in BORN_DATA:
        bonds = BORN[data]["max_bond"]
        files += [f"results/benchmarks/born/{data}/Dmax{D}/train.tsv" for D in bonds]
        files.append(f"results/benchmarks/born/{data}/Dmax{max(bonds)}/sample.tsv")
    for data in PPEPS_DATA:
        bonds, chis = PPEPS[data]["D"], PPEPS[data]["chi"]
        files += expand(
            "results/benchmarks/ppeps/{data}/D{D}_chi{chi}/train.tsv",
            data=data,
            D=bonds,
            chi=chis,
        )
        files.append(
            f"results/benchmarks/ppeps/{data}/D{max(bonds)}_chi{max(chis)}/sample.tsv"
        )
    # the J1-J2 and correlation studies list their own (j1j2_common.smk, correlation_common.smk)
    return files + j1j2_benchmark_files() + correlation_benchmark_files()

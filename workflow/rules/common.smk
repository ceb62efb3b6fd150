# Shared by every study's rules: config validation, the corrupted-input check, config hashes,
# wildcard constraints, the rule files to include, the registry of final outputs and
# benchmark records that each study's rule file fills (read by the Snakefile's rule all and
# report.smk), and the report captions' wrapper.
import collections
import hashlib
import json
from pathlib import Path

import yaml

from snakemake.logging import logger
from snakemake.utils import validate

from difftn.infra.io import FORMAT_VERSION, ResultFileError, read_dataset
from difftn.data.reference import published_state_path
from difftn.infra.provenance import source_hash
from difftn.studies import born as born_study


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


def _inferred_schema(value):
    """A schema of a value shaped like ``value``: its keys (no others, none missing) and types."""
    inferred = {"description": "inferred from config.yaml"}
    if isinstance(value, dict):
        return inferred | {
            "type": "object",
            "additionalProperties": False,
            "required": list(value),
            "properties": {k: _inferred_schema(v) for k, v in value.items()},
        }
    if isinstance(value, list):
        items = [_inferred_schema(v) for v in value]
        if {item.get("type") for item in items} == {"integer", "number"}:
            items = [inferred | {"type": "number"}]  # e.g. [0, 0.5]
        return inferred | {"type": "array", **({"items": items[0]} if items else {})}
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return inferred | ({"type": names[type(value)]} if type(value) in names else {})


def _config_schema():
    """workflow/schemas/config.schema.yaml, plus a schema inferred from config.yaml's defaults
    for each section the file does not describe yet (a new study's: its keys and types);
    and the names of those sections.
    """
    path = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    schema = yaml.safe_load(path.read_text())
    defaults = yaml.safe_load(Path(workflow.basedir, "config.yaml").read_text())
    inferred = sorted(defaults.keys() - schema["properties"].keys())
    for section in inferred:
        schema["properties"][section] = _inferred_schema(defaults[section])
        schema["required"].append(section)
    return schema, inferred


def _validate_config():
    """Every schema violation, each with the field's dotted name and what is allowed."""
    import jsonschema

    schema, inferred = _config_schema()
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
    # fills the schema file's defaults (in place: the sections are config's own dicts)
    validate(
        {k: v for k, v in config.items() if k not in inferred},
        "../schemas/config.schema.yaml",
    )


_validate_config()


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


# The study files to include: every .smk here but this one and report.smk (included last, as
# its table reads the registry below). A new study's file is picked up by the Snakefile
# without an edit.
STUDY_RULES = sorted(
    f"workflow/rules/{path.name}"
    for path in Path(workflow.basedir, "workflow/rules").glob("*.smk")
    if path.name not in ("common.smk", "report.smk")
)

FINAL_OUTPUTS = []  # every study's tables and figures, for rule all
BENCHMARK_RECORDS = []  # the benchmark record of every compute job, for report.smk


def register_study(outputs, benchmarks):
    """Add a study's final outputs and its compute jobs' benchmark records (its rule file calls this)."""
    FINAL_OUTPUTS.extend(outputs)
    BENCHMARK_RECORDS.extend(benchmarks)


# Every output in the report has the caption template below, which shows its rule's
# params.caption: the caption's text sits in the rule file beside the output it describes.
REPORT_CAPTION = "../report/caption.rst"


def report_caption(text):
    """A report caption (reStructuredText, one paragraph) to hold in a rule's params.

    A ``collections.UserString``, not a ``str``: Snakemake records only plain
    values among the params that decide reruns, so editing a caption reruns no
    job (``snakemake --report`` reads the new text); and unlike a class defined
    here it unpickles in the job's script.
    """
    return collections.UserString(" ".join(text.split()))


def get_final_output():
    return ["results/benchmarks/summary.csv", *FINAL_OUTPUTS]


def benchmark_records(results):
    """The benchmark records of compute jobs whose results mirror them: results/<path>.nc -> results/benchmarks/<path>.tsv."""
    return [
        f"results/benchmarks/{path.removeprefix('results/').removesuffix('.nc')}.tsv"
        for path in results
    ]


# the beta wildcard's digits (Ising and correlation studies)
BETA_DECIMALS = config["ising"]["decimals"]


def json_hash(value, digits=16):
    """A short hash of a JSON-able value (dict keys sorted), e.g. a result's config_hash."""
    text = json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def config_hash(section):
    """Hash of one config section, recorded in every result it produces."""
    return json_hash(config[section])


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
# (workflow/scripts/stage.py runs it); config keys map onto option names in the study's rule
# file, with the shared helpers below.


def check_config(problems):
    """Stop before any job on the cross-field problems a study's rule file found, each as
    (dotted config field, what is wrong); the same words as the schema's messages."""
    if problems:
        lines = [f"config field {field}: {what}" for field, what in problems]
        raise ValueError("invalid configuration:\n  " + "\n  ".join(lines))


def per_D_measure_chis(name):
    """The chi of each D's measurements in an iPEPS section: its optimization chi, and its
    measure_chi unless that is 0."""
    section = config[name]
    return {
        D: [chi] + ([mchi] if mchi else [])
        for D, chi, mchi in zip(section["D"], section["chi"], section["measure_chi"])
    }


def per_D_length_problems(name):
    """The per-D lists of an iPEPS section (chi, measure_chi, starts where given) that lack one
    entry per D."""
    section = config[name]
    return [
        (
            f"{name}.{key}",
            f"needs one entry per D ({len(section['D'])}), got {len(section[key])}",
        )
        for key in ("chi", "measure_chi", "starts")
        if key in section and len(section[key]) != len(section["D"])
    ]


def gpu_resources(section):
    """The resource functions (gpu, gpu_model) of a job with a D wildcard: one GPU, of the
    section's gpu_model, at D >= the section's gpu_from_D (the SLURM plugin asks for a GPU
    when gpu_model is set, so it is set on GPU jobs only)."""

    def gpu(wildcards):
        return 1 if int(wildcards.D) >= section["gpu_from_D"] else 0

    def gpu_model(wildcards):
        return section["gpu_model"] if gpu(wildcards) else ""

    return gpu, gpu_model


def packaged_state(D):
    """The checkout's copy of the packaged published state at D (a path fixed by the checkout).

    The path of the imported package's copy would change with where difftn is
    imported from (a copied package in the rerun tests, another install) and
    so rerun every job that reads it; the data are the same files.
    """
    name = published_state_path(int(D)).name
    return str(Path(workflow.basedir, "src/difftn/data/ipeps_states", name))


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


def hashed_checkpoint(options, stem, source):
    """``options`` plus ``checkpoint``: ``<stem>-<hash>.pt``, the hash of the options, the library
    source and the file format, so that a resumable state is only ever resumed by its own job.
    """
    tag = json_hash([options, source, FORMAT_VERSION], digits=12)
    return {**options, "checkpoint": f"{stem}-{tag}.pt"}


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
    return json_hash({"shared": shared, wildcards.data: top[wildcards.data]})

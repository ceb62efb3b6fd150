"""Stage options: a study function's signature is the one definition of its options.

A stage function (``difftn.studies.*``) annotates each keyword parameter as
``Annotated[type, Option("help", low=...)]`` and gives its default in the
signature.  The ``difftn`` command builds its arguments from that signature
(``difftn.cli``) and the Snakemake rules call the same command, so names, types,
defaults, bounds and help text live in one place.

Example::

    def compute_point(beta: Annotated[float, Option("inverse temperature", low=0, open=True)], ...)
"""

import dataclasses
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Option", "Stage", "Parameter", "describe", "call_kwargs", "check_bounds", "check_fields", "Device", "Dtype", "ConfigHash"]


@dataclass(frozen=True)
class Option:
    """Help text and an optional lower bound of one stage parameter.

    ``low``: smallest allowed value (inclusive), or exclusive when ``open``;
    ``file``: the value is a path to an existing input file.
    """

    help: str
    low: float | None = None
    open: bool = False
    file: bool = False
    hidden: bool = False  # set by the workflow, not shown in --help

    def violation(self, value) -> str | None:
        """Why ``value`` is out of bounds, or None."""
        if self.low is None or value is None:
            return None
        if self.open and not value > self.low:
            return f"must be > {self.low:g}, got {value}"
        if not self.open and not value >= self.low:
            return f"must be >= {self.low:g}, got {value}"
        return None


#: The runtime options every compute stage shares.
Device = typing.Annotated[typing.Literal["auto", "cpu", "cuda"], Option("auto: CUDA if present, else CPU")]
Dtype = typing.Annotated[typing.Literal["float64", "float32"], Option("floating-point precision")]
ConfigHash = typing.Annotated[str, Option("hash of the workflow's config section (provenance)", hidden=True)]


@dataclass(frozen=True)
class Parameter:
    """One documented parameter of a stage function (what ``describe`` returns)."""

    name: str
    kind: type  # int, float, str, bool or Path
    option: Option
    default: object  # inspect.Parameter.empty when required
    choices: tuple | None = None
    group: str | None = None  # the function parameter (an options dataclass) this field belongs to

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def _unwrap(annotation):
    """(base type, choices or None, optional?) of an annotation without its Option."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        return type(values[0]), values, False
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        base, choices, _ = _unwrap(args[0])
        return base, choices, True
    return annotation, None, False


def _parameter(name, hint, default, group=None):
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    base, *meta = typing.get_args(hint)
    option = next((m for m in meta if isinstance(m, Option)), None)
    if option is None:
        return None
    kind, choices, _ = _unwrap(base)
    if kind not in (int, float, str, bool, Path):
        raise TypeError(f"option {name} has unsupported type {kind}")
    return Parameter(name, kind, option, default, choices, group)


def describe(function) -> list[Parameter]:
    """The documented parameters of a stage function, in signature order.

    A parameter annotated ``Annotated[type, Option(...)]`` is one option; a
    parameter whose type is a dataclass of such fields (options shared by
    several stages) contributes its fields.  Other parameters (input data,
    ``progress``) are not options.
    """
    hints = typing.get_type_hints(function, include_extras=True)
    out = []
    for name, param in inspect.signature(function).parameters.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint):
            fields = typing.get_type_hints(hint, include_extras=True)
            for f in dataclasses.fields(hint):
                default = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
                if (p := _parameter(f.name, fields[f.name], default, group=name)) is not None:
                    out.append(p)
        elif (p := _parameter(name, hint, param.default)) is not None:
            out.append(p)
    return out


def call_kwargs(function, values: dict) -> dict:
    """Keyword arguments of ``function`` from flat option values (fields of a group gathered into its dataclass)."""
    hints = typing.get_type_hints(function)
    kwargs, groups = {}, {}
    for p in describe(function):
        if p.name not in values:
            continue
        if p.group is None:
            kwargs[p.name] = values[p.name]
        else:
            groups.setdefault(p.group, {})[p.name] = values[p.name]
    for group, fields in groups.items():
        kwargs[group] = hints[group](**fields)
    return kwargs


def check_bounds(function, values: dict) -> None:
    """Raise ValueError naming the first documented parameter out of its bounds."""
    for p in describe(function):
        if p.name in values and (why := p.option.violation(values[p.name])):
            raise ValueError(f"{p.name} {why}")


def check_fields(options) -> None:
    """Raise ValueError naming the first field of an options dataclass out of its bounds."""
    hints = typing.get_type_hints(type(options), include_extras=True)
    for f in dataclasses.fields(options):
        p = _parameter(f.name, hints[f.name], f.default)
        if p is not None and (why := p.option.violation(getattr(options, f.name))):
            raise ValueError(f"{f.name} {why}")


@dataclass(frozen=True)
class Stage:
    """One stage: a study function and what the command does with its result.

    ``writes``: ``dataset`` (the function returns a Dataset, written to
    ``--out``), ``itself`` (the function takes ``out`` and writes it),
    ``table`` (an aggregate of the input files, ``--out`` and ``--csv``) or
    ``figure`` (``figures``: name -> (plot function, takes several files?)).
    """

    function: str  # "module:function"
    help: str
    writes: str = "dataset"
    figures: dict = field(default_factory=dict)
    extra_inputs: str | None = None  # a figure's second list of files (ppeps nll: --born)

    def load(self, name=None):
        module, _, attr = (self.figures[name][0] if name else self.function).partition(":")
        return getattr(importlib.import_module(module), attr)

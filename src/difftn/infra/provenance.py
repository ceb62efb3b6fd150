"""Provenance of computed results: versions, git commit, source hashes, parameters.

Every NetCDF file difftn writes carries these attributes (see ``io``), so a
result can be traced to the code and settings that produced it.
"""

import hashlib
import importlib
import json
import subprocess
from pathlib import Path

import torch

from .. import __version__

__all__ = ["source_hash", "git_commit", "provenance_attrs", "aggregate_attrs", "file_sha256", "PACKAGE_ROOT"]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # src/difftn


def _module_files(module: str) -> list[Path]:
    """Source files of a difftn module or subpackage (all .py files of a package)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"unknown module {module!r}")
    path = Path(spec.origin)
    if path.name == "__init__.py":
        return sorted(path.parent.rglob("*.py"))
    return [path]


def source_hash(*modules: str) -> str:
    """SHA-256 (first 16 hex digits) of the sources of the given modules.

    Example: ``source_hash("difftn.linalg", "difftn.contract.trg")``.  A change to any
    of those files changes the hash; a change elsewhere does not.
    """
    digest = hashlib.sha256()
    for module in sorted(set(modules)):
        for path in _module_files(module):
            digest.update(str(path.relative_to(PACKAGE_ROOT.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes: identifies the exact input a result was started from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str:
    """Commit of the checkout difftn runs from (``-dirty`` if modified), or ``unknown``."""
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance_attrs(
    *,
    stage: str,
    parameters: dict,
    modules: tuple[str, ...],
    device: torch.device,
    dtype: torch.dtype,
    wall_time_s: float,
    peak_memory_mb: float,
    config_hash: str = "none",
) -> dict:
    """Attributes recorded in every result file (NetCDF-safe: str, int, float)."""
    return {
        "difftn_stage": stage,
        "difftn_version": __version__,
        "git_commit": git_commit(),
        "torch_version": str(torch.__version__),
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "parameters": json.dumps(parameters, sort_keys=True),
        "config_hash": config_hash,
        "source_modules": ",".join(modules),
        "source_hash": source_hash(*modules),
        "wall_time_s": float(wall_time_s),
        "peak_memory_mb": float(peak_memory_mb),
    }


def aggregate_attrs(points, *, stage: str, modules: tuple[str, ...], wall_time_s: float, peak_memory_mb: float) -> dict:
    """Provenance of a table built from point files: the points' devices, dtypes and config hash.

    Raises ValueError if the points disagree on their config hash: such a
    table would mix results of different settings.  Points may come from
    different devices (e.g. GPU only for large D) and from stages of
    different code (e.g. points and exact references): their source hashes
    are listed in ``points_source_hash``.
    """
    shared = {}
    for key in ("device", "dtype", "config_hash", "source_hash"):
        values = sorted({str(ds.attrs.get(key, "unknown")) for ds in points})
        if len(values) != 1 and key == "config_hash":
            raise ValueError(f"{stage}: the input files mix {key} values {values}; recompute them together")
        shared[key] = ",".join(values)
    attrs = provenance_attrs(
        stage=stage,
        parameters={"inputs": len(points)},
        modules=modules,
        device=shared["device"],
        dtype=shared["dtype"],
        wall_time_s=wall_time_s,
        peak_memory_mb=peak_memory_mb,
        config_hash=shared["config_hash"],
    )
    attrs["points_source_hash"] = shared["source_hash"]
    return attrs

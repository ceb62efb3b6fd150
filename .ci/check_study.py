"""Check the default study's outputs: every file the README's quick start lists.

Run after `make study` (CI does): `.venv/bin/python .ci/check_study.py`.
Figures must be real PNG/PDF files of some size; NetCDF and CSV tables must be
readable and hold only finite numbers (NaN is allowed only in columns that are
documented as "no value here", listed in NAN_ALLOWED).  Exits 1 naming each
missing or bad file.

The list comes from the README itself (the bullet list after "writes" in the
Quick start section), so the README and this check cannot drift apart:
backticked paths, `{a,b}` alternatives expanded, a bare `/ .pdf` meaning the
same figures as PDF, and a name without a folder taken in the folder of the
path before it.  Items with "..." are examples of a pattern and are skipped.
"""

import itertools
import math
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Columns whose NaN means "not applicable" (e.g. no exact value at this point).
NAN_ALLOWED = {"energy_exact", "specific_heat_exact", "lnz_exact", "magnetization_exact",
               "energy_published", "magnetization_published"}


def _expand(token: str) -> list[str]:
    parts = re.split(r"\{([^}]*)\}", token)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def listed_outputs(readme: str) -> list[str]:
    """Paths (relative to the repo) of the outputs the README's quick start lists."""
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    bullets = section.split("writes", 1)[1]
    paths = []
    for line in bullets.splitlines():
        if not line.startswith("* "):
            continue
        folder, line_paths = None, []
        for token in re.findall(r"`([^`]+)`", line):
            if "..." in token or " " in token:
                continue
            if token.startswith("."):  # `/ .pdf`: the same files as PDF
                line_paths += [str(Path(p).with_suffix(token)) for p in line_paths if p.endswith(".png")]
                continue
            if "/" not in token:
                token = f"{folder}/{token}"
            for path in _expand(token):
                folder = str(Path(path).parent)
                line_paths.append(path)
        paths += line_paths
    return sorted(set(paths))


def _finite_problems(name: str, values) -> list[str]:
    import numpy as np

    values = np.asarray(values)
    if values.dtype.kind not in "fc" or name in NAN_ALLOWED:
        return []
    bad = int(np.size(values) - np.isfinite(values).sum())
    return [f"{name}: {bad} non-finite value(s)"] if bad else []


def check(path: Path) -> list[str]:
    """Problems with one output file (empty when it is fine)."""
    if not path.is_file():
        return ["missing"]
    size = path.stat().st_size
    if path.suffix == ".png":
        ok = path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and size > 10_000
        return [] if ok else [f"not a PNG figure of some size ({size} bytes)"]
    if path.suffix == ".pdf":
        ok = path.read_bytes()[:5] == b"%PDF-" and size > 5_000
        return [] if ok else [f"not a PDF figure of some size ({size} bytes)"]
    if path.suffix == ".nc":
        from difftn.infra.io import read_dataset

        ds = read_dataset(path)
        problems = [p for name, var in ds.data_vars.items() for p in _finite_problems(name, var.values)]
        return problems or ([] if ds.data_vars else ["no data variables"])
    if path.suffix == ".csv":
        import pandas as pd

        table = pd.read_csv(path)
        if table.empty:
            return ["empty table"]
        return [p for name in table.columns for p in _finite_problems(name, table[name].values)]
    return [f"unknown kind of output {path.suffix}"]


def main() -> int:
    outputs = listed_outputs((REPO / "README.md").read_text())
    failures = 0
    for rel in outputs:
        problems = check(REPO / rel)
        failures += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {rel}" + (f": {'; '.join(problems)}" if problems else ""))
    print(f"{len(outputs) - failures} of {len(outputs)} listed outputs present and finite")
    return 1 if failures or not outputs else 0


if __name__ == "__main__":
    sys.exit(main())

"""The package is layered: every import points down (or sideways within a layer).

Layers, bottom to top (docs/ARCHITECTURE.md): linalg, infra and data; models;
contract (schemes); methods; plots; studies; the cli.  The check reads every
import statement of every module (also those inside functions) with ``ast``.
"""

import ast
import importlib
from pathlib import Path

import pytest

import difftn

PACKAGE = Path(difftn.__file__).parent
RANK = {"linalg": 0, "infra": 0, "data": 0, "models": 1, "contract": 2, "methods": 3, "plots": 4, "studies": 5,
        "cli": 6, "__main__": 6}  # fmt: skip


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path.name == "__init__.py"


def _layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package root (its version only)


def _imports(path: Path, module: str, is_package: bool):
    """Absolute names of the difftn modules a file imports."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "difftn")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "difftn":
                yield target
                # "from difftn.models import ising" imports the module difftn.models.ising
                yield from (f"{target}.{a.name}" for a in node.names if (PACKAGE.parent / target.replace(".", "/") / f"{a.name}.py").exists())


def test_every_module_sits_in_a_known_layer():
    unknown = {m for _, m, _ in _modules() if m != "difftn" and _layer(m) not in RANK}
    assert not unknown, f"modules outside the layers of tests/test_layers.py: {sorted(unknown)}"


def test_imports_point_down_the_layers():
    upward = []
    for path, module, is_package in _modules():
        own = _layer(module)
        for target in _imports(path, module, is_package):
            other = _layer(target)
            if own is not None and other is not None and RANK[other] > RANK[own]:
                upward.append(f"{module} ({own}) imports {target} ({other})")
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    # The rule above must be able to fail: a model importing a contraction scheme is caught.
    path = tmp_path / "bad.py"
    path.write_text("from ..contract.trg import trg_lnz\n")
    targets = list(_imports(path, "difftn.models.bad", False))
    assert targets == ["difftn.contract.trg"]
    assert RANK[_layer(targets[0])] > RANK[_layer("difftn.models.bad")]


@pytest.mark.parametrize("module", [m for _, m, _ in _modules() if not m.endswith("__main__")])  # runs the CLI
def test_every_all_entry_exists(module):
    mod = importlib.import_module(module)
    # A submodule named in a package's __all__ is valid: ``import *`` imports it.
    folder = Path(mod.__file__).parent if mod.__file__.endswith("__init__.py") else None
    submodule = lambda name: folder is not None and ((folder / f"{name}.py").exists() or (folder / name).is_dir())  # noqa: E731
    missing = [name for name in getattr(mod, "__all__", ()) if not hasattr(mod, name) and not submodule(name)]
    assert not missing, f"{module}.__all__ names missing attributes: {missing}"

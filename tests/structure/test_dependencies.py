"""pyproject.toml's runtime dependencies are exactly the libraries qemu_mcp imports: each one it
imports (lazily inside a function too) is declared, not merely brought in by another package,
and each declared one is imported somewhere."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def third_party_imports() -> set[str]:
    """Top-level names of every absolute import in qemu_mcp/ that is neither stdlib nor our own."""
    found: set[str] = set()
    for path in (ROOT / "qemu_mcp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"qemu_mcp", "__future__"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {normalized(re.match(r"[A-Za-z0-9._-]+", d).group()) for d in deps}  # type: ignore[union-attr]


@cache
def distributions(module: str) -> frozenset[str]:
    return frozenset(normalized(d) for d in packages_distributions().get(module, []))


def test_every_import_is_declared() -> None:
    undeclared = {m: sorted(distributions(m)) for m in third_party_imports() if not distributions(m) & declared()}
    assert not undeclared, f"imported but not in [project] dependencies (module: distributions): {undeclared}"


def test_every_dependency_is_imported() -> None:
    used = set().union(*(distributions(m) for m in third_party_imports()))
    assert declared() <= used, f"declared but never imported: {sorted(declared() - used)}"

"""The package's shape, checked: imports run one way (front-ends -> ops -> backends -> host and
transport -> parsers -> shared), no cycles, no private name taken from another module, the two
backends never import each other, every module imports on its own, and modules and functions
stay small."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "qemu_mcp"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Layer of a module by its dotted-name prefix, longest prefix wins; a module may import its own
# layer or lower ones. Shared vocabulary (errors, models, config, policy, ...) is the ground floor.
LAYERS = {
    "qemu_mcp.__main__": 6,
    "qemu_mcp.frontends": 5,
    "qemu_mcp.ops": 4,
    "qemu_mcp.backends": 3,
    "qemu_mcp.host": 2,
    "qemu_mcp.transport": 2,
    "qemu_mcp.parsers": 1,
    "qemu_mcp": 0,
}
# Packages beside each other on one layer that must not know each other.
SEPARATE = [("qemu_mcp.backends.libvirt", "qemu_mcp.backends.qemu")]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def imports_of(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of qemu_mcp, local ones too."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("qemu_mcp")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if not base.startswith("qemu_mcp"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from package import module`
                    found.append((sub, [], node.lineno))
                else:
                    found.append((base, [alias.name], node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for target, _names, _line in imports_of(module):
            if target != module and target in MODULES:
                edges[module].add(target)
    return edges


def test_imports_run_downward_only() -> None:
    upward = [
        f"{m}:{line} imports {t} (layer {layer(t)} above {layer(m)})"
        for m in MODULES
        for t, _n, line in imports_of(m)
        if t in MODULES and layer(t) > layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_backends_do_not_import_each_other() -> None:
    crossing = [
        f"{m}:{line} imports {t}"
        for m in MODULES
        for t, _n, line in imports_of(m)
        for a, b in SEPARATE
        for mine, other in ((a, b), (b, a))
        if m.startswith(mine) and t.startswith(other)
    ]
    assert not crossing, "\n".join(crossing)


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_imports_sit_at_the_top_outside_the_front_ends() -> None:
    """A function-local import hides a cycle; only the front-ends import lazily (start-up time)."""
    local = [
        f"{m}:{node.lineno}"
        for m, path in MODULES.items()
        if not m.startswith("qemu_mcp.frontends")
        for fn in ast.walk(ast.parse(path.read_text()))
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert not local, "\n".join(local)


def test_no_private_name_crosses_modules() -> None:
    private = [
        f"{m}:{line} takes {n} from {t}"
        for m in MODULES
        for t, names, line in imports_of(m)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not private, "\n".join(private)


def test_modules_and_functions_stay_small() -> None:
    too_big: list[str] = []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{module}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{module}:{node.lineno} {node.name}: {length} lines (at most {MAX_FUNCTION_LINES})")
    assert not too_big, "\n".join(too_big)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports_on_its_own(module: str) -> None:
    if module == "qemu_mcp.__main__":
        pytest.skip("__main__ runs the CLI when imported")
    # A fresh interpreter: a module that only works after another one was imported fails here.
    run = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_the_layer_table_covers_every_module() -> None:
    for module in MODULES:
        importlib.util.find_spec(module)  # type: ignore[attr-defined]
        assert layer(module) >= 0

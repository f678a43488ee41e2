"""Installed as a user who manages only remote hosts would: the wheel and the sdist are built from
a copy of the tree, the wheel goes into a clean venv (pip, PyPI, no apt, no repo on sys.path),
and that venv's `qemu-mcp` answers `--version`, lists the built-in `demo` host and serves
tools/list to the official MCP Inspector."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from qemu_mcp import __version__
from tests.structure.test_dependencies import third_party_imports

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "node_modules" / ".bin"
# Never copied: VCS, venvs, npm tools and what earlier builds left behind.
NOT_SOURCE = {".git", ".venv", ".tools", "build", "dist", "node_modules"}


@dataclass(frozen=True)
class Install:
    wheel: Path
    sdist: Path
    venv: Path
    work: Path  # cwd for the installed commands: no checkout here

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def run(argv: list[str], *, timeout: float, cwd: Path | None = None, **kw: object) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, **kw)  # type: ignore[call-overload]
    assert out.returncode == 0, f"{argv} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def copy_source(dest: Path) -> Path:
    """The tree as a clone has it, so the build's egg-info and build/ land in tmp, not the repo."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = NOT_SOURCE if Path(folder) == ROOT else set()
        return {n for n in names if n in top or n == "__pycache__" or n.endswith((".egg-info", "_cache"))}

    return Path(shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True))


def build(source: Path, outdir: Path, *kinds: str) -> None:
    if importlib.util.find_spec("build") is None:
        pytest.fail("`build` missing: pip install -e '.[dev]' (scripts/quickstart.sh does)")
    run([sys.executable, "-m", "build", *kinds, "--outdir", str(outdir), str(source)], timeout=600)


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"{pattern} in {folder}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    tmp = tmp_path_factory.mktemp("install")
    started = time.monotonic()
    build(copy_source(tmp / "src"), tmp / "dist", "--sdist", "--wheel")
    built = time.monotonic()
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)  # no system site packages
    wheel = only(tmp / "dist", "*.whl")
    run([str(venv / "bin" / "pip"), "install", "--no-cache-dir", "-q", str(wheel)], timeout=900)
    print(f"build {built - started:.1f} s, clean venv + pip install {time.monotonic() - built:.1f} s, "
          f"wheel {wheel.stat().st_size} bytes")  # fmt: skip
    work = tmp / "work"
    work.mkdir()
    (work / "hosts.yaml").write_text("hosts: []\n")
    return Install(wheel=wheel, sdist=only(tmp / "dist", "*.tar.gz"), venv=venv, work=work)


def installed_env(inst: Install) -> dict[str, str]:
    """No PYTHONPATH, no dev venv on PATH: only what the clean venv holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    dev_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep) if d != dev_bin)
    return {**env, "PATH": path, "QEMU_MCP_CONFIG": str(inst.work / "hosts.yaml")}


def test_version_is_the_wheels(installed: Install) -> None:
    out = run([installed.bin("qemu-mcp"), "--version"], timeout=30, cwd=installed.work, env=installed_env(installed))
    assert out.strip() == f"qemu-mcp {__version__}"
    assert f"qemu_mcp-{__version__}-" in installed.wheel.name


def test_every_module_imports_from_the_venv(installed: Install) -> None:
    """Each module, and each library imported anywhere (lazily too), resolves in the clean venv,
    from the venv's own site-packages."""
    probe = (
        f"import importlib, pkgutil, qemu_mcp, {', '.join(sorted(third_party_imports()))}\n"
        "mods = [m.name for m in pkgutil.walk_packages(qemu_mcp.__path__, 'qemu_mcp.')]\n"
        "mods.remove('qemu_mcp.__main__')  # it runs the CLI\n"
        "for m in mods: importlib.import_module(m)\n"
        "print(qemu_mcp.__file__, len(mods))\n"
    )
    where, count = run([installed.bin("python"), "-c", probe], timeout=120, cwd=installed.work,
                       env=installed_env(installed)).split()  # fmt: skip
    assert Path(where).is_relative_to(installed.venv)
    assert int(count) == len(list((ROOT / "qemu_mcp").rglob("*.py"))) - 2  # all but __init__ and __main__


def test_vm_list_demo(installed: Install) -> None:
    argv = [installed.bin("qemu-mcp"), "vm", "list", "--host", "demo", "--json"]
    listing = json.loads(run(argv, timeout=60, cwd=installed.work, env=installed_env(installed)))
    assert listing["host"] == "demo" and listing["vm_count"] >= 1
    assert {"test"} <= {vm["name"] for vm in listing["vms"]}


def test_inspector_tools_list(installed: Install) -> None:
    exe = TOOLS_BIN / "mcp-inspector"
    assert exe.exists(), "MCP Inspector missing: `bash scripts/quickstart.sh test` installs it into .tools/"
    env = installed_env(installed)
    env["PATH"] = f"{TOOLS_BIN}:{env['PATH']}"  # its Node 22 first
    argv = [str(exe), "--cli", "--method", "tools/list", "--strict",
            "-e", f"QEMU_MCP_CONFIG={env['QEMU_MCP_CONFIG']}", "--", installed.bin("qemu-mcp"), "serve"]  # fmt: skip
    tools = {t["name"] for t in json.loads(run(argv, timeout=120, cwd=installed.work, env=env))["tools"]}
    assert {"list_vms", "get_vm_info", "host_info", "list_hosts", "manage_vm", "monitor_vm_status"} <= tools


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {n for n in z.namelist() if not n.endswith("/RECORD")}


def test_wheel_holds_the_whole_package(installed: Install) -> None:
    """Every file of qemu_mcp/ (data files too, should any appear), the console script, no tests."""
    names = wheel_files(installed.wheel)
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "qemu_mcp").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip
    assert source <= names, sorted(source - names)
    assert not {n for n in names if n.startswith("tests/")}
    with zipfile.ZipFile(installed.wheel) as z:
        entry_points = z.read(f"qemu_mcp-{__version__}.dist-info/entry_points.txt").decode()
    assert "qemu-mcp = qemu_mcp.frontends.cli.entry:run" in entry_points


def test_sdist_builds_the_same_wheel(installed: Install, tmp_path: Path) -> None:
    with tarfile.open(installed.sdist) as tar:
        top = f"qemu_mcp-{__version__}"
        names = set(tar.getnames())
        assert {f"{top}/README.md", f"{top}/pyproject.toml", f"{top}/qemu_mcp/__init__.py"} <= names
        assert not {n for n in names if n.startswith(f"{top}/tests")}
        tar.extractall(tmp_path, filter="data")
    build(tmp_path / top, tmp_path / "dist", "--wheel")
    assert wheel_files(only(tmp_path / "dist", "*.whl")) == wheel_files(installed.wheel)

"""asyncssh is imported with a lookup for liboqs that runs no compiler (transport/sshlib.py)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

from qemu_mcp.transport import sshlib


def test_the_lookup_is_restored_after_the_import() -> None:
    assert ctypes.util.find_library is sshlib._original
    assert sshlib.asyncssh.SSHClientConnection


def test_a_library_on_ld_library_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "libqmcpfake.so.3").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"/nonexistent:{tmp_path}")
    find = sshlib._loadable_only(lambda name: None)
    assert find("qmcpfake") == "libqmcpfake.so.3"
    assert find("qmcpabsent") is None


def test_a_library_in_the_linker_cache_is_found() -> None:
    find = sshlib._loadable_only(lambda name: f"lib{name}.so.1" if name == "c" else None)
    assert find("c") == "libc.so.1"


def test_importing_runs_no_compiler() -> None:
    """No gcc or ld child while asyncssh is imported (`ldconfig -p` is the one lookup)."""
    code = (
        "import subprocess\nseen = []\norig = subprocess.Popen.__init__\n"
        "def spy(self, args, *a, **k):\n    seen.append(args[0] if isinstance(args, list) else args)\n"
        "    return orig(self, args, *a, **k)\n"
        "subprocess.Popen.__init__ = spy\n"
        "import qemu_mcp.transport.sshlib\nprint(seen)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "gcc" not in out.stdout and "'ld'" not in out.stdout, out.stdout

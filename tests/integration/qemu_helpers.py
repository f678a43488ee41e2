"""Shared by the plain-QEMU backend tests: a private vm_dir, and the host's truth read directly
(pidfile, /proc/<pid>/cmdline, files, QMP over the socket with a plain socket client): never
through qemu-mcp."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.rig.proc import pid_alive

AREA_PREFIX = "qmcp-q-"  # /tmp/qmcp-q-XXXX: short, so <dir>/vms/<name>/qmp.sock fits a unix socket path


@dataclass(frozen=True)
class QemuArea:
    root: str  # holds ISOs and the like
    vm_dir: str  # <root>/vms: the host's vm_dir (created by the first create)

    def home(self, name: str) -> Path:
        return Path(self.vm_dir) / name

    def pid(self, name: str) -> int | None:
        try:
            return int((self.home(name) / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def conf(self, name: str) -> dict[str, str]:
        """vm.conf's key=value lines, read as plain text."""
        out = {}
        for line in (self.home(name) / "vm.conf").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                out[key] = value
        return out


class CountingRunner:
    """Wraps a real runner to count the commands it runs (QMP streams and the held VM lock are not
    commands)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.host, self.calls = inner, inner.host, 0

    async def run(self, argv: list[str], **kw: Any) -> Any:
        self.calls += 1
        return await self.inner.run(argv, **kw)

    async def open_unix(self, path: str) -> Any:
        return await self.inner.open_unix(path)

    def open_process(self, argv: list[str]) -> Any:
        return self.inner.open_process(argv)

    async def close(self) -> None:
        await self.inner.close()


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [w.decode() for w in raw.split(b"\0") if w]


def arg_after(argv: list[str], flag: str) -> str | None:
    for i, word in enumerate(argv[:-1]):
        if word == flag:
            return argv[i + 1]
    return None


def running_qemu(area: QemuArea, name: str) -> tuple[int, list[str]]:
    """The VM's qemu as the host shows it: the pidfile's pid, alive, with that VM's command line."""
    pid = area.pid(name)
    assert pid is not None, f"no pidfile for {name}"
    argv = cmdline(pid)
    assert argv, f"pid {pid} of {name} is not running"
    assert argv[0] == "qemu-system-x86_64" or argv[0].startswith("qemu-system-"), argv
    assert arg_after(argv, "-pidfile") == str(area.home(name) / "pid")
    assert arg_after(argv, "-uuid") == area.conf(name)["uuid"]
    assert (arg_after(argv, "-name") or "").startswith(f"guest={name},")
    return pid, argv


def stopped(area: QemuArea, name: str) -> bool:
    """No qemu of this VM runs (looked up by command line, not by the pidfile)."""
    return not qemu_pids_under(str(area.home(name)) + "/")


def qmp(sock: str | Path, command: str, arguments: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    """One QMP command over the unix socket, with a plain socket (no qemu-mcp code)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        f = s.makefile("rw")
        assert "QMP" in json.loads(f.readline())
        for cmd, args in (("qmp_capabilities", None), (command, arguments)):
            f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "event" in reply:
                    continue
                assert "error" not in reply, reply
                break
        return reply["return"]


def qemu_pids_under(prefix: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = cmdline(int(entry.name))
            if argv and argv[0].startswith("qemu-system-") and any(prefix in a for a in argv):
                pids.append(int(entry.name))
    return pids


def kill_qemus(prefix: str) -> None:
    for pid in qemu_pids_under(prefix):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while qemu_pids_under(prefix) and time.monotonic() < deadline:
        time.sleep(0.05)


def sweep_stale_areas() -> None:
    """Areas of test sessions that died: their qemus and directories."""
    for d in Path(tempfile.gettempdir()).glob(AREA_PREFIX + "*"):
        try:
            owner = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            kill_qemus(str(d) + "/")
            shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def qemu_area() -> Iterator[QemuArea]:
    sweep_stale_areas()
    root = tempfile.mkdtemp(prefix=AREA_PREFIX, dir=tempfile.gettempdir())
    os.chmod(root, 0o755)
    Path(root, "owner.pid").write_text(str(os.getpid()))
    try:
        yield QemuArea(root=root, vm_dir=f"{root}/vms")
    finally:
        kill_qemus(root + "/")
        shutil.rmtree(root, ignore_errors=True)


def vnc_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.recv(12)


def wait_for(predicate: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)

"""Small process helpers shared by the rig: run a command, pick a port, wait for a listener."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

# The product runs virsh with LC_ALL=C; the rig does the same so error texts are predictable.
ENV_C = {**os.environ, "LC_ALL": "C"}


class RigError(RuntimeError):
    """The test rig itself could not be set up: a broken machine, not a product bug."""


def run(
    cmd: str | Sequence[str],
    check: bool = True,
    *,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run argv (a sequence) or a bash command line (a str) with LC_ALL=C and captured text output.

    With check=True a non-zero exit raises RigError showing stdout/stderr (never `input`,
    which may carry a password).
    """
    argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    cp = subprocess.run(
        argv,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV_C,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and cp.returncode != 0:
        raise RigError(
            f"`{shlex.join(argv)}` exited {cp.returncode}\n"
            f"--- stdout\n{cp.stdout.strip()}\n--- stderr\n{cp.stderr.strip()}"
        )
    return cp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (callers retry if it gets taken)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_banner(port: int, alive: subprocess.Popen[bytes], timeout: float = 15, address: str = "127.0.0.1") -> bool:
    """Wait until address:port sends an SSH banner; False if `alive` exited first or on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive.poll() is None:
        try:
            with socket.create_connection((address, port), timeout=2) as s:
                if s.recv(8).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"

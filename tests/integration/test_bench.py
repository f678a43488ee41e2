"""scripts/bench.py runs end to end with tiny sizes (every anchor, the table, the cleanup). No
timing is asserted here: the bench is where wall-clock figures live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "libvirt RPC client", "session floor", "one-process floor", "one virsh process per VM",
    "list_vms in-process, warm (virsh sessions)", "XML read every call", "sessions off", "MCP client", "cold",
    "one SSH connection per command", "concurrent list_vms via MCP: p50", "p99", "monitor jitter",
)  # fmt: skip


def test_the_bench_runs_every_anchor_with_tiny_sizes(libvirtd_running: None) -> None:
    tiny = ["--vms", "2", "--reps", "1", "--cold-reps", "1", "--per-conn-vms", "1", "--concurrent", "3",
            "--samples", "1", "--fan-hosts", "2", "--fleet-sizes", "3"]  # fmt: skip
    done = subprocess.run([sys.executable, "scripts/bench.py", *tiny], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    assert "network namespace" in table or "NOT a namespace host" in table
    assert "bashrc without pyenv" in table or "pyenv" not in Path("/root/.bashrc").read_text(errors="replace")
    missing = [row for row in ROWS if row not in table]
    assert not missing, table
    assert "3/3 answered" in table and "goals:" in table
    assert "OpenSSH clients started at once" in table and "over     3 hosts in one call" in table
    assert "the client's schema check of one" in table and "the published flat shape" in table
    names = subprocess.run(["virsh", "-q", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True,
                           text=True).stdout  # fmt: skip
    assert "-bench-" not in names  # the bench removed its domains

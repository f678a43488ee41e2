"""The fault-injection suite (issue 10): each case breaks something real (network, sshd, libvirtd,
qemu, the disk, a second process) while qemu-mcp works, and asserts BOTH that the caller got a
clear error and that nothing was lost or leaked. Every case records what it saw with the
`fault` fixture; `scripts/faults_report.py` prints the table the README shows.

The suite runs after the main suite, on its own (`pytest tests/faults`): some cases stop and
restart libvirtd, which would disturb concurrent tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

REPORT = Path(os.environ.get("QEMU_MCP_FAULTS_REPORT", "/tmp/qemu-mcp-faults.jsonl"))


@dataclass
class FaultRecord:
    """One fault case: how many calls it made, how many ended in a clear error, and whether
    anything was lost (a VM, disk or definition that should exist and does not) or leaked (a
    process, domain, file, lock or connection that should not exist and does)."""

    fault: str
    calls: int = 0
    clear_errors: int = 0
    data_lost: int = 0
    leaks: int = 0
    notes: list[str] = field(default_factory=list)

    def called(self, n: int = 1) -> None:
        self.calls += n

    def clear_error(self, message: str, *must_contain: str | tuple[str, ...]) -> None:
        """A call failed; its message must say what and where: each of `must_contain` (a tuple:
        one of its words) is in it."""
        missing = [w for w in must_contain if not any(a in message for a in ((w,) if isinstance(w, str) else w))]
        assert not missing, f"error lacks {missing}: {message}"
        self.clear_errors += 1

    def lost(self, what: str) -> None:
        self.data_lost += 1
        self.notes.append(f"lost: {what}")

    def leaked(self, what: str) -> None:
        self.leaks += 1
        self.notes.append(f"leaked: {what}")


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> Iterator[FaultRecord]:
    """The record of this case; written to the report when the case ends, failed or not."""
    marker = request.node.get_closest_marker("fault")
    record = FaultRecord(marker.args[0] if marker else request.node.name)
    yield record
    with REPORT.open("a") as f:
        f.write(json.dumps({**asdict(record), "test": request.node.nodeid}) + "\n")
    assert record.data_lost == 0 and record.leaks == 0, record.notes


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault(name): the fault a case injects, as the report names it")

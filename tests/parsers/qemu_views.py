"""The plain-QEMU fixtures (commands-qemu.jsonl) as the product reads them, as JSON.

- READ_SCRIPT output: parsers.qemu_host.parse_read, then what the listing makes of each VM
  (backends.qemu.read.build_vm + vm_info);
- SAMPLE_SCRIPT output: parse_sample, then one QemuSampler reading, whose QMP half replays the
  session captured at the same moment (qmp-sampler.<vm>.txt) when there is one;
- CHECK_SCRIPT / TCP_LISTEN_SCRIPT: parse_key_values / listening_ports;
- qemu-img info: parsers.qemu_img.virtual_size;
- qemu-img snapshot -l: parsers.qemu_img_snapshots.parse_snapshot_list (manage_snapshot's listing);
- QMP sessions (scripts/qmp_session.py): the transcript replayed through QMPClient, sending the
  same commands.
Multi-line texts are shown as lists of lines (text.split("\\n"): a last "" is a final newline).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qemu_mcp.backends.qemu.qmp import QMPClient, QMPError
from qemu_mcp.backends.qemu.read import build_vm, vm_info
from qemu_mcp.backends.qemu.sampler import QemuSampler
from qemu_mcp.backends.qemu.states import monitor_state, vm_status
from qemu_mcp.config import HostSpec
from qemu_mcp.models_monitor import ALL_METRICS
from qemu_mcp.parsers.qemu_host import (
    FileFacts,
    RawSample,
    RawVm,
    listening_ports,
    parse_key_values,
    parse_read,
    parse_sample,
)
from qemu_mcp.parsers.qemu_img import virtual_size
from qemu_mcp.parsers.qemu_img_snapshots import parse_snapshot_list
from qemu_mcp.transport.base import CommandResult

HOST = "fixture"
WALL = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Transcript:
    """A QMP socket that answers with the captured lines, and keeps what the client wrote."""

    def __init__(self, data: bytes) -> None:
        self.lines = data.splitlines(keepends=True)
        self.written = b""

    async def readline(self) -> bytes:
        return self.lines.pop(0) if self.lines else b""

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None


class FixtureRunner:
    """A Runner whose command prints the captured stdout and whose QMP socket is a transcript."""

    host = HOST

    def __init__(self, stdout: str = "", qmp: bytes | None = None) -> None:
        self.stdout = stdout
        self.socket = None if qmp is None else Transcript(qmp)

    async def run(self, argv: list[str], **_: Any) -> CommandResult:
        return CommandResult(tuple(argv), 0, self.stdout, "", 0.0, HOST)

    async def open_unix(self, path: str) -> tuple[Transcript, Transcript]:
        if self.socket is None:
            raise FileNotFoundError(path)  # no qmp.sock: the VM does not run
        return self.socket, self.socket

    async def close(self) -> None:
        return None


def text_lines(text: str | None) -> list[str] | None:
    """None (no such section) stays None; "" (an empty or missing section) is []."""
    if text is None:
        return None
    return text.split("\n") if text else []


def files_view(files: dict[str, FileFacts]) -> dict[str, Any]:
    return {
        path: {"size": f.size, "allocated": f.allocated, "header": " ".join(map(str, f.header))}
        for path, f in files.items()
    }


def raw_vm_view(vm: RawVm) -> dict[str, Any]:
    return {
        "name": vm.name,
        "conf": text_lines(vm.conf),
        "creating": text_lines(vm.creating),
        "socket": vm.socket,
        "pid": vm.pid,
        "cmdline": vm.cmdline,
        "cleaned": vm.cleaned,
        "files": files_view(vm.files),
    }


ACCESS = {"addresses", "ssh", "vnc"}


def read_view(text: str, argv: list[str]) -> dict[str, Any]:
    """argv: sh -c READ_SCRIPT $0 MARKER clean|keep VM_DIR [NAME...]."""
    marker, vm_dir = argv[4], argv[6]
    exists, raws = parse_read(text, marker)
    return {
        "exists": exists,
        "vms": [raw_vm_view(r) for r in raws],
        # addresses, ssh and vnc are filled by backends.qemu.addresses after vm_info, not by it.
        "listing": [vm_info(HOST, build_vm(r, vm_dir)).model_dump(mode="json", exclude=ACCESS) for r in raws],
    }


def raw_sample_view(raw: RawSample) -> dict[str, Any]:
    return {
        "clk_tck": raw.clk_tck,
        "gone": raw.gone,
        "conf": text_lines(raw.conf),
        "pid": raw.pid,
        "cmdline": raw.cmdline,
        "stat": raw.stat,
        "status": text_lines(raw.status),
        "io": text_lines(raw.io),
        "tasks": raw.tasks,
        "taps": raw.taps,
        "files": files_view(raw.files),
    }


async def sample_view(fixture_dir: Path, text: str, argv: list[str]) -> dict[str, Any]:
    """argv: sh -c SAMPLE_SCRIPT $0 MARKER VM_DIR/NAME."""
    marker = argv[4]
    vm_dir, _, name = argv[5].rpartition("/")
    session = fixture_dir / f"qmp-sampler.{name}.txt"
    runner = FixtureRunner(text, session.read_bytes() if session.exists() else None)
    sampler = QemuSampler(runner, HostSpec(name=HOST, vm_dir=vm_dir), name, ALL_METRICS, timeout=5.0)
    sampler.marker = marker  # the capture's fixed marker, not a fresh one
    counters = dataclasses.asdict(await sampler.read())
    for moment in ("started", "taken_at", "wall"):
        counters.pop(moment)
    return {
        "sample": raw_sample_view(parse_sample(text, marker)),
        "qmp_session": session.name if session.exists() else None,
        "counters": counters,
    }


async def qmp_view(text: str, argv: list[str]) -> dict[str, Any]:
    """argv: scripts/qmp_session.py SOCKET qmp_capabilities COMMAND[=JSON-ARGUMENTS]..."""
    runner = FixtureRunner(qmp=text.encode())
    client = await QMPClient.connect(runner, argv[1])  # greeting + qmp_capabilities
    replies = []
    for word in argv[3:]:
        command, sep, arguments = word.partition("=")
        try:
            value = await client.execute(command, json.loads(arguments) if sep else None)
        except QMPError as e:
            replies.append({"command": command, "error": str(e)})
            continue
        reply: dict[str, Any] = {"command": command, "return": value}
        if command == "query-status":  # the words describe/list and monitor_vm_status make of it
            reply["vm_status"] = vm_status(alive=True, qmp_status=value["status"])
            reply["monitor_state"] = monitor_state(alive=True, qmp_status=value["status"])
        replies.append(reply)
    assert runner.socket is not None
    return {
        "greeting": client.greeting,
        "requests": [json.loads(line) for line in runner.socket.written.splitlines()],
        "replies": replies,
        "events": client.events,
        "unread": [json.loads(line) for line in runner.socket.lines],
    }


def image_view(text: str) -> dict[str, Any]:
    try:
        return {"virtual_size": virtual_size(text)}
    except ValueError as e:
        return {"refused": str(e).split(":")[0]}


def qemu_view(fixture_dir: Path, text: str, argv: list[str]) -> Any:
    """The parse of a plain-QEMU fixture; None when argv is not one of theirs."""
    if argv[0].endswith("qmp_session.py"):
        return asyncio.run(qmp_view(text, argv))
    if argv[:2] == ["qemu-img", "info"]:
        return image_view(text)
    if argv[:2] == ["qemu-img", "snapshot"]:
        return {"snapshots": [dataclasses.asdict(s) | {"memory": s.memory} for s in parse_snapshot_list(text)]}
    if argv[:2] != ["sh", "-c"]:
        return None
    if len(argv) == 3 and "/proc/net/tcp" in argv[2]:
        return {"listening": sorted(listening_ports(text))}
    script_name = argv[3] if len(argv) > 3 else ""
    if script_name == "qmcp-qemu-read":
        return read_view(text, argv)
    if script_name == "qmcp-qemu-sample":
        return asyncio.run(sample_view(fixture_dir, text, argv))
    if script_name == "qmcp-qemu-check":
        return parse_key_values(text)
    return None

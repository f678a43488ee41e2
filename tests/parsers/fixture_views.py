"""Which product parser reads which captured fixture, and what the parse looks like as JSON.

tests/parsers/test_fixtures.py compares this parse of every raw fixture <what>.txt with
<what>.expected.json. Nothing here writes expected files: they are written and checked by a
person against the raw text (fixtures/*/REVIEWED.md says who checked what, and when).

The parser is chosen from the command recorded for the file in commands.txt (virsh, hostio:
file<TAB>exit status<TAB>shell-quoted argv) or a commands-*.jsonl (one JSON object per line, the
exact argv): commands-qemu.jsonl (the plain-QEMU scripts, qemu-img, QMP sessions),
commands-netpool.jsonl (the network and storage-pool scripts, see netpool_views) and
commands-session.jsonl (virsh sessions: argv and the batches sent, see session_views) and
commands-events.jsonl (the libvirt event watch: argv and the virsh actions it saw). For a virsh batch
('c1; echo MARK; c2') each section is parsed by the parser of the command that produced it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qemu_mcp.host.iostat import MARK as HOSTIO_MARK
from qemu_mcp.ops.host_io import parse_host_io
from qemu_mcp.parsers.diskstats import parse_diskstats
from qemu_mcp.parsers.domain_xml import parse_domain_xml
from qemu_mcp.parsers.domid import parse_domid
from qemu_mcp.parsers.domstats import block_devices, cpu_time_ns, domstat_int, net_devices, parse_domstats
from qemu_mcp.parsers.domstats import state_name as state_word
from qemu_mcp.parsers.nodeinfo import parse_nodeinfo
from qemu_mcp.parsers.sections import split_sections
from qemu_mcp.parsers.version import parse_virsh_version
from qemu_mcp.parsers.virsh_event import parse_event_line
from qemu_mcp.parsers.virsh_list import parse_name_lines, parse_virsh_list

from .addr_views import addr_view
from .netpool_views import netpool_view
from .qemu_views import qemu_view
from .session_views import read_session_index, session_view

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
JSON_INDEXES = "commands-*.jsonl"


def domstats_view(text: str) -> dict[str, Any]:
    """The raw map plus what the typed helpers make of each domain."""
    domains = parse_domstats(text)
    derived = {}
    for name, stats in domains.items():
        code = domstat_int(stats, "state.state")
        derived[name] = {
            "state": None if code is None else state_word(code),
            "cpu_time_ns": cpu_time_ns(stats),
            "block": block_devices(stats),
            "net": net_devices(stats),
        }
    return {"domains": domains, "derived": derived}


def xml_view(text: str) -> dict[str, Any]:
    return parse_domain_xml(text).model_dump(mode="json")


# virsh command (as typed in a batch) -> parser; first match wins.
_COMMAND_PARSERS: list[tuple[re.Pattern[str], Callable[[str], Any]]] = [
    (re.compile(r"^domstats\b"), domstats_view),
    (re.compile(r"^dumpxml\b"), xml_view),
    (re.compile(r"^domid\b"), parse_domid),
    (re.compile(r"^nodeinfo$"), parse_nodeinfo),
    (re.compile(r"^version\b"), parse_virsh_version),
    (re.compile(r"^list --all( --[a-z]+)+$"), parse_name_lines),  # --name, --uuid, --uuid --autostart, ...
    (re.compile(r"^list --all$"), parse_virsh_list),
]


def parser_for(command: str) -> Callable[[str], Any] | None:
    return next((fn for pattern, fn in _COMMAND_PARSERS if pattern.search(command)), None)


def read_commands(fixture_dir: Path) -> dict[str, tuple[int, list[str]]]:
    """Every index (commands.txt, commands-*.jsonl): file name -> (exit status, argv)."""
    result = {}
    for line in (fixture_dir / "commands.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, status, command = line.split("\t", 2)
        result[name] = (int(status), shlex.split(command))
    for index in sorted(fixture_dir.glob(JSON_INDEXES)):
        for line in index.read_text().splitlines():
            entry = json.loads(line)
            result[entry["file"]] = (entry["exit_status"], entry["argv"])
    return result


def split_script(script: str) -> tuple[str | None, list[str]]:
    """(marker, command per section) of a virsh command string 'c1; echo MARK; c2 ...'."""
    found = re.search(r"(?:^|;)\s*echo ([^\s;]+)\s*(?:;|$)", script)
    if found is None:
        return None, [script]
    marker = found.group(1)
    return marker, re.split(r"\s*;\s*echo " + re.escape(marker) + r"\s*(?:;\s*|$)", script)


def host_io_view(text: str, interval: str) -> dict[str, Any]:
    """hostio script output: what host_stats reports, plus each /proc/diskstats read as parsed."""
    source, devices = parse_host_io(text, int(interval))
    view: dict[str, Any] = {"source": source, "devices": [d.model_dump() for d in devices]}
    if source == "diskstats":
        reads = split_sections(text, HOSTIO_MARK, 4)[2:]
        view["reads"] = [dataclasses.asdict(parse_diskstats(r)) for r in reads]
    return view


def parse_fixture(fixture_dir: Path, name: str) -> Any:
    """The JSON-able parse of raw fixture `name` (e.g. "virsh-nodeinfo.qemu-system.txt")."""
    text = (fixture_dir / name).read_text()
    sessions = read_session_index(fixture_dir)
    if name in sessions:
        return session_view(text, sessions[name], parser_for)
    status, argv = read_commands(fixture_dir)[name]
    if argv[:2] == ["sh", "-c"] and argv[3:4] == ["qemu-mcp-events"]:  # the libvirt event watch
        return [dataclasses.asdict(e) if e else None for e in map(parse_event_line, text.splitlines())]
    if argv[:2] == ["sh", "-c"] and argv[3:4] == ["qemu-mcp-hostio"]:  # sh -c SCRIPT $0 INTERVAL SOURCE
        return host_io_view(text, argv[4])
    addr = addr_view(name, text)
    if addr is not None:
        return addr
    netpool = netpool_view(fixture_dir, name, text, status, argv)
    if netpool is not None:
        return netpool
    qemu = qemu_view(fixture_dir, text, argv)
    if qemu is not None:
        return qemu
    marker, commands = split_script(argv[-1])  # argv: env LC_ALL=C virsh -c URI SCRIPT
    if marker is None:
        parser = parser_for(commands[0])
        if parser is None:
            raise ValueError(f"no parser known for {commands[0]!r} ({name})")
        return parser(text)
    sections = split_sections(text, marker, len(commands))
    parsed = []
    for command, section in zip(commands, sections, strict=True):
        parser = parser_for(command)
        parsed.append(parser(section) if parser and section else None)
    return {"exit_status": status, "marker": marker, "commands": commands,
            "sections": sections, "parsed": parsed}  # fmt: skip


def raw_fixtures(fixture_dir: Path) -> list[str]:
    return sorted(
        p.name for p in fixture_dir.glob("*.txt") if p.name != "commands.txt" and not p.name.endswith(".stderr.txt")
    )

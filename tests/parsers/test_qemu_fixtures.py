"""What the plain-QEMU backend relies on, as the captured fixtures recorded it (re-checked per distro).

test_fixtures.py compares each parse with its hand-checked expected file; these tests name the
behaviours of the real programs that the parsers and the QMP client are built around.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qemu_mcp.parsers.qemu_host import parse_read, parse_sample, parse_stat

from .fixture_views import FIXTURES, read_commands

DIRS = sorted(d for d in FIXTURES.iterdir() if (d / "commands-qemu.jsonl").exists())
MARK = "@@qmcp-c0ffee@@"


def messages(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_qmp_events_can_come_before_the_reply(d: Path) -> None:
    """QEMU sends STOP before `stop`'s reply and SHUTDOWN before `quit`'s: QMPClient keeps reading
    (and keeps the events) until the reply with its id arrives."""
    session = messages(d / "qmp-session.fix-run.txt")
    stop_reply = next(i for i, m in enumerate(session) if m.get("id") == 4)
    assert session[stop_reply - 1].get("event") == "STOP"
    quit_session = messages(d / "qmp-quit.fix-run.txt")
    assert [m.get("event") for m in quit_session[2:]] == ["SHUTDOWN", None] and quit_session[-1]["id"] == 2


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_blockstats_name_disks_by_node_name(d: Path) -> None:
    """With -blockdev, query-blockstats leaves "device" empty: the node name (vda, vdb) is the disk."""
    (blockstats,) = [m["return"] for m in messages(d / "qmp-sampler.fix-run.txt") if m.get("id") == 3]
    assert isinstance(blockstats, list)
    assert [(b["device"], b["node-name"]) for b in blockstats] == [("", "vda"), ("", "vdb")]


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_vcpu_threads_are_named_by_debug_threads(d: Path) -> None:
    raw = parse_sample((d / "qemu-sample.fix-run.txt").read_text(), MARK)
    names = [t.comm for t in map(parse_stat, raw.tasks) if t is not None]
    assert "CPU 0/TCG" in names and len(names) == len(raw.tasks)


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_file_lines_as_od_prints_them(d: Path) -> None:
    """od -An starts with a space, so a `file` line has an empty word before the header bytes; a
    file that is not there prints '- - -' and no header."""
    text = (d / "qemu-read-keep.vms.txt").read_text()
    assert f"{MARK} file - - - \n" in text and " 512  81 70 73 251 " in text
    _, vms = parse_read(text, MARK)
    headers = {path: facts.header for vm in vms for path, facts in vm.files.items()}
    assert sorted(len(h) for h in headers.values()) == [0, 0, 32, 32, 32]


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_stale_pidfiles_are_removed_only_by_the_clean_read(d: Path) -> None:
    keep, clean = (d / "qemu-read-keep.vms.txt").read_text(), (d / "qemu-read-clean.vms.txt").read_text()
    assert f"{MARK} cleaned" not in keep and clean.count(f"{MARK} cleaned") == 2
    assert read_commands(d)["qemu-read-clean.vms.txt"][1][5] == "clean"

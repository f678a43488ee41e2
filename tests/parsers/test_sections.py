from __future__ import annotations

import re

import pytest

from qemu_mcp.host.iostat import MARK as HOSTIO_MARK
from qemu_mcp.parsers.nodeinfo import parse_nodeinfo
from qemu_mcp.parsers.probe import SECTION as PROBE_SECTION
from qemu_mcp.parsers.probe import parse_probe
from qemu_mcp.parsers.sections import (
    fixed_marker,
    marked_sections,
    new_marker,
    script_marker,
    split_sections,
    tagged_sections,
)

M = "@@qmcp-7f3a9c@@"


def test_failed_command_in_the_middle() -> None:
    # What virsh prints for 'list --name; echo M; dumpxml nosuch; echo M; nodeinfo':
    # the failed dumpxml leaves a lone newline on stdout.
    out = f"web\n\n{M}\n\n{M}\nCPU(s):  2\n\n"
    assert split_sections(out, M, 3) == ["web\n\n", "", "CPU(s):  2\n\n"]


def test_pads_missing_sections() -> None:
    # A batch that did not parse prints nothing at all.
    assert split_sections("", M, 3) == ["", "", ""]
    assert split_sections(f"a\n{M}\n", M, 3) == ["a\n", "", ""]


def test_too_many_sections() -> None:
    with pytest.raises(ValueError, match=r"3 sections .* expected 2"):
        split_sections(f"a\n{M}\nb\n{M}\nc\n", M, 2)


def test_marker_must_be_a_whole_line() -> None:
    out = f"say {M}\n{M}x\n{M} \n{M}\r\nlast\n"
    assert split_sections(out, M, 2) == [f"say {M}\n{M}x\n{M} \n", "last\n"]


def test_no_trailing_newline() -> None:
    assert split_sections(f"a\n{M}\nb", M, 2) == ["a\n", "b"]


@pytest.mark.parametrize(("marker", "expected"), [("", 1), ("a\nb", 1), (M, 0)])
def test_bad_arguments(marker: str, expected: int) -> None:
    with pytest.raises(ValueError):
        split_sections("x", marker, expected)


def test_markers_are_made_in_one_shape() -> None:
    assert fixed_marker("hostio") == HOSTIO_MARK == "@@qmcp-hostio@@"  # the fixtures hold it
    assert PROBE_SECTION == "@@qmcp-probe@@"
    assert re.fullmatch(r"@@qmcp-[0-9a-f]{12}@@", new_marker())
    assert script_marker(M) == M
    for bad in ("a b", "a;b", "$x", "", "a\nb"):
        with pytest.raises(ValueError, match="letters, digits"):
            script_marker(bad)


def test_marked_sections_keeps_every_part() -> None:
    assert marked_sections(f"a\n{M}\n \n{M}\n{M}\nb", M) == ["a\n", " \n", "", "b"]
    assert marked_sections("", M) == [""]


def test_tagged_sections() -> None:
    out = f"noise\n{M} vm a  b\n{M} conf\nx=1\n\n{M} pid 42\n{M} file 1 2 3\n/p\n{M}x not a tag\n{M} pid x\n"
    found = tagged_sections(out, M)
    assert [(t.tag, t.rest, t.lines) for t in found] == [
        ("vm", "a  b", []), ("conf", "", ["x=1", ""]), ("pid", "42", []), ("file", "1 2 3", ["/p", f"{M}x not a tag"]),
        ("pid", "x", [])]  # fmt: skip
    assert (found[2].number, found[4].number, found[3].words, found[1].text) == (42, None, ["1", "2", "3"], "x=1\n")


def test_probe_output_sections() -> None:
    s = PROBE_SECTION
    with_virsh = parse_probe(f"hostname=h\nqemu_system=/usr/bin/q\n{s}\nCPU(s): 2\n{s}\nlibvirt 9\nvirsh_exit=0\n")
    assert with_virsh.facts == {"hostname": "h"} and with_virsh.qemu_system == ["/usr/bin/q"]
    assert parse_nodeinfo(with_virsh.nodeinfo or "") == {"cpus": 2}
    assert (with_virsh.version, with_virsh.virsh_ok) == ("libvirt 9", True)
    without = parse_probe("hostname=h\n")
    assert (without.nodeinfo, without.version, without.virsh_ok) == (None, None, False)

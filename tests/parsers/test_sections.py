from __future__ import annotations

import pytest

from qemu_mcp.parsers.sections import split_sections

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

"""A warm listing parses only the domain XML that changed since the host's last listing
(backends/libvirt/read.py `_vms` with the sessions' `parsed`), and never hands out what it keeps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qemu_mcp.backends.libvirt import read
from qemu_mcp.backends.libvirt.session_read import Listing
from qemu_mcp.config import HostSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "debian-12"
SPEC = HostSpec(name="h", address="192.0.2.1", backend="libvirt")


def captured(name: str) -> tuple[str, str]:
    xml = (FIXTURES / f"virsh-dumpxml-{name}.qemu-system.txt").read_text()
    match = re.search(r"^  <uuid>(.+)</uuid>$", xml, re.MULTILINE)
    assert match
    return match.group(1), xml


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = read.domain_root

    def counting(xml: str):  # type: ignore[no-untyped-def]
        seen.append(xml)
        return real(xml)

    monkeypatch.setattr(read, "domain_root", counting)
    return seen


def test_unchanged_xml_is_not_parsed_again_and_results_are_never_shared(parses: list[str]) -> None:
    (u1, x1), (u2, x2) = captured("qmcp-cap-run"), captured("qmcp-cap-off")
    parsed: dict[str, read.Parsed] = {}
    first = read._vms(SPEC, Listing([u1, u2], set(), {u1, u2}, {}, {u1: x1, u2: x2}), parsed)
    assert len(parses) == 2 and set(parsed) == {u1, u2}
    first[0].nics[0].mac = "changed by a caller"
    first[0].disks[0].path = "/changed/by/a/caller"
    again = read._vms(SPEC, Listing([u1, u2], set(), {u1, u2}, {}, {u1: x1, u2: x2}), parsed)
    assert len(parses) == 2  # nothing parsed
    assert again == read._vms(SPEC, Listing([u1, u2], set(), {u1, u2}, {}, {u1: x1, u2: x2}))  # as uncached
    del parses[2:]
    assert again[0].nics[0].mac != "changed by a caller" and again[0].disks[0].path != "/changed/by/a/caller"

    changed = x1.replace("</domain>", "  <description>now</description>\n</domain>")
    read._vms(SPEC, Listing([u1], set(), set(), {}, {u1: changed}), parsed)
    assert parses[-1] == changed and len(parses) == 3  # changed XML parsed; u2 gone: forgotten
    assert set(parsed) == {u1} and parsed[u1][0] == changed

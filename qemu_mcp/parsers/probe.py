"""Parse the host probe's output (see qemu_mcp.host.probe)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qemu_mcp.parsers.sections import fixed_marker, marked_sections

SECTION = fixed_marker("probe")  # between the probe script's parts (qemu_mcp.host.probe)


@dataclass
class ProbeOutput:
    facts: dict[str, str] = field(default_factory=dict)
    qemu_system: list[str] = field(default_factory=list)
    nodeinfo: str | None = None  # raw `virsh nodeinfo`, when virsh ran
    version: str | None = None  # raw `virsh version`
    virsh_ok: bool = False


def parse_probe(text: str) -> ProbeOutput:
    out = ProbeOutput()
    sections = marked_sections(text, SECTION)
    for line in sections[0].splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "qemu_system":
            out.qemu_system.append(value)
        else:
            out.facts[key] = value.strip()
    if len(sections) >= 3:
        out.nodeinfo = sections[1]
        tail = sections[2].splitlines()
        status = [ln for ln in tail if ln.startswith("virsh_exit=")]
        out.version = "\n".join(ln for ln in tail if not ln.startswith("virsh_exit="))
        out.virsh_ok = bool(status) and status[-1] == "virsh_exit=0" and bool(out.version.strip())
    return out

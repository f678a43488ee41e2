"""Parse the host probe's output (see qemu_mcp.host.probe)."""

from __future__ import annotations

from dataclasses import dataclass, field

SECTION = "@@qmcp-probe@@"  # between the probe script's parts (qemu_mcp.host.probe)


@dataclass
class ProbeOutput:
    facts: dict[str, str] = field(default_factory=dict)
    qemu_system: list[str] = field(default_factory=list)
    nodeinfo: str | None = None  # raw `virsh nodeinfo`, when virsh ran
    version: str | None = None  # raw `virsh version`
    virsh_ok: bool = False


def parse_probe(text: str) -> ProbeOutput:
    out = ProbeOutput()
    sections = [s for s in _split(text)]
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


def _split(text: str) -> list[str]:
    parts: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip() == SECTION:
            parts.append([])
        else:
            parts[-1].append(line)
    return ["\n".join(p) for p in parts]

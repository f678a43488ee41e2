"""One round trip lists every domain: a fixed sh script runs two virsh processes on the host.

The first virsh lists the UUIDs; the second runs `list --autostart; list --persistent;
domstats --raw; dumpxml UUID...` in one process. The URI and the marker are positional
arguments ($1, $2): no user text is ever part of the script. UUIDs come from libvirt and are
checked to be hex-and-dashes before they join the second command string.

Output, sections separated by lines equal to the marker:
    uuids, autostart uuids, persistent uuids, domstats, dumpxml of uuid 1, ..., dumpxml of uuid N
"""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.parsers.sections import script_marker

LIST_SCRIPT = r"""
export LC_ALL=C
uuids=$(virsh -c "$1" list --all --uuid) || exit $?
cmds="list --all --uuid --autostart; echo $2; list --all --uuid --persistent; echo $2; domstats --raw --nowait"
for u in $uuids; do
  case $u in *[!0-9a-fA-F-]*) continue ;; esac
  cmds="$cmds; echo $2; dumpxml --domain $u"
done
printf '%s\n' "$uuids"
echo "$2"
exec virsh -c "$1" "$cmds"
"""

FIXED_SECTIONS = 4  # uuids, autostart, persistent, domstats; then one per uuid


def list_all_domains(uri: str, marker: str) -> list[str]:
    script_marker(marker)
    return ["sh", "-c", LIST_SCRIPT, "qemu-mcp-list", validation.libvirt_uri(uri), marker]

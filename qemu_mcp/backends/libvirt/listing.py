"""One round trip lists every domain and the addresses the host knows for them: a fixed sh script
runs two virsh processes (three on a host without domains) and `ip -j neigh` on the host.

The first virsh lists the domain UUIDs and the active networks' UUIDs, its errors dropped: a host
without a network driver still lists its domains. When that printed no domain, the domain list is
asked again with its errors kept, so that a failure is reported as virsh words it (and a host
without domains ends there: nothing to list, no address to find). The second virsh runs `list
--autostart; list --persistent; net-dhcp-leases` of each network, `domstats --raw; dumpxml UUID...`
in one process; its exit status, the last dumpxml's, is the script's. The URI and the marker are
positional arguments ($1, $2): no user text is ever part of the script. UUIDs come from libvirt
and are checked to be hex-and-dashes before they join the second command string.

Output, sections separated by lines equal to the marker:
    uuids, `ip -j neigh`, autostart uuids, persistent uuids, leases (a `MARKER leases NETWORK-UUID`
    line before each network's table), domstats, dumpxml of uuid 1, ..., dumpxml of uuid N

The addresses cost the listing about 2 ms on the host, where asking them in a command of their own
(host_addresses.py, still used after a listing on virsh sessions) costs a second round trip.
"""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.parsers.sections import script_marker

LIST_SCRIPT = r"""
export LC_ALL=C
out=$(virsh -c "$1" "list --all --uuid; echo $2; net-list --uuid" 2>/dev/null)
case $out in *"$2"*) uuids=${out%%"$2"*} nets=${out#*"$2"} ;; *) uuids= nets= ;; esac
case $uuids in *[0-9a-fA-F]*) ;; *)
  uuids=$(virsh -c "$1" list --all --uuid) || exit $?
  case $uuids in *[0-9a-fA-F]*) ;; *) exit 0 ;; esac ;;
esac
cmds="list --all --uuid --autostart; echo $2; list --all --uuid --persistent; echo $2"
for n in $nets; do
  case $n in *[!0-9a-fA-F-]*) continue ;; esac
  cmds="$cmds; echo $2 leases $n; net-dhcp-leases --network $n"
done
cmds="$cmds; echo $2; domstats --raw --nowait"
for u in $uuids; do
  case $u in *[!0-9a-fA-F-]*) continue ;; esac
  cmds="$cmds; echo $2; dumpxml --domain $u"
done
printf '%s\n' "$uuids"
echo "$2"
ip -j neigh 2>/dev/null
echo "$2"
exec virsh -c "$1" "$cmds"
"""

# uuids, neighbours, autostart, persistent, leases, domstats; then one per uuid
UUIDS, NEIGHBOURS, AUTOSTART, PERSISTENT, LEASES, DOMSTATS = range(6)
FIXED_SECTIONS = 6


def list_all_domains(uri: str, marker: str) -> list[str]:
    script_marker(marker)
    return ["sh", "-c", LIST_SCRIPT, "qemu-mcp-list", validation.libvirt_uri(uri), marker]

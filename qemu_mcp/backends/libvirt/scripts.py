"""The fixed sh scripts that read a libvirt host's networks and storage pools, each in one round
trip, and how their output is read back (backends.libvirt.networks and .pools use them).

Every variable part (URI, marker, pool name) is a positional argument, never part of the script;
UUIDs come from libvirt and are checked to be hex-and-dashes before they join a virsh command
string (EACH_SH). A first virsh lists the UUIDs; a second runs every read in one process. Output:
tagged sections (parsers.sections), `MARKER tag words` lines.

NETWORKS_SCRIPT: `active`, `autostart`, `persistent` (UUID lists), then per network `xml UUID`
(net-dumpxml) and `leases UUID` (net-dhcp-leases). A network undefined between the two processes
has an empty xml section; a driver without DHCP leases (the test driver) an empty leases section.

POOLS_SCRIPT (every pool): per pool `info UUID` (pool-info --bytes), `xml UUID` (pool-dumpxml) and,
for active pools only (vol-list refuses inactive ones), `vols UUID` (vol-list).

POOL_SCRIPT (one pool, by exact name): a name the user typed is compared on the host with every
pool's name from `pool-list --all --uuid --name`, and only the UUID it resolves to is passed on:
virsh would read a pool argument as a UUID first. virsh pads names with spaces, so trailing spaces
are stripped from both sides before comparing; two pools that match so are refused as ambiguous,
and the pool's own XML name must then equal the name asked for (backends.libvirt.pools). Then
`uuid UUID`, `vols` (or `vols-error` with virsh's message for an inactive pool), `info`, `xml`,
`vol N` (vol-dumpxml of the N-th vol-list row, by its name in that pool) and `domain UUID`
(dumpxml of every domain: which VM uses which volume).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from qemu_mcp import validation
from qemu_mcp.backends.libvirt.errors import check_batch
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed
from qemu_mcp.parsers.sections import new_marker, script_marker
from qemu_mcp.transport.base import Runner

T = TypeVar("T")

NOT_FOUND = "no storage pool has exactly this name"
AMBIGUOUS = "several storage pools have this name once virsh's padding is stripped"

# each LIST "TAG COMMAND WORDS"...: for every UUID in LIST, add `echo MARKER TAG UUID; COMMAND WORDS
# UUID` to the virsh command string $cmds (UUIDs that are not hex-and-dashes are skipped).
EACH_SH = r"""
each() {
  list=$1
  shift
  for u in $list; do
    case $u in *[!0-9a-f-]*) continue ;; esac
    for c do cmds="$cmds; echo $m ${c%% *} $u; ${c#* } $u"; done
  done
}
"""

NETWORKS_SCRIPT = (
    EACH_SH
    + r"""
export LC_ALL=C
uri=$1 m=$2
uuids=$(virsh -c "$uri" net-list --all --uuid) || exit $?
cmds="echo $m active; net-list --uuid; echo $m autostart; net-list --all --uuid --autostart"
cmds="$cmds; echo $m persistent; net-list --all --uuid --persistent"
each "$uuids" "xml net-dumpxml --network" "leases net-dhcp-leases --network"
exec virsh -c "$uri" "$cmds"
"""
)

POOLS_SCRIPT = (
    EACH_SH
    + r"""
export LC_ALL=C
uri=$1 m=$2
all=$(virsh -c "$uri" pool-list --all --uuid) || exit $?
active=$(virsh -c "$uri" pool-list --uuid) || exit $?
cmds="echo $m pools"
each "$all" "info pool-info --bytes --pool" "xml pool-dumpxml --pool"
each "$active" "vols vol-list --pool"
exec virsh -c "$uri" "$cmds"
"""
)

# Volume names are cut from vol-list's table where the header's "Path" starts (parsers.virsh_table
# does the same in Python), then quoted for virsh's command-string parser like virsh.quote does.
POOL_SCRIPT = (
    EACH_SH
    + r"""
export LC_ALL=C
uri=$1 m=$2 name=$3
want=${name%"${name##*[! ]}"}
all=$(virsh -c "$uri" pool-list --all --uuid --name) || exit $?
u=$(printf '%s\n' "$all" | while IFS= read -r line; do
  line=${line%"${line##*[! ]}"}
  case $line in *" "*) ;; *) continue ;; esac
  if [ "${line#* }" = "$want" ]; then printf '%s\n' "${line%% *}"; fi
done)
case $u in
  "") printf "error: failed to get pool '%s': NOT_FOUND\n" "$name" >&2; exit 1 ;;
  *"
"*) printf "error: failed to get pool '%s': AMBIGUOUS\n" "$name" >&2; exit 1 ;;
  *[!0-9a-f-]*) echo "error: virsh pool-list printed an unexpected UUID" >&2; exit 1 ;;
esac
echo "$m uuid $u"
names=
if vols=$(virsh -c "$uri" vol-list --pool "$u" 2>&1); then
  echo "$m vols"
  names=$(printf '%s\n' "$vols" | awk 'NR == 1 { p = index($0, "Path") }
    NR > 2 && p > 1 && $0 != "" { s = substr($0, 2, p - 2); sub(/ +$/, "", s); print s }')
else
  echo "$m vols-error"
fi
printf '%s\n' "$vols"
doms=$(virsh -c "$uri" list --all --uuid) || exit $?
cmds="echo $m info; pool-info --bytes --pool $u; echo $m xml; pool-dumpxml --pool $u"
i=0
while IFS= read -r n; do
  [ -n "$n" ] || continue
  i=$((i + 1))
  q=$(printf '%s' "$n" | sed "s/'/'\\\\''/g")
  cmds="$cmds; echo $m vol $i; vol-dumpxml --pool $u -- '$q'"
done <<EOF
$names
EOF
each "$doms" "domain dumpxml --domain"
exec virsh -c "$uri" "$cmds"
""".replace("NOT_FOUND", NOT_FOUND).replace("AMBIGUOUS", AMBIGUOUS)
)


def list_networks(uri: str, marker: str) -> list[str]:
    return ["sh", "-c", NETWORKS_SCRIPT, "qemu-mcp-networks", validation.libvirt_uri(uri), script_marker(marker)]


def list_pools(uri: str, marker: str) -> list[str]:
    return ["sh", "-c", POOLS_SCRIPT, "qemu-mcp-pools", validation.libvirt_uri(uri), script_marker(marker)]


def describe_pool(uri: str, marker: str, name: str) -> list[str]:
    validation.pool_name(name)
    return ["sh", "-c", POOL_SCRIPT, "qemu-mcp-pool", validation.libvirt_uri(uri), script_marker(marker), name]


async def read_tagged(
    runner: Runner,
    spec: HostSpec,
    build: Callable[[str, str], list[str]],
    parse: Callable[[str, str, str], list[T]],
    what: str,
) -> list[T]:
    """Run the script build(uri, marker) makes and return parse(host, stdout, marker). No marker at
    all: the first virsh failed (libvirt missing, stopped, refusing ...): the error says why."""
    marker = new_marker()
    result = await runner.run(build(spec.libvirt_uri, marker), read_only=True)
    if marker not in result.stdout:
        check_batch(result, spec, what)
        return []
    try:
        return parse(spec.name, result.stdout, marker)
    except ValueError as e:
        raise CommandFailed(f"{what} on host '{spec.name}' gave output qemu-mcp cannot read: {e}", spec.name) from None

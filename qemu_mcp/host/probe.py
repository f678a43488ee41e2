"""The host probe: one fixed sh script that reports tools, CPU, memory and versions in one round trip.

No user text is interpolated: the libvirt URI is passed as the script's positional argument $1.
"""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.parsers.probe import SECTION

# Output: key=value lines, then (if virsh works) SECTION, `virsh nodeinfo`, SECTION, `virsh version`.
PROBE_SCRIPT = r"""
echo "hostname=$(uname -n)"
echo "kernel=$(uname -r)"
for t in virsh qemu-img iostat; do echo "tool.$t=$(command -v "$t")"; done
for p in /usr/bin/qemu-system-* /usr/local/bin/qemu-system-*; do
  [ -x "$p" ] && echo "qemu_system=$p"
done
echo "cpu_model=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null)"
echo "mem_kib=$(awk '/^MemTotal:/{print $2}' /proc/meminfo 2>/dev/null)"
q=$(for p in /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-aarch64 /usr/local/bin/qemu-system-*; do
      [ -x "$p" ] && { echo "$p"; break; }; done)
[ -n "$q" ] && echo "qemu_version=$("$q" --version 2>/dev/null | head -n1)"
[ -r /dev/kvm ] && [ -w /dev/kvm ] && echo "kvm=1"
[ -e /dev/kvm ] && echo "kvm_dev=$(stat -c '%a %U %G' /dev/kvm 2>/dev/null)"
if command -v virsh >/dev/null 2>&1; then
  echo "SECTION"
  LC_ALL=C virsh -c "$1" "nodeinfo; echo SECTION; version"
  echo "virsh_exit=$?"
fi
""".replace("SECTION", SECTION)


def probe(uri: str) -> list[str]:
    return ["sh", "-c", PROBE_SCRIPT, "qemu-mcp-probe", validation.libvirt_uri(uri)]

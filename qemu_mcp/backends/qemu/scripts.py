"""Pure argv builders for the plain-QEMU backend: fixed sh scripts whose every variable part (paths,
names, file contents) is a positional argument ("$1"...), never part of the script text.

Reading VMs is ONE command for any number of them (`read_vms`): every VM directory's vm.conf,
its `creating` marker, its pidfile and /proc/<pid>/cmdline, and the size and header of each disk
image the configuration names. Whether a VM runs is decided from the pidfile AND the process's
command line (it must be that VM's qemu: backends.qemu.identity), never from `ps | grep`. With
`clean`, a stale pidfile (the process is gone or is someone else) is removed in the same command.
"""

from __future__ import annotations

from collections.abc import Sequence

from qemu_mcp import validation
from qemu_mcp.backends.qemu.identity import IDENTITY_SH
from qemu_mcp.backends.qemu.vmconf import OWN_FILES, Home
from qemu_mcp.errors import CommandFailed
from qemu_mcp.parsers.sections import script_marker
from qemu_mcp.transport.base import CommandResult

# The disk images a vm.conf on stdin names: `<marker> file SIZE BLOCKS BLOCKSIZE HEADER...`, then the path.
DISK_FACTS_SH = r"""
disk_facts() {
  sed -n 's/^disk\.[0-9]*\.path=//p' | while IFS= read -r f; do
    case $f in /*) ;; *) continue ;; esac
    s=$(stat -L -c '%s %b %B' "$f" 2>/dev/null) || s='- - -'
    echo "$m file $s $(od -An -tu1 -N32 "$f" 2>/dev/null | tr -s ' \n' '  ')"
    printf '%s\n' "$f"
  done
}
"""

# Tagged sections (parsers.sections): lines starting with "<marker> " are ours; the lines after
# one belong to it. `ours`: the pidfile's process is this VM's qemu (backends.qemu.identity).
READ_SCRIPT = IDENTITY_SH + DISK_FACTS_SH + r"""
export LC_ALL=C
m=$1 clean=$2 top=$3
shift 3
[ -d "$top" ] || { echo "$m nodir"; exit 0; }
if [ $# -eq 0 ]; then
  for d in "$top"/*; do [ -d "$d" ] && set -- "$@" "${d##*/}"; done
fi
for n do
  d=$top/$n
  [ -f "$d/vm.conf" ] || [ -f "$d/creating" ] || continue
  u=$(vm_uuid)
  echo "$m vm $n"
  if [ -f "$d/vm.conf" ]; then echo "$m conf"; cat "$d/vm.conf"; echo; fi
  if [ -f "$d/creating" ]; then echo "$m creating"; cat "$d/creating"; echo; fi
  [ -S "$d/qmp.sock" ] && echo "$m socket"
  p=$(vm_pid)
  if [ -n "$p" ]; then
    echo "$m pid $p"
    echo "$m cmdline"
    { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null
    if [ "$clean" = clean ] && ! ours; then
      if [ "$(vm_pid)" = "$p" ]; then
        rm -f "$d/pid" "$d/qmp.sock" && echo "$m cleaned"
      fi
    fi
  fi
  cat "$d/vm.conf" "$d/creating" 2>/dev/null | disk_facts
done
"""

# One reading of a running VM for monitor_vm_status: the process's stat/status/io, its threads'
# stat (vCPU threads are named "CPU n/KVM" or "CPU n/TCG"), tap counters and the disk files.
SAMPLE_SCRIPT = IDENTITY_SH + DISK_FACTS_SH + r"""
export LC_ALL=C
m=$1 d=$2
echo "$m clk $(getconf CLK_TCK)"
[ -f "$d/vm.conf" ] || { echo "$m gone"; exit 0; }
echo "$m conf"; cat "$d/vm.conf"; echo
p=$(vm_pid) u=$(vm_uuid)
if [ -n "$p" ] && ours; then
  echo "$m pid $p"
  echo "$m cmdline"; { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null
  echo "$m stat"; cat "/proc/$p/stat"
  echo "$m status"; cat "/proc/$p/status"
  echo "$m io"; cat "/proc/$p/io" 2>/dev/null
  echo "$m tasks"; for t in /proc/$p/task/*; do cat "$t/stat" 2>/dev/null; echo; done
fi
sed -n 's/^nic\.[0-9]*\.ifname=//p' "$d/vm.conf" | while IFS= read -r i; do
  case $i in ''|*[!A-Za-z0-9_.-]*) continue ;; esac
  v=
  for c in rx_bytes rx_packets rx_errors rx_dropped tx_bytes tx_packets tx_errors tx_dropped; do
    v="$v $(cat "/sys/class/net/$i/statistics/$c" 2>/dev/null || echo -)"
  done
  echo "$m tap $i$v"
done
disk_facts < "$d/vm.conf"
"""

# Facts create needs, one line each: the host's machine, the emulator, qemu-img, /dev/kvm access.
CHECK_SCRIPT = r"""
echo "machine=$(uname -m)"
echo "emulator=$(command -v "qemu-system-$1")"
echo "qemu_img=$(command -v qemu-img)"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo kvm=usable
elif [ -e /dev/kvm ]; then echo kvm=no-access
else echo kvm=missing
fi
"""

# A KVM probe guest: QMP on stdio; asked for its status after running for a second (a guest
# whose vCPUs cannot run, e.g. the host CPU model is refused, dies before that), then quit.
KVM_PROBE_SCRIPT = r"""
{ echo '{"execute":"qmp_capabilities"}'; sleep 1; echo '{"execute":"query-status"}';
  sleep 0.2; echo '{"execute":"quit"}'; } | timeout 30 "$@" 2>&1
"""

# Make the VM directory (fails if anything is there: two creates cannot both win) and write the
# `creating` marker, which holds the planned configuration until vm.conf replaces it.
CLAIM_SCRIPT = 'umask 022; mkdir -m 0755 "$1" || exit 1; printf "%s" "$2" > "$1/creating"'

# Replace vm.conf atomically (temp file + rename in the same directory), then drop the marker.
WRITE_CONF_SCRIPT = r"""
umask 022
t="$1/vm.conf.tmp.$$"
if printf '%s' "$2" > "$t" && mv -f "$t" "$1/vm.conf"; then rm -f "$1/creating"; exit 0; fi
rm -f "$t"; exit 1
"""

# The files qemu-mcp makes in a VM directory (never the disk images: the flow removes those), and
# the snapshots' metadata (backends.qemu.snapshot).
REMOVE_FILES_SCRIPT = 'd=$1; shift; rm -f -- "$@" "$d"/vm.conf.tmp.*; rm -rf -- "$d/snapshots"'
UNCLAIM_SCRIPT = 'd=$1; shift; rm -f -- "$@" "$d"/vm.conf.tmp.*; rmdir -- "$d"'
# After delete: remove the directory if it is empty; else say what is left in it.
LEFTOVER_SCRIPT = 'rmdir -- "$1" 2>/dev/null || { [ -d "$1" ] && ls -A -- "$1"; }; exit 0'

# SIGKILL the VM's qemu: the pidfile's process, and only if it is this VM's qemu (identity.py;
# $2 is the VM's uuid, '' when unknown); wait until it is gone (a zombie has an empty cmdline),
# then remove the stale pidfile and socket.
KILL_SCRIPT = IDENTITY_SH + r"""
d=$1 u=$2
p=$(vm_pid)
[ -n "$p" ] || exit 0
if ours; then
  kill -KILL "$p" 2>/dev/null
  i=0
  while ours; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && { echo "process $p is still there 10 s after SIGKILL" >&2; exit 1; }
    sleep 0.1
  done
  echo "killed $p"
fi
[ "$(vm_pid)" = "$p" ] && rm -f "$d/pid" "$d/qmp.sock"
exit 0
"""

TCP_LISTEN_SCRIPT = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; exit 0"


def failed(result: CommandResult, host: str, what: str, hint: str = "") -> CommandFailed:
    """The error for a host script that exited non-zero: what it was doing, its exit and stderr."""
    return CommandFailed(
        f"{what} on host '{host}' failed (sh exit {result.exit_status}: "
        f"{' '.join(result.stderr.split()) or 'no output'}){hint}",
        host=host,
        exit_status=result.exit_status,
        stderr=result.stderr,
    )


def _dir(path: str) -> str:
    validation.abs_path(path, "vm_dir")
    return path.rstrip("/") or "/"


def read_vms(vm_dir: str, marker: str, names: Sequence[str] = (), *, clean: bool = False) -> list[str]:
    """Every VM below vm_dir (no names) or just those named."""
    for n in names:
        validation.vm_name(n)
        if "/" in n or n in (".", ".."):
            raise ValueError(f"VM name {n!r} cannot be a directory name")
    return ["sh", "-c", READ_SCRIPT, "qmcp-qemu-read", script_marker(marker), "clean" if clean else "keep",
            _dir(vm_dir), *names]  # fmt: skip


def sample(home: Home, marker: str) -> list[str]:
    return ["sh", "-c", SAMPLE_SCRIPT, "qmcp-qemu-sample", script_marker(marker), _dir(home.dir)]


def check_host(arch: str) -> list[str]:
    if validation.arch(arch) != arch:
        raise ValueError(f"unsupported arch {arch!r}")
    return ["sh", "-c", CHECK_SCRIPT, "qmcp-qemu-check", arch]


def kvm_probe(qemu_argv: Sequence[str]) -> list[str]:
    return ["sh", "-c", KVM_PROBE_SCRIPT, "qmcp-kvm-probe", *qemu_argv]


def claim(home: Home, marker_text: str) -> list[str]:
    return ["sh", "-c", CLAIM_SCRIPT, "qmcp-claim", _dir(home.dir), marker_text]


def write_conf(home: Home, text: str) -> list[str]:
    return ["sh", "-c", WRITE_CONF_SCRIPT, "qmcp-write-conf", _dir(home.dir), text]


def remove_own_files(home: Home) -> list[str]:
    return ["sh", "-c", REMOVE_FILES_SCRIPT, "qmcp-remove", _dir(home.dir), *(home.file(f) for f in OWN_FILES)]


def unclaim(home: Home) -> list[str]:
    return ["sh", "-c", UNCLAIM_SCRIPT, "qmcp-unclaim", _dir(home.dir), *(home.file(f) for f in OWN_FILES)]


def remove_dir_if_empty(home: Home) -> list[str]:
    return ["sh", "-c", LEFTOVER_SCRIPT, "qmcp-rmdir", _dir(home.dir)]


def kill(home: Home, uuid: str | None = None) -> list[str]:
    if uuid is not None and not all(c in "0123456789abcdefABCDEF-" for c in uuid):
        raise ValueError(f"{uuid!r} is not a uuid")
    return ["sh", "-c", KILL_SCRIPT, "qmcp-kill", _dir(home.dir), uuid or ""]


def copy_file(src: str, dst: str) -> list[str]:
    return ["cp", "--", validation.abs_path(src), validation.abs_path(dst)]


def tcp_listeners() -> list[str]:
    return ["sh", "-c", TCP_LISTEN_SCRIPT]

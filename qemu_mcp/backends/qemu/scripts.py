"""Pure argv builders for the plain-QEMU backend: fixed sh scripts whose every variable part (paths,
names, file contents) is a positional argument ("$1"...), never part of the script text.

Reading VMs is ONE command for any number of them (`read_vms`): every VM directory's vm.conf,
its `creating` marker, its pidfile and /proc/<pid>/cmdline, and the size and header of each disk
image the configuration names. Whether a VM runs is decided from the pidfile AND the process's
command line (it must carry that VM's pidfile path or its uuid), never from `ps | grep`. With
`clean`, a stale pidfile (the process is gone or is someone else) is removed in the same command.
"""

from __future__ import annotations

from collections.abc import Sequence

from qemu_mcp import validation
from qemu_mcp.backends.qemu.vmconf import OWN_FILES, Home

# Lines starting with "<marker> " are ours; everything else belongs to the section above.
READ_SCRIPT = r"""
export LC_ALL=C
m=$1 clean=$2 top=$3
shift 3
[ -d "$top" ] || { echo "$m nodir"; exit 0; }
if [ $# -eq 0 ]; then
  for d in "$top"/*; do [ -d "$d" ] && set -- "$@" "${d##*/}"; done
fi
ours() {  # the process $p is this VM's qemu: its argv holds the VM's pidfile path or its uuid
  { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qxF -e "$d/pid" ${u:+-e "$u"}
}
for n do
  d=$top/$n
  [ -f "$d/vm.conf" ] || [ -f "$d/creating" ] || continue
  u=$(cat "$d/vm.conf" "$d/creating" 2>/dev/null | sed -n 's/^uuid=//p' | head -n 1)
  echo "$m vm $n"
  if [ -f "$d/vm.conf" ]; then echo "$m conf"; cat "$d/vm.conf"; echo; fi
  if [ -f "$d/creating" ]; then echo "$m creating"; cat "$d/creating"; echo; fi
  [ -S "$d/qmp.sock" ] && echo "$m socket"
  p=
  [ -f "$d/pid" ] && p=$(head -c 32 "$d/pid" | tr -dc 0-9)
  if [ -n "$p" ]; then
    echo "$m pid $p"
    echo "$m cmdline"
    { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null
    if [ "$clean" = clean ] && ! ours; then
      if [ "$(head -c 32 "$d/pid" 2>/dev/null | tr -dc 0-9)" = "$p" ]; then
        rm -f "$d/pid" "$d/qmp.sock" && echo "$m cleaned"
      fi
    fi
  fi
  cat "$d/vm.conf" "$d/creating" 2>/dev/null | sed -n 's/^disk\.[0-9]*\.path=//p' | while IFS= read -r f; do
    case $f in /*) ;; *) continue ;; esac
    s=$(stat -L -c '%s %b %B' "$f" 2>/dev/null) || s='- - -'
    echo "$m file $s $(od -An -tu1 -N32 "$f" 2>/dev/null | tr -s ' \n' '  ')"
    printf '%s\n' "$f"
  done
done
"""

# One reading of a running VM for monitor_vm_status: the process's stat/status/io, its threads'
# stat (vCPU threads are named "CPU n/KVM" or "CPU n/TCG"), tap counters and the disk files.
SAMPLE_SCRIPT = r"""
export LC_ALL=C
m=$1 d=$2
echo "$m clk $(getconf CLK_TCK)"
[ -f "$d/vm.conf" ] || { echo "$m gone"; exit 0; }
echo "$m conf"; cat "$d/vm.conf"; echo
p=$(head -c 32 "$d/pid" 2>/dev/null | tr -dc 0-9)
u=$(sed -n 's/^uuid=//p' "$d/vm.conf" | head -n 1)
if [ -n "$p" ] && { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qxF -e "$d/pid" ${u:+-e "$u"}; then
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
sed -n 's/^disk\.[0-9]*\.path=//p' "$d/vm.conf" | while IFS= read -r f; do
  case $f in /*) ;; *) continue ;; esac
  s=$(stat -L -c '%s %b %B' "$f" 2>/dev/null) || s='- - -'
  echo "$m file $s $(od -An -tu1 -N32 "$f" 2>/dev/null | tr -s ' \n' '  ')"
  printf '%s\n' "$f"
done
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

# The files qemu-mcp makes in a VM directory (never the disk images: the flow removes those).
REMOVE_FILES_SCRIPT = 'd=$1; shift; rm -f -- "$@" "$d"/vm.conf.tmp.*'
UNCLAIM_SCRIPT = 'd=$1; shift; rm -f -- "$@" "$d"/vm.conf.tmp.*; rmdir -- "$d"'
# After delete: remove the directory if it is empty; else say what is left in it.
LEFTOVER_SCRIPT = 'rmdir -- "$1" 2>/dev/null || { [ -d "$1" ] && ls -A -- "$1"; }; exit 0'

# SIGKILL the VM's qemu: the pidfile's process, and only if its command line names this VM's
# pidfile or uuid; wait until it is gone (a zombie has an empty cmdline), then remove the stale
# pidfile and socket.
KILL_SCRIPT = r"""
d=$1 u=$2
p=$(head -c 32 "$d/pid" 2>/dev/null | tr -dc 0-9)
[ -n "$p" ] || exit 0
ours() { { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qxF -e "$d/pid" ${u:+-e "$u"}; }
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
[ "$(head -c 32 "$d/pid" 2>/dev/null | tr -dc 0-9)" = "$p" ] && rm -f "$d/pid" "$d/qmp.sock"
exit 0
"""

TCP_LISTEN_SCRIPT = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; exit 0"


def _marker(marker: str) -> str:
    if not marker.replace("@", "").replace("-", "").isalnum():
        raise ValueError("marker must be letters, digits, '@' and '-'")
    return marker


def _dir(path: str) -> str:
    validation.abs_path(path, "vm_dir")
    return path.rstrip("/") or "/"


def read_vms(vm_dir: str, marker: str, names: Sequence[str] = (), *, clean: bool = False) -> list[str]:
    """Every VM below vm_dir (no names) or just those named."""
    for n in names:
        validation.vm_name(n)
        if "/" in n or n in (".", ".."):
            raise ValueError(f"VM name {n!r} cannot be a directory name")
    return ["sh", "-c", READ_SCRIPT, "qmcp-qemu-read", _marker(marker), "clean" if clean else "keep",
            _dir(vm_dir), *names]  # fmt: skip


def sample(home: Home, marker: str) -> list[str]:
    return ["sh", "-c", SAMPLE_SCRIPT, "qmcp-qemu-sample", _marker(marker), _dir(home.dir)]


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

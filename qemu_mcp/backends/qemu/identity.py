"""Is this process our VM's qemu? One rule, written twice: in Python for the read path's verdict
(backends.qemu.read), and in sh for the host scripts that clean stale pidfiles, kill and sample
(backends.qemu.scripts). tests/unit/test_qemu_identity.py feeds both the same cases.

The rule: the pidfile names a process whose program is qemu* and whose `-uuid` is the VM's uuid;
when no uuid is known (no vm.conf or `creating` marker names one), whose `-pidfile` is the VM's
pidfile. The uuid wins over the path: the vm_dir may be reached by another path (a symlink).
The uuid is the first `uuid=` line of vm.conf, then of the `creating` marker, as sed reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

from qemu_mcp.backends.qemu.runtime import parse_runtime


def is_vm_qemu(cmdline: Sequence[str], *, uuid: str | None, pidfile: str) -> bool:
    """`cmdline`: the process's arguments, one per /proc cmdline line (empty ones do not count)."""
    argv = [a for a in cmdline if a != ""]
    if not argv or not argv[0].rsplit("/", 1)[-1].startswith("qemu"):
        return False
    runtime = parse_runtime(argv)
    return runtime.uuid == uuid if uuid else runtime.pidfile == pidfile


def conf_uuid(*texts: str | None) -> str | None:
    """The uuid the scripts see: the first line starting `uuid=` of the texts in order (vm.conf, creating)."""
    for text in texts:
        for line in (text or "").splitlines():
            if line.startswith("uuid="):
                return line.removeprefix("uuid=")
    return None


# The same rule in sh, for scripts that set d (the VM directory), then u (vm_uuid) and p (vm_pid).
# `vm_qemu` reads a command line on stdin, one argument per line; `ours` checks process $p. awk
# takes the uuid and path from the environment (-v would interpret backslashes) and compares them
# as strings (never as numbers).
IDENTITY_SH = r"""
vm_uuid() { cat "$d/vm.conf" "$d/creating" 2>/dev/null | sed -n 's/^uuid=//p' | head -n 1; }
vm_pid() { head -c 32 "$d/pid" 2>/dev/null | tr -dc 0-9; }
vm_qemu() {
  U=$u F=$d/pid awk '
    BEGIN { want = "-uuid"; value = ENVIRON["U"]; if (value == "") { want = "-pidfile"; value = ENVIRON["F"] } }
    $0 == "" { next }
    !n++ { k = split($0, part, "/"); qemu = index(part[k], "qemu") == 1 }
    !found && last == want { found = 1; ok = (($0 "") == (value "")) }
    { last = $0 }
    END { exit !(qemu && ok) }'
}
ours() { { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null | vm_qemu; }
"""

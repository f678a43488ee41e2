"""A per-VM lock held on the host itself, so that every qemu-mcp process acting on a host (CLI,
stdio servers, HTTP replicas) serialises on one VM, not only the calls inside one process.

One long-lived command per held lock: `flock` (util-linux) locks a file, then a child prints
`locked` and waits for end of input. The lock lasts exactly as long as that command: we end it
by closing its stdin; when our process or our connection dies, sshd (or the kernel, for a local
pipe) closes that stdin too, so a crashed qemu-mcp never leaves a stale lock behind.

Where the lock files live: a directory private to the user we log in as. root (the usual account
on a hypervisor): /run/qemu-mcp/locks (tmpfs, emptied at boot); any other user:
/tmp/qemu-mcp-<uid>, mode 0700, refused unless it is a real directory that user owns (another
user cannot plant it). Per user, because a shared world-writable directory would let any local
user hold our locks forever or swap the files; the cost is that two qemu-mcp processes logging
in to one host as DIFFERENT users do not see each other's locks. Lock files are empty and stay
(one per VM ever changed): removing one safely would race with a process about to lock it.
"""

from __future__ import annotations

import hashlib
import json

from qemu_mcp import validation

MISSING_EXIT = 127  # the script's exit status when the host has no flock
LOCKED = "locked"  # the line printed once the lock is held
BUSY = "busy"  # the line printed when another process holds it and we start waiting

# $1 lock directory ('' = the login user's own, chosen here), $2 lock file name.
# -o: only flock itself holds the lock, not the child that prints and waits. The first flock -n
# tells "free" from "busy" (exit 75), so the caller can say it waits. A busy lock is waited for in
# the background while `cat` watches our input: when it ends (the caller gave up after its
# lock_timeout, or died), the wait is killed at once (or the lock, once taken, released: flock's
# pid is ours until we reap it, so the kill never hits another process). A background job's stdin
# would be /dev/null, so it gets ours through fd 3.
LOCK_SCRIPT = r"""
command -v flock >/dev/null 2>&1 || { echo "flock (util-linux) is not installed" >&2; exit 127; }
d=$1
if [ -z "$d" ]; then
  uid=$(id -u) || exit 1
  if [ "$uid" = 0 ]; then d=/run/qemu-mcp/locks; else d=/tmp/qemu-mcp-$uid; fi
fi
mkdir -p -m 0700 -- "$d" || exit 1
if [ -L "$d" ] || [ ! -O "$d" ]; then
  echo "lock directory $d is not a directory of user $(id -un)" >&2; exit 1
fi
hold='echo locked; exec cat >/dev/null'
flock -n -o -E 75 "$d/$2" sh -c "$hold"
status=$?
[ "$status" = 75 ] || exit "$status"
echo busy
exec 3<&0
flock -o "$d/$2" sh -c "$hold" <&3 3<&- &
waiting=$!
cat >/dev/null
kill "$waiting" 2>/dev/null
wait "$waiting" 2>/dev/null
exit 0
"""


def lock_file_name(kind: str, scope: str, vm: str) -> str:
    """The lock file of one VM: a hash of where the backend keeps it (libvirt: the URI; plain
    QEMU: the vm_dir) and its name, never the raw user string (no path tricks, fixed length)."""
    key = json.dumps([kind, scope, vm], separators=(",", ":"))
    return f"vm-{hashlib.sha256(key.encode()).hexdigest()}.lock"


def hold_lock(file_name: str, directory: str = "") -> list[str]:
    """The long-lived command holding one lock; `directory` '' = the login user's own (above)."""
    if "/" in file_name or file_name in ("", ".", ".."):
        raise ValueError(f"lock file name {file_name!r} must be a plain file name")
    if directory:
        validation.abs_path(directory, "lock directory")
    return ["sh", "-c", LOCK_SCRIPT, "qmcp-lock", directory, file_name]

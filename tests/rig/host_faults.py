"""Host-side faults for tests/faults: an sshd whose virsh delays `define`, a small tmpfs (in the
root mount namespace or in a rig sshd's private one), libvirtd stopped and started again, and a
look at the SSH sessions an sshd still serves."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from .libvirt import ensure_libvirtd
from .proc import RigError, run
from .sshd import PasswordAccount, Sshd, ssh_exec, start_sshd

REAL_VIRSH = "/usr/bin/virsh"
LIBVIRTD_PIDFILE = Path("/run/libvirtd.pid")

# Runs in place of virsh on the delaying sshd. $D/define-mode says what a `define` does:
#   "sleep N"         every define waits N s, then runs;
#   "hold-created N"  a define whose XML is marked created (the create's last define) waits until
#                     $D/release exists (at most N s), then fails if $D/abort exists, else runs.
# Anything else (no file): the real virsh at once. `undefine` is never delayed.
WRAPPER = r"""#!/bin/sh
D=@DIR@
last=
for a do last=$a; done
case $last in
define\ *)
  mode= n=0
  [ -r "$D/define-mode" ] && read -r mode n < "$D/define-mode"
  case $mode in
  sleep) sleep "$n" ;;
  hold-created)
    xml=$(cat)
    case $xml in *'state="created"'*)
      i=0
      while [ ! -e "$D/release" ] && [ "$i" -lt $((n * 10)) ]; do sleep 0.1; i=$((i + 1)); done
      if [ -e "$D/abort" ]; then echo "error: the fault rig aborted this define" >&2; exit 1; fi
    esac
    printf '%s\n' "$xml" | "$D/virsh.real" "$@"
    exit ;;
  esac ;;
esac
exec "$D/virsh.real" "$@"
"""


class DelayedDefine:
    """Controls the delaying sshd's virsh (see WRAPPER)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def sleep(self, seconds: float) -> None:
        self._mode(f"sleep {seconds:g}")

    def hold_created(self, seconds: int) -> None:
        self._mode(f"hold-created {seconds}")

    def release(self) -> None:
        """A held define runs now."""
        (self.dir / "release").touch()

    def abort(self) -> None:
        """A held define fails without defining anything."""
        (self.dir / "abort").touch()
        (self.dir / "release").touch()

    def off(self) -> None:
        for f in ("define-mode", "abort", "release"):
            (self.dir / f).unlink(missing_ok=True)

    def _mode(self, text: str) -> None:
        self.off()
        (self.dir / "define-mode").write_text(text + "\n")


def start_delayed_define_sshd(
    workdir: Path, key_path: Path, account: PasswordAccount, name: str = "virsh-delay"
) -> tuple[Sshd, DelayedDefine]:
    """An sshd whose sessions see WRAPPER as /usr/bin/virsh (bind mounts in its private mount
    namespace; the real binary is bind-mounted at <dir>/virsh.real). Nothing is delayed until told.
    `name`: its directory under workdir (one per sshd)."""
    d = workdir / name
    d.mkdir(mode=0o755)
    wrapper = d / "virsh-wrapper"
    wrapper.write_text(WRAPPER.replace("@DIR@", str(d)))
    wrapper.chmod(0o755)
    (d / "virsh.real").touch()
    prelude = "\n".join([
        f"mount --bind {REAL_VIRSH} {d / 'virsh.real'}",
        f"mount --bind {wrapper} {REAL_VIRSH}",
    ])  # fmt: skip
    sshd = start_sshd(workdir, f"sshd-{name}", key_path=key_path, account=account, prelude=prelude)
    try:
        seen = ssh_exec(sshd.host, f"head -c 9 {REAL_VIRSH}; echo; virsh -c qemu:///system uri")
        if seen.returncode != 0 or seen.stdout.split() != ["#!/bin/sh", "qemu:///system"]:
            raise RigError(f"the delaying virsh is not in place: {seen.stdout}{seen.stderr}")
    except BaseException:
        sshd.stop()
        raise
    return sshd, DelayedDefine(d)


def sshd_pid(sshd_dir: Path) -> int:
    """The pid of a rig sshd, from the PidFile its config names."""
    return int((sshd_dir / "sshd.pid").read_text().strip())


def in_namespace(ns_pid: int | None, argv: list[str]) -> list[str]:
    """argv run in the mount namespace of ns_pid (None: this one)."""
    return argv if ns_pid is None else ["nsenter", "-t", str(ns_pid), "-m", "--", *argv]


@contextlib.contextmanager
def small_tmpfs(path: str, size: str = "16m", *, ns_pid: int | None = None) -> Iterator[None]:
    """A tmpfs of `size` mounted on `path` (made if missing), in ns_pid's mount namespace; always unmounted."""
    Path(path).mkdir(mode=0o755, parents=True, exist_ok=True)
    run(in_namespace(ns_pid, ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "qmcp-fault-tmpfs", path]))
    try:
        yield
    finally:
        run(in_namespace(ns_pid, ["umount", path]))


def fill(path: str, leave_bytes: int, *, ns_pid: int | None = None) -> None:
    """A file `path`/filler that leaves `leave_bytes` free on the file system holding `path`."""
    script = 'free=$(($(stat -f -c "%a * %S" "$1") - $2)); fallocate -l "$free" "$1/filler"'
    run(in_namespace(ns_pid, ["sh", "-c", script, "fill", path, str(leave_bytes)]))


def tree(path: str, *, ns_pid: int | None = None) -> list[str]:
    """Every file and directory below `path` with its size, as seen in ns_pid's namespace."""
    out = run(in_namespace(ns_pid, ["find", path, "-mindepth", "1", "-printf", "%P %y %s\\n"]))
    return sorted(out.stdout.splitlines())


# ---- libvirtd


def libvirtd_pid() -> int | None:
    try:
        pid = int(LIBVIRTD_PIDFILE.read_text().strip())
        return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "libvirtd" else None
    except (OSError, ValueError):
        return None


def stop_libvirtd(timeout: float = 20) -> None:
    """SIGTERM the system libvirtd and wait until it is gone (its guests keep running)."""
    pid = libvirtd_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise RigError(f"libvirtd (pid {pid}) did not exit {timeout:g} s after SIGTERM")
        time.sleep(0.05)


def start_libvirtd() -> None:
    """Start libvirtd again (scripts/start-services.sh) and wait until qemu:///system answers."""
    ensure_libvirtd()


def check_still_down() -> None:
    """A test session that starts meanwhile starts libvirtd again (its libvirtd_running fixture):
    say so instead of failing on a call that libvirtd answered."""
    if libvirtd_pid() is not None:
        raise RigError("libvirtd was started again by another process during the outage: run tests/faults alone")


@contextlib.contextmanager
def libvirtd_stopped() -> Iterator[None]:
    """libvirtd is down inside the block and answers again after it, whatever happened."""
    try:
        stop_libvirtd()
        yield
    finally:
        start_libvirtd()

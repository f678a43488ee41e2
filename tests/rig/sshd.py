"""Real OpenSSH sshd instances on 127.0.0.1 for the tests, optionally with every python hidden."""

from __future__ import annotations

import glob
import os
import re
import secrets
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .proc import RigError, free_port, pid_alive, run, tail, wait_for_banner

SSHD = "/usr/sbin/sshd"
PASSWORD_USER_PREFIX = "qmcp-pw-"  # + 6 hex: one user per session
# sshd's compiled-in session PATHs on Debian/Ubuntu (root and other users): where a session looks.
SESSION_PATH_DIRS = [
    "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/games",
]  # fmt: skip


@dataclass(frozen=True)
class SshHost:
    address: str  # "127.0.0.1"
    port: int
    known_hosts: str  # lists this sshd's host key as "[127.0.0.1]:PORT ssh-ed25519 ..."
    host_key_pub: str  # "ssh-ed25519 AAAA..." (no comment)
    key_user: str  # "root", logs in with key_path
    key_path: str  # ed25519 private key without passphrase (also authorised for password_user)
    password_user: str  # unix user created by the rig, member of group libvirt
    password: str  # random per session


@dataclass
class Sshd:
    host: SshHost
    proc: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def keygen(path: Path, comment: str = "qmcp-rig") -> str:
    """Create an ed25519 key pair without passphrase; return the public key as "ssh-ed25519 AAAA..."."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def known_hosts_line(port: int, public_key: str, address: str = "127.0.0.1") -> str:
    return f"[{address}]:{port} {public_key}\n"


@dataclass(frozen=True)
class PasswordAccount:
    user: str
    password: str


def create_password_user(workdir: Path) -> PasswordAccount:
    """A fresh local user qmcp-pw-<random6> in group libvirt with a random password.

    One per session, so concurrent sessions never change or lock each other's account.
    """
    user = f"{PASSWORD_USER_PREFIX}{secrets.token_hex(3)}"
    (workdir / "password_user").write_text(user)  # lets a later sweep remove it if we die
    run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "libvirt", user])
    password = _Secret(secrets.token_urlsafe(18))
    run(["chpasswd"], input=f"{user}:{password}\n")  # via stdin: never on a command line
    return PasswordAccount(user, password)


def remove_password_user(user: str) -> None:
    # --force: sessions the product left open must not keep the account alive.
    run(["userdel", "--force", "--remove", user], check=False)
    if run(["id", user], check=False).returncode == 0:
        raise RigError(f"could not remove user {user}")


def check_root_not_locked() -> None:
    # With UsePAM no, OpenSSH refuses every login (keys too) to an account whose hash starts with "!".
    for line in Path("/etc/shadow").read_text().splitlines():
        if line.startswith("root:") and line.split(":")[1].startswith("!"):
            raise RigError(
                "root's password is locked ('!' in /etc/shadow): sshd without PAM refuses even key "
                "logins for root. Use `usermod -p '*' root` (no password, not locked) on this test machine."
            )


# What `hide_libvirt` hides besides python: the libvirt client and libvirtd's sockets.
LIBVIRT_COMMANDS = ("virsh",)
LIBVIRT_DIRS = ("/run/libvirt", "/var/run/libvirt")


def _hide_python_script(
    d: Path, sshd_argv: list[str], commands: tuple[str, ...] = (), dirs: tuple[str, ...] = ()
) -> str:
    """A sh script that, inside a fresh mount namespace, hides every python (and the `commands`,
    and the contents of `dirs`) and then execs sshd."""
    q = shlex.quote
    lines = ["set -e", f"mount -t tmpfs qmcp-nopython {q(str(d / 'ovl'))}"]

    # The pyenv tree (interpreters and shims): an empty dir on top.
    trees = {os.path.realpath(p) for p in ("/root/.pyenv", os.environ.get("PYENV_ROOT", "")) if p}
    trees = {t for t in sorted(trees) if os.path.isdir(t)}
    lines += [f"mount --bind {q(str(d / 'empty-dir'))} {q(t)}" for t in sorted(trees)]

    # PATH dirs (the rig's and the ones sshd gives sessions) holding python*: the names must be
    # gone, not merely unexecutable (bash's `command -v` still reports a non-executable match).
    # An overlay on the dir, whose writable layer is the tmpfs above, lets us delete them there only.
    patterns = ("python*", *commands)
    path_dirs = os.environ.get("PATH", "").split(":") + SESSION_PATH_DIRS
    found = {os.path.realpath(p) for p in path_dirs if p and os.path.isdir(p)}
    found = {p for p in found if any(glob.glob(os.path.join(p, pat)) for pat in patterns)}
    found = {p for p in found if not any(p == t or p.startswith(t + "/") for t in trees)}
    for i, p in enumerate(sorted(found)):
        upper, work = q(str(d / "ovl" / f"{i}.up")), q(str(d / "ovl" / f"{i}.work"))
        lines += [
            f"mkdir {upper} {work}",
            f"mount -t overlay overlay -o lowerdir={q(p)},upperdir={upper},workdir={work} {q(p)}",
            *(f"rm -rf -- {q(p)}/{pat}" for pat in patterns),
        ]

    # Directories whose contents must not be seen (libvirtd's sockets): an empty tmpfs on top.
    for p in sorted({os.path.realpath(x) for x in dirs if os.path.isdir(x)}):
        lines.append(f"mount -t tmpfs qmcp-hidden {q(p)}")

    # root's ~/.bashrc (bash sources it for ssh commands) may run `pyenv init`, which would print
    # "pyenv: command not found" on every command once pyenv is hidden: use a copy without those lines.
    bashrc = Path("/root/.bashrc")
    if bashrc.is_file() and "pyenv" in (text := bashrc.read_text(errors="replace")).lower():
        (d / "bashrc").write_text("".join(ln for ln in text.splitlines(True) if "pyenv" not in ln.lower()))
        lines.append(f"mount --bind {q(str(d / 'bashrc'))} {q(str(bashrc))}")
    return "\n".join([*lines, f"exec {shlex.join(sshd_argv)}", ""])


def plain_bashrc_prelude(d: Path) -> str:
    """Prelude lines (for start_sshd) that give the sshd's sessions a ~/.bashrc without pyenv lines:
    root's may run `pyenv init` on every command (0.15-0.3 s each), which a real host does not."""
    bashrc = Path("/root/.bashrc")
    text = bashrc.read_text(errors="replace") if bashrc.is_file() else ""
    if "pyenv" not in text.lower():
        return ""
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    (d / "bashrc").write_text("".join(ln for ln in text.splitlines(True) if "pyenv" not in ln.lower()))
    return f"mount --bind {shlex.quote(str(d / 'bashrc'))} {shlex.quote(str(bashrc))}"


def write_config(
    d: Path, port: int, host_key: Path, auth_dir: Path, listen: str = "127.0.0.1", extra: str = ""
) -> Path:
    """The rig's sshd_config in d; `extra`: more lines (e.g. SetEnv), appended."""
    cfg = d / "sshd_config"
    cfg.write_text(
        f"""\
ListenAddress {listen}
Port {port}
HostKey {host_key}
PidFile {d / "sshd.pid"}
# %u: one file per user in the rig's own dir; the machine's ~/.ssh/authorized_keys stay untouched.
AuthorizedKeysFile {auth_dir}/%u
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
# No PAM (no systemd/logind here): sshd checks passwords against /etc/shadow itself.
UsePAM no
StrictModes no
LogLevel VERBOSE
PrintMotd no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
{extra}"""
    )
    return cfg


def start_sshd(
    workdir: Path,
    name: str,
    *,
    key_path: Path,
    account: PasswordAccount,
    hide_python: bool = False,
    hide_libvirt: bool = False,
    prelude: str | None = None,
    config: str = "",
) -> Sshd:
    """Start `/usr/sbin/sshd -D` on a free 127.0.0.1 port with a fresh host key, under workdir/name.
    hide_python: no python in its sessions; hide_libvirt: no virsh, no libvirtd socket and no python;
    prelude: sh lines run in a private mount namespace before sshd starts there (e.g. bind mounts);
    config: more sshd_config lines (e.g. MaxStartups for many concurrent handshakes)."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation dir sshd insists on
    d = workdir / name
    d.mkdir(mode=0o755)
    host_key_pub = keygen(d / "ssh_host_ed25519_key", comment=name)
    # sshd reads authorized keys as the target user: the dir must be readable by the password user.
    auth_dir = d / "authorized_keys"
    auth_dir.mkdir(mode=0o755)
    client_pub = key_path.with_suffix(".pub").read_text()
    for user in ("root", account.user):
        (auth_dir / user).write_text(client_pub)
        (auth_dir / user).chmod(0o644)

    argv = [SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")]
    if hide_python or hide_libvirt:
        (d / "empty-dir").mkdir(mode=0o755)
        (d / "ovl").mkdir(mode=0o755)
        script = d / "hide-python.sh"
        hidden = (LIBVIRT_COMMANDS, LIBVIRT_DIRS) if hide_libvirt else ((), ())
        script.write_text(_hide_python_script(d, argv, *hidden))
        # Private mount namespace: the bind mounts exist only for this sshd and its sessions.
        # unshare and sh both exec, so the Popen pid is sshd's.
        argv = ["unshare", "--mount", "--propagation", "private", "/bin/sh", str(script)]
    elif prelude:
        script = d / "prelude.sh"
        script.write_text(f"set -e\n{prelude}\nexec {shlex.join(argv)}\n")
        argv = ["unshare", "--mount", "--propagation", "private", "/bin/sh", str(script)]

    for _attempt in range(3):  # the free port can be taken between free_port() and sshd's bind
        port = free_port()
        write_config(d, port, d / "ssh_host_ed25519_key", auth_dir, extra=config)
        run([SSHD, "-t", "-f", str(d / "sshd_config")])  # config errors show up here, clearly
        with open(d / "stderr.log", "ab") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        if wait_for_banner(port, proc):
            break
        proc.kill()
        proc.wait()
        if "Address already in use" not in tail(d / "sshd.log"):
            raise RigError(
                f"sshd {name} did not come up on port {port}\n--- stderr\n{tail(d / 'stderr.log')}\n"
                f"--- sshd.log\n{tail(d / 'sshd.log')}"
            )
    else:
        raise RigError(f"sshd {name}: no free port after 3 attempts")

    known_hosts = d / "known_hosts"
    known_hosts.write_text(known_hosts_line(port, host_key_pub))
    host = SshHost(
        address="127.0.0.1",
        port=port,
        known_hosts=str(known_hosts),
        host_key_pub=host_key_pub,
        key_user="root",
        key_path=str(key_path),
        password_user=account.user,
        password=account.password,
    )
    return Sshd(host=host, proc=proc, workdir=d)


def ssh_exec(
    host: SshHost, command: str, user: str | None = None, *, check: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `command` on `host` with the real OpenSSH client, key auth, strict host key checking."""
    argv = [
        "ssh", "-F", "/dev/null",  # ignore the machine's ssh_config and ~/.ssh/config
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={host.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR",
        "-i", host.key_path,
        "-p", str(host.port),
        f"{user or host.key_user}@{host.address}",
        command,
    ]  # fmt: skip
    return run(argv, check=check, timeout=timeout)


def sweep_stale_sessions(parent: Path, prefix: str) -> None:
    """Clean up after earlier sessions that died (owner pid gone): their sshds, users and dirs."""
    live_users: set[str] = set()
    for d in parent.glob(prefix + "*"):
        try:
            owner = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if pid_alive(owner):
            live_users.add(_read(d / "password_user"))
            continue
        for pidfile in d.glob("*/sshd.pid"):
            try:
                pid = int(pidfile.read_text())
                # Only a process that is really this dir's sshd (pids get reused).
                if str(d) in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, 15)
            except (OSError, ValueError):
                pass
        run(["rm", "-rf", str(d)], check=False)
    # Users whose session dir is gone too (e.g. /tmp was cleaned).
    for line in Path("/etc/passwd").read_text().splitlines():
        user = line.split(":")[0]
        if re.fullmatch(PASSWORD_USER_PREFIX + "[0-9a-f]{6}", user) and user not in live_users:
            remove_password_user(user)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


class _Secret(str):
    """A str whose repr is masked, so pytest tracebacks and dataclass reprs do not show it."""

    def __repr__(self) -> str:
        return "'***'"

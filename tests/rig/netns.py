"""Fault hosts in network namespaces: each is a netns joined to this machine by a veth pair with a
/30 from 10.250.0.0/16, running its own sshd that fault cases may silence, kill, restart and
re-key (never the session's shared sshd). Its sessions find a `virsh` wrapper first on their PATH
that logs every call and can be made slow, so a case can catch a command mid-run and count how
often a change ran.

Silence = the namespace's end of the veth goes down. Our end loses carrier but keeps its route,
so packets for the host go into the veth and vanish: no RST, no ICMP. (Setting OUR end down would
remove the route and send them towards the default gateway instead: never do that.)
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from .proc import RigError, pid_alive, run, tail, wait_for_banner
from .sshd import SESSION_PATH_DIRS, SSHD, SshHost, keygen, known_hosts_line, write_config

NETWORK = ipaddress.ip_network("10.250.0.0/16")
NS_PREFIX = "qmcp-"  # + owner pid + "-" + 6 hex: a later session sweeps namespaces of dead owners
NS_NAME = re.compile(r"qmcp-(\d+)-([0-9a-f]{6})")
PORT = 2222  # the namespace has its own ports: a fixed one never collides
VIRSH_WRAPPER = """#!/bin/sh
# Fault rig: log the call; sleep when the trigger file's word is in it; then run the real virsh.
# A session (`virsh -q -c URI`, commands on stdin) is logged and slowed line by line instead.
slow() {{
  if [ -s {trigger} ]; then
    read -r word secs < {trigger}
    case "$1" in *"$word"*) sleep "$secs" ;; esac
  fi
}}
printf '%s\\n' "$*" >> {log}
if [ $# -eq 3 ] && [ "$1" = -q ]; then
  while IFS= read -r line; do
    printf '%s\\n' "$line" >> {log}
    slow "$line"
    printf '%s\\n' "$line"
  done | {virsh} "$@"
  exit
fi
slow "$*"
exec {virsh} "$@"
"""


@dataclass
class NetnsHost:
    ns: str
    host_veth: str  # our end
    guest_veth: str  # the namespace's end
    address: str  # the sshd's address, inside the namespace
    workdir: Path
    host: SshHost
    proc: subprocess.Popen[bytes] | None = None

    # ---- faults

    def silence(self) -> None:
        """The host's network goes silent: its end of the link is down, nothing answers or resets."""
        run(["ip", "-n", self.ns, "link", "set", self.guest_veth, "down"])

    def restore(self) -> None:
        run(["ip", "-n", self.ns, "link", "set", self.guest_veth, "up"])

    def kill_sshd(self) -> None:
        """SIGKILL every sshd process of the host (listener and sessions); their commands live on."""
        for pid in self._pids():
            if _comm(pid) == "sshd":
                _kill(pid)
        if self.proc is not None:
            self.proc.wait(10)
            self.proc = None

    def kill_listener(self) -> None:
        """SIGKILL only the listening sshd, as a service restart does: open sessions live on."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def start_sshd(self) -> None:
        sshd = [SSHD, "-D", "-f", str(self.workdir / "sshd_config"), "-E", str(self.workdir / "sshd.log")]
        argv = ["ip", "netns", "exec", self.ns, *_plain_bashrc(self.workdir, sshd)]
        run([SSHD, "-t", "-f", str(self.workdir / "sshd_config")])
        with open(self.workdir / "stderr.log", "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        if not wait_for_banner(PORT, self.proc, address=self.address):
            raise RigError(f"sshd in {self.ns} did not come up\n{tail(self.workdir / 'sshd.log')}")

    def rekey(self) -> str:
        """A new host key for the next sshd start (known_hosts keeps the old one); its public key."""
        for f in self.workdir.glob("ssh_host_ed25519_key*"):
            f.unlink()
        return keygen(self.workdir / "ssh_host_ed25519_key", comment=self.ns)

    def trust(self, public_key: str) -> None:
        Path(self.host.known_hosts).write_text(known_hosts_line(PORT, public_key, self.address))

    def slow_virsh(self, word: str, seconds: float) -> None:
        """virsh calls whose arguments contain `word` sleep `seconds` first; empty word: none."""
        (self.workdir / "virsh-trigger").write_text(f"{word} {seconds:g}\n" if word else "")

    def virsh_calls(self) -> list[str]:
        path = self.workdir / "virsh-calls.log"
        return path.read_text().splitlines() if path.exists() else []

    def sshd_sessions(self) -> int:
        """sshd processes serving connections (everything but the listener)."""
        listener = self.proc.pid if self.proc else -1
        return sum(1 for pid in self._pids() if pid != listener and _comm(pid) == "sshd")

    def commands_running(self) -> int:
        """Processes in the namespace that are not sshd (commands, also those orphaned by a kill)."""
        return sum(1 for pid in self._pids() if _comm(pid) != "sshd")

    def log(self) -> str:
        return (self.workdir / "sshd.log").read_text(errors="replace")

    def _pids(self) -> list[int]:
        out = run(["ip", "netns", "pids", self.ns], check=False).stdout
        return [int(p) for p in out.split() if p.isdigit()]


@contextmanager
def netns_host(workdir: Path, client_key: Path, *, virsh_wrapper: bool = True) -> Iterator[NetnsHost]:
    """A fresh namespace host with sshd running; everything it made is gone afterwards, whatever happened.
    virsh_wrapper=False: its sessions run the real virsh, without the logging wrapper (benchmarks)."""
    sweep_stale_namespaces()
    token = secrets.token_hex(3)
    ns = f"{NS_PREFIX}{os.getpid()}-{token}"
    d = workdir / ns
    d.mkdir(mode=0o755)
    run(["ip", "netns", "add", ns])
    h: NetnsHost | None = None
    try:
        h = _build(ns, token, d, client_key, virsh_wrapper)
        yield h
    finally:
        _destroy(ns, f"qmh{token}")
        if h is not None and h.proc is not None:
            h.proc.wait(10)  # reap the killed listener
        shutil.rmtree(d, ignore_errors=True)


def _build(ns: str, token: str, d: Path, client_key: Path, virsh_wrapper: bool = True) -> NetnsHost:
    ours, theirs = f"qmh{token}", f"qmg{token}"  # _destroy and the sweep know ours by the token
    net = _free_subnet()
    mine, address = (str(a) for a in list(net.hosts())[:2])
    run(["ip", "link", "add", ours, "type", "veth", "peer", "name", theirs, "netns", ns])
    run(["ip", "addr", "add", f"{mine}/{net.prefixlen}", "dev", ours])
    run(["ip", "link", "set", ours, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{address}/{net.prefixlen}", "dev", theirs])
    run(["ip", "-n", ns, "link", "set", theirs, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    # A permanent neighbour entry: with the link down, ARP would fail after 3 s and connect() would
    # get EHOSTUNREACH ("No route to host"); with it, packets go into the veth and vanish.
    mac = json.loads(run(["ip", "-n", ns, "-j", "link", "show", theirs]).stdout)[0]["address"]
    run(["ip", "neigh", "replace", address, "lladdr", mac, "dev", ours, "nud", "permanent"])

    public = keygen(d / "ssh_host_ed25519_key", comment=ns)
    auth = d / "authorized_keys"
    auth.mkdir(mode=0o755)
    (auth / "root").write_text(client_key.with_suffix(".pub").read_text())
    bindirs = [str(_virsh_wrapper(d))] if virsh_wrapper else []
    path = ":".join([*bindirs, *SESSION_PATH_DIRS])
    write_config(d, PORT, d / "ssh_host_ed25519_key", auth, listen=address, extra=f"SetEnv PATH={path}\n")
    known = d / "known_hosts"
    known.write_text(known_hosts_line(PORT, public, address))
    host = SshHost(address, PORT, str(known), public, "root", str(client_key), "", "")
    h = NetnsHost(ns, ours, theirs, address, d, host)
    h.start_sshd()
    return h


def _plain_bashrc(d: Path, sshd: list[str]) -> list[str]:
    """argv starting sshd so that its sessions' bash reads a ~/.bashrc without pyenv lines: root's
    may run `pyenv init` for every command (~0.2 s each), which a real host does not. A private
    mount namespace holds the bind mount; unshare and sh exec, so the pid stays sshd's."""
    bashrc = Path("/root/.bashrc")
    text = bashrc.read_text(errors="replace") if bashrc.is_file() else ""
    if "pyenv" not in text.lower():
        return sshd
    (d / "bashrc").write_text("".join(ln for ln in text.splitlines(True) if "pyenv" not in ln.lower()))
    script = f"mount --bind {shlex.quote(str(d / 'bashrc'))} {shlex.quote(str(bashrc))} && exec {shlex.join(sshd)}"
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script]


def _virsh_wrapper(d: Path) -> Path:
    virsh = shutil.which("virsh")
    if virsh is None:
        raise RigError("virsh is not installed (libvirt-clients)")
    bindir = d / "bin"
    bindir.mkdir(mode=0o755)
    q = shlex.quote
    script = bindir / "virsh"
    script.write_text(VIRSH_WRAPPER.format(log=q(str(d / "virsh-calls.log")), trigger=q(str(d / "virsh-trigger")),
                                           virsh=q(virsh)))  # fmt: skip
    script.chmod(0o755)
    return bindir


def _free_subnet() -> ipaddress.IPv4Network:
    """A random /30 of 10.250.0.0/16 that no address or route on this machine overlaps."""
    taken = []
    for line in run(["ip", "-4", "-o", "addr"]).stdout.splitlines() + run(["ip", "-4", "route"]).stdout.splitlines():
        for word in line.split():
            try:
                taken.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                continue
    for _ in range(20):
        index = secrets.randbelow(NETWORK.num_addresses // 4)
        net = ipaddress.ip_network(f"{NETWORK.network_address + 4 * index}/30")
        if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
            return net  # type: ignore[return-value]
    raise RigError("no free /30 in 10.250.0.0/16 after 20 tries")


def sweep_stale_namespaces() -> None:
    """Namespaces that sessions which died left behind (their owner pid is gone)."""
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NS_NAME.fullmatch(name)
        if m and not pid_alive(int(m.group(1))):
            _destroy(name, f"qmh{m.group(2)}")


def _destroy(ns: str, our_veth: str) -> None:
    """Kill every process in the namespace, remove the veth pair and the namespace. The veth goes
    explicitly: sockets orphaned on a silenced link keep a deleted namespace (and its veth) alive."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split() if p.isdigit()]
        if not pids:
            break
        for pid in pids:
            _kill(pid)
        time.sleep(0.1)
    if run(["ip", "link", "show", our_veth], check=False).returncode == 0:
        run(["ip", "link", "del", our_veth])
    run(["ip", "netns", "del", ns], check=False)


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""

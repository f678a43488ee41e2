"""What a new VM gets besides its disk (issue 11): the network it is put on, an SSH forward on the
host's 127.0.0.1, a NoCloud seed ISO, an Ignition config, the guest-agent channel. Shared by both
backends and the create flow. Pure: no I/O.

`network` (a create argument): "user" (user-mode networking), "bridge:<name>" (a host bridge), or
the name of a libvirt network; None is the backend's default (libvirt: its `default` network when
active, else user-mode; plain QEMU: user-mode).
"""

from __future__ import annotations

import posixpath
import re
import secrets
from dataclasses import dataclass, field

from qemu_mcp.errors import InvalidInput

AGENT_CHANNEL = "org.qemu.guest_agent.0"
FORWARD_HOST = "127.0.0.1"
GUEST_SSH_PORT = 22
# Where a forward's port is picked: high, unprivileged, below the usual ephemeral range (32768+).
FORWARD_PORTS = range(20000, 30000)
_NET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_BRIDGE = re.compile(r"[A-Za-z0-9_.-]{1,15}")  # a Linux interface name (IFNAMSIZ - 1)


@dataclass(frozen=True)
class NetworkChoice:
    """kind: user | network (a libvirt network) | bridge; name: the network's or bridge's name."""

    kind: str
    name: str | None = None

    def describe(self) -> str:
        if self.kind == "user":
            return "user-mode networking"
        return f"bridge '{self.name}'" if self.kind == "bridge" else f"network '{self.name}'"


def parse_network(value: str) -> NetworkChoice:
    """The `network` argument; InvalidInput says what a good value looks like."""
    text = value.strip()
    if text == "user":
        return NetworkChoice("user")
    if text.startswith("bridge:"):
        bridge = text.removeprefix("bridge:")
        if not _BRIDGE.fullmatch(bridge) or bridge in (".", ".."):
            raise InvalidInput(f"network {value!r}: {bridge!r} is not a bridge (network interface) name")
        return NetworkChoice("bridge", bridge)
    if not _NET_NAME.fullmatch(text):
        raise InvalidInput(
            f"network {value!r} is not 'user', 'bridge:<name>' or a libvirt network name "
            "(letters, digits, '_', '.', '-')"
        )
    return NetworkChoice("network", text)


@dataclass(frozen=True)
class Provision:
    """The create request's provisioning part, then (once the host is checked) where it goes.

    seed / ignition: the bytes to upload (repr hides them: the seed's user-data may hold a
    password hash); seed_path / ignition_path: where they go on the host (beside the disk);
    ssh_forward: True/False as asked, None for the default (on for user-mode networking);
    forward_port: the port picked on the host's 127.0.0.1 (0 until picked)."""

    network: NetworkChoice | None = None
    ssh_forward: bool | None = None
    seed: bytes | None = field(default=None, repr=False)
    ignition: bytes | None = field(default=None, repr=False)
    seed_path: str | None = None
    ignition_path: str | None = None
    forward_port: int = 0
    mac: str | None = None

    def files(self) -> list[tuple[str, str, bytes]]:
        """(what, host path, bytes) of every file to upload."""
        out = []
        if self.seed is not None and self.seed_path:
            out.append(("the cloud-init seed ISO", self.seed_path, self.seed))
        if self.ignition is not None and self.ignition_path:
            out.append(("the Ignition config", self.ignition_path, self.ignition))
        return out


def wants_forward(choice: NetworkChoice, ssh_forward: bool | None) -> bool:
    """A forward is made for user-mode networking unless ssh_forward=false."""
    if ssh_forward and choice.kind != "user":
        raise InvalidInput(
            f"ssh_forward needs user-mode networking (network='user'); the VM is on {choice.describe()}, "
            "where the guest has its own address"
        )
    return choice.kind == "user" and ssh_forward is not False


def pick_port(listening: set[int], taken: set[int], token: int) -> int:
    """A port of FORWARD_PORTS nothing listens on and no other VM of ours forwards; `token` (random)
    spreads concurrent creates over the range."""
    size = len(FORWARD_PORTS)
    for i in range(size):
        port = FORWARD_PORTS[(token + i) % size]
        if port not in listening and port not in taken:
            return port
    raise InvalidInput(f"no free port in {FORWARD_PORTS.start}-{FORWARD_PORTS.stop - 1} on the host's 127.0.0.1")


def ssh_jump_line(user: str | None, port: int, host_user: str, host: str, host_port: int = 22) -> str:
    """The command that reaches a forwarded guest from anywhere the host is reachable."""
    jump = f"{host_user}@{host}" + (f":{host_port}" if host_port != 22 else "")
    return f"ssh -J {jump} -p {port} {user or '<user>'}@{FORWARD_HOST}"


def new_mac() -> str:
    """A random locally administered MAC in QEMU's 52:54:00 range."""
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def file_paths(name: str, home: str | None, first_disk: str) -> tuple[str, str]:
    """(seed ISO, Ignition config) paths of a VM on the host: in its own directory (plain QEMU
    `<vm_dir>/<name>/seed.iso`), else beside its first disk (libvirt `<disk dir>/<name>-seed.iso`)."""
    if home:
        return f"{home}/seed.iso", f"{home}/ignition.ign"
    directory = posixpath.dirname(first_disk)
    return f"{directory}/{name}-seed.iso", f"{directory}/{name}-ignition.ign"


def seed_path(name: str, home: str | None, first_disk: str) -> str:
    return file_paths(name, home, first_disk)[0]

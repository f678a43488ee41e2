"""wait_for_address: after a start (create, start, clone), wait until the guest can be reached.

A VM with an SSH forward is ready when the forward's port on the host's 127.0.0.1 answers with an
SSH banner (read BY the host: qemu-mcp never connects to a guest). Any other VM is ready once an
address is known: the guest agent's, a DHCP lease, or the host's neighbour table (libvirt); the
guest agent (plain QEMU). A timeout is not an error (the VM was made and started): the result
says what was tried, and the flow's message says it timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from qemu_mcp.backends.access import ssh_endpoint
from qemu_mcp.backends.libvirt import addresses as libvirt_addresses
from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.backends.qemu import addresses as qemu_addresses
from qemu_mcp.backends.qemu import read as qemu_read
from qemu_mcp.config import HostSpec
from qemu_mcp.host.banner import first_line, is_ssh_banner
from qemu_mcp.models_addresses import AddressInfo, SshEndpoint
from qemu_mcp.parsers.guest_access import xml_ssh_forward
from qemu_mcp.transport.base import Runner

INTERVAL = 3.0
Progress = Callable[[float, float | None, str], Awaitable[None]]


@dataclass
class AddressWait:
    seconds: float
    addresses: list[AddressInfo] = field(default_factory=list)
    ssh: SshEndpoint | None = None
    banner: str | None = None
    timed_out: bool = False
    tried: list[str] = field(default_factory=list)

    def sentence(self, limit: float) -> str:
        if self.timed_out:
            return f"no address within {limit:g} s (tried: {'; '.join(self.tried)})"
        if self.banner is not None and self.ssh is not None:
            return f"SSH answers after {self.seconds:.0f} s: {self.ssh.command}"
        shown = ", ".join(f"{a.ip} ({a.source})" for a in self.addresses[:4])
        return f"address after {self.seconds:.0f} s: {shown}"


@dataclass(frozen=True)
class Target:
    spec: HostSpec
    kind: str  # libvirt or qemu
    name: str
    uuid: str
    vm_dir: str | None = None


def usable(addresses: list[AddressInfo]) -> list[AddressInfo]:
    """Addresses a user could use: not IPv6 link-local."""
    return [a for a in addresses if not a.ip.lower().startswith("fe80:")]


async def forward_port(runner: Runner, t: Target) -> int | None:
    if t.kind == "libvirt":
        result = await runner.run(virsh.virsh(t.spec.libvirt_uri, [virsh.dumpxml(t.uuid)]), read_only=True)
        return xml_ssh_forward(result.stdout) if result.exit_status == 0 else None
    vm = await qemu_read.find_vm(runner, t.spec, qemu_read.vm_dir_of(t.spec, t.vm_dir), t.name)
    return qemu_addresses.ssh_forward_of(vm.conf_text, vm.argv if vm.alive else None) if vm is not None else None


async def known_addresses(runner: Runner, t: Target) -> list[AddressInfo]:
    if t.kind == "libvirt":
        return (await libvirt_addresses.guest_addresses(runner, t.spec, t.uuid))[0]
    vm = await qemu_read.find_vm(runner, t.spec, qemu_read.vm_dir_of(t.spec, t.vm_dir), t.name)
    if vm is None or not vm.alive or not qemu_addresses.has_agent_channel(vm.argv):
        return []
    return (await qemu_addresses.agent_addresses(runner, vm.home))[0]


async def banner(runner: Runner, port: int) -> str | None:
    result = await runner.run(first_line(port), read_only=True, timeout=15)
    line = result.stdout.strip()
    return line if result.exit_status == 0 and is_ssh_banner(line) else None


def tried(t: Target, port: int | None) -> list[str]:
    if port is not None:
        return [f"the SSH banner of the forward 127.0.0.1:{port} on host '{t.spec.name}' (read on the host)"]
    if t.kind == "libvirt":
        return ["guest agent, DHCP leases, the host's ARP table (is the guest booted with an OS that runs "
                "qemu-guest-agent or takes a DHCP lease?)"]  # fmt: skip
    socket = f"{t.vm_dir or t.spec.vm_dir}/{t.name}/qga.sock"
    return [f"the guest agent on {socket} (only a VM started with the org.qemu.guest_agent.0 channel and "
            "qemu-guest-agent in the guest answers; no SSH forward is recorded)"]  # fmt: skip


async def wait_for_address(
    runner: Runner,
    t: Target,
    seconds: float,
    progress: Progress | None = None,
    *,
    interval: float = INTERVAL,
) -> AddressWait:
    """Poll until reachable or `seconds` pass; progress after each poll."""
    start = time.monotonic()
    port = await forward_port(runner, t)
    wait = AddressWait(0.0, ssh=ssh_endpoint(t.spec, port), tried=tried(t, port))
    while True:
        if port is not None:
            wait.banner = await banner(runner, port)
        else:
            wait.addresses = usable(await known_addresses(runner, t))
        wait.seconds = time.monotonic() - start
        if wait.banner is not None or wait.addresses:
            break
        if wait.seconds >= seconds:
            wait.timed_out = True
            break
        if progress is not None:
            what = f"SSH on 127.0.0.1:{port}" if port is not None else "an address"
            await progress(min(wait.seconds, seconds), seconds, f"waiting for {what} of '{t.name}'")
        await asyncio.sleep(min(interval, max(0.0, seconds - wait.seconds)))
    if port is not None and wait.banner is not None:
        wait.addresses = usable(await known_addresses(runner, t))
    return wait

"""The CLI's Fleet: remote hosts are reached over SSH, and the SSH transport (asyncssh) is imported
when a command first reaches one, so that commands on `local` or `demo` start without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qemu_mcp.config import HostSpec, load_inventory

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore
    from qemu_mcp.transport.base import Runner


def cli_fleet(config: str | None, *, virsh_sessions: bool = True) -> FleetCore:
    """`virsh_sessions=False` for a command that makes one call and exits: a session would serve
    one batch, and the one-shot listing also brings the host's addresses (one round trip, not two)."""
    from qemu_mcp.ops.fleet_core import FleetCore
    from qemu_mcp.transport.pool import RunnerPool

    return FleetCore(load_inventory(config), RunnerPool(ssh_runner), virsh_sessions=virsh_sessions)


def ssh_runner(spec: HostSpec) -> Runner:
    from qemu_mcp.transport.ssh import SSHRunner

    return SSHRunner(spec)

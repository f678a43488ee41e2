"""The CLI's Fleet: remote hosts are reached over SSH, and the SSH transport (asyncssh) is imported
when a command first reaches one, so that commands on `local` or `demo` start without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qemu_mcp.config import HostSpec, Inventory, load_inventory
from qemu_mcp.transport.pool import RunnerPool

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore
    from qemu_mcp.transport.base import Runner


def cli_fleet(config: str | None, *, virsh_sessions: bool = True) -> FleetCore:
    """`virsh_sessions=False` for a command that makes one call and exits: a session would serve
    one batch, and the one-shot listing also brings the host's addresses (one round trip, not two)."""
    return fleet_on(load_inventory(config), cli_pool(), virsh_sessions=virsh_sessions)


def cli_pool() -> RunnerPool:
    return RunnerPool(ssh_runner)


def fleet_on(inventory: Inventory, pool: RunnerPool, *, virsh_sessions: bool = True) -> FleetCore:
    """The fleet on a pool made already (frontends/cli/overlap.py may be connecting on it)."""
    from qemu_mcp.ops.fleet_core import FleetCore

    return FleetCore(inventory, pool, virsh_sessions=virsh_sessions)


def ssh_runner(spec: HostSpec) -> Runner:
    from qemu_mcp.transport.ssh import SSHRunner

    return SSHRunner(spec)

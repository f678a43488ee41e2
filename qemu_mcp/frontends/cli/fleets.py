"""The CLI's Fleet: remote hosts are reached over SSH, and the SSH transport (asyncssh) is imported
when a command first reaches one, so that commands on `local` or `demo` start without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qemu_mcp.config import HostSpec, load_inventory

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore
    from qemu_mcp.transport.base import Runner


def cli_fleet(config: str | None) -> FleetCore:
    from qemu_mcp.ops.fleet_core import FleetCore
    from qemu_mcp.transport.pool import RunnerPool

    return FleetCore(load_inventory(config), RunnerPool(ssh_runner))


def ssh_runner(spec: HostSpec) -> Runner:
    from qemu_mcp.transport.ssh import SSHRunner

    return SSHRunner(spec)

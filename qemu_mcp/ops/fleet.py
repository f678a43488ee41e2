"""The Fleet that reaches remote hosts over SSH (asyncssh): a FleetCore (ops/fleet_core.py) with
an SSH runner pool. Importing this module imports asyncssh; the operations import fleet_core."""

from __future__ import annotations

from qemu_mcp.config import Inventory
from qemu_mcp.ops.fleet_core import FleetCore, HostRef, across_hosts, each_host, within_host_budget
from qemu_mcp.transport.pool import RunnerPool
from qemu_mcp.transport.ssh import SSHRunner

__all__ = ["Fleet", "FleetCore", "HostRef", "across_hosts", "each_host", "within_host_budget"]


class Fleet(FleetCore):
    def __init__(self, inventory: Inventory, pool: RunnerPool | None = None, *, virsh_sessions: bool = True) -> None:
        super().__init__(inventory, pool if pool is not None else RunnerPool(SSHRunner), virsh_sessions=virsh_sessions)

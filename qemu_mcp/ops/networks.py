"""list_networks: libvirt networks, or a plain-QEMU host's bridges; one host or the whole inventory."""

from __future__ import annotations

from qemu_mcp.backends.libvirt.networks import list_networks as libvirt_networks
from qemu_mcp.backends.qemu.bridges import list_bridges
from qemu_mcp.config import HostSpec
from qemu_mcp.models import ListNetworksData, NetworkInfo
from qemu_mcp.ops.backend import with_backend
from qemu_mcp.ops.fleet_core import FleetCore, HostRef, across_hosts


async def _one(fleet: FleetCore, spec: HostSpec) -> list[NetworkInfo]:
    return await with_backend(
        fleet, spec, lambda runner: libvirt_networks(runner, spec), lambda runner: list_bridges(runner, spec)
    )


async def list_networks(fleet: FleetCore, ref: HostRef | None = None) -> ListNetworksData:
    """Networks of one host (ref.host given) or of every inventory host concurrently."""
    specs, answers, errors = await across_hosts(fleet, ref, lambda s: _one(fleet, s), "listing its networks")
    networks = [n for _, found in answers for n in found]
    return ListNetworksData(
        host=", ".join(s.name for s in specs), network_count=len(networks), networks=networks, errors=errors
    )

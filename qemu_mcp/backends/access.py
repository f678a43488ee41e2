"""What both backends say about reaching a guest: the SSH endpoint through the host, merged addresses. Pure."""

from __future__ import annotations

from qemu_mcp.config import HostSpec
from qemu_mcp.models import VmInfo
from qemu_mcp.models_addresses import AddressInfo, SshEndpoint, VncEndpoint, ssh_command


def merge(found: list[list[AddressInfo]]) -> list[AddressInfo]:
    """One entry per (MAC or interface, IP): the agent's first, then leases, then ARP."""
    seen: set[tuple[str | None, str]] = set()
    merged = []
    for group in found:
        for a in group:
            key = ((a.mac or "").lower() or a.interface, a.ip)
            if key not in seen:
                seen.add(key)
                merged.append(a)
    return merged


def jump_of(spec: HostSpec) -> str | None:
    """user@address[:port] of a remote host, for ssh -J; None for a local one."""
    if spec.address is None:
        return None
    user = f"{spec.user}@" if spec.user else ""
    port = f":{spec.port}" if spec.port != 22 else ""
    return f"{user}{spec.address}{port}"


def ssh_endpoint(spec: HostSpec, port: int | None, guest_user: str | None = None) -> SshEndpoint | None:
    if port is None:
        return None
    jump = jump_of(spec)
    return SshEndpoint(
        host=spec.name, address="127.0.0.1", port=port, user=guest_user, jump=jump,
        command=ssh_command(port, guest_user, jump),
    )  # fmt: skip


def vnc_endpoint(spec: HostSpec, vm: VmInfo) -> VncEndpoint | None:
    vnc = next((g for g in vm.graphics if g.type == "vnc" and g.port), None)
    return None if vnc is None or vnc.port is None else VncEndpoint(host=spec.name, listen=vnc.listen, port=vnc.port)

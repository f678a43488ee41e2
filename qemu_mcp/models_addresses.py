"""Where a guest can be reached: its addresses, its SSH forward and its VNC display. Pure models.

Kept apart from qemu_mcp.models (VmInfo embeds them): list_vms fills only what its single round
trip already knows (leases and the host's neighbour table, the recorded forward and the VNC port);
get_vm_info also asks the guest agent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AddressSource = Literal["agent", "lease", "arp"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class AddressInfo(_Model):
    interface: str | None = Field(None, description="Guest interface name (agent) or host-side tap/vnet device")
    mac: str | None = None
    ip: str
    prefix: int | None = Field(None, description="Prefix length, e.g. 24")
    family: Literal["ipv4", "ipv6"] = "ipv4"
    source: AddressSource = Field(description="agent (guest agent), lease (DHCP lease), arp (host's neighbour table)")


class SshEndpoint(_Model):
    host: str = Field(description="Inventory name of the VM's host")
    address: str = Field(description="Where the forward listens: 127.0.0.1 on the VM's host")
    port: int = Field(description="Port on the host's 127.0.0.1 forwarded to the guest's port 22")
    user: str | None = Field(None, description="The guest user, when known (cloud_init user); else a placeholder")
    jump: str | None = Field(None, description="user@host[:port] of the VM's host for ssh -J; None for a local host")
    command: str = Field(description="An ssh command line that reaches the guest through the host")


class VncEndpoint(_Model):
    host: str = Field(description="Inventory name of the VM's host")
    listen: str | None = Field(None, description="Address VNC listens on, on the host")
    port: int = Field(description="TCP port on the host")


def ssh_command(port: int, guest_user: str | None, jump: str | None) -> str:
    """`ssh [-J jump] -p PORT USER@127.0.0.1` (USER: the guest user, or <user> to fill in)."""
    j = f"-J {jump} " if jump else ""
    return f"ssh {j}-p {port} {guest_user or '<user>'}@127.0.0.1"

"""manage_vm create's provisioning arguments (issue 11), checked before anything touches a host:
`cloud_init` (qemu_mcp.cloudinit: user_data checked as YAML when it starts with #cloud-config),
`ignition` (JSON with ignition.version), `network` ('user', 'bridge:<name>', a libvirt network),
`ssh_forward`. Secrets (password_hash, user_data) are remembered for log redaction here, where
they enter, and never appear in an error message."""

from __future__ import annotations

from typing import Any

from qemu_mcp import redaction
from qemu_mcp.audit import REDACTED
from qemu_mcp.backends.provision import parse_network
from qemu_mcp.cloudinit import CloudInit, parse_cloud_init
from qemu_mcp.errors import InvalidInput
from qemu_mcp.ignition import ignition_bytes

SECRET_FIELDS = ("password_hash", "user_data")


def parse_provision(
    cloud_init: CloudInit | dict[str, Any] | None,
    ignition: dict[str, Any] | str | None,
    network: str | None,
    ssh_forward: bool | None,
) -> dict[str, Any]:
    """The ManageRequest fields (cloud_init, ignition, network, ssh_forward) for a create."""
    if ssh_forward is not None and not isinstance(ssh_forward, bool):
        raise InvalidInput(f"ssh_forward must be true or false, not {ssh_forward!r}")
    if network is not None and not isinstance(network, str):
        raise InvalidInput("network must be a string: 'user', 'bridge:<name>' or a libvirt network name")
    if cloud_init is not None and not isinstance(cloud_init, CloudInit | dict):
        raise InvalidInput("cloud_init must be an object (hostname, user, ssh_authorized_keys, ...)")
    ci = parse_cloud_init(cloud_init) if cloud_init is not None else None
    if ci is not None:
        redaction.remember(ci.password_hash)
        redaction.remember(ci.user_data)
    choice = parse_network(network) if network is not None else None
    if ssh_forward and choice is not None and choice.kind != "user":
        raise InvalidInput(
            f"ssh_forward needs user-mode networking; network={network!r} gives the guest its own address"
        )
    return {
        "cloud_init": ci,
        "ignition": ignition_bytes(ignition) if ignition is not None else None,
        "network": choice,
        "ssh_forward": ssh_forward,
    }


def audit_fields(req: Any) -> dict[str, object]:
    """What the audit log records of a create's provisioning: the cloud_init fields given, with
    password_hash and user_data blanked, the Ignition config's size (it can hold secrets), the
    network and ssh_forward. Nothing for other actions."""
    if req.cloud_init is None and req.ignition is None and req.network is None and req.ssh_forward is None:
        return {}
    ci = req.cloud_init.model_dump(exclude_defaults=True) if req.cloud_init is not None else None
    for key in SECRET_FIELDS:
        if ci and ci.get(key) is not None:
            ci[key] = REDACTED
    return {
        "cloud_init": ci,
        "ignition": f"{len(req.ignition)} bytes" if req.ignition is not None else None,
        "network": req.network.describe() if req.network is not None else None,
        "ssh_forward": req.ssh_forward,
    }

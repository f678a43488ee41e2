"""manage_vm create's arguments for a guest you can log into (issue 11). cloud_init is a plain
object here (checked by qemu_mcp.cloudinit in ops): a pydantic model as the parameter type would
let the SDK's validation error quote a rejected password_hash or user_data back."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

CloudInitArg = Annotated[
    dict[str, Any] | None,
    Field(
        description="create and clone (the clone's own seed): cloud-init (NoCloud seed ISO) fields, all "
        "optional: hostname, user, "
        "ssh_authorized_keys (list of public key lines), password_hash (crypt, e.g. mkpasswd -m sha-512), "
        "packages, runcmd, timezone, locale, network_config (v1/v2), user_data (raw #cloud-config or #! "
        "script; replaces the generated user-data)"
    ),
]
IgnitionArg = Annotated[
    dict[str, Any] | str | None,
    Field(description='create: Ignition config (JSON object or string with ignition.version, e.g. "3.4.0")'),
]
NetworkArg = Annotated[
    str | None,
    Field(description="create: 'user' (user-mode), 'bridge:<name>' (host bridge) or a libvirt network name"),
]
SshForwardArg = Annotated[
    bool | None,
    Field(description="create with user-mode networking: forward a free host 127.0.0.1 port to guest 22 (default)"),
]

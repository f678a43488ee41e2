"""A cloud-init NoCloud seed: meta-data, user-data and network-config on an ISO labelled `cidata`,
built in memory with pycdlib (no genisoimage on any machine). Pure: no I/O, no host command.

cloud-init finds the seed by its volume label and reads the files by their Rock Ridge / Joliet
names. Without `network_config` no network-config file is written: cloud-init then uses its own
fallback (DHCP on the first NIC), which works whatever the image's network renderer is.
Nothing here logs: user-data can hold a password hash.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

import pycdlib
import yaml

from qemu_mcp.cloudinit import CloudInit

VOLUME_LABEL = "cidata"
# (name cloud-init reads, ISO 9660 level-1 name for readers that see neither Rock Ridge nor Joliet)
_FILES = (("meta-data", "METADATA"), ("user-data", "USERDATA"), ("network-config", "NETWORKC"))


@dataclass(frozen=True)
class Seed:
    """The seed's files, as bytes. `network_config` is None when cloud-init's fallback applies."""

    meta_data: bytes
    user_data: bytes
    network_config: bytes | None

    def files(self) -> dict[str, bytes]:
        found = {"meta-data": self.meta_data, "user-data": self.user_data, "network-config": self.network_config}
        return {name: data for name, data in found.items() if data is not None}

    def __repr__(self) -> str:  # the user-data may hold a password hash
        return f"Seed(files={sorted(self.files())})"


def _yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def meta_data(ci: CloudInit, instance_id: str | None = None) -> bytes:
    """A fresh instance-id makes cloud-init treat the guest as new: it runs the per-instance modules."""
    document: dict[str, Any] = {"instance-id": instance_id or f"iid-{uuid.uuid4().hex}"}
    if ci.hostname:
        document["local-hostname"] = ci.hostname
    return _yaml(document).encode()


def cloud_config(ci: CloudInit) -> dict[str, Any]:
    """The #cloud-config document built from the typed fields (used when user_data is not given)."""
    config: dict[str, Any] = {}
    if ci.hostname:
        config["hostname"] = ci.hostname.split(".")[0]
        if "." in ci.hostname:
            config["fqdn"] = ci.hostname
        config["preserve_hostname"] = False
    if ci.user:
        user: dict[str, Any] = {
            "name": ci.user,
            "shell": "/bin/bash",
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "lock_passwd": ci.password_hash is None,
        }
        if ci.password_hash:
            user["passwd"] = ci.password_hash
        if ci.ssh_authorized_keys:
            user["ssh_authorized_keys"] = list(ci.ssh_authorized_keys)
        config["users"] = [user]  # instead of the image's default user
    elif ci.ssh_authorized_keys:
        config["ssh_authorized_keys"] = list(ci.ssh_authorized_keys)  # the image's default user
    if ci.timezone:
        config["timezone"] = ci.timezone
    if ci.locale:
        config["locale"] = ci.locale
    if ci.packages:
        config["packages"] = list(ci.packages)
    if ci.runcmd:
        config["runcmd"] = [c if isinstance(c, str) else list(c) for c in ci.runcmd]
    return config


def user_data(ci: CloudInit) -> bytes:
    if ci.user_data is not None:
        return ci.user_data.encode()
    return ("#cloud-config\n" + _yaml(cloud_config(ci))).encode()


def network_config(ci: CloudInit) -> bytes | None:
    if ci.network_config is None:
        return None
    assert isinstance(ci.network_config, dict)  # the model's validator turns YAML text into a mapping
    return _yaml(ci.network_config).encode()


def build_seed(ci: CloudInit, instance_id: str | None = None) -> Seed:
    return Seed(meta_data(ci, instance_id), user_data(ci), network_config(ci))


def seed_iso(seed: Seed) -> bytes:
    """The ISO image (volume label `cidata`, Rock Ridge and Joliet names) as bytes."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=VOLUME_LABEL, joliet=3, rock_ridge="1.09")
    try:
        contents = seed.files()
        for name, iso_name in _FILES:
            if name in contents:
                data = contents[name]
                iso.add_fp(io.BytesIO(data), len(data), f"/{iso_name}.;1", rr_name=name, joliet_path=f"/{name}")
        out = io.BytesIO()
        iso.write_fp(out)
        return out.getvalue()
    finally:
        iso.close()


def nocloud_iso(ci: CloudInit, instance_id: str | None = None) -> bytes:
    """The seed ISO for `ci`, ready to attach as a read-only CD-ROM."""
    return seed_iso(build_seed(ci, instance_id))

"""`qemu-mcp vm create` options for a guest you can log into (issue 11): cloud-init from flags
and/or a file, an Ignition file, the network and the SSH forward. `vm clone` takes the cloud-init
ones (the clone's own seed: a new hostname, user, keys).

--cloud-init FILE: a YAML mapping of the cloud_init fields (hostname, user, ssh_authorized_keys,
...), or raw user-data (a file starting with #cloud-config or #!, passed as user_data).
--hostname, --user and --authorized-key add to it. (`--ssh-key` already names the SSH private key
that reaches an ad-hoc *host*, so the guest's public key is --authorized-key.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from qemu_mcp.errors import InvalidInput

RAW_USER_DATA = ("#cloud-config", "#!")


def add_create_options(p: Any) -> None:
    add_guest_options(p)
    p.add_argument("--ignition", metavar="FILE", help="Ignition config (.ign JSON), given to the guest in fw_cfg")
    p.add_argument("--network", help="'user' (user-mode), 'bridge:<name>', or a libvirt network name")
    p.add_argument(
        "--ssh-forward", action=argparse.BooleanOptionalAction, default=None,
        help="forward a free port on the host's 127.0.0.1 to guest port 22 (default: on for user-mode)",
    )  # fmt: skip


def add_guest_options(p: Any) -> None:
    """cloud-init's options (vm create and vm clone: the clone's own hostname, user, keys)."""
    p.add_argument("--hostname", help="the guest's host name (cloud-init)")
    p.add_argument("--user", help="a user cloud-init creates, with sudo (default: the image's default user)")
    p.add_argument(
        "--authorized-key", action="append", metavar="FILE_OR_KEY",
        help="a public key for the guest user: a .pub file or the key line (repeatable)",
    )  # fmt: skip
    p.add_argument("--cloud-init", metavar="FILE", help="YAML with the cloud_init fields, or raw #cloud-config")


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError as e:
        raise InvalidInput(f"{what} {path}: cannot be read ({e.strerror or e})") from None


def _key(value: str) -> str:
    """A key line as given, or the first line of a file holding it."""
    if value.startswith(("ssh-", "ecdsa-", "sk-")):
        return value
    text = _read(value, "--authorized-key").strip()
    return text.splitlines()[0] if text else text


def cloud_init_from(opt: dict[str, Any]) -> dict[str, Any] | None:
    """The cloud_init argument from --cloud-init, --hostname, --user and --authorized-key."""
    fields: dict[str, Any] = {}
    if opt.get("cloud_init"):
        text = _read(opt["cloud_init"], "--cloud-init")
        if text.lstrip("\ufeff").startswith(RAW_USER_DATA):
            fields["user_data"] = text
        else:
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError:
                raise InvalidInput(f"--cloud-init {opt['cloud_init']}: not valid YAML") from None
            if not isinstance(loaded, dict):
                raise InvalidInput(
                    f"--cloud-init {opt['cloud_init']}: give a mapping of cloud_init fields, or a #cloud-config file"
                )
            fields.update(loaded)
    for key in ("hostname", "user"):
        if opt.get(key):
            fields[key] = opt[key]
    if opt.get("authorized_key"):
        fields["ssh_authorized_keys"] = [*fields.get("ssh_authorized_keys", []), *map(_key, opt["authorized_key"])]
    return fields or None


def ignition_from(opt: dict[str, Any]) -> str | None:
    return _read(opt["ignition"], "--ignition") if opt.get("ignition") else None


def provision_args(opt: dict[str, Any]) -> dict[str, Any]:
    """parse_request's keyword arguments (clone: cloud_init only; empty for other actions)."""
    if opt.get("manage_action") == "clone":
        return {"cloud_init": cloud_init_from(opt)}
    if opt.get("manage_action") != "create":
        return {}
    return {
        "cloud_init": cloud_init_from(opt),
        "ignition": ignition_from(opt),
        "network": opt.get("network"),
        "ssh_forward": opt.get("ssh_forward"),
    }

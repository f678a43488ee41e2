"""Inventories pointing at the rig's real sshd hosts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet


def key_host(h, name: str = "rig", **extra) -> HostSpec:  # type: ignore[no-untyped-def]
    return HostSpec(
        name=name,
        address=h.address,
        port=h.port,
        user=h.key_user,
        key=h.key_path,
        known_hosts=h.known_hosts,
        **extra,
    )


@pytest.fixture
def rig_spec(sshd_host, libvirtd_running) -> HostSpec:  # type: ignore[no-untyped-def]
    return key_host(sshd_host)


@pytest.fixture
async def fleet(rig_spec: HostSpec):  # type: ignore[no-untyped-def]
    f = Fleet(Inventory([rig_spec]))
    yield f
    await f.close()


@pytest.fixture
def rig_config(tmp_path: Path, sshd_host, libvirtd_running) -> str:  # type: ignore[no-untyped-def]
    """A hosts.yaml naming the rig host, for the CLI and the stdio server."""
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump({"hosts": [key_host(sshd_host).model_dump(exclude_none=True)]}))
    return str(path)

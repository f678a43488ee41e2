"""Base images on real rig hosts (issue 11): upload_image over SFTP (sha256 checked on the host,
no overwrite unless asked, progress), list_images, on a libvirt host and a plain-QEMU host."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.consent import Consent
from qemu_mcp.errors import ConfirmationRequired, Conflict
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops import images as image_ops
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.policy import PolicySpec
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, error, manage_area
from tests.integration.qemu_helpers import QemuArea, qemu_area

pytestmark = pytest.mark.integration
MIB = 1024**2


def tiny_qcow2(path: Path, size: str = "32M", *, content: bytes = b"") -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    if content:  # a few written clusters make the image differ from any other
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x{content[0]:02x} 0 64k", str(path)],
                       check=True, capture_output=True)  # fmt: skip
    return path


@pytest.fixture
def lib_area() -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.fixture
def q_area() -> Iterator[QemuArea]:
    with qemu_area() as a:
        yield a


@pytest.fixture
def lib(sshd_host, libvirtd_running, lib_area: Area) -> HostSpec:  # type: ignore[no-untyped-def]
    return key_host(sshd_host, name="lib", vm_dir=lib_area.dir, backend="libvirt",
                    policy=PolicySpec(allowed_paths=(lib_area.dir,)))  # fmt: skip


@pytest.fixture
def plain(qemu_only_sshd_host, q_area: QemuArea) -> HostSpec:  # type: ignore[no-untyped-def]
    return key_host(qemu_only_sshd_host, name="plain", vm_dir=q_area.vm_dir,
                    policy=PolicySpec(allowed_paths=(q_area.root,)))  # fmt: skip


@pytest.fixture(params=["lib", "plain"])
def host(request: pytest.FixtureRequest) -> HostSpec:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


async def test_upload_checks_sha_refuses_overwrite_and_lists(host: HostSpec, tmp_path: Path) -> None:
    local = tiny_qcow2(tmp_path / "base.qcow2", content=b"\x5a")
    events: list[tuple[float, float | None, str]] = []

    async def progress(done: float, total: float | None, message: str) -> None:
        events.append((done, total, message))

    fleet = Fleet(Inventory([host]))
    try:
        ref = HostRef(host.name)
        result = await image_ops.upload_image(fleet, ref, str(local), progress=progress)
        dest = Path(host.images) / "base.qcow2"
        assert result.data.path == str(dest) and dest.is_file()
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == result.data.sha256
        assert result.data.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
        assert any("copied" in m for _, _, m in events), events
        assert not [p for p in Path(host.images).iterdir() if ".upload-" in p.name]  # the temp file is gone
        assert any(c.argv[0] == "sha256sum" for c in result.data.commands)

        # never replaced unless asked; overwrite needs confirmation
        (tmp_path / "other").mkdir()
        other = tiny_qcow2(tmp_path / "other" / "base.qcow2", content=b"\x33")
        with pytest.raises(Conflict, match="already exists"):
            await image_ops.upload_image(fleet, ref, str(other))
        with pytest.raises(ConfirmationRequired):
            await image_ops.upload_image(fleet, ref, str(other), overwrite=True)
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == result.data.sha256
        replaced = await image_ops.upload_image(
            fleet, ref, str(other), overwrite=True, consent=Consent(True, "confirm")
        )
        assert replaced.data.overwritten and hashlib.sha256(dest.read_bytes()).hexdigest() == replaced.data.sha256

        listed = await image_ops.list_images(fleet, ref)
        (image,) = [i for i in listed.images if i.name == "base.qcow2"]
        assert image.format == "qcow2" and image.virtual_size_bytes == 32 * MIB and image.backing_chain == []
        assert listed.image_dirs == {host.name: host.images}

        # a cloud image named .img is often qcow2: uploaded and listed as what it is
        cloud = await image_ops.upload_image(fleet, ref, str(local), name="cloud.img")
        assert cloud.data.format == "qcow2"
        listed = await image_ops.list_images(fleet, ref)
        (image,) = [i for i in listed.images if i.name == "cloud.img"]
        assert image.format == "qcow2" and image.virtual_size_bytes == 32 * MIB
    finally:
        await fleet.close()


async def test_tools_over_mcp_on_both_backends(lib: HostSpec, plain: HostSpec, tmp_path: Path) -> None:
    local = tiny_qcow2(tmp_path / "mcp.qcow2")
    seen: list[Any] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async with Client(build_server(Inventory([lib, plain]))) as client:
        for name in ("lib", "plain"):
            up = data(await client.call_tool("upload_image", {"host": name, "local_path": str(local)},
                                             progress_callback=progress))  # fmt: skip
            assert up["format"] == "qcow2"
        again = error(await client.call_tool("upload_image", {"host": "lib", "local_path": str(local)}))
        assert "already exists" in again
        asked = {"host": "lib", "local_path": str(local), "overwrite": True}
        assert "confirm=true" in error(await client.call_tool("upload_image", asked))  # this client cannot be asked
        assert data(await client.call_tool("upload_image", {**asked, "confirm": True}))["overwritten"] is True
        listing = data(await client.call_tool("list_images", {}))  # fleet-wide
        assert {i["host"] for i in listing["images"] if i["name"] == "mcp.qcow2"} == {"lib", "plain"}
    assert any(m and "copied" in m for m in seen)

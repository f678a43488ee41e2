"""Issue 11, no host: image names and paths, the qemu-img argv builders (always -F for an overlay),
manage_vm's image/linked/source checks, the image listing's parse (on a captured qemu-img info
--backing-chain output), and clone's rewrite of a domain XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.backends.clone_plan import ClonedDisk, ClonePlan, is_seed
from qemu_mcp.backends.libvirt.clone import clone_xml
from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, build_domain_xml
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host import images
from qemu_mcp.ops.manage import parse_request
from qemu_mcp.parsers.image_list import chain_of, overlay_users, parse_image_listing

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "debian-12"
CHAIN = (FIXTURES / "qemu-img-info-chain.overlay.txt").read_text()


def test_image_names_and_paths() -> None:
    assert images.resolve("deb12.qcow2", "/srv/images") == "/srv/images/deb12.qcow2"
    assert images.resolve("/data/base.raw", "/srv/images") == "/data/base.raw"
    for bad in ("../x.qcow2", ".hidden.qcow2", "-x.qcow2", "x.vmdk", "a/../b.qcow2", "x.qcow2;rm", ""):
        with pytest.raises(InvalidInput):
            images.image_name(bad)
    with pytest.raises(InvalidInput):
        images.resolve("/data/../etc/x.qcow2", "/srv/images")
    assert images.image_format("x.iso") == "raw" and images.image_format("x.img") == "raw"


def test_image_dir_default_and_validation() -> None:
    assert HostSpec(name="h", vm_dir="/var/lib/qemu").images == "/var/lib/qemu/images"
    assert HostSpec(name="h", image_dir="/srv/img/").images == "/srv/img"
    for bad in ("relative", "/a/../b", "/a,b"):
        with pytest.raises(ValueError, match="image_dir"):
            HostSpec(name="h", image_dir=bad)


def test_overlay_always_names_the_backing_format() -> None:
    argv = images.overlay("/v/web.qcow2", "/i/base.raw", "raw")
    assert argv == ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/i/base.raw", "--", "/v/web.qcow2"]
    assert images.overlay("/v/web.qcow2", "/i/b.qcow2", "qcow2", 40 << 30)[-1] == str(40 << 30)
    assert images.convert("/i/b.raw", "raw", "/v/w.qcow2") == [
        "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "--", "/i/b.raw", "/v/w.qcow2",
    ]  # fmt: skip
    with pytest.raises(InvalidInput):
        images.overlay("/v/w.qcow2", "/i/b.vmdk", "vmdk")
    assert images.place("/i/.x.upload-1", "/i/x.qcow2")[-2:] == ["/i/.x.upload-1", "/i/x.qcow2"]
    assert images.sha256("/i/x") == ["sha256sum", "--", "/i/x"]


def test_list_argv_keeps_paths_as_arguments() -> None:
    argv = images.list_argv("/srv/images/", "@@qmcp-x@@", "qemu", "/var/lib/qemu/")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == [
        "qmcp-images",
        "@@qmcp-x@@",
        "/srv/images",
        "qemu",
        "/var/lib/qemu",
    ]
    assert "--backing-chain" in argv[2] and 'f="-f $fmt"' in argv[2]  # a VM disk's format is never probed
    with pytest.raises(InvalidInput):
        images.list_argv("/srv/images", "@@m@@", "libvirt", "not a uri")


def test_request_image_linked_and_clone() -> None:
    req = parse_request("web", "create", arch="x86_64", image="deb12.qcow2")
    assert (req.image, req.linked) == ("deb12.qcow2", True)
    assert parse_request("web", "create", arch="x86_64", image="/i/b.raw", linked=False).linked is False
    with pytest.raises(InvalidInput, match="ISO"):
        parse_request("web", "create", arch="x86_64", image="x.iso")
    with pytest.raises(InvalidInput, match="linked"):
        parse_request("web", "create", arch="x86_64", linked=False)
    with pytest.raises(InvalidInput, match="image does not apply"):
        parse_request("web", "start", image="x.qcow2")
    clone = parse_request("web2", "clone", source="web", linked=False)
    assert (clone.source, clone.linked, clone.action) == ("web", False, "clone")
    with pytest.raises(InvalidInput, match="needs source"):
        parse_request("web2", "clone")
    with pytest.raises(InvalidInput, match="must differ"):
        parse_request("web", "clone", source="web")
    with pytest.raises(InvalidInput, match="source does not apply"):
        parse_request("web", "create", arch="x86_64", source="x")
    with pytest.raises(InvalidInput, match="linked does not apply"):
        parse_request("web", "stop", linked=True)


def test_chain_of_a_captured_backing_chain() -> None:
    # Values read by hand from fixtures/debian-12/qemu-img-info-chain.overlay.txt.
    top, base = chain_of(CHAIN)
    assert (top.path, top.format, top.virtual_size, top.actual_size) == (
        "/tmp/qmcp-cap-qemu/images/overlay.qcow2", "qcow2", 2147483648, 200704,
    )  # fmt: skip
    assert (base.path, base.format, base.virtual_size) == ("/tmp/qmcp-cap-qemu/images/base.qcow2", "qcow2", 536870912)


def test_listing_parse_and_overlay_users() -> None:
    m = "@@qmcp-t@@"
    base = "/tmp/qmcp-cap-qemu/images/base.qcow2"
    out = "\n".join([
        f"{m} dir present", f"{m} image qcow2", base, f"{m} info", CHAIN,
        f"{m} image raw", "/tmp/qmcp-cap-qemu/images/broken.raw", f"{m} info-error", "qemu-img: Could not open",
        f"{m} vm web", f"{m} disk qcow2", "/tmp/qmcp-cap-qemu/images/overlay.qcow2", f"{m} info", CHAIN,
        f"{m} vm idle",
    ])  # fmt: skip
    listing = parse_image_listing(out, m)
    assert listing.dir_present and [i.path for i in listing.images] == [base, "/tmp/qmcp-cap-qemu/images/broken.raw"]
    assert listing.images[1].error == "qemu-img: Could not open"
    assert list(listing.vm_disks) == ["web", "idle"] and listing.vm_disks["idle"] == []
    assert overlay_users(listing) == {base: ["web"]}


def test_clone_xml_rewrites_identity_disks_and_drops_the_seed() -> None:
    xml = build_domain_xml(DomainSpec(
        name="web", uuid="11111111-2222-3333-4444-555555555555", state="created", arch="x86_64", accel="qemu",
        memory_mib=256, vcpus=2, disk_path="/v/web.qcow2", disk_format="qcow2", iso="/v/web-seed.iso",
        network="default", firmware=None,
    ))  # fmt: skip
    src = VmState("web", "stopped", "shut off", uuid="11111111-2222-3333-4444-555555555555",
                  disks=(VmDisk("vda", "/v/web.qcow2", "qcow2"),))  # fmt: skip
    plan = ClonePlan(name="web2", source=src, disks=(ClonedDisk(src.disks[0], "/v/web2.qcow2"),), linked=True,
                     vm_dir="/v", home=None, uuid="aaaaaaaa-2222-3333-4444-555555555555")  # fmt: skip
    out = clone_xml(xml, plan, "creating", ["52:54:00:aa:bb:cc"])
    assert "<name>web2</name>" in out and "aaaaaaaa-2222-3333-4444-555555555555" in out
    assert "11111111-2222" not in out and "/v/web.qcow2" not in out and "/v/web2.qcow2" in out
    assert "web-seed.iso" not in out and "52:54:00:aa:bb:cc" in out and 'state="creating"' in out.replace("'", '"')
    assert is_seed("/v/web/seed.iso") and is_seed("/v/web-seed.iso") and not is_seed("/iso/debian.iso")

"""A clone's own identity (issue 11 item 5): the libvirt XML and the plain-QEMU vm.conf rewritten
for the clone: a new port and MAC for the SSH-forwarded user-mode NIC, its own seed (cloud_init),
its own serial log, never the source's seed or Ignition file, and libvirt <metadata> listing
exactly the files the clone made."""

from __future__ import annotations

import pytest
from lxml import etree

from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.backends.clone_plan import ClonedDisk, ClonePlan
from qemu_mcp.backends.libvirt import metadata, netxml
from qemu_mcp.backends.libvirt.clone import clone_xml
from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, build_domain_xml
from qemu_mcp.backends.provision import seed_path
from qemu_mcp.backends.qemu.clone import clone_conf, forwarded
from qemu_mcp.backends.qemu.vmconf import ConfDisk, ConfNic, Home, VmConf, parse, render
from qemu_mcp.frontends.cli.provision_opts import provision_args
from qemu_mcp.ops.manage import parse_request

SRC_UUID = "11111111-2222-3333-4444-555555555555"
NEW_UUID = "aaaaaaaa-2222-3333-4444-555555555555"
SRC_MAC, NEW_MAC = "52:54:00:11:22:33", "52:54:00:aa:bb:cc"


def _plan(home: str | None, disk: str, new_disk: str, *, seed: bytes | None, port: int) -> ClonePlan:
    src = VmState("web", "stopped", "shut off", uuid=SRC_UUID, disks=(VmDisk("vda", disk, "qcow2"),))
    return ClonePlan(
        name="web2", source=src, disks=(ClonedDisk(src.disks[0], new_disk),), linked=True, vm_dir="/v", home=home,
        uuid=NEW_UUID, seed=seed, seed_path=seed_path("web2", home, new_disk), forward_port=port,
    )  # fmt: skip


def _source_xml() -> str:
    return build_domain_xml(DomainSpec(
        name="web", uuid=SRC_UUID, state="created", arch="x86_64", accel="qemu", memory_mib=256, vcpus=2,
        disk_path="/v/web.qcow2", disk_format="qcow2", network=None, ssh_forward=20022, mac=SRC_MAC,
        seed="/v/web-seed.iso", ignition="/v/web-ignition.ign", agent=True,
        serial_log="/var/log/libvirt/qemu/web-serial.log",
        created=metadata.Created().with_file(metadata.DISK, "/v/web.qcow2"),
    ))  # fmt: skip


def test_seed_paths_follow_create() -> None:
    assert seed_path("web2", "/v/web2", "/v/web2/disk0.qcow2") == "/v/web2/seed.iso"
    assert seed_path("web2", None, "/pool/web2.qcow2") == "/pool/web2-seed.iso"


def test_libvirt_clone_gets_its_own_forward_mac_seed_serial_log_and_metadata() -> None:
    source = _source_xml()
    assert netxml.forward_port(etree.fromstring(source.encode())) == 20022
    plan = _plan(None, "/v/web.qcow2", "/v/web2.qcow2", seed=b"iso", port=24242)
    out = clone_xml(source, plan, metadata.CREATED, [NEW_MAC])  # no <interface>: the one MAC is the forward's
    root = etree.fromstring(out.encode())
    args = [a.get("value") for a in root.iterfind(f"{{{netxml.QEMU_NS}}}commandline/{{{netxml.QEMU_NS}}}arg")]
    assert "user,id=qmcpnet0,hostfwd=tcp:127.0.0.1:24242-:22" in args
    assert any(f"mac={NEW_MAC}," in a for a in args) and SRC_MAC not in out
    assert netxml.forward_port(root) == 24242
    [cdrom] = root.iterfind("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file") == "/v/web2-seed.iso" and cdrom.find("target").get("bus") == "scsi"
    assert len(root.findall("devices/controller[@type='scsi']")) == 1
    assert root.find("devices/serial/log").get("file") == "/var/log/libvirt/qemu/web2-serial.log"
    assert root.find("sysinfo") is None and "web-ignition.ign" not in out and "web-seed.iso" not in out
    created = metadata.created_files(out)
    assert created is not None and created.files == (("created-disk", "/v/web2.qcow2"), ("seed", "/v/web2-seed.iso"))
    facts = metadata.facts(out)
    assert facts["ssh-forward"] == {"port": "24242", "address": "127.0.0.1", "via": "qemu-commandline"}
    assert facts["serial-log"] == {"path": "/var/log/libvirt/qemu/web2-serial.log"}
    assert metadata.create_state(out) == "created"


def test_libvirt_clone_without_cloud_init_or_forward() -> None:
    source = build_domain_xml(DomainSpec(
        name="web", uuid=SRC_UUID, state="created", arch="x86_64", accel="qemu", memory_mib=256, vcpus=2,
        disk_path="/v/web.qcow2", disk_format="qcow2", network="default", mac=SRC_MAC,
    ))  # fmt: skip
    out = clone_xml(source, _plan(None, "/v/web.qcow2", "/v/web2.qcow2", seed=None, port=24242), "creating", [NEW_MAC])
    root = etree.fromstring(out.encode())
    assert root.find("devices/interface/mac").get("address") == NEW_MAC
    assert root.find("devices/disk[@device='cdrom']") is None and "hostfwd" not in out
    created = metadata.created_files(out)
    assert created is not None and created.files == (("created-disk", "/v/web2.qcow2"),) and created.facts == ()
    with pytest.raises(ValueError, match="new port"):  # a forward never keeps the source's port
        clone_xml(_source_xml(), _plan(None, "/v/web.qcow2", "/v/web2.qcow2", seed=None, port=0), "creating", [])


def test_plain_qemu_clone_conf_gets_its_own_forward_mac_and_seed() -> None:
    source = VmConf(
        name="web", uuid=SRC_UUID, arch="x86_64", machine="q35", accel="tcg", memory_mib=256, vcpus=1,
        disks=(ConfDisk("vda", "/v/web/disk0.qcow2", "qcow2", owned=True),),
        nics=(ConfNic("user", "virtio-net-pci", SRC_MAC, ssh_forward=20022),),
        seed="/v/web/seed.iso", ignition="/v/web/ignition.ign", agent=True,
    )  # fmt: skip
    assert forwarded(source)
    plan = _plan("/v/web2", "/v/web/disk0.qcow2", "/v/web2/disk0.qcow2", seed=b"iso", port=24242)
    conf = parse(render(clone_conf(source, plan, Home("/v", "web2"))))
    [nic] = conf.nics
    assert nic.ssh_forward == 24242 and nic.mac not in (None, SRC_MAC) and nic.type == "user"
    assert conf.seed == "/v/web2/seed.iso" and conf.ignition is None and conf.agent
    assert conf.disks == (ConfDisk("vda", "/v/web2/disk0.qcow2", "qcow2", owned=True),)
    bare = clone_conf(source, _plan("/v/web2", "/v/web/disk0.qcow2", "/v/web2/d.qcow2", seed=None, port=24243),
                      Home("/v", "web2"))  # fmt: skip
    assert bare.seed is None and bare.nics[0].ssh_forward == 24243  # never the source's seed file


def test_clone_request_and_cli_take_cloud_init() -> None:
    req = parse_request("web2", "clone", source="web", cloud_init={"hostname": "web2", "user": "me"})
    assert req.cloud_init is not None and req.cloud_init.hostname == "web2"
    assert parse_request("web2", "clone", source="web").cloud_init is None
    args = provision_args({"manage_action": "clone", "hostname": "web2", "user": "me"})
    assert args == {"cloud_init": {"hostname": "web2", "user": "me"}}

"""The domain XML a create defines: checked against libvirt's own schema and read back by our parser."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, Firmware, build_domain_xml, build_kvm_probe_xml
from qemu_mcp.parsers.domain_xml import parse_domain_xml

AAVMF = Firmware("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd")


def spec(**kw) -> DomainSpec:  # type: ignore[no-untyped-def]
    base = dict(
        name="web1",
        arch="x86_64",
        accel="qemu",
        memory_mib=512,
        vcpus=2,
        disk_path="/var/lib/qemu/web1.qcow2",
        disk_format="qcow2",
    )
    return DomainSpec(**(base | kw))  # type: ignore[arg-type]


def validate(xml: str, tmp_path: Path) -> None:
    """libvirt's RelaxNG schema (virt-xml-validate ships with libvirt-clients)."""
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    out = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout


def test_x86_64_without_iso(tmp_path: Path) -> None:
    xml = build_domain_xml(spec())
    validate(xml, tmp_path)
    root = etree.fromstring(xml)
    assert root.get("type") == "qemu"
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "q35"}  # type: ignore[union-attr]
    assert root.find("os/loader") is None and root.find("cpu") is None
    disks = root.findall("devices/disk")
    assert len(disks) == 1
    assert disks[0].find("target").attrib == {"dev": "vda", "bus": "virtio"}  # type: ignore[union-attr]
    assert disks[0].find("boot").get("order") == "1"  # type: ignore[union-attr]
    assert root.find("devices/interface").get("type") == "network"  # type: ignore[union-attr]
    assert root.find("devices/interface/source").get("network") == "default"  # type: ignore[union-attr]
    g = root.find("devices/graphics")
    assert g is not None and (g.get("type"), g.get("autoport"), g.get("listen")) == ("vnc", "yes", "127.0.0.1")
    assert root.find("devices/serial").get("type") == "pty"  # type: ignore[union-attr]
    assert root.find("devices/console/target").get("type") == "serial"  # type: ignore[union-attr]

    d = parse_domain_xml(xml)
    assert (d.name, d.vcpus, d.memory_mib, d.max_memory_mib, d.domain_type) == ("web1", 2, 512, 512, "qemu")
    assert [(x.target, x.device, x.path, x.format) for x in d.disks] == [
        ("vda", "disk", "/var/lib/qemu/web1.qcow2", "qcow2")
    ]


def test_iso_is_booted_first_and_user_networking(tmp_path: Path) -> None:
    xml = build_domain_xml(spec(iso="/isos/debian.iso", network=None, disk_format="raw", disk_path="/d/w.raw"))
    validate(xml, tmp_path)
    root = etree.fromstring(xml)
    order = {d.get("device"): d.find("boot").get("order") for d in root.findall("devices/disk")}  # type: ignore[union-attr]
    assert order == {"cdrom": "1", "disk": "2"}
    cdrom = root.find("devices/disk[@device='cdrom']")
    assert cdrom is not None and cdrom.find("readonly") is not None
    assert cdrom.find("target").attrib == {"dev": "sda", "bus": "sata"}  # type: ignore[union-attr]
    assert cdrom.find("source").get("file") == "/isos/debian.iso"  # type: ignore[union-attr]
    assert root.find("devices/interface").get("type") == "user"  # type: ignore[union-attr]
    assert root.find("devices/disk[@device='disk']/driver").get("type") == "raw"  # type: ignore[union-attr]


def test_aarch64_uefi_virt_tcg(tmp_path: Path) -> None:
    xml = build_domain_xml(spec(arch="aarch64", firmware=AAVMF, iso="/isos/arm.iso"))
    validate(xml, tmp_path)
    root = etree.fromstring(xml)
    assert root.find("os/type").get("machine") == "virt"  # type: ignore[union-attr]
    loader = root.find("os/loader")
    assert loader is not None and loader.text == AAVMF.code and loader.get("type") == "pflash"
    assert root.find("os/nvram").get("template") == AAVMF.vars_template  # type: ignore[union-attr]
    # TCG's default virt CPU is 32-bit; a 64-bit model is needed to run AArch64 UEFI.
    assert root.findtext("cpu/model") == "cortex-a57"
    assert root.find("devices/controller[@model='virtio-scsi']") is not None
    assert root.find("devices/disk[@device='cdrom']/target").get("bus") == "scsi"  # type: ignore[union-attr]
    assert root.find("features/apic") is None


def test_kvm_uses_host_cpu(tmp_path: Path) -> None:
    xml = build_domain_xml(spec(accel="kvm"))
    validate(xml, tmp_path)
    root = etree.fromstring(xml)
    assert root.get("type") == "kvm" and root.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]


def test_text_is_escaped_by_lxml(tmp_path: Path) -> None:
    # New VM names cannot hold these, but paths can: lxml escapes, no string formatting anywhere.
    xml = build_domain_xml(spec(disk_path="/d/a&b<c>'\".qcow2"))
    validate(xml, tmp_path)
    assert parse_domain_xml(xml).disks[0].path == "/d/a&b<c>'\".qcow2"


def test_refuses_aarch64_without_firmware_and_unknown_arch() -> None:
    with pytest.raises(ValueError, match="UEFI"):
        build_domain_xml(spec(arch="aarch64"))
    with pytest.raises(ValueError, match="unsupported arch"):
        build_domain_xml(spec(arch="riscv64"))


def test_kvm_probe_xml(tmp_path: Path) -> None:
    xml = build_kvm_probe_xml("qmcp-kvm-probe-1", "aarch64")
    validate(xml, tmp_path)
    root = etree.fromstring(xml)
    assert root.get("type") == "kvm" and root.find("os/type").get("machine") == "virt"  # type: ignore[union-attr]
    assert root.find("devices/disk") is None

from __future__ import annotations

import pytest

from qemu_mcp.models import DiskInfo, GraphicsInfo, NicInfo
from qemu_mcp.parsers.domain_xml import memory_to_mib, parse_domain_xml


def test_minimal_domain_tolerates_missing_elements() -> None:
    d = parse_domain_xml("<domain><name>bare</name></domain>")
    assert d.name == "bare"
    assert (d.uuid, d.domain_type, d.arch, d.machine) == (None, None, None, None)
    assert (d.vcpus, d.max_vcpus, d.memory_mib, d.max_memory_mib) == (None, None, None, None)
    assert (d.disks, d.nics, d.graphics) == ([], [], [])
    assert (d.os_loader, d.nvram, d.title, d.description) == (None, None, None, None)


def test_name_keeps_spaces_and_unescapes() -> None:
    d = parse_domain_xml("<domain type='kvm'><name> it&apos;s &amp; x </name></domain>")
    assert d.name == " it's & x "
    assert d.domain_type == "kvm"


@pytest.mark.parametrize(
    ("value", "unit", "mib"),
    [
        ("131072", None, 128),  # KiB by default
        ("131072", "KiB", 128),
        ("131072", "k", 128),
        ("134217728", "b", 128),
        ("134217728", "bytes", 128),
        ("134217728", "byte", 128),
        ("131072", "KB", 125),  # KB is 1000 bytes: 131072000 B = 125 MiB
        ("128", "MiB", 128),
        ("128", "M", 128),
        ("128", "mib", 128),
        ("1000", "MB", 953),  # 10^9 bytes = 953.67 MiB, rounded down
        ("2", "GiB", 2048),
        ("2", "G", 2048),
        ("1", "GB", 953),
        ("1", "TiB", 1024 * 1024),
        (" 64 ", "MiB", 64),
    ],
)
def test_memory_units(value: str, unit: str | None, mib: int) -> None:
    assert memory_to_mib(value, unit) == mib


@pytest.mark.parametrize(("value", "unit"), [("1", "furlongs"), ("lots", "KiB"), ("", None)])
def test_bad_memory(value: str, unit: str | None) -> None:
    with pytest.raises(ValueError):
        memory_to_mib(value, unit)


def test_memory_and_vcpu_elements() -> None:
    d = parse_domain_xml(
        "<domain><name>m</name><memory unit='GiB'>4</memory><currentMemory unit='MiB'>1536</currentMemory>"
        "<vcpu placement='static' current='2'>8</vcpu></domain>"
    )
    assert (d.memory_mib, d.max_memory_mib, d.vcpus, d.max_vcpus) == (1536, 4096, 2, 8)
    # No <currentMemory>: libvirt treats it as equal to <memory>.
    d = parse_domain_xml("<domain><name>m</name><memory>262144</memory><vcpu>3</vcpu></domain>")
    assert (d.memory_mib, d.max_memory_mib, d.vcpus, d.max_vcpus) == (256, 256, 3, 3)


def test_devices() -> None:
    d = parse_domain_xml(
        """<domain type='kvm'><name>dev</name>
        <os><type arch='aarch64' machine='virt'>hvm</type>
            <loader readonly='yes' type='pflash'> /fw/CODE.fd </loader><nvram>/nv/dev_VARS.fd</nvram></os>
        <devices>
          <disk type='block' device='disk'><driver name='qemu' type='raw'/>
            <source dev='/dev/vg/dev'/><target dev='vda' bus='virtio'/></disk>
          <disk type='network' device='disk'><source protocol='rbd' name='pool/img'/>
            <target dev='vdb'/></disk>
          <disk type='volume' device='disk'><source pool='default' volume='v1'/><target dev='vdc'/></disk>
          <disk type='file' device='floppy'><target dev='fda'/><readonly/></disk>
          <disk type='file' device='disk'><source file='/no/target.img'/></disk>
          <interface type='direct'><mac address='52:54:00:00:00:01'/><source dev='eth0' mode='bridge'/>
            <target dev='macvtap0'/><model type='virtio'/></interface>
          <interface type='network'><source network='default'/></interface>
          <interface><mac address='52:54:00:00:00:02'/></interface>
          <graphics type='spice' port='-1' autoport='yes'>
            <listen type='address' address='0.0.0.0'/></graphics>
          <graphics type='vnc' port='5901' autoport='no'/>
          <graphics type='vnc' port='junk'/>
        </devices></domain>"""
    )
    assert (d.arch, d.machine, d.os_loader, d.nvram) == ("aarch64", "virt", "/fw/CODE.fd", "/nv/dev_VARS.fd")
    assert d.disks == [
        DiskInfo(target="vda", device="disk", path="/dev/vg/dev", format="raw", bus="virtio"),
        DiskInfo(target="vdb", path="pool/img"),
        DiskInfo(target="vdc", path="v1"),
        DiskInfo(target="fda", device="floppy", readonly=True),
    ]  # the disk without <target dev> is skipped
    assert d.nics == [
        NicInfo(mac="52:54:00:00:00:01", type="direct", source="eth0", model="virtio", target="macvtap0"),
        NicInfo(type="network", source="default"),
        NicInfo(mac="52:54:00:00:00:02", type="unknown"),
    ]
    assert d.graphics == [
        GraphicsInfo(type="spice", port=None, listen="0.0.0.0", autoport=True),
        GraphicsInfo(type="vnc", port=5901, listen=None, autoport=False),
        GraphicsInfo(type="vnc", port=None),
    ]


def test_title_and_description() -> None:
    d = parse_domain_xml("<domain><name>t</name><title>Web</title><description>\n a\n b\n</description></domain>")
    assert (d.title, d.description) == ("Web", "a\n b")


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<network><name>default</name></network>", "expected a <domain>"),
        ("<domain><name>x</name>", "not well-formed"),
        ("", "not well-formed"),
        ("error: failed to get domain 'x'", "not well-formed"),
        ("<domain type='kvm'><uuid>u</uuid></domain>", "no <name>"),
        ("<domain><name></name></domain>", "no <name>"),
    ],
)
def test_not_a_domain(xml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_domain_xml(xml)


def test_external_entities_are_not_resolved() -> None:
    xml = (
        '<?xml version="1.0"?><!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        "<domain><name>n</name><description>&x;</description></domain>"
    )
    d = parse_domain_xml(xml)
    assert d.name == "n"
    assert d.description is None  # the entity stays an unexpanded reference

"""The pure parts of list_networks and list_storage_pools: table, df and ip parsing beyond what the
captured fixtures show, which VM uses which volume, exact pool naming, and the argv builders'
refusals. (The captures themselves: tests/parsers; the real hosts: tests/integration.)"""

from __future__ import annotations

import json

import pytest

from qemu_mcp.backends.libvirt import scripts as libvirt_scripts
from qemu_mcp.backends.libvirt.pools import pool_from
from qemu_mcp.backends.qemu import storage
from qemu_mcp.backends.volume_users import DiskUse, with_users
from qemu_mcp.errors import InvalidInput, NotFound
from qemu_mcp.models import VolumeInfo
from qemu_mcp.parsers.df import parse_df
from qemu_mcp.parsers.ip_links import parse_bridges
from qemu_mcp.parsers.network_xml import parse_network_xml
from qemu_mcp.parsers.virsh_table import parse_table

# As vshTable lays it out: a leading space, cells padded to the widest, joined by three spaces.
NAMES = [" lead", "over lay.qcow2", "\\xc3\\xbc.raw"]
TABLE = "".join(
    [" Name" + " " * 10 + "   Path\n", "-" * 44 + "\n"] + [f" {n.ljust(14)}   /p/{n.strip()}\n" for n in NAMES] + ["\n"]
)


def test_a_virsh_table_is_cut_at_the_header_positions() -> None:
    assert parse_table(TABLE) == [
        {"Name": " lead", "Path": "/p/lead"},
        {"Name": "over lay.qcow2", "Path": "/p/over lay.qcow2"},
        {"Name": "\\xc3\\xbc.raw", "Path": "/p/\\xc3\\xbc.raw"},  # virsh's escapes under LC_ALL=C, kept
    ]
    assert parse_table(" Name   Path\n--------------\n\n") == [] and parse_table("\n") == []
    with pytest.raises(ValueError, match="not a virsh table"):
        parse_table("error: something\n")


def test_df_rows_with_spaces_in_source_and_mount_point() -> None:
    text = "Filesystem Type 1B-blocks Used Avail Mounted on\nhost:/my share  nfs4  1000  400  600  /mnt/my vms\n"
    (fs,) = parse_df(text)
    assert (fs.source, fs.fstype, fs.size, fs.used, fs.available, fs.mounted_on) == (
        "host:/my share", "nfs4", 1000, 400, 600, "/mnt/my vms",
    )  # fmt: skip
    with pytest.raises(ValueError, match="cannot parse df row"):
        parse_df("header\ndf: /nope: No such file or directory\n")


def test_bridges_their_addresses_and_ports() -> None:
    addr = [
        {"ifname": "br0", "flags": ["UP"], "mtu": 1500, "addr_info": [
            {"family": "inet", "local": "10.0.0.1", "prefixlen": 24},
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64},
            {"family": "packet"},
        ]},
        {"ifname": "br1", "operstate": "DOWN"},
    ]  # fmt: skip
    links = [{"ifname": "tap0", "master": "br0"}, {"ifname": "eth0", "master": "bond0"}, {"ifname": "br0"}]
    br0, br1 = parse_bridges(json.dumps(addr), json.dumps(links))
    assert (br0.up, br0.ports, [(a.family, a.address, a.prefix) for a in br0.addresses]) == (
        True, ["tap0"], [("ipv4", "10.0.0.1", 24), ("ipv6", "fe80::1", 64)],
    )  # fmt: skip
    assert (br1.up, br1.ports, br1.addresses) == (False, [], [])
    assert parse_bridges("", "") == []
    with pytest.raises(ValueError, match="not a list"):
        parse_bridges('{"ifname": "br0"}', "[]")


def test_network_forward_modes() -> None:
    assert parse_network_xml("<network><name>n</name><forward/></network>").forward_mode == "nat"
    assert parse_network_xml("<network><name>n</name></network>").forward_mode == "isolated"
    routed = parse_network_xml("<network><name> n </name><forward mode='route'/><ip address='10.1.0.1'/></network>")
    assert (routed.name, routed.forward_mode, routed.addresses[0].prefix) == (" n ", "route", None)


def volume(name: str, backing: str | None = None, pool: str = "p") -> VolumeInfo:
    return VolumeInfo(host="h", pool=pool, name=name, path=f"/{pool}/{name}", backing_file=backing)


def uses(v: VolumeInfo) -> list[tuple[str, str | None, str]]:
    return [(u.vm, u.target, u.role) for u in v.used_by]


def test_users_follow_the_backing_chain_once_each() -> None:
    vols = [volume("base"), volume("mid", "/p/base"), volume("top", "/p/mid"), volume("loop", "/p/loop")]
    disks = [
        DiskUse("web", "vda", "disk", "/p/top", backing=("/p/mid", "/p/base")),  # a running VM's chain, too
        DiskUse("db", "vdb", "disk", None, pool="p", volume="mid"),
        DiskUse("iso", "sda", "cdrom", "/p/loop"),
        DiskUse("other", "vda", "disk", None, pool="q", volume="base"),  # another pool's volume of that name
    ]
    base, mid, top, loop = with_users(vols, disks)
    assert uses(top) == [("web", "vda", "disk")]
    assert uses(mid) == [("web", "vda", "backing"), ("db", "vdb", "disk")]
    assert uses(base) == [("web", "vda", "backing"), ("db", "vdb", "backing")]
    assert uses(loop) == [("iso", "sda", "cdrom")]  # its chain loops back to itself: walked once


def pool_output(xml_name: str) -> str:
    m = "@@qmcp-test@@"
    return (f"{m} uuid 6a0526b8-68f4-4d75-ac11-8957f868540c\n{m} vols\n Name   Path\n-------------\n\n"
            f"{m} info\nState:  running\n{m} xml\n<pool type='dir'><name>{xml_name}</name></pool>\n")  # fmt: skip


def test_the_pool_read_must_be_the_pool_asked_for() -> None:
    pool, volumes = pool_from("h", "a b", pool_output("a b"), "@@qmcp-test@@")
    assert (pool.name, pool.state, pool.volume_count, volumes) == ("a b", "running", 0, [])
    with pytest.raises(NotFound, match="differs in trailing spaces"):
        pool_from("h", "a b ", pool_output("a b"), "@@qmcp-test@@")
    with pytest.raises(ValueError, match="changed while it was read"):
        pool_from("h", "a b", pool_output("other"), "@@qmcp-test@@")


@pytest.mark.parametrize("name", ["", "-x", "a\nb", "x" * 256])
def test_pool_names_are_checked_before_any_command(name: str) -> None:
    with pytest.raises(InvalidInput):
        libvirt_scripts.describe_pool("qemu:///system", "@@qmcp-test@@", name)


def test_user_text_is_never_part_of_a_script() -> None:
    name = "'; touch /tmp/x; echo '"
    argv = libvirt_scripts.describe_pool("qemu:///system", "@@qmcp-test@@", name)
    assert argv[:3] == ["sh", "-c", libvirt_scripts.POOL_SCRIPT] and argv[-1] == name
    with pytest.raises(InvalidInput):
        storage.storage_argv("relative/dir", "@@qmcp-test@@")
    assert storage.storage_argv("/srv/vms/", "@@qmcp-test@@")[-2:] == ["/srv/vms", "/srv/vms/images"]

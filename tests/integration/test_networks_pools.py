"""list_networks and list_storage_pools through MCP sessions on the rig's hosts, checked against what
virsh, ip, df and qemu-img say when run directly: a libvirt host (the rig's sshd, real libvirtd) with
networks, pools, volumes and a VM of the test's own, and the qemu-only host with a bridge and a
vm_dir of the test's own.

The networks are isolated (no <forward>), on bridges named qmcpbr<token><x> and subnets in
10.251.0.0/16; only one is started, with no guest on it: no DHCP traffic. Its DHCP lease is written
into libvirt's lease status file for its bridge. Everything is removed in a finally, and the rig's
sweep removes what a dead session left (tests/rig/libvirt.py)."""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.backends.qemu.vmconf import ConfDisk, Home, VmConf, render
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, error, manage_area
from tests.integration.qemu_helpers import QemuArea, qemu_area
from tests.rig import free_port, run, sweep_leftovers
from tests.rig.libvirt import (
    BRIDGE_PREFIX,
    DIR_PREFIX,
    IMAGES,
    NAME_PREFIX,
    TAP_PREFIX,
    link_names,
    network_names,
    pool_names,
    remove_domains,
    remove_networks,
    remove_pools,
)

pytestmark = pytest.mark.integration
URI = "qemu:///system"
LEASES = Path("/var/lib/libvirt/dnsmasq")
GIB = 2**30


def virsh(*args: str) -> str:
    return run(["virsh", "-q", "-c", URI, *args]).stdout


def key_values(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def pretty(n: int) -> str:
    """A size as virsh prints it in tables (vshPrettyCapacity): two decimals of the largest unit."""
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.2f} B"


@dataclass
class Made:
    token: str
    area: Area
    neta: str  # started, with a DHCP range and one lease
    netb: str  # defined only
    poola: str  # started: base.qcow2, "over lay.qcow2" (vol-create-as), data.raw (qemu-img + refresh)
    poolb: str  # defined only
    vm: str  # shut off; vda = the overlay, vdb = data.raw as a pool volume

    def bridge(self, x: str) -> str:
        return f"{BRIDGE_PREFIX}{self.token}{x}"


def network_xml(name: str, bridge: str, third: int, dhcp: bool) -> str:
    ip = f"<ip address='10.251.{third}.1' prefix='24'/>"
    if dhcp:
        ip = (f"<ip address='10.251.{third}.1' netmask='255.255.255.0'><dhcp>"
              f"<range start='10.251.{third}.100' end='10.251.{third}.150'/></dhcp></ip>")  # fmt: skip
    return f"<network><name>{name}</name><bridge name='{bridge}'/>{ip}</network>"


def define(kind: str, xml: str, area: Area, leaf: str) -> None:
    path = Path(area.dir) / leaf
    path.write_text(xml)
    virsh(f"{kind}-define" if kind else "define", str(path))


def start_isolated_network(made: Made) -> int:
    """Define and start neta on a free 10.251.N.0/24 (a concurrent session may hold one)."""
    for third in random.sample(range(100, 250), 8):
        define("net", network_xml(made.neta, made.bridge("a"), third, dhcp=True), made.area, "neta.xml")
        if run(["virsh", "-q", "-c", URI, "net-start", "--network", made.neta], check=False).returncode == 0:
            return third
        virsh("net-undefine", "--network", made.neta)
    raise AssertionError("no free 10.251.N.0/24 to start the test network on")


def write_lease(bridge: str, third: int) -> None:
    lease = {"ip-address": f"10.251.{third}.101", "mac-address": "52:54:00:71:6d:31", "hostname": "nobody",
             "expiry-time": int(time.time()) + 3600}  # fmt: skip
    (LEASES / f"{bridge}.status").write_text(json.dumps([lease]))


def make_pools(made: Made) -> None:
    for pool in (made.poola, made.poolb):
        target = Path(made.area.dir) / pool.removeprefix(made.area.prefix)
        target.mkdir(mode=0o755)
        virsh("pool-define-as", "--name", pool, "--type", "dir", "--target", str(target))
    virsh("pool-start", "--pool", made.poola)
    virsh("pool-autostart", "--pool", made.poolb)
    virsh("vol-create-as", "--pool", made.poola, "--name", "base.qcow2", "--capacity", "16M", "--format", "qcow2")
    virsh("vol-create-as", "--pool", made.poola, "--name", "over lay.qcow2", "--capacity", "32M", "--format", "qcow2",
          "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2")  # fmt: skip
    run(["qemu-img", "create", "-q", "-f", "raw", str(Path(made.area.dir) / "poola" / "data.raw"), "8M"])
    virsh("pool-refresh", "--pool", made.poola)  # a file made behind libvirt's back shows up only now


def define_user_vm(made: Made) -> None:
    overlay = Path(made.area.dir) / "poola" / "over lay.qcow2"
    define("", f"""<domain type='qemu'><name>{made.vm}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{overlay}'/>
    <target dev='vda' bus='virtio'/></disk>
  <disk type='volume' device='disk'><driver name='qemu' type='raw'/>
    <source pool='{made.poola}' volume='data.raw'/><target dev='vdb' bus='virtio'/></disk>
</devices></domain>""", made.area, "user.xml")  # fmt: skip


@pytest.fixture(scope="module")
def made(libvirtd_running: None) -> Iterator[Made]:
    with manage_area() as area:
        token = area.prefix.removeprefix(NAME_PREFIX).rstrip("-")
        m = Made(token, area, area.name("neta"), area.name("netb"), area.name("poola"), area.name("poolb"),
                 area.name("user"))  # fmt: skip
        try:
            third = start_isolated_network(m)
            define("net", network_xml(m.netb, m.bridge("b"), third, dhcp=False), area, "netb.xml")
            virsh("net-autostart", "--network", m.netb)  # inactive but autostarted: both flags read back
            write_lease(m.bridge("a"), third)
            make_pools(m)
            define_user_vm(m)
            yield m
        finally:
            remove_domains(area.prefix)
            remove_networks(area.prefix)
            remove_pools(area.prefix)


def by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [i for i in items if i["name"] == name]
    assert len(found) == 1, [i["name"] for i in items]
    return found[0]


def listed(kind: str) -> set[str]:
    """Names virsh net-list / pool-list --all shows (names here have no spaces)."""
    return {r.split()[0] for r in virsh(f"{kind}-list", "--all").splitlines() if r.strip()}


def same_names(kind: str, before: set[str], ours: list[dict[str, Any]], after: set[str]) -> None:
    """Other sessions define and undefine theirs meanwhile: every name virsh listed before AND after
    the call is in ours, and ours lists nothing virsh never showed."""
    names = {n["name"] for n in ours}
    assert before & after <= names, (kind, sorted(before & after - names))
    assert names <= before | after, (kind, sorted(names - before - after))


async def test_list_networks_agrees_with_virsh(made: Made, rig_spec: HostSpec) -> None:
    before = listed("net")
    async with Client(build_server(Inventory([rig_spec]))) as client:
        networks = data(await client.call_tool("list_networks", {"host": "rig"}))["networks"]
    same_names("net", before, networks, listed("net"))
    rows = {r.split()[0]: r.split()[1:] for r in virsh("net-list", "--all").splitlines() if r.strip()}
    assert all(n["kind"] == "libvirt" and n["host"] == "rig" for n in networks)
    for name in (made.neta, made.netb):
        net = by_name(networks, name)
        state, autostart, persistent = rows[name]
        info = key_values(virsh("net-info", "--network", name))
        assert (net["active"], state, info["Active"]) in ((True, "active", "yes"), (False, "inactive", "no"))
        assert net["autostart"] is (autostart == "yes") is (info["Autostart"] == "yes")
        assert net["persistent"] is (persistent == "yes") is (info["Persistent"] == "yes")
        assert (net["uuid"], net["bridge"], net["kind"]) == (info["UUID"], info["Bridge"], "libvirt")
        assert net["forward_mode"] == "isolated" and net["addresses"][0]["prefix"] == 24
        leases = [r for r in virsh("net-dhcp-leases", "--network", name).splitlines() if r.strip()]  # -q: rows only
        assert net["lease_count"] == len(leases)
    neta, netb = by_name(networks, made.neta), by_name(networks, made.netb)
    assert (neta["active"], netb["active"], neta["lease_count"]) == (True, False, 1)
    assert (neta["autostart"], netb["autostart"], netb["persistent"]) == (False, True, True)
    third = neta["addresses"][0]["address"].split(".")[2]
    assert neta["addresses"][0]["dhcp_ranges"] == [{"start": f"10.251.{third}.100", "end": f"10.251.{third}.150"}]


async def test_fleet_wide_listing_reports_an_unreachable_host(made: Made, rig_spec: HostSpec) -> None:
    dead = rig_spec.model_copy(update={"name": "dead", "port": free_port(), "connect_timeout": 3})
    async with Client(build_server(Inventory([rig_spec, dead]))) as client:
        nets = (await client.call_tool("list_networks", {})).structured_content
        pools = (await client.call_tool("list_storage_pools", {})).structured_content
    for result, key, mine in ((nets, "networks", made.neta), (pools, "pools", made.poola)):
        assert result is not None and result["success"] is True, result
        assert [e["host"] for e in result["data"]["errors"]] == ["dead"]
        assert by_name(result["data"][key], mine)["host"] == "rig"


async def test_list_storage_pools_agrees_with_virsh(made: Made, rig_spec: HostSpec) -> None:
    before = listed("pool")
    async with Client(build_server(Inventory([rig_spec]))) as client:
        pools = data(await client.call_tool("list_storage_pools", {"host": "rig"}))["pools"]
    same_names("pool", before, pools, listed("pool"))
    assert [by_name(pools, p)["autostart"] for p in (made.poola, made.poolb)] == [False, True]
    details = {r.split()[0]: r.split()[1:] for r in virsh("pool-list", "--all", "--details").splitlines() if r.strip()}
    for name in (made.poola, made.poolb):
        pool = by_name(pools, name)
        state, autostart, persistent, *sizes = details[name]
        assert (pool["state"], pool["autostart"], pool["persistent"]) == (state, autostart == "yes",
                                                                          persistent == "yes")  # fmt: skip
        xml = virsh("pool-dumpxml", "--pool", name)
        assert pool["uuid"] in xml and pool["target_path"] == str(Path(made.area.dir) / name.rsplit("-", 1)[1])
        if state != "running":
            assert sizes == ["-", "-", "-"] and pool["capacity_bytes"] is None and pool["volume_count"] is None
            continue
        info = key_values(virsh("pool-info", "--bytes", "--pool", name))
        assert pretty(pool["capacity_bytes"]) == f"{sizes[0]} {sizes[1]}"
        assert pool["capacity_bytes"] == int(info["Capacity"])
        # Other sessions write to the same filesystem between the two readings: close, not equal.
        assert abs(pool["available_bytes"] - int(info["Available"])) < GIB
        assert pool["volume_count"] == len(virsh("vol-list", "--pool", name).splitlines()) == 3


async def test_one_pool_lists_its_volumes_and_their_vm(made: Made, rig_spec: HostSpec) -> None:
    async with Client(build_server(Inventory([rig_spec]))) as client:
        found = data(await client.call_tool("list_storage_pools", {"host": "rig", "pool": made.poola}))
        inactive = data(await client.call_tool("list_storage_pools", {"host": "rig", "pool": made.poolb}))
        uuid = found["pools"][0]["uuid"]
        by_uuid = error(await client.call_tool("list_storage_pools", {"host": "rig", "pool": uuid}))
        missing = error(await client.call_tool("list_storage_pools", {"host": "rig", "pool": made.area.name("nosuch")}))
    assert [p["name"] for p in found["pools"]] == [made.poola]
    rows = virsh("vol-list", "--pool", made.poola, "--details").splitlines()
    volumes = found["volumes"]
    assert [v["name"] for v in volumes] == ["base.qcow2", "data.raw", "over lay.qcow2"]  # vol-list's order
    for volume, row in zip(volumes, rows, strict=True):
        # Name   Path   Type   Capacity   Allocation: names and paths here have one space at most.
        cells = [c.strip() for c in row.strip().split("   ") if c.strip()]
        assert cells == [volume["name"], volume["path"], volume["type"], pretty(volume["capacity_bytes"]),
                         pretty(volume["allocation_bytes"])]  # fmt: skip
    base, raw, overlay = volumes
    assert (base["format"], raw["format"], overlay["format"]) == ("qcow2", "raw", "qcow2")
    assert (overlay["backing_file"], overlay["backing_format"]) == (base["path"], "qcow2")
    assert overlay["used_by"] == [{"vm": made.vm, "target": "vda", "role": "disk"}]
    assert base["used_by"] == [{"vm": made.vm, "target": "vda", "role": "backing"}]  # shut off: from the volumes
    assert raw["used_by"] == [{"vm": made.vm, "target": "vdb", "role": "disk"}]  # by pool and volume name
    assert inactive["volumes"] == [] and "not active" in inactive["pools"][0]["notes"][0]
    assert "not found" in by_uuid and "not found" in missing  # a UUID is never looked up as a pool


# ---- a plain-QEMU host: the qemu-only sshd (no virsh, no libvirt socket), backend auto


@dataclass
class Plain:
    spec: HostSpec
    area: QemuArea
    bridge: str
    tap: str


@pytest.fixture
def plain(qemu_only_sshd_host) -> Iterator[Plain]:  # type: ignore[no-untyped-def]
    with manage_area() as owner, qemu_area() as area:  # manage_area: the token the sweep knows
        token = owner.prefix.removeprefix(NAME_PREFIX).rstrip("-")
        bridge, tap = f"{BRIDGE_PREFIX}{token}p", f"{TAP_PREFIX}{token}p"
        try:
            run(["ip", "link", "add", bridge, "type", "bridge"])
            run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"])
            run(["ip", "link", "set", tap, "master", bridge])
            run(["ip", "addr", "add", "10.251.99.1/24", "dev", bridge])  # down: no traffic, no route
            make_vm_dir(area)
            yield Plain(key_host(qemu_only_sshd_host, name="plain", vm_dir=area.vm_dir), area, bridge, tap)
        finally:
            run(["ip", "link", "del", tap], check=False)
            run(["ip", "link", "del", bridge], check=False)


def make_vm_dir(area: QemuArea) -> None:
    """<vm_dir>/web/vm.conf with a disk that overlays <vm_dir>/images/base.qcow2, and an ISO there."""
    images = Path(area.vm_dir) / "images"
    images.mkdir(parents=True)
    home = Home(area.vm_dir, "web")
    Path(home.dir).mkdir()
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(images / "base.qcow2"), "16M"])
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(images / "base.qcow2"), "-F", "qcow2",
         home.file("disk0.qcow2"), "64M"])  # fmt: skip
    run(["qemu-img", "create", "-q", "-f", "raw", str(images / "install.iso"), "1M"])
    conf = VmConf(name="web", uuid="6a0526b8-68f4-4d75-ac11-8957f868540c", arch="x86_64", machine="q35",
                  accel="tcg", memory_mib=128, vcpus=1, disks=(ConfDisk("vda", home.file("disk0.qcow2"), "qcow2"),),
                  iso=str(images / "install.iso"))  # fmt: skip
    Path(home.conf).write_text(render(conf))


def df(path: str) -> list[int]:
    return [int(w) for w in run(["df", "-B1", "--output=size,used,avail", path]).stdout.split()[-3:]]


def image_info(path: str, fmt: str) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", "-f", fmt, path], capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


async def test_plain_qemu_host_lists_its_bridges_and_directories(plain: Plain) -> None:
    async with Client(build_server(Inventory([plain.spec]))) as client:
        networks = data(await client.call_tool("list_networks", {"host": "plain"}))["networks"]
        pools = data(await client.call_tool("list_storage_pools", {"host": "plain"}))["pools"]
        images = data(await client.call_tool("list_storage_pools", {"host": "plain", "pool": "image_dir"}))
        disks = data(await client.call_tool("list_storage_pools", {"host": "plain", "pool": "vm_dir"}))
        wrong = error(await client.call_tool("list_storage_pools", {"host": "plain", "pool": "default"}))
    # ---- the bridge, as ip shows it
    shown = json.loads(run(["ip", "-j", "addr", "show", "dev", plain.bridge]).stdout)[0]
    bridge = by_name(networks, plain.bridge)
    assert all(n["kind"] == "bridge" for n in networks)
    assert (bridge["active"], bridge["ports"]) == ("UP" in shown["flags"], [plain.tap])
    assert [(a["address"], a["prefix"]) for a in bridge["addresses"]] == [
        (a["local"], a["prefixlen"]) for a in shown["addr_info"]
    ]
    # ---- the directories, as df shows them (other sessions write meanwhile: used/avail close)
    assert [p["name"] for p in pools] == ["vm_dir", "image_dir"]
    for pool in pools:
        size, used, avail = df(pool["target_path"])
        assert pool["capacity_bytes"] == size and abs(pool["available_bytes"] - avail) < GIB
        assert pool["state"] == "running" and abs(pool["allocation_bytes"] - used) < GIB
    assert [p["volume_count"] for p in pools] == [1, 2]
    # ---- the images, as qemu-img shows them, and which VM uses them
    base, iso = images["volumes"]
    (disk,) = disks["volumes"]
    for volume, fmt in ((base, "qcow2"), (iso, "raw"), (disk, "qcow2")):
        info = image_info(volume["path"], fmt)
        assert (volume["capacity_bytes"], volume["allocation_bytes"]) == (info["virtual-size"], info["actual-size"])
        assert volume["format"] == info["format"]
    assert disk["name"] == "web/disk0.qcow2" and disk["backing_file"] == base["path"]
    assert disk["used_by"] == [{"vm": "web", "target": "vda", "role": "disk"}]
    assert base["used_by"] == [{"vm": "web", "target": "vda", "role": "backing"}]
    assert iso["used_by"] == [{"vm": "web", "target": "sda", "role": "cdrom"}]
    assert "vm_dir and image_dir" in wrong


def test_the_rig_sweep_removes_a_dead_sessions_networks_pools_and_bridges(libvirtd_running: None) -> None:
    token = secrets.token_hex(3)
    directory = IMAGES / f"{DIR_PREFIX}{token}"
    directory.mkdir(mode=0o755)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (directory / "owner.pid").write_text(str(dead.pid))  # its owner is gone
    prefix, bridge = f"{NAME_PREFIX}{token}-", f"{BRIDGE_PREFIX}{token}x"
    try:
        (directory / "net.xml").write_text(network_xml(prefix + "net", f"{BRIDGE_PREFIX}{token}n", 99, dhcp=False))
        virsh("net-define", str(directory / "net.xml"))
        virsh("pool-define-as", "--name", prefix + "pool", "--type", "dir", "--target", str(directory))
        run(["ip", "link", "add", bridge, "type", "bridge"])
        sweep_leftovers()
        assert not [n for n in network_names() + pool_names() if n.startswith(prefix)]
        assert bridge not in link_names() and not directory.exists()
    finally:
        remove_networks(prefix)
        remove_pools(prefix)
        run(["ip", "link", "del", bridge], check=False)
        run(["rm", "-rf", str(directory)])

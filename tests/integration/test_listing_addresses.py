"""The one-shot listing (backends/libvirt/listing.py) over the rig's real sshd: the host's
neighbours and every active network's leases come in the listing's own round trip, and its
fallbacks (a host without domains, a URI virsh cannot open) still answer as virsh does.

The neighbour is a static entry in this machine's real neighbour table, on a veth pair the test
makes (no packet is sent), with the MAC of the libvirt test driver's running domain `test`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.backends.libvirt import listing
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms
from qemu_mcp.parsers.sections import new_marker, split_sections, tagged_sections
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.fakes import RecordingRunner
from tests.rig.libvirt import BRIDGE_PREFIX, NAME_PREFIX, TAP_PREFIX, TEST_DRIVER_URI, virsh

pytestmark = pytest.mark.integration
TEST_DOMAIN_MAC = "aa:bb:cc:dd:ee:ff"  # test:///default's running domain `test`, NIC on network `default`
NEIGHBOUR_IP = "10.253.77.9"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def token(guests) -> str:  # type: ignore[no-untyped-def]
    return guests.prefix[len(NAME_PREFIX) : -1]  # the rig's sweep removes links with this token


@pytest.fixture
def neighbour(guests) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A permanent neighbour entry NEIGHBOUR_IP -> TEST_DOMAIN_MAC on a veth pair made for it."""
    ours, theirs = f"{TAP_PREFIX}{token(guests)}n", f"{TAP_PREFIX}{token(guests)}m"
    ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
    try:
        ip("link", "set", ours, "up")
        ip("address", "add", "10.253.77.1/24", "dev", ours)
        ip("neigh", "replace", NEIGHBOUR_IP, "dev", ours, "lladdr", TEST_DOMAIN_MAC, "nud", "permanent")
        yield ours
    finally:
        subprocess.run(["ip", "link", "del", ours], check=False, capture_output=True)


@pytest.fixture
def active_network(guests) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An isolated libvirt network without addresses (no dnsmasq), started: its UUID."""
    name = f"{guests.prefix}lease"
    xml = f"<network><name>{name}</name><bridge name='{BRIDGE_PREFIX}{token(guests)}l'/></network>"
    path = Path(guests.disk_dir) / "lease-net.xml"
    path.write_text(xml)
    virsh("net-define", str(path))
    try:
        virsh("net-start", name)
        yield virsh("net-uuid", name).strip()
    finally:
        virsh("net-destroy", name, check=False)
        virsh("net-undefine", name, check=False)


def one_shot_fleet(spec: HostSpec) -> tuple[Fleet, RecordingRunner]:
    fleet = Fleet(Inventory([spec]), virsh_sessions=False)
    counting = RecordingRunner(fleet.pool.get(spec))
    fleet.pool._runners[spec] = counting  # type: ignore[assignment]
    return fleet, counting


def addresses_of(data, name: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(a.ip, a.source) for v in data.vms if v.name == name for a in v.addresses]


async def test_a_listing_brings_the_neighbours_in_its_one_round_trip(sshd_host, neighbour: str) -> None:  # type: ignore[no-untyped-def]
    spec = key_host(sshd_host, backend="libvirt", libvirt_uri=TEST_DRIVER_URI)
    fleet, counting = one_shot_fleet(spec)
    try:
        data = await list_vms(fleet, HostRef(host="rig"))
    finally:
        await fleet.close()
    test = next(v for v in data.vms if v.name == "test")
    assert test.status == "running" and [(n.mac, n.type) for n in test.nics] == [(TEST_DOMAIN_MAC, "network")]
    assert addresses_of(data, "test") == [(NEIGHBOUR_IP, "arp")]
    assert len(counting.calls) == 1  # the listing and its addresses: one command
    sessions = Fleet(Inventory([spec]))  # on virsh sessions the addresses are a command of their own
    try:
        assert addresses_of(await list_vms(sessions, HostRef(host="rig")), "test") == [(NEIGHBOUR_IP, "arp")]
    finally:
        await sessions.close()


async def test_the_listing_asks_the_leases_of_every_active_network(rig_spec: HostSpec, active_network: str) -> None:
    runner = SSHRunner(rig_spec)
    marker = new_marker()
    try:
        result = await runner.run(listing.list_all_domains("qemu:///system", marker), read_only=True)
    finally:
        await runner.close()
    uuids = [u for u in split_sections(result.stdout, marker, 10_000)[listing.UUIDS].split() if u]
    assert uuids, "the rig's guests are listed"
    sections = split_sections(result.stdout, marker, listing.FIXED_SECTIONS + len(uuids))
    asked = [s.rest for s in tagged_sections(sections[listing.LEASES], marker) if s.tag == "leases"]
    assert active_network in asked
    assert sorted(asked) == sorted(virsh("net-list", "--uuid").split())
    assert result.exit_status == 0


async def test_a_host_without_domains_and_one_virsh_cannot_open(sshd_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tmp_path.chmod(0o755)
    empty = tmp_path / "empty.xml"
    empty.write_text("<node></node>\n")
    empty.chmod(0o644)
    for uri, want in ((f"test://{empty}", []), (f"test://{tmp_path / 'missing.xml'}", None)):
        fleet, counting = one_shot_fleet(key_host(sshd_host, backend="libvirt", libvirt_uri=uri))
        try:
            if want is None:
                with pytest.raises(QemuMcpError, match=r"missing\.xml"):
                    await list_vms(fleet, HostRef(host="rig"))
            else:
                assert (await list_vms(fleet, HostRef(host="rig"))).vms == want
        finally:
            await fleet.close()
        assert len(counting.calls) == 1

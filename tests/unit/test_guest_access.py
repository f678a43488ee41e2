"""Pure parts of guest access: where the SSH forward and the serial log are recorded, the ssh
command line, the banner probe's argv, wait_for_ip's checks, PPM->PNG, console text cleaning."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from qemu_mcp.backends.access import jump_of, merge, ssh_endpoint
from qemu_mcp.backends.libvirt import host_addresses
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host import banner, console
from qemu_mcp.images import as_png, png_size, ppm_to_png
from qemu_mcp.models import NicInfo, VmInfo
from qemu_mcp.models_addresses import AddressInfo
from qemu_mcp.models_console import ConsoleData
from qemu_mcp.ops.manage.request import parse_request
from qemu_mcp.parsers.guest_access import argv_ssh_forward, conf_ssh_forward, xml_serial_log, xml_ssh_forward

META = "<metadata><qmcp:vm xmlns:qmcp='http://qemu-mcp/xmlns/vm/1' state='created'>{}</qmcp:vm></metadata>"


def domain(inner: str = "", devices: str = "") -> str:
    return f"<domain type='qemu'><name>x</name>{inner}<devices>{devices}</devices></domain>"


def test_the_forward_is_read_from_metadata_then_passt_then_a_hostfwd() -> None:
    assert xml_ssh_forward(domain(META.format("<qmcp:ssh-forward port='2222'/>"))) == 2222
    passt = ("<interface type='user'><backend type='passt'/><portForward proto='tcp' address='127.0.0.1'>"
             "<range start='2300' to='22'/></portForward></interface>")  # fmt: skip
    assert xml_ssh_forward(domain(devices=passt)) == 2300
    cmdline = ("</devices><qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
               "<qemu:arg value='user,id=n,hostfwd=tcp:127.0.0.1:2400-:22'/></qemu:commandline><devices>")  # fmt: skip
    assert xml_ssh_forward(domain(devices=cmdline)) == 2400
    assert xml_ssh_forward(domain(devices="<interface type='network'/>")) is None
    assert xml_ssh_forward("<domain><portForward") is None  # not XML: no forward, no error


def test_only_a_forward_to_guest_port_22_counts() -> None:
    assert argv_ssh_forward(["-netdev", "user,id=n,hostfwd=tcp:127.0.0.1:8080-:80"]) is None
    assert argv_ssh_forward(["-netdev", "user,id=n,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp::2022-:22"]) == 2022
    assert conf_ssh_forward("name=a\nnic.0.type=user\nnic.0.ssh_forward=2201\n") == 2201
    assert conf_ssh_forward("nic.0.ssh_forward=99999\n") is None
    assert conf_ssh_forward(None) is None


def test_the_serial_log_path() -> None:
    assert xml_serial_log(domain(META.format("<qmcp:serial-log path='/l/a.log'/>"))) == "/l/a.log"
    log = "<serial type='pty'><log file='/var/log/libvirt/qemu/x-serial.log' append='off'/></serial>"
    assert xml_serial_log(domain(devices=log)) == "/var/log/libvirt/qemu/x-serial.log"
    assert xml_serial_log(domain(devices="<serial type='file'><source path='/s.log'/></serial>")) == "/s.log"
    assert xml_serial_log(domain(devices="<serial type='pty'/>")) is None


def test_the_ssh_line_goes_through_the_host() -> None:
    remote = HostSpec(name="lab1", address="10.1.2.3", user="admin", port=2200)
    assert jump_of(remote) == "admin@10.1.2.3:2200"
    ep = ssh_endpoint(remote, 2222, "debian")
    assert ep is not None and ep.command == "ssh -J admin@10.1.2.3:2200 -p 2222 debian@127.0.0.1"
    local = ssh_endpoint(HostSpec(name="local"), 2222)
    assert local is not None and local.jump is None and local.command == "ssh -p 2222 <user>@127.0.0.1"
    assert ssh_endpoint(remote, None) is None


def test_merge_keeps_the_agent_first_and_one_entry_per_address() -> None:
    agent = AddressInfo(interface="enp1s0", mac="52:54:00:00:00:01", ip="10.0.0.5", prefix=24, source="agent")
    lease = AddressInfo(interface="vnet0", mac="52:54:00:00:00:01", ip="10.0.0.5", prefix=24, source="lease")
    arp = AddressInfo(interface="br0", mac="52:54:00:00:00:01", ip="10.0.0.6", source="arp")
    assert merge([[agent], [lease], [arp]]) == [agent, arp]


def test_the_banner_probe_runs_on_the_host_against_its_loopback() -> None:
    argv = banner.first_line(2222)
    assert argv[:3] == ["timeout", "5", "bash"] and argv[-2:] == ["2222", "4"]
    assert "/dev/tcp/127.0.0.1/$1" in argv[4]
    with pytest.raises(ValueError):
        banner.first_line(0)
    assert banner.is_ssh_banner("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
    assert not banner.is_ssh_banner("HTTP/1.1 400")


def test_wait_for_ip_is_for_a_start_and_in_range() -> None:
    assert parse_request("a", "start", wait_for_ip=120).wait_for_ip == 120.0
    assert parse_request("a", "start").wait_for_ip == 0.0
    assert parse_request("a", "create", arch="x86_64", start=True, wait_for_ip=60).wait_for_ip == 60.0
    with pytest.raises(InvalidInput, match="needs start=true"):
        parse_request("a", "create", arch="x86_64", wait_for_ip=60)
    with pytest.raises(InvalidInput, match="does not apply to action=stop"):
        parse_request("a", "stop", wait_for_ip=60)
    with pytest.raises(InvalidInput, match="out of range"):
        parse_request("a", "start", wait_for_ip=100000)


def test_ppm_becomes_a_png_with_the_same_pixels() -> None:
    pixels = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 1, 2, 3, 4, 5, 6])  # 3x2
    png = ppm_to_png(b"P6\n# a comment\n3 2\n255\n" + pixels)
    assert png_size(png) == (3, 2)
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    assert zlib.decompress(png[41 : 41 + idat_len]) == b"\x00" + pixels[:9] + b"\x00" + pixels[9:]
    assert as_png(png) == (png, "png")
    with pytest.raises(ValueError):
        ppm_to_png(b"P6\n3 2\n255\n" + pixels[:5])
    with pytest.raises(ValueError):
        as_png(b"GIF89a")


def test_console_text_loses_terminal_escapes_and_redraws() -> None:
    raw = "\x1b[0;32m  OK  \x1b[0m] Started x.\n[ *  ] waiting (1s)\r[**  ] waiting (2s)\r\nplain\n"
    assert console.clean_lines(raw) == ["  OK  ] Started x.", "[**  ] waiting (2s)", "plain"]
    with pytest.raises(ValueError):
        console.tail("@@qmcp-1@@", "/var/log/x.log", 0)


def test_listing_addresses_come_from_captured_leases_and_neighbours() -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "debian-12"
    mark = "@@qmcp-1@@"
    stdout = (f"{mark} neigh\n{(fixtures / 'addr-ip-neigh.qmcp-cap-addrnet.txt').read_text()}"
              f"{mark} leases 0b0b0b0b-0000-4000-8000-000000000001\n"
              f"{(fixtures / 'addr-dhcp-leases.qmcp-cap-addrnet.txt').read_text()}")  # fmt: skip
    found = host_addresses.parse_host_addresses(stdout, mark)
    assert [(a.source, a.ip, a.prefix) for a in found] == [
        ("lease", "10.251.217.107", 24),
        ("arp", "10.251.217.107", None),
    ]
    nic = NicInfo(mac="52:54:00:A7:D0:01", type="network", source="qmcp-cap-addrnet")
    vm = VmInfo(name="g", uuid="", host="h", status="running", state="running", vcpus=1, memory=1, nics=[nic])
    off = vm.model_copy(update={"status": "stopped", "state": "shut off"})
    assert host_addresses.worth_asking([vm]) and not host_addresses.worth_asking([off])
    host_addresses.attach([vm, off], found)
    assert [(a.source, a.ip) for a in vm.addresses] == [("lease", "10.251.217.107")]  # one entry per MAC and IP
    assert off.addresses == []


def test_a_console_whose_last_line_has_no_newline_keeps_the_screenshot_apart() -> None:
    mark = "@@qmcp-1@@"
    for log in ("boot\nlogin: ", "boot\nlogin:\n"):
        stdout = f"{mark} tail\n{log}\n{mark} shot\niVBORw0KGgo=\n"  # what the script prints (tail; echo)
        data = ConsoleData(host="h", vm_name="v")
        assert console.fill(data, stdout, mark, "h") == b"\x89PNG\r\n\x1a\n"
        assert data.lines == ["boot", log.split("\n")[1] or "login:"]

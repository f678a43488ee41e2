"""Record what the guest-address readers parse, from a REAL guest, for the parser tests.

Boots the cached Debian test image (scripts/test-image.sh) under TCG on qemu:///system with two
NICs: one on an isolated libvirt network (dnsmasq gives it a DHCP lease; nothing is forwarded
anywhere) and one user-mode NIC (10.0.2.15). Once the guest agent reports both addresses it
records, each with the exact argv (LC_ALL=C):
  addr-domifaddr-{agent,lease,arp}.<net>.txt   virsh domifaddr UUID --source ...
  addr-dhcp-leases.<net>.txt                   virsh net-dhcp-leases NET
  addr-ip-neigh.<net>.txt                      ip -j neigh show dev <bridge> (the host's ARP/NDP table)
  addr-qga-interfaces.<net>.txt                virsh qemu-agent-command UUID guest-network-get-interfaces
into fixtures/<ID>-<VERSION_ID>/ and commands-addr.jsonl. It never writes *.expected.json: those
are written and checked BY HAND (REVIEWED.md).

Run as root: PYTHONPATH=. python3 scripts/capture_address_fixtures.py
Makes, and removes on exit: network qmcp-cap-addrnet (bridge qmcpcapbr7, 10.251.217.0/24), domain
qmcp-cap-addrvm, files in /var/lib/libvirt/images/qmcp-cap-addr/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from qemu_mcp.cloudinit import parse_cloud_init
from qemu_mcp.nocloud import nocloud_iso

ROOT = Path(__file__).resolve().parents[1]
SYS = "qemu:///system"
NET, BRIDGE, VM = "qmcp-cap-addrnet", "qmcpcapbr7", "qmcp-cap-addrvm"
IMG = Path("/var/lib/libvirt/images/qmcp-cap-addr")
MAC_NET, MAC_USER = "52:54:00:a7:d0:01", "52:54:00:a7:d0:02"
NET_XML = f"""<network><name>{NET}</name><bridge name='{BRIDGE}'/>
<ip address='10.251.217.1' netmask='255.255.255.0'><dhcp><range start='10.251.217.100' end='10.251.217.150'/>
</dhcp></ip></network>"""
# Both NICs by DHCP (cloud-init's fallback configures only the first; q35 names them enp1s0, enp2s0).
NETWORK_CONFIG = {"version": 2, "ethernets": {"enp1s0": {"dhcp4": True}, "enp2s0": {"dhcp4": True}}}


def env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "TZ": "UTC"}


def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, env=env(), timeout=120)


def domain_xml(disk: Path, seed: Path) -> str:
    return f"""<domain type='qemu'><name>{VM}</name><memory unit='MiB'>768</memory><vcpu>2</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
  <target dev='vda' bus='virtio'/></disk>
<controller type='scsi' model='virtio-scsi'/>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{seed}'/>
  <target dev='sda' bus='scsi'/><readonly/></disk>
<interface type='network'><mac address='{MAC_NET}'/><source network='{NET}'/><model type='virtio'/></interface>
<interface type='user'><mac address='{MAC_USER}'/><model type='virtio'/></interface>
<serial type='pty'><log file='/var/log/libvirt/qemu/{VM}-serial.log' append='off'/></serial>
<console type='pty'/>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
<graphics type='vnc' listen='127.0.0.1' autoport='yes'/>
<video><model type='vga'/></video>
</devices></domain>"""


def cleanup() -> None:
    run(["virsh", "-c", SYS, "destroy", VM], check=False)
    run(["virsh", "-c", SYS, "undefine", VM], check=False)
    run(["virsh", "-c", SYS, "net-destroy", NET], check=False)
    run(["virsh", "-c", SYS, "net-undefine", NET], check=False)
    shutil.rmtree(IMG, ignore_errors=True)
    for log in (f"/var/log/libvirt/qemu/{VM}.log", f"/var/log/libvirt/qemu/{VM}-serial.log"):
        Path(log).unlink(missing_ok=True)


def agent_ready(uuid: str) -> bool:
    out = run(["virsh", "-c", SYS, "domifaddr", uuid, "--source", "agent"], check=False).stdout
    return "10.251.217." in out and "10.0.2.15" in out


def main() -> int:
    image = os.environ.get("QEMU_MCP_TEST_IMAGE") or run(["bash", str(ROOT / "scripts/test-image.sh")]).stdout.strip()
    dest = ROOT / "fixtures" / run(["sh", "-c", '. /etc/os-release && echo "$ID-$VERSION_ID"']).stdout.strip()
    cleanup()
    IMG.mkdir(parents=True)
    try:
        disk, seed = IMG / "disk.qcow2", IMG / "seed.iso"
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, str(disk)])
        ci = {"hostname": "capaddr", "network_config": NETWORK_CONFIG}
        seed.write_bytes(nocloud_iso(parse_cloud_init(ci)))
        for name, xml in (("net", NET_XML), ("dom", domain_xml(disk, seed))):
            (IMG / f"{name}.xml").write_text(xml)
        run(["virsh", "-c", SYS, "net-define", str(IMG / "net.xml")])
        run(["virsh", "-c", SYS, "net-start", NET])
        run(["virsh", "-c", SYS, "define", str(IMG / "dom.xml")])
        uuid = run(["virsh", "-c", SYS, "domuuid", VM]).stdout.strip()
        run(["virsh", "-c", SYS, "start", uuid])
        start = time.monotonic()
        while not agent_ready(uuid):
            if time.monotonic() - start > 400:
                print("the guest agent never reported both addresses", file=sys.stderr)
                return 1
            time.sleep(5)
        print(f"agent answered after {time.monotonic() - start:.0f} s", file=sys.stderr)
        time.sleep(5)
        qga = json.dumps({"execute": "guest-network-get-interfaces"})
        captures = {
            f"addr-domifaddr-agent.{NET}.txt": ["virsh", "-c", SYS, "domifaddr", uuid, "--source", "agent"],
            f"addr-domifaddr-lease.{NET}.txt": ["virsh", "-c", SYS, "domifaddr", uuid, "--source", "lease"],
            f"addr-domifaddr-arp.{NET}.txt": ["virsh", "-c", SYS, "domifaddr", uuid, "--source", "arp"],
            f"addr-dhcp-leases.{NET}.txt": ["virsh", "-c", SYS, "net-dhcp-leases", NET],
            f"addr-ip-neigh.{NET}.txt": ["ip", "-j", "neigh", "show", "dev", BRIDGE],
            f"addr-qga-interfaces.{NET}.txt": ["virsh", "-c", SYS, "qemu-agent-command", uuid, qga],
        }
        index = []
        for file, argv in captures.items():
            result = run(argv, check=False)
            (dest / file).write_text(result.stdout)
            if result.stderr:
                (dest / file.replace(".txt", ".stderr.txt")).write_text(result.stderr)
            index.append({"file": file, "exit_status": result.returncode, "argv": ["env", "LC_ALL=C", *argv]})
            print(f"--- {file} ({result.returncode})\n{result.stdout}{result.stderr}", file=sys.stderr)
        (dest / "commands-addr.jsonl").write_text("".join(json.dumps(e) + "\n" for e in index))
    finally:
        if not os.environ.get("QMCP_CAPTURE_KEEP"):
            cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The provisioning parts of a new libvirt domain (issue 11): the NoCloud seed as a read-only
CD-ROM on virtio-scsi, the Ignition config in fw_cfg, the guest-agent channel, the serial console
logged by virtlogd, and the facts recorded in qemu-mcp's <metadata>. Pure: no I/O.

Debian's cloud kernel has no AHCI driver, so the seed is on virtio-scsi on every machine (q35's
SATA CD-ROM would be invisible to it). libvirt keeps one metadata element per namespace, so the
facts are children of `<qmcp:vm>`: `<qmcp:seed path=.../>`, `<qmcp:ignition path=.../>`,
`<qmcp:ssh-forward port=... address='127.0.0.1' via=.../>`, `<qmcp:serial-log path=.../>`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from qemu_mcp.backends.base import CreateFacts, CreatePlan
from qemu_mcp.backends.job import Job
from qemu_mcp.backends.libvirt import metadata, netxml
from qemu_mcp.backends.provision import AGENT_CHANNEL, FORWARD_HOST, NetworkChoice
from qemu_mcp.errors import NotFound
from qemu_mcp.ignition import ignition_fw_cfg

SEED_TARGET = "sdb"  # the installer ISO (if any) is sda
SERIAL_LOG_DIR = "/var/log/libvirt/qemu"


def serial_log_path(name: str) -> str:
    return f"{SERIAL_LOG_DIR}/{name}-serial.log"


def add_scsi_controller(dev: etree._Element) -> None:
    """One virtio-scsi controller (index 0), unless the domain has it already."""
    if dev.find("controller[@type='scsi']") is None:
        etree.SubElement(dev, "controller", type="scsi", index="0", model="virtio-scsi")


def add_seed(dev: etree._Element, path: str) -> None:
    add_scsi_controller(dev)
    cdrom = etree.SubElement(dev, "disk", type="file", device="cdrom")
    etree.SubElement(cdrom, "driver", name="qemu", type="raw")
    etree.SubElement(cdrom, "source", file=path)
    etree.SubElement(cdrom, "target", dev=SEED_TARGET, bus="scsi")
    etree.SubElement(cdrom, "readonly")


def add_ignition(root: etree._Element, path: str) -> None:
    """`<sysinfo type='fwcfg'>` with opt/com.coreos/config. No `<os><smbios mode='sysinfo'/>`: that
    asks for an SMBIOS sysinfo, and libvirt 9.0 then refuses to start ("sysinfo are not available")."""
    root.append(ignition_fw_cfg(path).libvirt_sysinfo())


def add_agent_channel(dev: etree._Element) -> None:
    channel = etree.SubElement(dev, "channel", type="unix")
    etree.SubElement(channel, "target", type="virtio", name=AGENT_CHANNEL)


def add_serial(dev: etree._Element, log: str | None) -> None:
    """The serial console (a pty for `virsh console`), logged to `log` by virtlogd when given."""
    serial = etree.SubElement(dev, "serial", type="pty")
    if log is not None:
        etree.SubElement(serial, "log", file=log, append="off")
    etree.SubElement(serial, "target", port="0")


def metadata_facts(
    *, seed: str | None, ignition: str | None, forward: int | None, forward_via: str, serial_log: str | None
) -> list[tuple[str, dict[str, str]]]:
    """(tag, attributes) of the facts recorded below `<qmcp:vm>`."""
    facts: list[tuple[str, dict[str, str]]] = []
    if seed:
        facts.append(("seed", {"path": seed}))
    if ignition:
        facts.append(("ignition", {"path": ignition}))
    if forward:
        facts.append(("ssh-forward", {"port": str(forward), "address": FORWARD_HOST, "via": forward_via}))
    if serial_log:
        facts.append(("serial-log", {"path": serial_log}))
    return facts


def resolve_network(job: Job, host: str, choice: NetworkChoice | None, net_name: str, active: bool) -> NetworkChoice:
    """What the NIC goes on: as asked (a named network must be active), or by default libvirt's
    `default` network when active, else user-mode networking."""
    if choice is not None and choice.kind == "network":
        if not active:
            raise NotFound(
                f"libvirt network '{net_name}' on host '{host}' does not exist or is not active: start it "
                "(virsh net-start), or choose another (list_networks), 'user' or 'bridge:<name>'"
            )
        return choice
    if choice is not None:
        return choice
    if active:
        return NetworkChoice("network", net_name)
    job.note(f"libvirt's '{net_name}' network is missing or inactive: the NIC uses user-mode networking")
    return NetworkChoice("user")


def domain_fields(plan: CreatePlan, facts: CreateFacts) -> dict[str, Any]:
    """The DomainSpec fields of issue 11 for a new domain."""
    p, nic = plan.provision, facts.nic
    return {
        "bridge": nic.name if nic is not None and nic.kind == "bridge" else None,
        "ssh_forward": p.forward_port or None,
        "mac": p.mac,
        "seed": p.seed_path if p.seed is not None else None,
        "ignition": p.ignition_path if p.ignition is not None else None,
        "agent": True,
        "serial_log": serial_log_path(plan.name),
    }


def state_extra(xml: str) -> dict[str, str]:
    """What VmState.extra carries from the metadata: the files delete removes (seed, ignition,
    serial_log), the forward."""
    found = metadata.facts(xml)
    keys = {"seed": "seed", "ignition": "ignition", "serial-log": "serial_log"}
    extra = {key: found[tag]["path"] for tag, key in keys.items() if found.get(tag, {}).get("path")}
    port = found.get("ssh-forward", {}).get("port")
    if port:
        extra["ssh_forward"] = port
    return extra


def forward_ports(xmls: list[str]) -> set[int]:
    """The SSH-forward ports recorded in these domains' metadata (or their <qemu:commandline>)."""
    ports: set[int] = set()
    for xml in xmls:
        port = state_extra(xml).get("ssh_forward") if xml.strip() else None
        if port is None and "hostfwd=" in xml:
            port = str(netxml.forward_port(etree.fromstring(xml.encode(), metadata._PARSER)) or "")
        if port and port.isdigit():
            ports.add(int(port))
    return ports

"""The provisioning parts of a plain-QEMU VM's command line (issue 11): the NoCloud seed as a
read-only CD-ROM on virtio-scsi (Debian's cloud kernel has no AHCI driver), the Ignition config in
fw_cfg, and the guest agent's virtio-serial channel on `<vm_dir>/<name>/qga.sock`. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

from qemu_mcp.backends.base import CreatePlan
from qemu_mcp.backends.provision import AGENT_CHANNEL, NetworkChoice
from qemu_mcp.backends.qemu.vmconf import ConfNic, Home, VmConf
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host.qemu_img import option_value
from qemu_mcp.ignition import ignition_fw_cfg

SCSI_CONTROLLER = "scsi0"
SEED_NODE = "seed"


def seed_args(conf: VmConf, *, scsi_present: bool) -> list[str]:
    """The seed CD-ROM (not bootable), on the virtio-scsi controller (made here unless present)."""
    if not conf.seed:
        return []
    argv = [] if scsi_present else ["-device", f"virtio-scsi-pci,id={SCSI_CONTROLLER}"]
    for spec in (
        {"driver": "file", "filename": conf.seed, "node-name": f"{SEED_NODE}-file", "read-only": True},
        {"driver": "raw", "file": f"{SEED_NODE}-file", "node-name": SEED_NODE, "read-only": True},
    ):
        argv += ["-blockdev", json.dumps(spec, separators=(",", ":"))]
    return [*argv, "-device", f"scsi-cd,drive={SEED_NODE},id={SEED_NODE},bus={SCSI_CONTROLLER}.0"]


def ignition_args(conf: VmConf) -> list[str]:
    return ignition_fw_cfg(conf.ignition).qemu_args() if conf.ignition else []


def agent_args(conf: VmConf, home: Home) -> list[str]:
    if not conf.agent:
        return []
    return [
        "-chardev", f"socket,id=qga0,path={option_value(home.qga)},server=on,wait=off",
        "-device", "virtio-serial-pci,id=virtio-serial0",
        "-device", f"virtserialport,bus=virtio-serial0.0,chardev=qga0,name={AGENT_CHANNEL}",
    ]  # fmt: skip


def provision_args(conf: VmConf, home: Home, *, scsi_present: bool) -> list[str]:
    return [*seed_args(conf, scsi_present=scsi_present), *ignition_args(conf), *agent_args(conf, home)]


def plain_nic(plan: CreatePlan) -> NetworkChoice:
    """A plain-QEMU host has no libvirt networks: user-mode (the default) or a host bridge."""
    choice = plan.provision.network or NetworkChoice("user")
    if choice.kind == "network":
        raise InvalidInput(
            f"network '{choice.name}': a plain-QEMU host has no libvirt networks; use network='user' "
            "(the default) or 'bridge:<name>' (list_networks shows the host's bridges)"
        )
    return choice


def conf_nic(plan: CreatePlan, mac: str) -> ConfNic:
    """The new VM's NIC in vm.conf (a bridge NIC needs qemu-bridge-helper allowed on that bridge)."""
    choice = plain_nic(plan)
    if choice.kind == "bridge":
        return ConfNic("bridge", "virtio-net-pci", mac, bridge=choice.name)
    return ConfNic("user", "virtio-net-pci", mac, ssh_forward=plan.provision.forward_port or None)


def conf_fields(plan: CreatePlan) -> dict[str, Any]:
    """vm.conf's seed, ignition and agent for a new VM."""
    p = plan.provision
    return {
        "seed": p.seed_path if p.seed is not None else None,
        "ignition": p.ignition_path if p.ignition is not None else None,
        "agent": True,
    }


def recorded_forwards(confs: list[VmConf | None]) -> set[int]:
    """The SSH-forward ports in these vm.conf files."""
    return {n.ssh_forward for c in confs if c is not None for n in c.nics if n.ssh_forward}

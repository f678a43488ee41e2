"""Plain QEMU: add and remove a VM's disk (manage_vm add_disk / remove_disk).

vm.conf always changes (atomically; the undo restores the previous text), so the disk is there
(or gone) from the next start on. A running guest gets the disk at once over QMP: `blockdev-add`
(the file node <target>-file, the format node <target>, as `argv.disk_args` names them at start)
and `device_add`: virtio-blk-pci on a free hot-plug root port (hp0..hp3, `argv.hotplug_port_args`),
or scsi-hd on the VM's virtio-scsi controller (scsi0). SATA disks cannot be hot-plugged.
Removing: `device_del`, then the DEVICE_DELETED event (the guest must release a PCI device; one
without an OS never does; a SCSI disk leaves at once), then `blockdev-del` of both nodes.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from qemu_mcp.backends.base import LIVE, PERSISTENT, VmDisk, VmState
from qemu_mcp.backends.job import Job
from qemu_mcp.backends.qemu.argv import HOTPLUG_PORT, SCSI
from qemu_mcp.backends.qemu.qmp import QMPClient, QMPError
from qemu_mcp.backends.qemu.read import QemuVm
from qemu_mcp.backends.qemu.vmconf import ConfDisk, Home, VmConf
from qemu_mcp.config import HostSpec
from qemu_mcp.disk_spec import NewDisk
from qemu_mcp.errors import InvalidInput

QMP_TIMEOUT = 10.0
PERIPHERALS = "/machine/peripheral"  # QOM path of the devices given an id (-device id=..., device_add)


class QemuHost(Protocol):
    """What these steps use of the QemuBackend."""

    spec: HostSpec

    def home(self, name: str) -> Home: ...

    def _usable(self, name: str, job: Job | None = None) -> tuple[QemuVm, VmConf]: ...

    async def _write(self, job: Job, name: str, new: VmConf, purpose: str) -> None: ...


# ---- QMP commands (pure)


def blockdev_add(disk: NewDisk) -> list[dict[str, Any]]:
    """The two nodes a disk has at start (argv.disk_args): the file, then its format on top."""
    file_node = f"{disk.target}-file"
    return [
        {"driver": "file", "filename": disk.path, "node-name": file_node},
        {"driver": disk.format, "file": file_node, "node-name": disk.target},
    ]


def device_add(disk: NewDisk, port: str) -> dict[str, Any]:
    """virtio: on the free root port `port`; scsi: on the VM's virtio-scsi controller."""
    if disk.bus == "scsi":
        return {"driver": "scsi-hd", "drive": disk.target, "id": disk.target, "bus": f"{SCSI}.0"}
    return {"driver": "virtio-blk-pci", "drive": disk.target, "id": disk.target, "bus": port}


def blockdev_del(target: str) -> list[dict[str, Any]]:
    """Both nodes, the format node first (it uses the file node)."""
    return [{"node-name": target}, {"node-name": f"{target}-file"}]


def free_port(query_pci: Any) -> str | None:
    """The first of our hot-plug root ports with nothing behind it, from QMP query-pci."""
    for bus in query_pci or []:
        for device in bus.get("devices", []):
            qdev_id = device.get("qdev_id") or ""
            bridge = device.get("pci_bridge")
            if qdev_id.startswith(HOTPLUG_PORT) and bridge is not None and not bridge.get("devices"):
                return str(qdev_id)
    return None


def _record(sock: str, command: str, arguments: object) -> list[str]:
    return ["qmp", sock, command, json.dumps(arguments, sort_keys=True)]


# ---- steps


async def attach_disk(host: QemuHost, job: Job, vm: VmState, disk: NewDisk, *, live: bool) -> str:
    qvm, conf = host._usable(vm.name, job)
    if disk.bus == "sata" and conf.arch != "x86_64":
        raise InvalidInput(f"{conf.arch} VMs ('virt' machine) have no SATA controller: use bus=virtio or bus=scsi")
    new = conf.with_(disks=(*conf.disks, ConfDisk(disk.target, disk.path, disk.format, owned=True, bus=disk.bus)))
    await host._write(job, vm.name, new, f"adding {disk.target} ({disk.path}) to {qvm.home.conf}")
    if not live:
        return PERSISTENT
    sock = qvm.home.qmp
    port = await _hotplug_slot(job, vm.name, sock, disk.bus)
    if port is None:
        where = f"a {SCSI} controller" if disk.bus == "scsi" else f"a free hot-plug slot ({HOTPLUG_PORT}0..3)"
        job.note(f"the running '{vm.name}' has no {where} (it was started before qemu-mcp added them, or all "
                 f"are used): {disk.target} is in vm.conf and appears at its next start")  # fmt: skip
        return PERSISTENT
    commands = [*(("blockdev-add", n) for n in blockdev_add(disk)), ("device_add", device_add(disk, port))]
    purpose = f"hot-plugging {disk.target} into the running '{vm.name}' (QMP blockdev-add, device_add)"
    await job.act(purpose, ["qmp", sock, *(w for c, a in commands for w in _record(sock, c, a)[2:])],
                  lambda: _hotplug(job, sock, commands, disk.target))  # fmt: skip
    return LIVE


async def _hotplug_slot(job: Job, name: str, sock: str, bus: str) -> str | None:
    """Where the disk goes in the running guest: a free root port (virtio) or the SCSI controller;
    None when there is none."""
    if bus == "scsi":
        arguments = {"path": PERIPHERALS}
        found = await job.act(f"looking for the SCSI controller of the running '{name}' (QMP)",
                              ["qmp", sock, "qom-list", PERIPHERALS],
                              lambda: _execute(job, sock, "qom-list", arguments), changes_host=False)  # fmt: skip
        return SCSI if any(p.get("name") == SCSI for p in found or []) else None
    pci = await job.act(f"finding a free hot-plug slot in the running '{name}' (QMP)", ["qmp", sock, "query-pci"],
                        lambda: _execute(job, sock, "query-pci"), changes_host=False)  # fmt: skip
    return free_port(pci)


async def _execute(job: Job, sock: str, command: str, arguments: dict[str, Any] | None = None) -> Any:
    async with QMPClient.session(job.runner, sock, timeout=QMP_TIMEOUT) as qmp:
        return await qmp.execute(command, arguments, timeout=QMP_TIMEOUT)


async def _hotplug(job: Job, sock: str, commands: list[tuple[str, dict[str, Any]]], target: str) -> None:
    """Run the commands in order; on a failure remove the nodes added so far, then re-raise."""
    async with QMPClient.session(job.runner, sock, timeout=QMP_TIMEOUT) as qmp:
        added: list[str] = []
        try:
            for command, arguments in commands:
                await qmp.execute(command, arguments, timeout=QMP_TIMEOUT)
                if command == "blockdev-add":
                    added.append(str(arguments["node-name"]))
        except QMPError:
            for node in reversed(added):
                try:
                    await qmp.execute("blockdev-del", {"node-name": node}, timeout=QMP_TIMEOUT)
                except QMPError as e:
                    job.note(f"could not remove the block node {node} after the failed hot-plug of {target}: {e}")
            raise


async def detach_disk(host: QemuHost, job: Job, vm: VmState, disk: VmDisk, *, live: bool, timeout: float) -> bool:
    qvm, conf = host._usable(vm.name, job)
    new = conf.with_(disks=tuple(d for d in conf.disks if d.target != disk.target))
    await host._write(job, vm.name, new, f"removing {disk.target} from {qvm.home.conf}")
    if not live:
        return True
    sock = qvm.home.qmp
    purpose = f"unplugging {disk.target} from the running '{vm.name}' (QMP device_del, waiting up to {timeout:g} s)"
    released = await job.act(purpose, _record(sock, "device_del", {"id": disk.target}),
                             lambda: _unplug(job, sock, disk.target, timeout))  # fmt: skip
    return True if released is None else released  # None: dry run


async def _unplug(job: Job, sock: str, target: str, timeout: float) -> bool:
    async with QMPClient.session(job.runner, sock, timeout=QMP_TIMEOUT) as qmp:
        await qmp.execute("device_del", {"id": target}, timeout=QMP_TIMEOUT)
        async with job.ticking(timeout, f"waiting for the guest to release {target}"):
            event = await qmp.wait_event("DEVICE_DELETED", timeout, device=target)
        if event is None:
            return False
        for arguments in blockdev_del(target):
            await qmp.execute("blockdev-del", arguments, timeout=QMP_TIMEOUT)
        return True


class QemuDisks:
    """The QemuBackend's disk methods (its module is at the size limit)."""

    async def attach_disk(self, job: Job, vm: VmState, disk: NewDisk, *, live: bool) -> str:
        return await attach_disk(self, job, vm, disk, live=live)  # type: ignore[arg-type]  # mixed into QemuBackend

    async def detach_disk(self, job: Job, vm: VmState, disk: VmDisk, *, live: bool, timeout: float) -> bool:
        return await detach_disk(self, job, vm, disk, live=live, timeout=timeout)  # type: ignore[arg-type]

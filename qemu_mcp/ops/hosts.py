"""host_info and list_hosts: what a host is and whether we can reach it."""

from __future__ import annotations

import time
from typing import Any

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.host.probe import probe
from qemu_mcp.models import HostInfo, HostStatus, HostTools, ListHostsData
from qemu_mcp.ops.fleet_core import FleetCore, HostRef, each_host
from qemu_mcp.parsers.nodeinfo import parse_nodeinfo
from qemu_mcp.parsers.probe import parse_probe
from qemu_mcp.parsers.version import parse_virsh_version


async def host_info(fleet: FleetCore, ref: HostRef | None = None) -> HostInfo:
    """Facts about one host in one round trip (the probe script)."""
    spec = fleet.resolve(ref)
    result = await fleet.runner(spec).run(probe(spec.libvirt_uri), read_only=True)
    result.check("probing the host")
    p = parse_probe(result.stdout)
    tools = HostTools(
        virsh=p.facts.get("tool.virsh") or None,
        qemu_img=p.facts.get("tool.qemu-img") or None,
        qemu_system=p.qemu_system,
        iostat=p.facts.get("tool.iostat") or None,
    )
    missing = [
        name
        for name, have in (
            ("virsh", tools.virsh),
            ("qemu-img", tools.qemu_img),
            ("qemu-system-*", tools.qemu_system),
            ("iostat", tools.iostat),
        )
        if not have
    ]
    backend = fleet.known_backend(spec)
    if backend is None:
        # Only evidence decides (ops.backend): virsh answered, or there is no virsh but qemu-system.
        # A virsh that failed (libvirtd restarting) leaves the backend unknown, not "qemu".
        backend = "libvirt" if p.virsh_ok else ("qemu" if p.qemu_system and not tools.virsh else None)
        if backend:
            fleet.learn_backend(spec, backend)
    info = HostInfo(
        host=spec.name,
        hostname=p.facts.get("hostname") or None,
        cpu_model=p.facts.get("cpu_model") or None,
        cpus=_int(p.facts.get("cpus")),
        memory_mib=(_int(p.facts.get("mem_kib")) or 0) // 1024 or None,
        hypervisor=_qemu_version(p.facts.get("qemu_version")),
        tools=tools,
        missing=missing,
        backend=backend,
        libvirt_uri=spec.libvirt_uri if backend == "libvirt" else None,
        vm_dir=spec.vm_dir if backend == "qemu" else None,
        kvm=p.facts.get("kvm") == "1",
        kvm_note=kvm_note(p.facts.get("kvm") == "1", p.facts.get("kvm_dev")),
    )
    if p.virsh_ok and p.nodeinfo is not None and p.version is not None:
        node = parse_nodeinfo(p.nodeinfo)
        ver = parse_virsh_version(p.version)
        info = info.model_copy(
            update={
                "cpu_mhz": node.get("cpu_frequency_mhz"),
                "sockets": node.get("cpu_sockets"),
                "cores_per_socket": node.get("cores_per_socket"),
                "threads_per_core": node.get("threads_per_core"),
                "numa_nodes": node.get("numa_cells"),
                "libvirt_version": ver.get("library"),
                "hypervisor": ver.get("hypervisor") or info.hypervisor,
            }
        )
    return info


def kvm_note(usable: bool, device: str | None) -> str | None:
    """Why KVM is unusable, from the probe: `device` is /dev/kvm's "mode owner group", if it exists."""
    if usable:
        return None
    if not device:
        return (
            "no /dev/kvm on this host (CPU virtualization off or not passed through to it, or the kvm module "
            "is not loaded): VMs run under TCG emulation, much slower"
        )
    mode, owner, group = [*device.split(), "?", "?", "?"][:3]
    if len(mode) >= 2 and mode[-2] not in "67":  # the group cannot both read and write it
        return (
            f"/dev/kvm is mode {mode} (owner {owner}, group {group}): only {owner} can use KVM, and libvirtd "
            "re-probes QEMU on every call (virsh define can take minutes); give it to group kvm, mode 660 "
            "(`chgrp kvm /dev/kvm; chmod 660 /dev/kvm`), as udev does on a normal host"
        )
    return f"the SSH user cannot open /dev/kvm (mode {mode}, group {group}): add it to group {group}"


def _qemu_version(line: str | None) -> str | None:
    # "QEMU emulator version 7.2.22 (Debian ...)" -> "QEMU 7.2.22"
    if not line or "version" not in line:
        return None
    return "QEMU " + line.split("version", 1)[1].split()[0]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


async def _check(fleet: FleetCore, spec: HostSpec) -> tuple[HostInfo, float]:
    """The host's facts and the latency (ms) of one round trip on its connection."""
    info = await host_info(fleet, HostRef(host=spec.name))
    start = time.monotonic()
    (await fleet.runner(spec).run(["true"], read_only=True)).check("a round trip")
    return info, (time.monotonic() - start) * 1000


def _status(spec: HostSpec, checked: tuple[HostInfo, float] | BaseException) -> HostStatus:
    def status(**kw: Any) -> HostStatus:
        return HostStatus(
            name=spec.name,
            address=spec.display_address,
            port=None if spec.is_local else spec.port,
            user=spec.user,
            **kw,
        )

    if isinstance(checked, QemuMcpError):
        return status(backend=spec.backend, reachable=False, error=str(checked))
    if isinstance(checked, BaseException):
        raise checked
    info, latency = checked
    return status(backend=info.backend or spec.backend, reachable=True, latency_ms=round(latency, 2))


async def list_hosts(fleet: FleetCore) -> ListHostsData:
    """Every inventory host (built-ins included), probed concurrently (each_host)."""
    specs = list(fleet.inventory.hosts.values())
    checked = await each_host(fleet, specs, lambda s: _check(fleet, s), "answering")
    return ListHostsData(hosts=[_status(s, c) for s, c in zip(specs, checked, strict=True)])

"""Pick the backend for a host: configured, learned, or found by trying libvirt first (auto).

`auto` means libvirt when virsh answers, plain QEMU when virsh is missing or cannot reach
libvirtd. Reads try libvirt's one-round-trip command and fall back to the plain-QEMU read on
the same call; manage_vm asks first (`backend_of`: one small command, then remembered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.backends.libvirt.errors import LibvirtUnusable, check_batch
from qemu_mcp.config import HostSpec
from qemu_mcp.ops.fleet import Fleet
from qemu_mcp.transport.base import Runner

T = TypeVar("T")


async def with_backend(
    fleet: Fleet,
    spec: HostSpec,
    libvirt_op: Callable[[Runner], Awaitable[T]],
    qemu_op: Callable[[Runner], Awaitable[T]],
) -> T:
    """Run the operation of the host's backend. An auto host tries libvirt first; when virsh is
    missing or cannot reach libvirtd, the host is plain QEMU from then on and the QEMU op runs."""
    backend = fleet.known_backend(spec)
    runner = fleet.runner(spec)
    if backend == "qemu":
        return await qemu_op(runner)
    try:
        result = await libvirt_op(runner)
    except LibvirtUnusable:
        if backend is not None:
            raise
        fleet.learn_backend(spec, "qemu")
        return await qemu_op(runner)
    if backend is None:
        fleet.learn_backend(spec, "libvirt")
    return result


async def backend_of(fleet: Fleet, spec: HostSpec) -> str:
    """'libvirt' or 'qemu': configured, learned, or (auto) found with one `virsh uri` now."""
    backend = fleet.known_backend(spec)
    if backend is not None:
        return backend
    result = await fleet.runner(spec).run(virsh.virsh(spec.libvirt_uri, [["uri"]]), read_only=True)
    try:
        check_batch(result, spec, "checking libvirt")
    except LibvirtUnusable:
        backend = "qemu"
    else:
        backend = "libvirt"
    fleet.learn_backend(spec, backend)
    return backend

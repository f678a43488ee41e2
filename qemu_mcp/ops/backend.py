"""Pick the backend for a host: configured, learned, or found by trying libvirt first (auto)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.ops.fleet import Fleet
from qemu_mcp.ops.libvirt_read import LibvirtUnusable
from qemu_mcp.transport.base import Runner

T = TypeVar("T")


class BackendUnavailable(QemuMcpError):
    pass


async def with_libvirt(fleet: Fleet, spec: HostSpec, op: Callable[[Runner], Awaitable[T]]) -> T:
    """Run a libvirt operation; on an auto host whose virsh is unusable, say what backend is needed."""
    backend = fleet.known_backend(spec)
    if backend == "qemu":
        raise BackendUnavailable(
            f"host '{spec.name}' uses the plain-QEMU backend, which this version does not support yet; "
            "use a host with libvirt (virsh) or set backend: libvirt"
        )
    try:
        result = await op(fleet.runner(spec))
    except LibvirtUnusable:
        if backend is None:
            fleet.learn_backend(spec, "qemu")
        raise
    if backend is None:
        fleet.learn_backend(spec, "libvirt")
    return result

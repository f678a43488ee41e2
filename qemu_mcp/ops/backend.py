"""Pick the backend for a host: configured, learned, or found by trying libvirt first (auto).

On an `auto` host only definitive evidence makes it plain QEMU: virsh is missing (exit 127), or
there is no libvirt socket, still, a moment later, and no libvirt daemon is installed. libvirtd
that is stopped, restarting, refuses or is slow gives an error for that call, never a switch;
and once libvirt answered, the host stays libvirt for the life of the server. Reads try
libvirt's one-round-trip command and fall back to the plain-QEMU read on the same call;
manage_vm asks first (`backend_of`), then remembers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from qemu_mcp.backends.libvirt import errors, virsh
from qemu_mcp.backends.libvirt.errors import LibvirtAbsent, check_batch
from qemu_mcp.config import HostSpec
from qemu_mcp.ops.fleet_core import FleetCore
from qemu_mcp.transport.base import Runner

T = TypeVar("T")
SOCKET_RETRY_DELAY = 1.0  # seconds: a starting libvirtd creates its socket late


async def _libvirt_or_absent(runner: Runner, spec: HostSpec, op: Callable[[], Awaitable[T]]) -> T:
    """Run a libvirt op; a missing socket is believed only when it is still missing a moment later
    and no libvirt daemon is installed (an installed one that has no socket is stopped: an outage)."""
    try:
        return await op()
    except LibvirtAbsent as e:
        if not e.no_socket:
            raise
    await asyncio.sleep(SOCKET_RETRY_DELAY)
    try:
        return await op()
    except LibvirtAbsent as e:
        if e.no_socket and (await runner.run(errors.daemon_installed(), read_only=True)).exit_status == 0:
            raise errors.daemon_stopped(e, spec) from None
        raise


async def with_backend(
    fleet: FleetCore,
    spec: HostSpec,
    libvirt_op: Callable[[Runner], Awaitable[T]],
    qemu_op: Callable[[Runner], Awaitable[T]],
) -> T:
    """Run the operation of the host's backend. An auto host tries libvirt first; when libvirt is
    definitively absent, the host is plain QEMU from then on and the QEMU op runs."""
    backend = fleet.known_backend(spec)
    runner = fleet.runner(spec)
    if backend == "qemu":
        return await qemu_op(runner)
    if backend == "libvirt":
        return await libvirt_op(runner)
    try:
        result = await _libvirt_or_absent(runner, spec, lambda: libvirt_op(runner))
    except LibvirtAbsent:
        fleet.learn_backend(spec, "qemu")
        return await qemu_op(runner)
    fleet.learn_backend(spec, "libvirt")
    return result


async def backend_of(fleet: FleetCore, spec: HostSpec) -> str:
    """'libvirt' or 'qemu': configured, learned, or (auto) found with one `virsh uri` now."""
    backend = fleet.known_backend(spec)
    if backend is not None:
        return backend
    runner = fleet.runner(spec)

    async def ask() -> None:
        result = await runner.run(virsh.virsh(spec.libvirt_uri, [["uri"]]), read_only=True)
        check_batch(result, spec, "checking libvirt")

    try:
        await _libvirt_or_absent(runner, spec, ask)
    except LibvirtAbsent:
        backend = "qemu"
    else:
        backend = "libvirt"
    fleet.learn_backend(spec, backend)
    return backend

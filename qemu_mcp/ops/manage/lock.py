"""manage_vm's per-VM lock, in two layers: one in this process (cheap, and two calls of one process
never wait for one VM on the host side by side), then one on the host itself (host/lock.py), which every
qemu-mcp process acting on that host honours: CLI, stdio servers, HTTP replicas.

A dry run takes only the first: it changes nothing, so it never waits for another process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from qemu_mcp.backends.base import VmBackend
from qemu_mcp.backends.job import Job, failure_detail
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, CommandTimeout, Conflict
from qemu_mcp.host.lock import BUSY, LOCKED, MISSING_EXIT, hold_lock, lock_file_name
from qemu_mcp.ops.fleet_core import FleetCore
from qemu_mcp.transport.base import CommandResult, OpenProcess


def lock_key(spec: HostSpec, name: str, scope: str | None = None) -> Hashable:
    """The same VM reached through two inventory names still gets one lock. `scope`: where the
    backend keeps VMs (libvirt: the URI, the default; plain QEMU: the vm_dir)."""
    return ("vm", spec.address or "local", spec.port if spec.address else 0, scope or spec.libvirt_uri, name)


@asynccontextmanager
async def vm_locks(fleet: FleetCore, spec: HostSpec, backend: VmBackend, job: Job, name: str) -> AsyncIterator[None]:
    """Hold the VM's locks for the whole call: this process's first, then (not in a dry run) the host's."""
    scope: str | None = getattr(backend, "vm_dir", None)
    async with fleet.vm_locks.hold(lock_key(spec, name, scope)):
        if job.dry_run:
            yield
        else:
            async with host_lock(job, spec, lock_file_name(backend.kind, scope or spec.libvirt_uri, name), name):
                yield


@asynccontextmanager
async def call_locks(
    fleet: FleetCore, spec: HostSpec, backend: VmBackend, job: Job, names: list[str]
) -> AsyncIterator[None]:
    """Every VM a call acts on (clone: the new one and its source), in name order (two calls
    never wait for each other's second lock)."""
    ordered = sorted(set(names))
    async with vm_locks(fleet, spec, backend, job, ordered[0]):
        if len(ordered) == 1:
            yield
            return
        async with call_locks(fleet, spec, backend, job, ordered[1:]):
            yield


@asynccontextmanager
async def host_lock(job: Job, spec: HostSpec, file_name: str, name: str) -> AsyncIterator[None]:
    """The lock on the host. While another process holds it, waits up to spec.lock_timeout (giving
    up ends the waiting command on the host at once: leaving the context closes its input)."""
    async with job.runner.open_process(hold_lock(file_name)) as process:
        answer = await _answer(process, spec.command_timeout)
        if answer == BUSY:
            waiting = f"waiting for another qemu-mcp process to finish with VM '{name}' on host '{spec.name}'"
            async with job.ticking(spec.lock_timeout, waiting):
                answer = await _answer(process, spec.lock_timeout)
            if answer is None:
                raise busy(spec, name)
        if answer is None:
            raise CommandTimeout(
                f"the lock of VM '{name}' on host '{spec.name}' was not taken: the lock command did not "
                f"answer within {spec.command_timeout:g} s",
                spec.name,
            )
        if answer != LOCKED:
            raise lock_error(await process.end(), spec, name)
        yield


async def _answer(process: OpenProcess, timeout: float) -> str | None:
    """The lock command's next line; None when none came within `timeout` s."""
    try:
        return (await asyncio.wait_for(process.readline(), timeout)).strip()
    except TimeoutError:
        return None


def busy(spec: HostSpec, name: str) -> Conflict:
    return Conflict(
        f"VM '{name}' on host '{spec.name}' is busy: another qemu-mcp process (a CLI, a server or a "
        f"replica) is acting on it and still held its lock after {spec.lock_timeout:g} s (lock_timeout); "
        "nothing was changed, retry once it has finished"
    )


def lock_error(result: CommandResult, spec: HostSpec, name: str) -> CommandFailed:
    """Why the lock command ended without taking the lock."""
    if result.exit_status == MISSING_EXIT and "flock" in result.stderr:
        return CommandFailed(
            f"host '{spec.name}' has no `flock` command (package util-linux), which qemu-mcp needs to lock "
            f"VM '{name}' against other qemu-mcp processes; install util-linux there",
            spec.name, result.exit_status, result.stderr,
        )  # fmt: skip
    return CommandFailed(
        f"could not take the lock of VM '{name}' on host '{spec.name}' ({failure_detail(result)})",
        spec.name, result.exit_status, result.stderr,
    )  # fmt: skip

"""The Fleet: inventory + runner pool + what we learned about each host (its backend), and how a
fleet-wide call reaches every host (`each_host`).

`FleetCore` uses the runner pool it is given and imports no transport: the operations take a
FleetCore, so that importing them does not load asyncssh. `ops.fleet.Fleet` is the FleetCore
whose pool reaches remote hosts over SSH; the CLI gives local-only commands a pool that imports
the SSH transport only when a remote host is reached.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from qemu_mcp import validation
from qemu_mcp.audit import AuditLog, audit_path
from qemu_mcp.backends.accel import AccelVerdicts
from qemu_mcp.backends.libvirt.session import VirshSessions
from qemu_mcp.config import HostSpec, Inventory, adhoc_host
from qemu_mcp.errors import CommandTimeout, InvalidInput, NotFound, QemuMcpError
from qemu_mcp.locks import KeyedLocks
from qemu_mcp.models import HostFailure
from qemu_mcp.ops.guard import OpSlots
from qemu_mcp.policy import DEFAULT_MAX_CONCURRENT_OPS
from qemu_mcp.transport.base import Runner
from qemu_mcp.transport.pool import RunnerPool

if TYPE_CHECKING:
    from qemu_mcp.models_monitor import MonitorSample

LOCAL_ALIASES = ("localhost", "127.0.0.1", "::1")
T = TypeVar("T")


@dataclass(frozen=True)
class HostRef:
    """How a call names its host: an inventory name, or an address with seed 004's ssh_* arguments."""

    host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    ssh_pwd: str | None = None
    ssh_key: str | None = None

    @property
    def has_ssh_args(self) -> bool:
        return any(v is not None for v in (self.ssh_port, self.ssh_user, self.ssh_pwd, self.ssh_key))


class FleetCore:
    """`virsh_sessions`: the libvirt read path keeps virsh sessions open per host (False: one virsh
    process per call, as for mutations)."""

    def __init__(self, inventory: Inventory, pool: RunnerPool, *, virsh_sessions: bool = True) -> None:
        self.inventory = inventory
        self.pool = pool
        self.use_sessions = virsh_sessions
        self._sessions: dict[HostSpec, VirshSessions] = {}
        # Fleet-wide calls share these slots (each_host): at most max_parallel_hosts hosts at once.
        self.host_slots = asyncio.Semaphore(inventory.max_parallel_hosts)
        self._backends: dict[HostSpec, str] = {}
        # manage_vm: one action at a time per (host, VM); whether KVM guests run, per host and arch.
        self.vm_locks = KeyedLocks()
        self.accel_verdicts = AccelVerdicts()
        # (host, VM) -> (newest monitor sample, time.time() it was cached); ops.monitor fills it.
        self.latest_samples: dict[tuple[str, str], tuple[MonitorSample, float]] = {}
        # Issue 6: the audit log of mutating actions, and the max_concurrent_ops slots.
        self.audit = AuditLog(audit_path(inventory.audit_log))
        self.op_slots = OpSlots(inventory.policy.max_concurrent_ops or DEFAULT_MAX_CONCURRENT_OPS)

    def resolve(self, ref: HostRef | None = None) -> HostSpec:
        ref = ref or HostRef()
        if ref.ssh_key is not None:
            validation.abs_path(ref.ssh_key, "ssh_key")
        if ref.host in (None, "") and not ref.has_ssh_args:
            return self.inventory.get("local")
        if ref.host in (None, ""):
            raise InvalidInput(
                "ssh_* arguments need `host` (the address or inventory name of the remote host)"
            )
        assert ref.host is not None
        if ref.host in self.inventory.hosts:
            base = self.inventory.get(ref.host)
            if not ref.has_ssh_args:
                return base
            if base.is_local:
                raise InvalidInput(
                    f"host '{base.name}' runs commands locally; ssh_* arguments do not apply to it"
                )
            self._check_call_args(ref, base)
            _key_exists(ref)
            return adhoc_host(
                ref.host,
                port=ref.ssh_port,
                user=ref.ssh_user,
                password=ref.ssh_pwd,
                key=ref.ssh_key,
                base=base,
            )
        if ref.host in LOCAL_ALIASES and not ref.has_ssh_args:
            return self.inventory.get("local")
        if not ref.has_ssh_args:
            validation.address(ref.host)
            known = ", ".join(sorted(self.inventory.hosts))
            raise NotFound(
                f"host '{ref.host}' is not in the inventory (known: {known}); "
                "add it to hosts.yaml, or pass ssh_user (and ssh_key or ssh_pwd) to reach it ad hoc"
            )
        validation.address(ref.host)
        # The same machine as an inventory host keeps that host's policy (no way around protected_vms).
        same = next((h for h in self.inventory.file_hosts
                     if h.address == ref.host and h.port == (ref.ssh_port or 22)), None)  # fmt: skip
        self._check_call_args(ref, same, adhoc=True)
        _key_exists(ref)
        spec = adhoc_host(ref.host, port=ref.ssh_port, user=ref.ssh_user, password=ref.ssh_pwd, key=ref.ssh_key)
        return spec if same is None else spec.model_copy(update={"policy": same.policy})

    def _check_call_args(self, ref: HostRef, base: HostSpec | None, adhoc: bool = False) -> None:
        """Seed 004's per-call host/ssh_* arguments, as far as the policy allows them."""
        assert ref.host is not None
        policy = self.inventory.policy_for(base) if base else self.inventory.global_policy(ref.host)
        target = f"host '{ref.host}'" + (" (not in the inventory)" if adhoc else "")
        if ref.ssh_pwd is not None and not policy.allow_password_args:
            raise policy.deny(
                "allow_password_args",
                f"ssh_pwd for {target} is refused: passwords may not be passed per call; use a key, "
                "or password_env in hosts.yaml",
            )
        if policy.allow_adhoc_hosts:
            return
        if adhoc:
            raise policy.deny(
                "allow_adhoc_hosts", f"{target} is refused: only inventory hosts may be used; add it to hosts.yaml"
            )
        given = [k for k, v in (("ssh_port", ref.ssh_port), ("ssh_user", ref.ssh_user), ("ssh_key", ref.ssh_key))
                 if v is not None]  # fmt: skip
        if given:
            raise policy.deny(
                "allow_adhoc_hosts",
                f"{', '.join(given)} for {target} refused: hosts are reached only as hosts.yaml says",
            )

    def runner(self, spec: HostSpec) -> Runner:
        return self.pool.get(spec)

    def sessions(self, spec: HostSpec) -> VirshSessions | None:
        """The host's virsh sessions for reads (backends/libvirt/session.py); None when not used:
        turned off, or while an `auto` host's backend is unknown (its first read finds out with
        one command, as before; a plain-QEMU host never opens a session)."""
        if not self.use_sessions or self.known_backend(spec) != "libvirt":
            return None
        sessions = self._sessions.get(spec)
        if sessions is None:
            sessions = self._sessions[spec] = VirshSessions(self.runner(spec), spec)
        return sessions

    def known_backend(self, spec: HostSpec) -> str | None:
        """The backend in use: configured, or learned by an earlier call; None while still unknown."""
        if spec.backend != "auto":
            return spec.backend
        return self._backends.get(spec)

    def learn_backend(self, spec: HostSpec, backend: str) -> None:
        self._backends[spec] = backend

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        await self.pool.close()


def _key_exists(ref: HostRef) -> None:
    if ref.ssh_key is not None and not os.path.isfile(ref.ssh_key):
        raise NotFound(
            f"ssh_key {ref.ssh_key!r} is not a file on the machine qemu-mcp runs on; "
            "give the path of a private key there"
        )


async def each_host(
    fleet: FleetCore, specs: list[HostSpec], work: Callable[[HostSpec], Awaitable[T]], what: str
) -> list[T | BaseException]:
    """Every host's part of a fleet-wide call, in the order of `specs` (a host's failure is its
    entry). At most max_parallel_hosts hosts are worked on at once, across all fleet-wide calls
    of the server, so a thousand hosts never mean a thousand SSH handshakes (and outputs in
    memory) at once. A host's budget (within_host_budget) starts when its turn does: waiting for
    a slot is not the host's fault. So a call over N hosts answers within about
    ceil(N / max_parallel_hosts) times the slowest host's budget; only hosts that all hang to
    the end of their budgets make it that long."""

    async def one(spec: HostSpec) -> T:
        async with fleet.host_slots:
            return await within_host_budget(spec, work(spec), what)

    return await asyncio.gather(*(one(s) for s in specs), return_exceptions=True)


async def within_host_budget(spec: HostSpec, work: Awaitable[T], what: str) -> T:
    """One host's part of a fleet-wide call, given connect_timeout + command_timeout at most, so a
    host that is slow in a way no single wait catches still cannot hold up the others' answer."""
    limit = spec.connect_timeout + spec.command_timeout
    try:
        async with asyncio.timeout(limit):
            return await work
    except TimeoutError:
        raise CommandTimeout(
            f"host '{spec.name}' did not finish {what} within {limit:g} s (connect_timeout + command_timeout) "
            "and was left out; check that it is up and not overloaded, or raise its timeouts in hosts.yaml",
            spec.name,
        ) from None


async def across_hosts(
    fleet: FleetCore, ref: HostRef | None, work: Callable[[HostSpec], Awaitable[T]], what: str
) -> tuple[list[HostSpec], list[tuple[HostSpec, T]], list[HostFailure]]:
    """`work` on the host `ref` names, or on every inventory host (no host and no ssh_* argument,
    each_host: bounded fan-out, each host within its budget): (the hosts, each answer, each
    failure). A host that fails is reported, the others still answer; one host asked for by
    name: its failure is the call's."""
    ref = ref or HostRef()
    specs = [fleet.resolve(ref)] if ref.host or ref.has_ssh_args else fleet.inventory.configured
    results = await each_host(fleet, specs, work, what)
    answers: list[tuple[HostSpec, T]] = []
    errors: list[HostFailure] = []
    for spec, result in zip(specs, results, strict=True):
        if isinstance(result, QemuMcpError):
            if len(specs) == 1:
                raise result
            errors.append(HostFailure(host=spec.name, error=str(result), kind=type(result).__name__))
        elif isinstance(result, BaseException):
            raise result
        else:
            answers.append((spec, result))
    return specs, answers, errors

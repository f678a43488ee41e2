"""The policy checks that need a host or shared state: allowed_paths (symlinks resolved on the host,
one round trip) and max_concurrent_ops (slots with a bounded wait, then a clear "busy" refusal)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from qemu_mcp.backends.job import Job
from qemu_mcp.errors import PolicyDenied
from qemu_mcp.host import fs
from qemu_mcp.policy import DEFAULT_MAX_CONCURRENT_OPS, Policy


async def check_paths(job: Job, policy: Policy, paths: dict[str, str | None]) -> None:
    """Refuse any path (disk image, ISO) that lies outside policy.allowed_paths once symlinks are
    resolved ON THE HOST; the roots are resolved in the same `realpath` run. `..` never gets here
    (the validation layer refuses it), but would be caught too."""
    wanted = {what: p for what, p in paths.items() if p}
    if not wanted:
        return
    roots = list(policy.allowed_paths)
    argv = fs.real_paths([*wanted.values(), *roots])
    result = await job.read("resolving paths for the allowed_paths policy", argv)
    resolved = result.stdout.split("\0")
    if result.exit_status != 0 or len(resolved) < len(wanted) + len(roots):
        raise job.step_failed("resolving paths for the allowed_paths policy", result)
    real = dict(zip(wanted, resolved[: len(wanted)], strict=True))
    real_roots = dict(zip(roots, resolved[len(wanted) : len(wanted) + len(roots)], strict=True))
    bad = policy.outside(real, real_roots)
    if bad:
        lines = []
        for what in bad:
            shown = wanted[what] if real[what] == wanted[what] else f"{wanted[what]} (really {real[what]})"
            lines.append(f"{what} {shown}")
        raise policy.deny(
            "allowed_paths",
            f"{'; '.join(lines)} on host '{policy.host}' is outside the allowed paths "
            f"({', '.join(roots) or 'none'})",
        )


class OpSlots:
    """max_concurrent_ops: one global pool, plus one per host whose policy sets its own limit."""

    def __init__(self, global_limit: int = DEFAULT_MAX_CONCURRENT_OPS) -> None:
        self.global_limit = global_limit
        self._global = asyncio.Semaphore(global_limit)
        self._hosts: dict[str, tuple[int, asyncio.Semaphore]] = {}

    def _host(self, policy: Policy) -> asyncio.Semaphore | None:
        limit = policy.max_concurrent_ops
        if limit is None:
            return None
        current = self._hosts.get(policy.host)
        if current is None or current[0] != limit:
            current = (limit, asyncio.Semaphore(limit))
            self._hosts[policy.host] = current
        return current[1]

    @contextlib.asynccontextmanager
    async def hold(self, policy: Policy) -> AsyncIterator[None]:
        host = self._host(policy)
        async with contextlib.AsyncExitStack() as stack:
            if host is not None:
                await self._acquire(stack, host, policy, "max_concurrent_ops", policy.max_concurrent_ops or 0,
                                    f"host '{policy.host}'")  # fmt: skip
            await self._acquire(stack, self._global, policy, "global_max_concurrent_ops", self.global_limit,
                                "this server")  # fmt: skip
            yield

    async def _acquire(
        self, stack: contextlib.AsyncExitStack, sem: asyncio.Semaphore, policy: Policy, key: str, limit: int, scope: str
    ) -> None:
        try:
            async with asyncio.timeout(policy.busy_timeout):
                await sem.acquire()
        except TimeoutError:
            raise PolicyDenied(
                f"busy: {scope} already runs {limit} mutating action(s), the most it may run at once; "
                f"waited {policy.busy_timeout:g} s (busy_timeout) for one to finish. Try again later "
                f"(refused by policy key `max_concurrent_ops`, {policy.where(key)})"
            ) from None
        stack.callback(sem.release)

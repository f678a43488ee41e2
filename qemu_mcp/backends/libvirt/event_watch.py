"""A host's libvirt events, watched by one kept-open `virsh event --all --loop` (agentless: virsh,
sh, cat and stdbuf, nothing installed). The XML cache (xml_cache.py) keeps a domain's XML only
while this watch runs and has said nothing about the domain.

The command runs on a shared channel of the host's connection (Runner.open_process), so the
connection's idle close ends it; it also ends itself when nothing asked for it for idle_close
seconds (local hosts have no connection to close). Its script ends virsh when its stdin closes
(the channel or our end went away) and ends when virsh does, so no virsh lingers on the host.

Nothing says when virsh has registered its callbacks, so the watch counts as ready GRACE seconds
after the command started; an event sent before then may be missed, and nothing read before then
is kept. A watch that ends before it was ready (no `virsh event`, a refused channel) is tried
again after RETRY seconds; meanwhile listings read every domain's XML, as without a cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from qemu_mcp import validation
from qemu_mcp.config import HostSpec
from qemu_mcp.transport.base import OpenProcess, Runner

log = logging.getLogger(__name__)

# fd 3 keeps our stdin for `cat` (a background job's own stdin is /dev/null): when it ends, so
# does virsh; when virsh ends, the script does too (the channel closes, our reader sees it).
WATCH_SCRIPT = (
    'exec 3<&0 </dev/null; XDG_CACHE_HOME=/dev/null stdbuf -oL virsh -q -c "$1" event --all --loop 2>&1 & v=$!; '
    "{ cat <&3 >/dev/null 2>&1; kill $v 2>/dev/null; } & exec 3<&-; wait $v; kill $! 2>/dev/null"
)
# Seconds from the command's start until its events are trusted to arrive: virsh connects, then
# registers about 25 callbacks, a few ms on a healthy host; a libvirtd that re-probes QEMU on every
# connection (a root-only /dev/kvm) takes seconds. A listing only starts using kept XML this late.
GRACE = 5.0
RETRY = 60.0  # seconds before a watch that never got ready is tried again


def watch_argv(uri: str) -> list[str]:
    """The watch's command; the URI is a positional argument, never part of the script."""
    return ["sh", "-c", WATCH_SCRIPT, "qemu-mcp-events", validation.libvirt_uri(uri)]


class EventWatch:
    """Feeds every line the watch prints to `on_line`; `on_end` when it ends. `generation` counts
    its ends: what was learnt under one watch is not trusted under the next."""

    def __init__(self, runner: Runner, spec: HostSpec, idle_close: float, clock: Callable[[], float] = time.monotonic):
        self.runner, self.spec, self.idle_close, self.clock = runner, spec, idle_close, clock
        self.on_line: Callable[[str], None] = lambda line: None
        self.on_end: Callable[[], None] = lambda: None
        self.generation = 0
        self._task: asyncio.Task[None] | None = None
        self._process: OpenProcess | None = None
        self._ready_at: float | None = None
        self._retry_at = 0.0
        self._last_used = clock()

    def ensure(self) -> None:
        """Start the watch in the background unless it runs (or failed a moment ago)."""
        self._last_used = self.clock()
        if self._task is None and self._last_used >= self._retry_at:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def ready(self) -> bool:
        process = self._process
        return (
            self._ready_at is not None and self.clock() >= self._ready_at and process is not None and process.usable()
        )

    async def _run(self) -> None:
        started = self.clock()
        try:
            async with self.runner.open_process(watch_argv(self.spec.libvirt_uri), shared=True) as process:
                self._process, self._ready_at = process, self.clock() + GRACE
                await self._read(process)
        except Exception as e:  # the listing goes on without a cache; why is only of interest in a debug log
            log.debug("host '%s': libvirt event watch ended: %s", self.spec.name, e)
        finally:
            self._ended(started)

    async def _read(self, process: OpenProcess) -> None:
        while True:
            idle = self.idle_close - (self.clock() - self._last_used)
            if idle <= 0:
                return
            try:
                line = await asyncio.wait_for(process.readline(), idle)
            except TimeoutError:
                continue  # idle long enough? checked at the top
            if not line:
                return
            self.on_line(line)

    def _ended(self, started: float) -> None:
        never_ready = self._ready_at is None or self.clock() < self._ready_at
        self._task, self._process, self._ready_at = None, None, None
        self.generation += 1
        self._retry_at = self.clock() + (RETRY if never_ready else 0.0)
        if never_ready:
            log.debug("host '%s': libvirt event watch ended %.1f s after it started", self.spec.name,
                      self.clock() - started)  # fmt: skip
        self.on_end()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

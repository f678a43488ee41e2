"""A small QMP client over any byte stream: a local unix socket, or one forwarded by sshd.

QMP is line-delimited JSON: a greeting, `qmp_capabilities`, then `{"execute": ..., "id": N}`
requests answered by `{"return": ...}` or `{"error": ...}` with the same id; asynchronous
`{"event": ...}` lines may come at any time and are kept in `events`.

QEMU serves ONE client per QMP socket; a second one waits unanswered until the first leaves. So
our own clients take turns (`session`: a lock per host and socket), and a monitor sample can
never make a start's confirmation time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from qemu_mcp.errors import CommandFailed, CommandTimeout, HostUnreachable
from qemu_mcp.locks import KeyedLocks
from qemu_mcp.transport.base import Runner, StreamReader, StreamWriter

_SOCKETS = KeyedLocks()  # (host, socket path): one of our clients at a time, as QEMU serves one


class QMPError(CommandFailed):
    """QEMU answered a QMP command with an error."""


def error_sentence(what: str, host: str, error: dict[str, Any]) -> str:
    """`<what> failed on host 'h': <class>: <desc>`, from a QMP or guest agent error reply."""
    return f"{what} failed on host '{host}': {error.get('class')}: {error.get('desc')}"


class QMPClient:
    def __init__(self, reader: StreamReader, writer: StreamWriter, host: str, path: str) -> None:
        self._reader, self._writer = reader, writer
        self.host, self.path = host, path
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.greeting: dict[str, Any] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def session(cls, runner: Runner, path: str, timeout: float = 10.0) -> AsyncIterator[QMPClient]:
        """A connected client, when no other client of ours uses the socket (waiting up to `timeout`)."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(_SOCKETS.hold((runner.host, path), timeout))
            except TimeoutError:
                raise CommandTimeout(
                    f"QMP socket {path} on host '{runner.host}' stayed busy for {timeout:g} s (another "
                    "request of this server is using it); try again",
                    runner.host,
                ) from None
            client = await cls.connect(runner, path, timeout)
            stack.callback(client.close)
            yield client

    @classmethod
    async def connect(cls, runner: Runner, path: str, timeout: float = 10.0) -> QMPClient:
        reader, writer = await runner.open_unix(path)
        client = cls(reader, writer, runner.host, path)
        try:
            client.greeting = await asyncio.wait_for(client._read(), timeout)
            if "QMP" not in client.greeting:
                raise QMPError(f"{path} on host '{runner.host}' is not a QMP socket", host=runner.host)
            await client.execute("qmp_capabilities", timeout=timeout)
        except BaseException:
            client.close()
            raise
        return client

    async def __aenter__(self) -> QMPClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def _read(self) -> dict[str, Any]:
        line = await self._reader.readline()
        if not line:
            raise HostUnreachable(f"QMP socket {self.path} on host '{self.host}' closed", self.host)
        message: dict[str, Any] = json.loads(line)
        return message

    async def execute(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Run one QMP command and return its `return` value."""
        request_id = next(self._ids)
        request: dict[str, Any] = {"execute": command, "id": request_id}
        if arguments:
            request["arguments"] = arguments
        self._writer.write(json.dumps(request).encode() + b"\n")
        await self._writer.drain()
        try:
            return await asyncio.wait_for(self._reply(request_id, command), timeout)
        except TimeoutError:
            raise CommandTimeout(
                f"QMP {command} on host '{self.host}' got no answer within {timeout} s", self.host
            ) from None

    async def _reply(self, request_id: int, command: str) -> Any:
        while True:
            message = await self._read()
            if "event" in message:
                self.events.append(message)
            elif message.get("id") == request_id:
                if "error" in message:
                    raise QMPError(error_sentence(f"QMP {command}", self.host, message["error"]), host=self.host)
                return message.get("return")

    async def wait_event(self, name: str, timeout: float, **match: Any) -> dict[str, Any] | None:
        """The first event `name` whose data has every `match` item (already seen, or arriving within
        `timeout` s); None when none came."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, event in enumerate(self.events):
                data = event.get("data") or {}
                if event.get("event") == name and all(data.get(k) == v for k, v in match.items()):
                    return self.events.pop(i)
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return None
            try:
                message = await asyncio.wait_for(self._read(), left)
            except TimeoutError:
                return None
            if "event" in message:
                self.events.append(message)

    def close(self) -> None:
        self._writer.close()

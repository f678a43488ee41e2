"""A small QEMU guest agent (QGA) client over any byte stream: the host-side socket of the VM's
`org.qemu.guest_agent.0` virtio-serial port, local or forwarded by sshd.

QGA speaks line-delimited JSON like QMP, but with no greeting and no ids: a reply cannot be
told from a stale one left by an earlier client that gave up. So every session starts with
`guest-sync-delimited`: a 0xFF byte resets the agent's parser (it answers that with an error
line, skipped), and lines are read until the one holding our random token (prefixed by 0xFF);
whatever came before it is stale. While the guest's agent is not running, nothing answers:
every read is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from qemu_mcp.backends.qemu.qmp import error_sentence
from qemu_mcp.errors import CommandFailed, CommandTimeout, HostUnreachable
from qemu_mcp.transport.base import Runner, StreamReader, StreamWriter

SYNC_BYTE = b"\xff"


class QGAError(CommandFailed):
    """The guest agent answered a command with an error."""


class QGAClient:
    def __init__(self, reader: StreamReader, writer: StreamWriter, host: str, path: str) -> None:
        self._reader, self._writer = reader, writer
        self.host, self.path = host, path

    @classmethod
    async def connect(cls, runner: Runner, path: str, timeout: float = 10.0) -> QGAClient:
        """A client in step with the agent, or CommandTimeout when the guest's agent does not answer."""
        reader, writer = await runner.open_unix(path)
        client = cls(reader, writer, runner.host, path)
        try:
            await client.sync(timeout)
        except BaseException:
            client.close()
            raise
        return client

    async def sync(self, timeout: float = 10.0) -> None:
        token = random.randint(1, 2**31 - 1)
        request = {"execute": "guest-sync-delimited", "arguments": {"id": token}}
        self._writer.write(SYNC_BYTE + json.dumps(request).encode() + b"\n")
        await self._writer.drain()
        try:
            await asyncio.wait_for(self._until_token(token), timeout)
        except TimeoutError:
            raise CommandTimeout(
                f"the guest agent on socket {self.path} (host '{self.host}') did not answer within "
                f"{timeout:g} s: is qemu-guest-agent installed and running in the guest?",
                self.host,
            ) from None

    async def _until_token(self, token: int) -> None:
        while True:
            message = await self._read_any()
            if isinstance(message, dict) and message.get("return") == token:
                return

    async def _read_any(self) -> Any:
        """The next JSON line, with the sync byte stripped; None for a line that is not JSON."""
        line = await self._reader.readline()
        if not line:
            raise HostUnreachable(f"guest agent socket {self.path} on host '{self.host}' closed", self.host)
        try:
            return json.loads(line.lstrip(SYNC_BYTE))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    async def execute(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Run one agent command and return its `return` value."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self._writer.write(json.dumps(request).encode() + b"\n")
        await self._writer.drain()
        try:
            message = await asyncio.wait_for(self._reply(), timeout)
        except TimeoutError:
            raise CommandTimeout(
                f"guest agent command {command} on host '{self.host}' got no answer within {timeout:g} s",
                self.host,
            ) from None
        if "error" in message:
            raise QGAError(
                error_sentence(f"guest agent command {command}", self.host, message["error"]), host=self.host
            )
        return message.get("return")

    async def _reply(self) -> dict[str, Any]:
        while True:
            message = await self._read_any()
            if isinstance(message, dict) and ("return" in message or "error" in message):
                return message

    def close(self) -> None:
        self._writer.close()

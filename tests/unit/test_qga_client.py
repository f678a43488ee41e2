"""The guest agent client against a fake agent on a unix socket that answers as qemu-ga does:
an error line for the 0xFF reset byte, the sync token behind a 0xFF, stale replies left over."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from qemu_mcp.backends.qemu.qga import QGAClient, QGAError
from qemu_mcp.errors import CommandTimeout
from qemu_mcp.transport.local import LocalRunner

INTERFACES = [
    {
        "name": "enp0s3",
        "hardware-address": "52:54:00:12:34:56",
        "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.2.15", "prefix": 24}],
    }
]


async def fake_agent(path: Path, *, answer: bool = True) -> asyncio.AbstractServer:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"return": "stale reply of an earlier client"}\n')
        while line := await reader.readline():
            if not answer:
                continue
            if line.startswith(b"\xff"):
                writer.write(b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n')
                line = line[1:]
            request = json.loads(line)
            command = request["execute"]
            if command == "guest-sync-delimited":
                writer.write(b"\xff" + json.dumps({"return": request["arguments"]["id"]}).encode() + b"\n")
            elif command == "guest-network-get-interfaces":
                writer.write(json.dumps({"return": INTERFACES}).encode() + b"\n")
            else:
                writer.write(
                    json.dumps({"error": {"class": "CommandNotFound", "desc": f"{command} not found"}}).encode() + b"\n"
                )
            await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(serve, str(path))


async def test_sync_skips_stale_lines_then_commands_answer(tmp_path: Path) -> None:
    path = tmp_path / "qga.sock"
    async with await fake_agent(path):
        client = await QGAClient.connect(LocalRunner(), str(path), timeout=5)
        try:
            assert await client.execute("guest-network-get-interfaces", timeout=5) == INTERFACES
            with pytest.raises(
                QGAError, match="guest agent command guest-nope failed on host 'local': CommandNotFound"
            ):
                await client.execute("guest-nope", timeout=5)
        finally:
            client.close()


async def test_a_guest_without_a_running_agent_is_a_clear_timeout(tmp_path: Path) -> None:
    path = tmp_path / "qga.sock"
    async with await fake_agent(path, answer=False):
        with pytest.raises(CommandTimeout, match=r"did not answer within 0\.3 s: is qemu-guest-agent installed"):
            await QGAClient.connect(LocalRunner(), str(path), timeout=0.3)

"""QEMU serves one QMP client per socket: our clients take turns instead of queueing unanswered."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.errors import CommandTimeout
from qemu_mcp.transport.local import LocalRunner


async def fake_qemu(path: Path, log: list[str]) -> asyncio.AbstractServer:
    """A QMP socket that, like QEMU's, speaks to one client at a time."""
    busy = asyncio.Lock()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with busy:
            writer.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
            while line := await reader.readline():
                request = json.loads(line)
                log.append(request["execute"])
                await asyncio.sleep(0.05)
                writer.write(json.dumps({"return": {}, "id": request["id"]}).encode() + b"\n")
                await writer.drain()
            writer.close()

    return await asyncio.start_unix_server(serve, str(path))


async def test_sessions_on_one_socket_take_turns(tmp_path: Path) -> None:
    log: list[str] = []
    server = await fake_qemu(tmp_path / "qmp.sock", log)
    runner = LocalRunner()

    async def use(command: str) -> None:
        async with QMPClient.session(runner, str(tmp_path / "qmp.sock"), timeout=5) as qmp:
            await qmp.execute(command)
            await qmp.execute(command)

    async with server:
        await asyncio.gather(use("a"), use("b"), use("c"))
    # One whole session after another: its handshake and both of its commands together.
    chunks = [log[i : i + 3] for i in range(0, len(log), 3)]
    assert sorted(chunks) == [["qmp_capabilities", c, c] for c in "abc"], log


async def test_a_busy_socket_is_a_clear_timeout(tmp_path: Path) -> None:
    server = await fake_qemu(tmp_path / "qmp.sock", [])
    runner = LocalRunner()
    path = str(tmp_path / "qmp.sock")
    async with server, QMPClient.session(runner, path, timeout=5):
        with pytest.raises(CommandTimeout, match=r"stayed busy for 0\.2 s"):
            async with QMPClient.session(runner, path, timeout=0.2):
                pass

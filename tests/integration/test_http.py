"""`qemu-mcp serve --http`: a real server process on 127.0.0.1, real HTTP clients, token auth."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from qemu_mcp.auth import token_hash
from tests.rig import free_port

pytestmark = pytest.mark.integration
ADMIN, VIEWER = "admin-token-4f1c2b", "viewer-token-9a8e7d"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def start(
    config: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    """The server on a free port. `log`: its stdout+stderr go to that file (a chatty server
    must not block on a full pipe nobody reads)."""
    port = free_port()
    with log.open("w") if log is not None else contextlib.nullcontext() as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qemu_mcp", "--config", str(config), "serve", "--http", "--port", str(port), *args],
            stdout=out or subprocess.PIPE,
            stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text() if log is not None else proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"server exited: {text}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not listen within 20 s")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[int]:
    config = tmp_path / "hosts.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hosts": [],
                "audit_log": str(tmp_path / "audit.jsonl"),  # tests read it through their own tmp_path
                "auth": {
                    "tokens": [
                        {"subject": "alice", "sha256": token_hash(ADMIN)},
                        {"subject": "viewer", "env": "QMCP_TEST_VIEWER_TOKEN", "read_only": True},
                    ]
                },
            }
        )
    )
    proc, port = start(config, "--legacy-sse", env={"QMCP_TEST_VIEWER_TOKEN": VIEWER})
    yield port
    proc.terminate()
    proc.wait(10)


def client(port: int, headers: dict[str, str]) -> Client:
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    return Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http))


async def test_no_token_or_wrong_token_is_401(http_server: int) -> None:
    url = f"http://127.0.0.1:{http_server}/mcp"
    async with httpx2.AsyncClient(timeout=10) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": ADMIN}):
            r = await http.post(url, json=INIT, headers={**ACCEPT, **headers})
            assert r.status_code == 401, headers
            assert "Bearer" in r.headers["www-authenticate"] and "X-API-Key" in r.json()["error_description"]
        ok = await http.post(url, json=INIT, headers={**ACCEPT, "Authorization": f"Bearer {ADMIN}"})
        assert ok.status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {ADMIN}"}, {"X-API-Key": VIEWER}])
async def test_mcp_session_with_token(http_server: int, headers: dict[str, str]) -> None:
    async with client(http_server, headers) as c:
        tools = {t.name for t in (await c.list_tools()).tools}
        assert "list_vms" in tools
        result = await c.call_tool("list_vms", {"host": "demo"})
        assert not result.is_error and result.structured_content["data"]["vm_count"] == 1  # type: ignore[index]


async def test_read_only_token_cannot_mutate(http_server: int, tmp_path: Path) -> None:
    """The same TokenStore names the caller inside the tools: a read-only token does not see
    manage_vm and is refused when it calls it anyway; the admin token may, and is audited by name."""
    stop = {"name": "test", "action": "stop", "host": "demo", "dry_run": True}
    async with client(http_server, {"X-API-Key": VIEWER}) as c:
        assert "manage_vm" not in {t.name for t in (await c.list_tools()).tools}
        refused = await c.call_tool("manage_vm", stop)
        assert refused.is_error
        assert "the token of 'viewer' is read-only (refused by its `read_only` key" in refused.content[0].text  # type: ignore[union-attr]
    async with client(http_server, {"Authorization": f"Bearer {ADMIN}"}) as c:
        assert "manage_vm" in {t.name for t in (await c.list_tools()).tools}
        ok = await c.call_tool("manage_vm", stop)
        assert not ok.is_error and ok.structured_content["message"].startswith("dry run: would shut down")  # type: ignore[index]
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["who"], r["outcome"]) for r in audit if r["event"] == "end"] == [("viewer", "refused"), ("alice", "ok")]


async def test_read_only_token_over_legacy_sse(http_server: int) -> None:
    """The legacy SSE transport carries the headers to the tools too: no way around read_only."""
    url = f"http://127.0.0.1:{http_server}/sse"
    async with Client(sse_client(url, headers={"X-API-Key": VIEWER})) as c:
        assert "manage_vm" not in {t.name for t in (await c.list_tools()).tools}
        refused = await c.call_tool("manage_vm", {"name": "test", "action": "start", "host": "demo", "dry_run": True})
        assert refused.is_error and "the token of 'viewer' is read-only" in refused.content[0].text  # type: ignore[union-attr]


async def test_legacy_sse_needs_the_token_too(http_server: int) -> None:
    url = f"http://127.0.0.1:{http_server}/sse"
    async with httpx2.AsyncClient(timeout=10) as http:
        assert (await http.get(url)).status_code == 401
        async with http.stream("GET", url, headers={"X-API-Key": ADMIN}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")


def test_non_loopback_bind_without_auth_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "hosts.yaml"
    config.write_text("hosts: []\n")
    out = subprocess.run(
        [sys.executable, "-m", "qemu_mcp", "--config", str(config), "serve", "--http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and "refusing to serve HTTP on 0.0.0.0 without authentication" in out.stderr


def test_token_env_unset_is_a_clear_startup_error(tmp_path: Path) -> None:
    config = tmp_path / "hosts.yaml"
    config.write_text(yaml.safe_dump({"auth": {"tokens": [{"subject": "x", "env": "QMCP_UNSET_TOKEN_VAR"}]}}))
    env = {k: v for k, v in os.environ.items() if k != "QMCP_UNSET_TOKEN_VAR"}
    out = subprocess.run(
        [sys.executable, "-m", "qemu_mcp", "--config", str(config), "serve", "--http"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert out.returncode == 1 and "$QMCP_UNSET_TOKEN_VAR is not set" in out.stderr


def test_token_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qemu_mcp", "token", "hash"], input=ADMIN + "\n", capture_output=True, text=True
    )
    assert out.stdout.strip() == token_hash(ADMIN)
    new = subprocess.run([sys.executable, "-m", "qemu_mcp", "token", "new"], capture_output=True, text=True)
    token = new.stdout.split()[1]
    assert new.stdout.split()[3] == token_hash(token) and len(token) >= 40

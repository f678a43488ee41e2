"""Shared by the hardening and secrets tests: a plain JSON-RPC session over streamable HTTP (sync,
so hypothesis can drive it), the tools' string parameters as tools/list describes them, and
hostile strings that would create a sentinel file if any of them reached a shell."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

import httpx2
from hypothesis import strategies as st
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTOCOL = "2025-06-18"


class RawSession:
    """initialize + tools/call as an outside client sends them; answers may be JSON or SSE."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.http = httpx2.Client(timeout=180, headers={**ACCEPT, **(headers or {})})
        self.ids = itertools.count(1)
        init = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "hostile", "version": "0"}}
        r = self.http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
        assert r.status_code == 200, r.text
        self.http.headers["mcp-session-id"] = r.headers["mcp-session-id"]
        self.http.headers["mcp-protocol-version"] = PROTOCOL
        r = self.http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status_code in (200, 202), r.text

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON-RPC response message (with `result` or `error`)."""
        rid = next(self.ids)
        r = self.http.post(self.url, json={"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        assert r.status_code == 200, (r.status_code, r.text)
        if r.headers.get("content-type", "").startswith("application/json"):
            messages = [r.json()]
        else:
            # SSE lines end in \n or \r\n only (not at U+0085 or U+2028, which str.splitlines() splits on).
            lines = r.text.replace("\r\n", "\n").split("\n")
            data = [line[5:] for line in lines if line.startswith("data:")]
            messages = [json.loads(d) for d in data if d.strip()]
        for m in messages:
            if m.get("id") == rid:
                return m  # type: ignore[no-any-return]
        raise AssertionError(f"no answer to request {rid}: {r.text[:2000]}")

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    def close(self) -> None:
        self.http.close()


def _admits_string(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string":
        return True
    return any(_admits_string(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


async def _tools() -> list[Any]:
    async with Client(build_server(Inventory([]))) as client:
        return list((await client.list_tools()).tools)


def string_parameters() -> list[tuple[str, str]]:
    """(tool, parameter) for every parameter of every tool that accepts a string, from tools/list
    of an in-process server (so a new tool or parameter is covered without touching the test)."""
    out = []
    for tool in asyncio.run(_tools()):
        for name, schema in tool.input_schema.get("properties", {}).items():
            if _admits_string(schema):
                out.append((tool.name, name))
    return out


def payloads(sentinel: str) -> list[str]:
    touch = f"touch {sentinel}"
    return [
        f"$({touch})", f"`{touch}`", f";{touch}", f"; {touch};", f"|{touch}", f"&{touch}", f"&& {touch}",
        f"\n{touch}\n", f"'; {touch}; '", f'"; {touch}; "', f"$({touch})'", f"x\\$({touch})",
        "\x00", "a\x00b", "-x", "--help", "-oProxyCommand=" + touch, "../../../../etc/passwd", "../",
        "/var/lib/libvirt/images/../../../../tmp/x.qcow2", "A" * 5000, "ü名前🙂", "\u202e\u200b",
        "a\x85b\u2028c", "%s%n%x",
        "${IFS}", "*", "?", "~root", " leading space", "trailing space ", "\t", "\r\n", "", "path=/x,size=1G;" + touch,
    ]  # fmt: skip


def id_like() -> st.SearchStrategy[str]:
    """What virsh would read as a domain id or UUID: small numbers (running domains' ids), UUIDs
    in every spelling virsh accepts."""
    uuids = st.uuids().map(str)
    return st.one_of(
        st.integers(0, 64).map(str),
        st.integers(0, 10**6).map(str),
        uuids,
        uuids.map(str.upper),
        uuids.map(lambda u: u.replace("-", "")),
    )


def is_id_like(value: str) -> bool:
    return value.isdigit() or bool(re.fullmatch(r"[0-9A-Fa-f]{8}-?([0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}", value))


def hostile(sentinel: str) -> st.SearchStrategy[str]:
    fixed = st.sampled_from(payloads(sentinel))
    return st.one_of(
        fixed,
        st.builds(lambda pre, p, post: pre + p + post, st.text(max_size=6), fixed, st.text(max_size=6)),
        st.text(max_size=30),
        id_like(),
    )

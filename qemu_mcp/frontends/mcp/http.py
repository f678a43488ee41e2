"""`qemu-mcp serve --http`: streamable HTTP on /mcp (and legacy SSE behind a flag), with token auth."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from mcp.server.mcpserver import MCPServer

from qemu_mcp.auth import TokenStore
from qemu_mcp.errors import ConfigError

ASGIApp = Any  # (scope, receive, send) -> awaitable; kept loose to avoid a starlette typing dependency
LEGACY_SSE_PATHS = ("/sse", "/messages")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenAuth:
    """Pure ASGI middleware: every HTTP request needs a known token, else 401."""

    def __init__(self, app: ASGIApp, store: TokenStore) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        principal = self.store.authenticate(headers)
        if principal is None:
            await _unauthorized(send, "missing or unknown token" if headers else "missing token")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _unauthorized(send: Any, why: str) -> None:
    body = json.dumps(
        {
            "error": "unauthorized",
            "error_description": f"{why}: send 'Authorization: Bearer TOKEN' or 'X-API-Key: TOKEN'",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="qemu-mcp"')],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _with_legacy_sse(modern: ASGIApp, legacy: ASGIApp) -> ASGIApp:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(LEGACY_SSE_PATHS):
            await legacy(scope, receive, send)
        else:
            await modern(scope, receive, send)  # also runs the lifespan of the session manager

    return app


def build_app(server: MCPServer, store: TokenStore, *, host: str, legacy_sse: bool = False) -> ASGIApp:
    """The ASGI app. Refuses a non-loopback bind without tokens: that would hand root on the fleet to anyone."""
    if not is_loopback(host) and not store.enabled:
        raise ConfigError(
            f"refusing to serve HTTP on {host} without authentication: add tokens under `auth.tokens` in "
            "hosts.yaml, or bind to 127.0.0.1"
        )
    app: ASGIApp = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    if legacy_sse:
        app = _with_legacy_sse(app, server.sse_app(host=host))
    return TokenAuth(app, store) if store.enabled else app


def serve_http(
    server: MCPServer, store: TokenStore, *, host: str, port: int, legacy_sse: bool = False, log_level: str = "warning"
) -> None:
    import uvicorn

    app = build_app(server, store, host=host, legacy_sse=legacy_sse)
    # log_config=None: uvicorn's records go through the root logger's handler (and its redaction).
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None)

"""The logging filter that keeps secrets out of every log line: known values wherever they
appear (message, arguments, exception text), and the shapes of secrets nobody remembered yet."""

from __future__ import annotations

import io
import logging
import secrets

import pytest

from qemu_mcp import redaction
from qemu_mcp.auth import TokenSpec, TokenStore
from qemu_mcp.config import HostSpec, adhoc_host
from qemu_mcp.redaction import REDACTED, RedactSecrets, redact, remember


def logged(*args: object, exc: BaseException | None = None) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactSecrets())
    log = logging.getLogger(f"qmcp-redaction-{secrets.token_hex(4)}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    if exc is None:
        log.debug(*args)  # type: ignore[arg-type]
    else:
        try:
            raise exc
        except BaseException:
            log.exception(*args)  # type: ignore[arg-type]
    return out.getvalue()


def test_known_values_anywhere_in_a_record() -> None:
    pw = "Pw-" + secrets.token_hex(6)
    remember(pw)
    assert pw not in logged("connecting with %s to %r", pw, {"nested": [pw]})
    assert pw not in logged(f"already formatted: {pw}")
    text = logged("failed", exc=RuntimeError(f"auth with {pw} refused"))
    assert pw not in text and "RuntimeError: auth with [redacted] refused" in text and "Traceback" in text


def test_longer_secrets_first_and_short_ones_ignored() -> None:
    remember("abc")  # too short to hide without hiding ordinary words
    long, inner = "outer-" + secrets.token_hex(6), secrets.token_hex(6)
    remember(inner)
    remember(inner + long)
    assert redact(f"x {inner}{long} y abc") == f"x {REDACTED} y abc"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"ssh_pwd": "hunter22", "host": "x"}', '{"ssh_pwd": "[redacted]", "host": "x"}'),
        ('{"ssh_pwd": "a\\"quote", "host": "x"}', '{"ssh_pwd": "[redacted]", "host": "x"}'),
        ("arguments={'ssh_pwd': 'hunter22', 'host': 'x'}", "arguments={'ssh_pwd': '[redacted]', 'host': 'x'}"),
        ("arguments={'ssh_pwd': None}", "arguments={'ssh_pwd': None}"),
        ('{"ssh_pwd": null}', '{"ssh_pwd": null}'),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [redacted]"),
        ("[(b'authorization', b'Bearer abcdef123')]", "[(b'authorization', b'Bearer [redacted]')]"),
        ("(b'x-api-key', b'abcdef123')", "(b'x-api-key', b'[redacted]')"),
        ("X-API-Key: abcdefg", "X-API-Key: [redacted]"),
        ("password=hunter22 user=x", "password=[redacted] user=x"),
        ("check the key or the password, then retry", "check the key or the password, then retry"),
        ("password_env names $X, which is not set", "password_env names $X, which is not set"),
    ],
)
def test_secret_shapes(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_where_secrets_enter_they_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    per_call, from_env, token = (secrets.token_hex(8) for _ in range(3))
    adhoc_host("192.0.2.1", user="u", password=per_call)
    monkeypatch.setenv("QMCP_T_PW", from_env)
    HostSpec(name="h", address="192.0.2.2", password_env="QMCP_T_PW").ssh_password()
    monkeypatch.setenv("QMCP_T_TOKEN", token)
    TokenStore((TokenSpec(subject="bot", env="QMCP_T_TOKEN"),))
    assert redact(f"{per_call} {from_env} {token}") == " ".join([REDACTED] * 3)


def test_memory_is_bounded() -> None:
    for _ in range(redaction.KEEP + 10):
        remember(secrets.token_hex(6))
    assert len(redaction._known) == redaction.KEEP

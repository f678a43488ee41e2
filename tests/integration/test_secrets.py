"""Secrets never leak: SSH passwords (per call and from password_env) and HTTP tokens are grepped for
in everything a run produced: tool results, the audit log, the HTTP server's stdout/stderr, the
stderr of a stdio server run with --log-level debug, and every log record of an in-process run
at DEBUG (asyncssh included)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from qemu_mcp.auth import token_hash
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.integration.hostile import RawSession
from tests.integration.test_http import start

pytestmark = pytest.mark.integration


def calls(sshd_host, wrong_pw: str) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    adhoc = {"host": "127.0.0.1", "ssh_port": sshd_host.port, "ssh_user": sshd_host.password_user}
    create = {"name": "qmcp-secret-probe", "action": "create", "arch": "x86_64", "disk": "size=64M", "dry_run": True}
    return [
        ("list_vms", {"host": "pw"}),  # password from password_env
        ("host_info", {"host": "pw"}),
        ("list_vms", {**adhoc, "ssh_pwd": sshd_host.password}),  # per-call password
        ("list_vms", {**adhoc, "ssh_pwd": wrong_pw}),  # refused by sshd
        ("manage_vm", {**create, **adhoc, "ssh_pwd": sshd_host.password}),
        ("manage_vm", {**create, **adhoc, "ssh_pwd": wrong_pw}),
        ("manage_vm", {**create, "host": "pw"}),
        ("get_vm_info", {"name": "nope", **adhoc, "ssh_pwd": sshd_host.password}),
    ]


def assert_clean(artifacts: dict[str, str], secret_values: list[str]) -> None:
    assert all(len(s) >= 8 for s in secret_values)
    for where, text in artifacts.items():
        for s in secret_values:
            assert s not in text, f"a secret appears in {where}"


async def test_no_secret_in_anything_a_run_produced(sshd_host, libvirtd_running, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    wrong_pw = "WrongPw" + secrets.token_hex(8)
    admin = "AdminTok" + secrets.token_hex(12)
    env_token = "EnvTok" + secrets.token_hex(12)
    wrong_token = "WrongTok" + secrets.token_hex(12)
    secret_values = [sshd_host.password, wrong_pw, admin, env_token, wrong_token]

    # Ad-hoc hosts check host keys against ~/.ssh/known_hosts: a HOME of our own with the rig's.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd_host.known_hosts, home / ".ssh" / "known_hosts")
    pw_host = {"name": "pw", "address": sshd_host.address, "port": sshd_host.port, "user": sshd_host.password_user,
               "password_env": "QMCP_TEST_SSH_PASSWORD", "known_hosts": sshd_host.known_hosts}  # fmt: skip
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "hosts.yaml"
    tokens = [{"subject": "alice", "sha256": token_hash(admin)},
              {"subject": "bot", "env": "QMCP_TEST_ENV_TOKEN", "read_only": True}]  # fmt: skip
    config.write_text(yaml.safe_dump({"hosts": [pw_host], "audit_log": str(audit), "auth": {"tokens": tokens}}))
    env = {"HOME": str(home), "QMCP_TEST_SSH_PASSWORD": sshd_host.password, "QMCP_TEST_ENV_TOKEN": env_token}
    log = tmp_path / "server.log"
    proc, port = start(config, env=env, log=log)
    results: list[str] = []
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        for token in (admin, env_token):
            session = RawSession(url, {"Authorization": f"Bearer {token}"})
            for tool, args in calls(sshd_host, wrong_pw):
                results.append(json.dumps(session.call(tool, args)))
            session.close()
        try:
            RawSession(url, {"X-API-Key": wrong_token})
        except AssertionError as e:
            results.append(str(e))  # the 401 body
    finally:
        proc.terminate()
        proc.wait(10)
    outcomes = [json.loads(r) for r in results[:8]]
    assert not outcomes[0]["result"].get("isError") and not outcomes[2]["result"].get("isError")  # logged in
    assert outcomes[3]["result"]["isError"] and "authentication" in outcomes[3]["result"]["content"][0]["text"]
    assert not outcomes[4]["result"].get("isError")  # the dry run ran its reads with the password

    # The same calls in process, every logger at DEBUG.
    caplog.set_level(logging.DEBUG)
    monkey_env = pytest.MonkeyPatch()
    monkey_env.setenv("QMCP_TEST_SSH_PASSWORD", sshd_host.password)
    monkey_env.setenv("HOME", str(home))
    try:
        inv = Inventory([HostSpec(**pw_host)], audit_log=str(audit))
        async with Client(build_server(inv)) as c:
            for tool, args in calls(sshd_host, wrong_pw):
                r = await c.call_tool(tool, args)
                results.append(json.dumps([getattr(x, "text", "") for x in r.content]))
                results.append(json.dumps(r.structured_content))
    finally:
        monkey_env.undo()

    # The same calls through a stdio server logging everything it can (--log-level debug).
    stderr = tmp_path / "stdio.stderr"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qemu_mcp", "serve", "--config", str(config), "--log-level", "debug"],
        env={**os.environ, **env},
    )
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as c:
            for tool, args in calls(sshd_host, wrong_pw):
                r = await c.call_tool(tool, args)
                results.append(json.dumps([getattr(x, "text", "") for x in r.content]))
    debug_log = stderr.read_text()
    assert "DEBUG asyncssh" in debug_log and "INFO asyncssh" in debug_log  # everything was logged, plainly

    records = audit.read_text()
    assert records.count('"event":"intent"') == 3 * 4 and "[redacted]" in records
    assert_clean(
        {
            "tool results": "\n".join(results),
            "audit log": records,
            "server stdout/stderr": log.read_text(),
            "stdio server's stderr at debug": debug_log,
            "in-process log records": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records),
        },
        secret_values,
    )
    assert len(caplog.records) > 10  # asyncssh and mcp really logged at DEBUG

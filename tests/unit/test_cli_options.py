"""The CLI's global options (--config, --log-level, --version) are accepted before or after the
command, at any depth, and logging is quiet, plain off a terminal, and never shows a secret."""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys

import pytest

from qemu_mcp.errors import ConfigError
from qemu_mcp.frontends.cli import logs
from qemu_mcp.frontends.cli.main import _parser
from qemu_mcp.redaction import remember


def all_parsers(
    p: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, p)]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += all_parsers(sub, (*path, name))
    return found


def test_every_command_at_every_depth_takes_the_global_options() -> None:
    parsers = all_parsers(_parser())
    assert len(parsers) > 20
    for path, p in parsers:
        options = {o for a in p._actions for o in a.option_strings}
        assert {"--config", "--log-level", "--version"} <= options, path


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "X", "vm", "list"],
        ["vm", "list", "--config", "X"],
        ["vm", "--config", "X", "list"],
        ["serve", "--config", "X"],
        ["serve", "--http", "--config", "X", "--port", "9"],
        ["--config", "Y", "serve", "--config", "X"],  # the later one wins
        ["vm", "create", "web1", "--arch", "x86_64", "--config", "X", "--dry-run"],
        ["hosts", "check", "--config", "X", "lab1"],
        ["audit", "tail", "-n", "5", "--config", "X"],
        ["token", "new", "--config", "X"],
        ["monitor", "web1", "--config", "X", "--count", "3"],
        ["policy", "levels", "--json", "--config", "X"],
    ],
)
def test_config_before_or_after(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert args.config == "X" and args.log_level is None


def test_other_arguments_unchanged() -> None:
    args = _parser().parse_args(["hosts", "check", "lab1", "--log-level", "DEBUG"])
    assert (args.name, args.log_level, args.config) == ("lab1", "debug", None)
    args = _parser().parse_args(["--log-level", "info", "vm", "create", "w", "--arch", "x86_64", "--start"])
    assert (args.name, args.arch, args.start, args.log_level) == ("w", "x86_64", True, "info")
    args = _parser().parse_args(["serve"])
    assert (args.http, args.host, args.port, args.config) == (False, "127.0.0.1", 8000, None)
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["vm", "list", "--log-level", "loud"])
    assert e.value.code == 2


def test_version_after_the_command() -> None:
    out = subprocess.run([sys.executable, "-m", "qemu_mcp", "vm", "list", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("qemu-mcp ")


def test_level_from_option_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    assert logs.level_name(None) == "warning"
    monkeypatch.setenv(logs.LEVEL_ENV, "INFO")
    assert logs.level_name(None) == "info" and logs.level_name("debug") == "debug"
    monkeypatch.setenv(logs.LEVEL_ENV, "chatty")
    with pytest.raises(ConfigError, match=r"\$QEMU_MCP_LOG_LEVEL 'chatty' is not a log level"):
        logs.level_name(None)


@pytest.fixture
def restore_logging() -> object:
    root, chatty = logging.getLogger(), logging.getLogger("asyncssh")
    saved = (list(root.handlers), root.level, chatty.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    chatty.setLevel(saved[2])


def test_configure_plain_quiet_and_redacting(restore_logging: object, monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()  # not a terminal: plain lines
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    assert logs.configure(None) == "warning"
    logs.configure(None)  # again (a second main() in one process): still one handler
    assert [h.get_name() for h in logging.getLogger().handlers].count("qemu-mcp") == 1
    logging.getLogger("asyncssh").info("[conn=0, chan=0] Command: sh -c 'a whole host script'")
    logging.getLogger("qemu_mcp.test").info("an info line")
    remember("Sup3rSecretPw")
    logging.getLogger("qemu_mcp.test").warning("login as root with %s failed", "Sup3rSecretPw")
    text = err.getvalue()
    assert "host script" not in text and "an info line" not in text
    assert "WARNING qemu_mcp.test: login as root with [redacted] failed" in text and "\x1b[" not in text

    logs.configure("info")
    logging.getLogger("asyncssh").info("channel INFO at info")
    assert "channel INFO" not in err.getvalue()  # asyncssh's INFO only at debug
    logs.configure("debug")
    logging.getLogger("asyncssh").info("channel INFO at debug")
    logging.getLogger("mcp.server").debug("Received JSON: %r", b'{"arguments": {"ssh_pwd": "typed-per-call"}}')
    assert "channel INFO at debug" in err.getvalue()
    assert "typed-per-call" not in err.getvalue() and '"ssh_pwd": "[redacted]"' in err.getvalue()


def test_every_command_that_prints_data_has_json() -> None:
    leaves = [(path, p) for path, p in all_parsers(_parser()) if path and not any(
        isinstance(a, argparse._SubParsersAction) for a in p._actions)]  # fmt: skip
    missing = [path for path, p in leaves if path != ("serve",) and "--json" not in p._option_string_actions]
    assert not missing


def test_token_json() -> None:
    import json

    run = [sys.executable, "-m", "qemu_mcp", "token"]
    new = json.loads(subprocess.run([*run, "new", "--json"], capture_output=True, text=True, check=True).stdout)
    again = subprocess.run([*run, "hash", "--json"], input=new["token"], capture_output=True, text=True, check=True)
    assert json.loads(again.stdout) == {"sha256": new["sha256"]}

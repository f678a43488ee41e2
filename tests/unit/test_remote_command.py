"""Every remote command runs in the C locale, set once at the SSH edge."""

from __future__ import annotations

import shlex

from qemu_mcp.transport.ssh import remote_command


def test_remote_commands_run_in_the_c_locale() -> None:
    assert shlex.split(remote_command(["sh", "-c", "echo $1", "x", "a b"])) == [
        "env", "LC_ALL=C", "sh", "-c", "echo $1", "x", "a b",
    ]  # fmt: skip


def test_an_argv_that_sets_the_locale_itself_is_not_wrapped_twice() -> None:
    argv = ["env", "LC_ALL=C", "virsh", "-c", "qemu:///system", "list"]
    assert shlex.split(remote_command(argv)) == argv


def test_hostile_words_stay_single_arguments() -> None:
    argv = ["ls", "--", "; rm -rf /", "$(reboot)", "'quoted'"]
    assert shlex.split(remote_command(argv))[2:] == argv

"""The rig itself: real sshd logins, the python-less host, and the libvirt guests."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from tests.rig import Guests, SshHost, run, ssh_exec

pytestmark = pytest.mark.integration


def test_key_login_as_root(sshd_host: SshHost) -> None:
    cp = ssh_exec(sshd_host, "id -un", check=True)
    assert cp.stdout.strip() == "root"


def test_known_hosts_lists_this_host_key(sshd_host: SshHost) -> None:
    line = Path(sshd_host.known_hosts).read_text().strip()
    assert line == f"[127.0.0.1]:{sshd_host.port} {sshd_host.host_key_pub}"
    assert sshd_host.host_key_pub.startswith("ssh-ed25519 ")


async def test_password_login_with_asyncssh(sshd_host: SshHost) -> None:
    async with asyncssh.connect(
        sshd_host.address,
        sshd_host.port,
        username=sshd_host.password_user,
        password=sshd_host.password,
        known_hosts=sshd_host.known_hosts,
        client_keys=None,
        agent_path=None,
        config=[],
    ) as conn:
        result = await conn.run("id -un; id -Gn; virsh -c qemu:///system version", check=True)
    lines = str(result.stdout).splitlines()
    assert lines[0] == sshd_host.password_user
    assert "libvirt" in lines[1].split()
    assert any(ln.startswith("Running hypervisor: QEMU") for ln in lines)


async def test_wrong_password_is_refused(sshd_host: SshHost) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            sshd_host.address,
            sshd_host.port,
            username=sshd_host.password_user,
            password=sshd_host.password + "x",
            known_hosts=sshd_host.known_hosts,
            client_keys=None,
            agent_path=None,
            config=[],
        )


async def test_host_key_mismatch_and_unknown_host_are_refused(
    sshd_host: SshHost, wrong_key_known_hosts: str, empty_known_hosts: str
) -> None:
    for known_hosts in (wrong_key_known_hosts, empty_known_hosts):
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            await asyncssh.connect(
                sshd_host.address,
                sshd_host.port,
                username=sshd_host.key_user,
                client_keys=[sshd_host.key_path],
                known_hosts=known_hosts,
                agent_path=None,
                config=[],
            )


def test_nopython_host_has_no_python_but_has_virsh(nopython_sshd_host: SshHost) -> None:
    for user in (nopython_sshd_host.key_user, nopython_sshd_host.password_user):
        cp = ssh_exec(nopython_sshd_host, "command -v python3 python python2; compgen -c python", user=user)
        assert (cp.returncode, cp.stdout, cp.stderr) == (1, "", "")  # 1: not found (255 would be ssh)
        cp = ssh_exec(nopython_sshd_host, "/usr/bin/env python3 -c 'print(1)'", user=user)
        assert cp.returncode == 127 and "No such file" in cp.stderr
        cp = ssh_exec(nopython_sshd_host, "virsh -c qemu:///system version", user=user, check=True)
        assert "Running hypervisor: QEMU" in cp.stdout


def test_python_is_still_visible_outside_the_namespace(sshd_host: SshHost, nopython_sshd_host: SshHost) -> None:
    # The hiding is confined to the second sshd: the plain one (and this machine) still has python.
    cp = ssh_exec(sshd_host, "command -v python3", check=True)
    assert cp.stdout.strip()


def test_guests_exist_in_expected_states(guests: Guests) -> None:
    def virsh(*args: str) -> str:
        return run(["virsh", "-q", "-c", "qemu:///system", *args]).stdout

    assert guests.running.startswith(guests.prefix) and guests.stopped.startswith(guests.prefix)
    assert virsh("domstate", guests.running).strip() == "running"
    assert virsh("domstate", guests.stopped).strip() == "shut off"
    run_blk = virsh("domblklist", guests.running).split()
    assert "vda" in run_blk and "vdb" in run_blk
    xml_off = virsh("dumpxml", guests.stopped)
    assert "<vcpu placement='static'>2</vcpu>" in xml_off
    assert "<domain type='qemu'" in xml_off


def test_test_driver_uri(test_driver_uri: str) -> None:
    assert "test" in run(["virsh", "-q", "-c", test_driver_uri, "list", "--all", "--name"]).stdout

"""Session fixtures backed by the real-component rig in tests/rig (sshd, libvirtd, TCG guests)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet
from tests.rig import (
    TEST_DRIVER_URI,
    Guests,
    RigError,
    SshHost,
    create_guests,
    destroy_guests,
    ensure_libvirtd,
    keygen,
    known_hosts_line,
    ssh_exec,
    start_sshd,
    sweep_leftovers,
)
from tests.rig import sshd as rig_sshd

RIG_TMP_PREFIX = "qmcp-rig-"


@pytest.fixture(scope="session", autouse=True)
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every Fleet (and every server process the tests start) audits into this session's file,
    never into ~/.local/state; tests that read the audit log use their own `audit_log:`."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    old = os.environ.get("QEMU_MCP_AUDIT_LOG")
    os.environ["QEMU_MCP_AUDIT_LOG"] = str(path)
    yield path
    if old is None:
        os.environ.pop("QEMU_MCP_AUDIT_LOG", None)
    else:
        os.environ["QEMU_MCP_AUDIT_LOG"] = old


@pytest.fixture(scope="session")
def rig_dir() -> Iterator[Path]:
    """Per-session work dir for keys, sshd configs and logs; stale dirs of dead sessions are swept."""
    if os.geteuid() != 0:
        raise RigError("the integration rig needs root (sshd for root logins, useradd, qemu:///system)")
    rig_sshd.sweep_stale_sessions(Path(tempfile.gettempdir()), RIG_TMP_PREFIX)
    d = Path(tempfile.mkdtemp(prefix=RIG_TMP_PREFIX))
    d.chmod(0o755)  # the password user's sshd session reads its authorized_keys below here
    (d / "owner.pid").write_text(str(os.getpid()))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def client_key(rig_dir: Path) -> Path:
    """ed25519 key (no passphrase) authorised for root and the password user on every rig sshd."""
    keygen(rig_dir / "id_ed25519", comment="qmcp-rig-client")
    return rig_dir / "id_ed25519"


@pytest.fixture(scope="session")
def password_account(rig_dir: Path) -> Iterator[rig_sshd.PasswordAccount]:
    account = rig_sshd.create_password_user(rig_dir)
    yield account
    rig_sshd.remove_password_user(account.user)


@pytest.fixture(scope="session")
def sshd_host(rig_dir: Path, client_key: Path, password_account: rig_sshd.PasswordAccount) -> Iterator[SshHost]:
    rig_sshd.check_root_not_locked()
    sshd = start_sshd(rig_dir, "sshd", key_path=client_key, account=password_account)
    yield sshd.host
    sshd.stop()


@pytest.fixture(scope="session")
def libvirtd_running() -> None:
    ensure_libvirtd()


@pytest.fixture(scope="session")
def nopython_sshd_host(
    rig_dir: Path, client_key: Path, password_account: rig_sshd.PasswordAccount, libvirtd_running: None
) -> Iterator[SshHost]:
    """Like sshd_host, but sshd and all its sessions run in a mount namespace where no python exists."""
    rig_sshd.check_root_not_locked()
    sshd = start_sshd(rig_dir, "sshd-nopython", key_path=client_key, account=password_account, hide_python=True)
    try:
        # Prints nothing and exits 0 only when no python* command exists and pyenv is empty or absent.
        probe = ssh_exec(
            sshd.host,
            "command -v python python3 python2; compgen -c python;"
            " [ ! -d /root/.pyenv ] || ls -A /root/.pyenv; ! command -v python3 >/dev/null",
        )
        if probe.returncode != 0 or probe.stdout.strip() or probe.stderr.strip():
            raise RigError(
                f"python is still visible on the no-python sshd (exit {probe.returncode}):\n"
                f"{probe.stdout}{probe.stderr}"
            )
        virsh = ssh_exec(sshd.host, "virsh -c qemu:///system version")
        if virsh.returncode != 0:
            raise RigError(f"virsh does not work on the no-python sshd:\n{virsh.stdout}{virsh.stderr}")
    except BaseException:
        sshd.stop()
        raise
    yield sshd.host
    sshd.stop()


@pytest.fixture(scope="session")
def qemu_only_sshd_host(
    rig_dir: Path, client_key: Path, password_account: rig_sshd.PasswordAccount, libvirtd_running: None
) -> Iterator[SshHost]:
    """A plain-QEMU host: sshd and its sessions run in a mount namespace with no virsh, no libvirtd
    socket and no python (libvirtd itself keeps running for the other tests), but qemu-system-x86_64
    and qemu-img. Checked at start: `command -v` finds none of the hidden commands."""
    rig_sshd.check_root_not_locked()
    sshd = start_sshd(rig_dir, "sshd-qemu-only", key_path=client_key, account=password_account, hide_libvirt=True)
    try:
        # Prints nothing and exits 0 only when virsh, python and the libvirt sockets are all gone.
        hidden = ssh_exec(
            sshd.host,
            "command -v virsh python python3 python2; compgen -c python; ls -A /run/libvirt;"
            " ! command -v virsh >/dev/null && ! command -v python3 >/dev/null"
            " && [ ! -e /run/libvirt/libvirt-sock ] && [ ! -e /var/run/libvirt/libvirt-sock ]",
        )
        if hidden.returncode != 0 or hidden.stdout.strip() or hidden.stderr.strip():
            raise RigError(
                f"virsh, python or libvirt's socket is still visible on the qemu-only sshd "
                f"(exit {hidden.returncode}):\n{hidden.stdout}{hidden.stderr}"
            )
        tools = ssh_exec(sshd.host, "command -v qemu-system-x86_64 qemu-img && qemu-system-x86_64 --version")
        if tools.returncode != 0 or len(tools.stdout.splitlines()) < 3:
            raise RigError(
                f"qemu-system-x86_64 or qemu-img is missing on the qemu-only sshd:\n{tools.stdout}{tools.stderr}"
            )
    except BaseException:
        sshd.stop()
        raise
    yield sshd.host
    sshd.stop()


@pytest.fixture(scope="session")
def guests(libvirtd_running: None) -> Iterator[Guests]:
    sweep_leftovers()
    g = create_guests()
    yield g
    destroy_guests(g)


@pytest.fixture(scope="session")
def test_driver_uri() -> str:
    return TEST_DRIVER_URI


@pytest.fixture
def wrong_key_known_hosts(sshd_host: SshHost, tmp_path: Path) -> str:
    """known_hosts naming a DIFFERENT ed25519 key for sshd_host's [127.0.0.1]:port (function scope)."""
    other = keygen(tmp_path / "other_host_key", comment="not-the-host")
    path = tmp_path / "known_hosts.wrong"
    path.write_text(known_hosts_line(sshd_host.port, other, sshd_host.address))
    return str(path)


@pytest.fixture
def empty_known_hosts(tmp_path: Path) -> str:
    """An empty known_hosts file (function scope: a test that accepts a new key writes to it)."""
    path = tmp_path / "known_hosts.empty"
    path.write_text("")
    return str(path)


# ---- inventories pointing at the rig's real sshd hosts (integration and fault suites)


def key_host(h, name: str = "rig", **extra) -> HostSpec:  # type: ignore[no-untyped-def]
    return HostSpec(
        name=name,
        address=h.address,
        port=h.port,
        user=h.key_user,
        key=h.key_path,
        known_hosts=h.known_hosts,
        **extra,
    )


@pytest.fixture
def rig_spec(sshd_host, libvirtd_running) -> HostSpec:  # type: ignore[no-untyped-def]
    return key_host(sshd_host)


@pytest.fixture
async def fleet(rig_spec: HostSpec):  # type: ignore[no-untyped-def]
    f = Fleet(Inventory([rig_spec]))
    yield f
    await f.close()


@pytest.fixture
def rig_config(tmp_path: Path, sshd_host, libvirtd_running) -> str:  # type: ignore[no-untyped-def]
    """A hosts.yaml naming the rig host, for the CLI and the stdio server."""
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump({"hosts": [key_host(sshd_host).model_dump(exclude_none=True)]}))
    return str(path)

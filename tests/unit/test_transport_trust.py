"""known_hosts read again (transport/trust.py) and the errors a refused key or a silent connection
give (transport/errors.py)."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from qemu_mcp.errors import HostKeyRefused, HostUnreachable
from qemu_mcp.transport import trust
from qemu_mcp.transport.errors import mapped_errors

WHERE = "root@192.0.2.7:2222"


def key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519").convert_to_public()


def entry(k: asyncssh.SSHKey, host: str = "[192.0.2.7]:2222") -> str:
    return f"{host} {k.export_public_key().decode().strip()}\n"


def test_a_connection_stays_trusted_only_while_known_hosts_lists_its_key(tmp_path: Path) -> None:
    old, new = key(), key()
    path = tmp_path / "known_hosts"
    path.write_text(entry(old))
    before = trust.stamp(str(path))
    assert trust.trusts(str(path), old, "192.0.2.7", "192.0.2.7", 2222)
    path.write_text(entry(new))  # the entry was replaced: the old key is no longer trusted
    assert trust.stamp(str(path)) != before
    assert not trust.trusts(str(path), old, "192.0.2.7", "192.0.2.7", 2222)
    assert trust.trusts(str(path), new, "192.0.2.7", "192.0.2.7", 2222)
    path.unlink()
    assert trust.stamp(str(path)) is None and not trust.trusts(str(path), new, "192.0.2.7", "192.0.2.7", 2222)


def refusal(known_hosts: str) -> str:
    with pytest.raises(HostKeyRefused) as e, mapped_errors("h", WHERE, known_hosts=known_hosts):
        raise asyncssh.HostKeyNotVerifiable("Host key is not trusted for host 192.0.2.7")
    return str(e.value)


def test_a_changed_key_is_told_from_an_unknown_one(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(entry(key()))
    changed = refusal(str(path))
    assert "host 'h'" in changed and "CHANGED" in changed and "nothing was sent" in changed
    assert f"ssh-keygen -f {path} -R '[192.0.2.7]:2222'" in changed and "ssh-keyscan -p 2222 192.0.2.7" in changed
    path.write_text("")
    unknown = refusal(str(path))
    assert "is unknown" in unknown and f"ssh-keyscan -p 2222 192.0.2.7 >> {path}" in unknown


def test_unanswered_keepalives_are_silence_other_losses_are_not() -> None:
    with pytest.raises(HostUnreachable) as silent, mapped_errors("h", WHERE, connect_timeout=3):
        raise asyncssh.ConnectionLost("Server not responding to keepalive")
    assert silent.value.silent and "stopped answering" in str(silent.value) and "3 s" in str(silent.value)
    with pytest.raises(HostUnreachable) as lost, mapped_errors("h", WHERE, connect_timeout=3):
        raise asyncssh.ConnectionLost("Connection lost")
    assert not lost.value.silent and "was lost" in str(lost.value) and "next call reconnects" in str(lost.value)
    with pytest.raises(HostUnreachable) as timed_out, mapped_errors("h", WHERE, timeout=3):
        raise TimeoutError
    assert timed_out.value.silent and "did not answer within 3 s" in str(timed_out.value)

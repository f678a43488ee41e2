"""Shared by the manage_vm integration tests: a private area (VM name prefix + image directory) on
the real libvirtd, looked at directly with virsh and the file system (never through qemu-mcp)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.rig.libvirt import DIR_PREFIX, IMAGES, NAME_PREFIX, SYSTEM_URI, remove_domains

GIB = 1024**3


@dataclass(frozen=True)
class Area:
    """VMs named <prefix>..., images below <dir>: the rig's sweep removes both once we are dead."""

    prefix: str
    dir: str

    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    def snapshot(self) -> tuple[list[str], list[str]]:
        """Everything this area has on the host: domain names, and files and dirs below dir."""
        names = sorted(n for n in domain_names() if n.startswith(self.prefix))
        files = sorted(str(p.relative_to(self.dir)) for p in Path(self.dir).rglob("*") if p.name != "owner.pid")
        return names, files


@contextmanager
def manage_area() -> Iterator[Area]:
    token = secrets.token_hex(3)
    directory = IMAGES / f"{DIR_PREFIX}{token}"
    directory.mkdir(mode=0o755, parents=True)
    directory.chmod(0o755)  # libvirt's qemu user must traverse it
    (directory / "owner.pid").write_text(str(os.getpid()))
    area = Area(prefix=f"{NAME_PREFIX}{token}-", dir=str(directory))
    try:
        yield area
    finally:
        try:
            remove_domains(area.prefix)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def virsh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["virsh", "-q", "-c", SYSTEM_URI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
        timeout=60,
    )


def define_stopped(area: Area, name: str, mib: int) -> str:
    """A minimal shut-off domain in the area; its UUID."""
    xml = Path(area.dir, f"{name}.xml")
    xml.write_text(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>{mib}</memory>"
                   "<os><type arch='x86_64'>hvm</type></os></domain>")  # fmt: skip
    assert virsh("define", "--file", str(xml)).returncode == 0
    return virsh("domuuid", "--domain", name).stdout.strip()


def domain_names() -> list[str]:
    return [n for n in virsh("list", "--all", "--name").stdout.splitlines() if n]


def domstate(name: str) -> str:
    out = virsh("domstate", "--domain", name)
    return out.stdout.strip() if out.returncode == 0 else "missing"


def exists(name: str) -> bool:
    return virsh("dominfo", "--domain", name).returncode == 0


def inactive_xml(name: str) -> str:
    out = virsh("dumpxml", "--inactive", "--domain", name)
    assert out.returncode == 0, out.stderr
    return out.stdout


def live_xml(name: str) -> str:
    out = virsh("dumpxml", "--domain", name)
    assert out.returncode == 0, out.stderr
    return out.stdout


def image_size(path: str, fmt: str = "qcow2") -> int:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "-f", fmt, "--output=json", path], capture_output=True, text=True, check=True
    )
    return int(json.loads(out.stdout)["virtual-size"])


def make_iso(path: Path) -> str:
    """A tiny ISO 9660 image (no OS: the guest falls through to the disk and then idles)."""
    src = path.parent / (path.stem + "-src")
    src.mkdir()
    (src / "README.TXT").write_text("qemu-mcp test ISO\n")
    subprocess.run(
        ["genisoimage", "-quiet", "-V", "QMCPTEST", "-o", str(path), str(src)], check=True, capture_output=True
    )
    shutil.rmtree(src)
    return str(path)


def data(result: Any) -> dict[str, Any]:
    """structured_content['data'] of a successful tool result."""
    assert not result.is_error, text(result)
    content = result.structured_content
    assert content is not None and content["success"] is True
    return content["data"]  # type: ignore[no-any-return]


def text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def error(result: Any) -> str:
    assert result.is_error, f"expected an error, got {result.structured_content}"
    return text(result)

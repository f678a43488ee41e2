"""The VM definition resources (qemu-mcp://{host}/vm/{name}/domain.xml and .../vm.conf) read through
real MCP sessions, in process and over a stdio subprocess, against the rig's libvirt host (a domain
of the test's own, beside a decoy whose name differs by a trailing space) and the qemu-only host
(the vm.conf of test_networks_pools' `plain` fixture). Compared with `virsh dumpxml --domain UUID`
and the file itself."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from qemu_mcp.backends.qemu.vmconf import Home
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.integration.manage_helpers import Area, manage_area, virsh
from tests.integration.test_networks_pools import Plain, plain  # noqa: F401  (the plain-QEMU host fixture)

pytestmark = pytest.mark.integration


def domain(name: str, the_uuid: str) -> str:
    return (f"<domain type='qemu'><name>{name}</name><uuid>{the_uuid}</uuid><memory unit='MiB'>64</memory>"
            "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>")  # fmt: skip


@pytest.fixture
def defined(libvirtd_running: None) -> Iterator[tuple[Area, str, str]]:
    """(area, name, uuid) of a shut-off domain, and a decoy named `name + ' '` defined before it."""
    with manage_area() as area:
        name, mine = area.name("cfg"), str(uuid.uuid4())
        for leaf, n, u in (("decoy.xml", name + " ", str(uuid.uuid4())), ("cfg.xml", name, mine)):
            (Path(area.dir) / leaf).write_text(domain(n, u))
            assert virsh("define", str(Path(area.dir) / leaf)).returncode == 0
        yield area, name, mine


async def read(client: Client, uri: str) -> tuple[str, str | None]:
    result = await client.read_resource(uri)
    (content,) = result.contents
    return content.text, content.mime_type  # type: ignore[union-attr]


async def reads_the_domain(client: Client, name: str, the_uuid: str) -> None:
    text, mime = await read(client, f"qemu-mcp://rig/vm/{name}/domain.xml")
    assert mime == "application/xml"
    assert f"<uuid>{the_uuid}</uuid>" in text and f"<name>{name}</name>" in text
    assert text.strip() == virsh("dumpxml", "--domain", the_uuid).stdout.strip()
    with pytest.raises(MCPError, match=r"is a libvirt host.*domain\.xml"):
        await read(client, f"qemu-mcp://rig/vm/{name}/vm.conf")
    with pytest.raises(MCPError, match="not found on host 'rig'"):
        await read(client, f"qemu-mcp://rig/vm/{name}x/domain.xml")


async def test_domain_xml_in_process(defined: tuple[Area, str, str], rig_spec: HostSpec) -> None:
    _, name, the_uuid = defined
    async with Client(build_server(Inventory([rig_spec]))) as client:
        await reads_the_domain(client, name, the_uuid)
        # The name as a URI carries it: the decoy (trailing space, percent-encoded) is its own VM.
        text, _ = await read(client, f"qemu-mcp://rig/vm/{name}%20/domain.xml")
        assert f"<name>{name} </name>" in text and the_uuid not in text


async def test_domain_xml_over_stdio(
    defined: tuple[Area, str, str], rig_config: str, sshd_host, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _, name, the_uuid = defined
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd_host.known_hosts, home / ".ssh" / "known_hosts")
    params = StdioServerParameters(command=sys.executable, args=["-m", "qemu_mcp", "--config", rig_config, "serve"],
                                   env={**os.environ, "HOME": str(home)})  # fmt: skip
    async with Client(params) as client:
        await reads_the_domain(client, name, the_uuid)


async def test_vm_conf_on_a_plain_qemu_host(plain: Plain) -> None:  # noqa: F811
    async with Client(build_server(Inventory([plain.spec]))) as client:
        text, mime = await read(client, "qemu-mcp://plain/vm/web/vm.conf")
        with pytest.raises(MCPError, match=r"is a plain-QEMU host.*vm\.conf"):
            await read(client, "qemu-mcp://plain/vm/web/domain.xml")
    assert mime == "text/plain" and text == Path(Home(plain.area.vm_dir, "web").conf).read_text()

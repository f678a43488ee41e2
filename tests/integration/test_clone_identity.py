"""manage_vm clone with its own identity (issue 11 item 5), on a libvirt and a plain-QEMU rig host
over SSH: a shut-off source created with cloud_init and an SSH forward is cloned with a new
cloud_init; the clone gets its own forward port, MAC, seed ISO (and on libvirt its own serial log
and a <metadata> list of exactly its files); deleting the clone removes its disk and seed only.
On plain QEMU the Debian test image boots as the clone and we log in through the clone's forward
on 127.0.0.1 and see the NEW hostname."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pycdlib
import pytest
import yaml
from lxml import etree

from qemu_mcp.backends.libvirt import metadata, netxml
from qemu_mcp.backends.qemu.vmconf import parse
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import get_vm_info
from tests.integration.manage_helpers import Area, exists, inactive_xml
from tests.integration.test_cli import cli
from tests.integration.test_images import host, lib, lib_area, plain, q_area  # noqa: F401
from tests.integration.test_images_create import act
from tests.integration.test_provision import USER
from tests.rig import keygen

pytestmark = pytest.mark.integration


def seed_file(iso_path: str, name: str) -> str:
    iso = pycdlib.PyCdlib()
    iso.open(iso_path)
    try:
        buf = io.BytesIO()
        iso.get_file_from_iso_fp(buf, rr_path=f"/{name}")
    finally:
        iso.close()
    return buf.getvalue().decode()


def identity(spec: HostSpec, name: str) -> dict[str, Any]:
    """The port, MACs, seed and (libvirt) metadata of a VM, read from the host's own files."""
    if spec.name == "lib":
        xml = inactive_xml(name)
        root = etree.fromstring(xml.encode())
        cd = root.find("devices/disk[@device='cdrom']/source")
        return {
            "port": netxml.forward_port(root), "macs": re.findall(r"52:54:00(?::[0-9a-f]{2}){3}", xml),
            "seed": cd.get("file") if cd is not None else None, "files": metadata.created_files(xml),
            "facts": metadata.facts(xml), "xml": xml,
        }  # fmt: skip
    conf = parse((Path(spec.vm_dir) / name / "vm.conf").read_text())
    return {"port": conf.nics[0].ssh_forward, "macs": [n.mac for n in conf.nics], "seed": conf.seed}


async def test_clone_gets_its_own_port_mac_seed_and_delete_removes_only_its_files(host: HostSpec) -> None:  # noqa: F811
    fleet = Fleet(Inventory([host]))
    pre = "qmcp-t" + Path(host.vm_dir).name[-6:] + "-" if host.name == "lib" else ""
    src, clone = pre + "id-src", pre + "id-clone"
    try:
        made = await act(fleet, host, src, "create", arch="x86_64", memory="96M", vcpus=1, disk="size=24M",
                         network="user", cloud_init={"hostname": "src-host", "user": USER})  # fmt: skip
        src_port = made.data.details.applied["ssh_forward_port"]
        src_disk, src_seed = made.data.details.disks_created[0], made.data.details.requested["seed"]
        before = identity(host, src)
        assert before["port"] == src_port and before["seed"] == src_seed

        done = await act(fleet, host, clone, "clone", source=src, cloud_init={"hostname": "clone-host", "user": USER})
        applied, disk = done.data.details.applied, done.data.details.disks_created[0]
        port = applied["ssh_forward_port"]
        assert applied["ssh_forward_host"] == "127.0.0.1" and port != src_port and f"127.0.0.1:{port}" in done.message
        ours = identity(host, clone)
        assert ours["port"] == port and len(ours["macs"]) == 1 and ours["macs"] != before["macs"]
        seed = ours["seed"]
        expect = f"{host.vm_dir}/{clone}/seed.iso" if host.name == "plain" else f"{host.vm_dir}/{clone}-seed.iso"
        assert seed == expect == done.data.details.requested["seed"] and Path(seed).is_file()
        assert yaml.safe_load(seed_file(seed, "user-data"))["hostname"] == "clone-host"
        assert seed_file(seed, "meta-data") != seed_file(src_seed, "meta-data")  # a fresh instance-id
        if host.name == "lib":
            assert ours["files"].files == (("created-disk", disk), ("seed", seed))
            assert ours["facts"]["ssh-forward"]["port"] == str(port)
            assert ours["facts"]["serial-log"]["path"] == f"/var/log/libvirt/qemu/{clone}-serial.log"
            assert f"{clone}-serial.log" in ours["xml"] and f"{src}-serial.log" not in ours["xml"]
        info = await get_vm_info(fleet, clone, HostRef(host.name))
        assert info.ssh is not None and info.ssh.port == port

        await act(fleet, host, clone, "delete", confirm=True)
        assert not Path(disk).exists() and not Path(seed).exists()
        assert Path(src_disk).is_file() and Path(src_seed).is_file()
        after = identity(host, src)
        assert after == before  # the source is untouched
        await act(fleet, host, src, "delete", confirm=True)
        assert not Path(src_disk).exists() and not Path(src_seed).exists()
    finally:
        await fleet.close()


def test_cli_clone_with_a_new_hostname(rig_config: str, lib_area: Area, tmp_path: Path) -> None:  # noqa: F811
    """`qemu-mcp vm clone SRC NEW --hostname --user --authorized-key` over SSH (libvirt rig host)."""
    public_key = keygen(tmp_path / "id_ed25519", comment="qmcp-clone-cli")
    src, clone = lib_area.name("csrc"), lib_area.name("cnew")
    common = ("--host", "rig", "--json")
    made = cli("vm", "create", src, "--arch", "x86_64", "--memory", "96M", "--disk", "size=16M", "--vm-dir",
               lib_area.dir, "--network", "user", *common, config=rig_config)  # fmt: skip
    assert made.returncode == 0, made.stderr
    out = cli("vm", "clone", src, clone, "--hostname", "cli-clone", "--user", USER, "--authorized-key",
              str(tmp_path / "id_ed25519.pub"), "--vm-dir", lib_area.dir, *common, config=rig_config)  # fmt: skip
    assert out.returncode == 0, out.stderr
    seed = f"{lib_area.dir}/{clone}-seed.iso"
    user_data = yaml.safe_load(seed_file(seed, "user-data"))
    assert user_data["hostname"] == "cli-clone"
    assert user_data["users"][0]["ssh_authorized_keys"][0].split()[:2] == public_key.split()[:2]
    for name in (clone, src):
        gone = cli("vm", "delete", name, "--yes", "--host", "rig", config=rig_config)
        assert gone.returncode == 0, gone.stderr
    assert not exists(clone) and not exists(src) and not Path(seed).exists()

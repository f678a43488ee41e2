"""Issue 11 provisioning, pure parts and the local upload: the domain XML (libvirt's schema), the
plain-QEMU argv and vm.conf, the network argument, the forward's port, the seed read back with
pycdlib, the upload and its undo, and that no secret reaches an error, the audit log or a log line."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pycdlib
import pytest
import yaml
from lxml import etree

from qemu_mcp.backends.base import CreateFacts, CreatePlan
from qemu_mcp.backends.job import Job
from qemu_mcp.backends.libvirt import metadata
from qemu_mcp.backends.libvirt import provision as lv_provision
from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, Firmware, build_domain_xml
from qemu_mcp.backends.libvirt.netxml import QEMU_NS, forward_port
from qemu_mcp.backends.libvirt.provision import state_extra
from qemu_mcp.backends.provision import FORWARD_PORTS, NetworkChoice, Provision, parse_network, pick_port
from qemu_mcp.backends.qemu.argv import build_argv
from qemu_mcp.backends.qemu.provision import recorded_forwards
from qemu_mcp.backends.qemu.vmconf import ConfDisk, ConfNic, Home, VmConf, parse, render
from qemu_mcp.errors import InvalidInput
from qemu_mcp.frontends.cli.provision_opts import cloud_init_from
from qemu_mcp.ignition import ignition_bytes
from qemu_mcp.ops.manage import provision
from qemu_mcp.ops.manage.provision_request import audit_fields
from qemu_mcp.ops.manage.request import parse_request
from qemu_mcp.redaction import redact
from qemu_mcp.transport.local import LocalRunner

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf2mKx3u6y0n0WQ2ExampleKeyBody0123456789abc me@laptop"
HASH = "$6$rounds=4096$saltsalt$3MEaFIP5EE8SN6bVOrAQu6YGqyHcIHf3sPyGWz9UHNCaIxxTd0XbsGGhmo2mB0vR2y7YgfWlz2eGhFyNx5hBJ1"
IGN = {"ignition": {"version": "3.4.0"}}
MAC = "52:54:00:aa:bb:cc"


def validate(xml: str, tmp_path: Path) -> None:
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    out = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout


def spec(**kw) -> DomainSpec:  # type: ignore[no-untyped-def]
    base = dict(name="web1", arch="x86_64", accel="qemu", memory_mib=512, vcpus=2,
                disk_path="/v/web1.qcow2", disk_format="qcow2", state="created", agent=True,
                serial_log="/var/log/libvirt/qemu/web1-serial.log",
                created=metadata.Created(((metadata.DISK, "/v/web1.qcow2"),)))  # as LibvirtBackend passes it
    return DomainSpec(**(base | kw))  # type: ignore[arg-type]


# ---- libvirt domain XML


def test_user_mode_forward_seed_ignition_agent_serial_log(tmp_path: Path) -> None:
    xml = build_domain_xml(spec(network=None, ssh_forward=22222, mac=MAC, seed="/v/web1-seed.iso",
                                ignition="/v/web1-ignition.ign"))  # fmt: skip
    validate(xml, tmp_path)
    root = etree.fromstring(xml.encode())
    assert root.find("devices/interface") is None  # the NIC is QEMU's own, with the forward
    args = [a.get("value") for a in root.iterfind(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg")]
    assert "user,id=qmcpnet0,hostfwd=tcp:127.0.0.1:22222-:22" in args
    assert any(a.startswith(f"virtio-net-pci,netdev=qmcpnet0,id=qmcpnet0,mac={MAC},bus=pcie.0") for a in args)
    assert forward_port(root) == 22222
    cdrom = root.find("devices/disk[@device='cdrom']")
    assert cdrom.find("target").attrib == {"dev": "sdb", "bus": "scsi"}  # type: ignore[union-attr]
    assert cdrom.find("readonly") is not None and cdrom.find("boot") is None  # type: ignore[union-attr]
    assert root.find("devices/controller[@type='scsi']").get("model") == "virtio-scsi"  # type: ignore[union-attr]
    assert root.find("sysinfo[@type='fwcfg']/entry").attrib == {  # type: ignore[union-attr]
        "name": "opt/com.coreos/config", "file": "/v/web1-ignition.ign"}  # fmt: skip
    assert root.find("os/smbios") is None  # libvirt 9.0 refuses to start with it (no SMBIOS sysinfo)
    assert root.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"  # type: ignore[union-attr]
    assert root.find("devices/serial/log").get("file") == "/var/log/libvirt/qemu/web1-serial.log"  # type: ignore[union-attr]
    facts = metadata.facts(xml)
    assert facts["ssh-forward"] == {"port": "22222", "address": "127.0.0.1", "via": "qemu-commandline"}
    assert facts["seed"] == {"path": "/v/web1-seed.iso"} and facts["serial-log"]["path"].endswith("-serial.log")
    assert metadata.create_state(xml) == "created"
    assert state_extra(xml) == {
        "seed": "/v/web1-seed.iso", "ignition": "/v/web1-ignition.ign",
        "serial_log": "/var/log/libvirt/qemu/web1-serial.log", "ssh_forward": "22222",
    }  # fmt: skip


def test_bridge_network_and_plain_user_mode(tmp_path: Path) -> None:
    bridged = build_domain_xml(spec(network=None, bridge="br0", mac=MAC))
    validate(bridged, tmp_path)
    nic = etree.fromstring(bridged.encode()).find("devices/interface")
    assert nic.get("type") == "bridge" and nic.find("source").get("bridge") == "br0"  # type: ignore[union-attr]
    assert nic.find("mac").get("address") == MAC  # type: ignore[union-attr]
    on_net = etree.fromstring(build_domain_xml(spec(network="lab")).encode())
    assert on_net.find("devices/interface/source").get("network") == "lab"  # type: ignore[union-attr]
    user = build_domain_xml(spec(network=None))  # no forward asked: libvirt's own user-mode NIC
    validate(user, tmp_path)
    assert etree.fromstring(user.encode()).find("devices/interface").get("type") == "user"  # type: ignore[union-attr]
    assert QEMU_NS not in user


def test_seed_shares_the_scsi_controller_with_an_aarch64_iso(tmp_path: Path) -> None:
    fw = Firmware("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd")
    xml = build_domain_xml(spec(arch="aarch64", firmware=fw, iso="/i/x.iso", seed="/v/s.iso", network=None,
                                ssh_forward=20001, mac=MAC))  # fmt: skip
    validate(xml, tmp_path)
    root = etree.fromstring(xml.encode())
    assert len(root.findall("devices/controller[@type='scsi']")) == 1
    assert [d.find("target").get("dev") for d in root.iterfind("devices/disk[@device='cdrom']")] == ["sda", "sdb"]  # type: ignore[union-attr]


# ---- plain QEMU


def conf(**kw) -> VmConf:  # type: ignore[no-untyped-def]
    base = dict(name="web1", uuid="7c3b7b9e-51e0-4d7b-b6c3-8c9b2f1b0a11", arch="x86_64", machine="q35",
                accel="tcg", memory_mib=512, vcpus=1, disks=(ConfDisk("vda", "/vm/web1/disk0.qcow2", "qcow2"),),
                nics=(ConfNic("user", "virtio-net-pci", MAC, ssh_forward=22022),), seed="/vm/web1/seed.iso",
                ignition="/vm/web1/ignition.ign", agent=True)  # fmt: skip
    return VmConf(**(base | kw))  # type: ignore[arg-type]


def test_vm_conf_keeps_the_forward_seed_ignition_and_agent() -> None:
    text = render(conf())
    assert "nic.0.ssh_forward=22022\n" in text and "seed=/vm/web1/seed.iso\n" in text and "agent=yes\n" in text
    assert parse(text) == conf()
    bridged = conf(nics=(ConfNic("bridge", "virtio-net-pci", MAC, bridge="br0"),))
    assert parse(render(bridged)) == bridged


def test_argv_has_the_forward_seed_fw_cfg_and_agent() -> None:
    argv = build_argv(conf(), Home("/vm", "web1"), vnc_display=None)
    joined = " ".join(argv)
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:22022-:22" in argv
    assert argv[argv.index("virtio-scsi-pci,id=scsi0") - 1 :][:2] == ["-device", "virtio-scsi-pci,id=scsi0"]
    assert "scsi-cd,drive=seed,id=seed,bus=scsi0.0" in argv
    assert json.loads(argv[argv.index("scsi-cd,drive=seed,id=seed,bus=scsi0.0") - 2])["read-only"] is True
    assert "name=opt/com.coreos/config,file=/vm/web1/ignition.ign" in argv
    assert "socket,id=qga0,path=/vm/web1/qga.sock,server=on,wait=off" in argv
    assert "virtserialport,bus=virtio-serial0.0,chardev=qga0,name=org.qemu.guest_agent.0" in argv
    assert "bootindex" not in argv[argv.index("scsi-cd,drive=seed,id=seed,bus=scsi0.0")]
    bridged = build_argv(conf(nics=(ConfNic("bridge", "virtio-net-pci", MAC, bridge="br0"),)), Home("/vm", "web1"),
                         vnc_display=None)  # fmt: skip
    assert "bridge,id=net0,br=br0" in bridged
    assert "hostfwd" not in " ".join(bridged) and "qga" in joined


def test_aarch64_iso_and_seed_share_one_scsi_controller() -> None:
    c = conf(arch="aarch64", machine="virt", iso="/i/x.iso", firmware_code="/c.fd", firmware_vars="/v.fd")
    argv = build_argv(c, Home("/vm", "web1"), vnc_display=None)
    assert argv.count("virtio-scsi-pci,id=scsi0") == 1


# ---- the arguments


def test_network_argument() -> None:
    assert parse_network("user") == NetworkChoice("user")
    assert parse_network("bridge:br0") == NetworkChoice("bridge", "br0")
    assert parse_network("lab-net") == NetworkChoice("network", "lab-net")
    for bad in ("bridge:", "bridge:way-too-long-bridge-name", "a b", "../x", "bridge:a/b"):
        with pytest.raises(InvalidInput):
            parse_network(bad)


def test_request_checks_before_any_host() -> None:
    with pytest.raises(InvalidInput, match="ssh_forward needs user-mode"):
        parse_request("a", "create", arch="x86_64", network="bridge:br0", ssh_forward=True)
    with pytest.raises(InvalidInput, match="does not apply to action=start"):
        parse_request("a", "start", cloud_init={"hostname": "x"})
    with pytest.raises(InvalidInput, match="not valid YAML at line 3"):
        parse_request("a", "create", arch="x86_64", cloud_init={"user_data": "#cloud-config\nusers: [\n"})
    with pytest.raises(InvalidInput, match=r"ignition\.version"):
        parse_request("a", "create", arch="x86_64", ignition='{"ignition": {}}')
    req = parse_request("a", "create", arch="x86_64", ignition=json.dumps(IGN), network="user")
    assert req.ignition == ignition_bytes(IGN) and req.network == NetworkChoice("user")


def test_no_secret_in_errors_reprs_audit_or_logs() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_request("a", "create", arch="x86_64", cloud_init={"password_hash": HASH})  # no user
    assert HASH not in str(e.value)
    req = parse_request("a", "create", arch="x86_64",
                        cloud_init={"user": "ops", "password_hash": HASH, "ssh_authorized_keys": [KEY]})  # fmt: skip
    assert HASH not in repr(req)
    audited = json.dumps(audit_fields(req))
    assert HASH not in audited and "[redacted]" in audited and "ops" in audited
    assert HASH not in redact(f"manage_vm {{'cloud_init': {{'user': 'ops', 'password_hash': '{HASH}'}}}}")
    raw = parse_request("b", "create", arch="x86_64", cloud_init={"user_data": "#cloud-config\nchpasswd: {x: 1}\n"})
    assert "chpasswd" not in json.dumps(audit_fields(raw)) and "chpasswd" not in repr(raw)
    assert audit_fields(parse_request("c", "start")) == {}


def test_pick_port_skips_listeners_and_wraps() -> None:
    first = FORWARD_PORTS.start
    assert pick_port({first, first + 1}, set(), 0) == first + 2
    assert pick_port(set(), {FORWARD_PORTS[-1]}, len(FORWARD_PORTS) - 1) == first
    with pytest.raises(InvalidInput):
        pick_port(set(FORWARD_PORTS), set(), 0)


# ---- the create flow's pieces


def plan(home: str | None, disk: str) -> CreatePlan:
    return CreatePlan(name="web1", arch="x86_64", memory_mib=512, vcpus=1, disk_path=disk, disk_format="qcow2",
                      disk_size=1 << 30, iso=None, start=False, home=home)  # fmt: skip


class _Call:
    def __init__(self, req) -> None:  # type: ignore[no-untyped-def]
        self.req = req


def iso_files(data: bytes) -> dict[str, bytes]:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        out = {}
        for name in ("meta-data", "user-data"):
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, rr_path=f"/{name}")
            out[name] = buf.getvalue()
        return out
    finally:
        iso.close()


def test_seed_and_paths_on_both_layouts() -> None:
    req = parse_request("web1", "create", arch="x86_64", ignition=IGN,
                        cloud_init={"hostname": "web1", "user": "ops", "ssh_authorized_keys": [KEY]})  # fmt: skip
    lv = provision.with_files(_Call(req), plan(None, "/v/web1.qcow2"))  # type: ignore[arg-type]
    assert (lv.provision.seed_path, lv.provision.ignition_path) == ("/v/web1-seed.iso", "/v/web1-ignition.ign")
    qe = provision.with_files(_Call(req), plan("/vm/web1", "/vm/web1/disk0.qcow2"))  # type: ignore[arg-type]
    assert (qe.provision.seed_path, qe.provision.ignition_path) == ("/vm/web1/seed.iso", "/vm/web1/ignition.ign")
    assert qe.provision.seed is not None
    files = iso_files(qe.provision.seed)
    assert yaml.safe_load(files["meta-data"])["local-hostname"] == "web1"
    user_data = yaml.safe_load(files["user-data"])
    assert user_data["users"][0]["name"] == "ops" and user_data["users"][0]["ssh_authorized_keys"] == [KEY]
    assert "b'" not in repr(qe.provision)  # the seed's bytes (user-data) never in a repr


def test_forward_only_for_user_mode() -> None:
    p = plan(None, "/v/web1.qcow2")
    user = provision.with_forward(p, CreateFacts(accel="qemu", nic=NetworkChoice("user")), {FORWARD_PORTS.start})
    assert user.provision.forward_port in FORWARD_PORTS and user.provision.forward_port != FORWARD_PORTS.start
    on_net = provision.with_forward(
        p, CreateFacts(accel="qemu", network="default", nic=NetworkChoice("network", "default")), set()
    )
    assert on_net.provision.forward_port == 0
    off = CreatePlan(**{**p.__dict__, "provision": Provision(ssh_forward=False)})
    assert (
        provision.with_forward(off, CreateFacts(accel="qemu", nic=NetworkChoice("user")), set()).provision.forward_port
        == 0
    )


async def test_upload_writes_the_files_and_the_undo_removes_them(tmp_path: Path) -> None:
    seed_path, ign_path = str(tmp_path / "seed.iso"), str(tmp_path / "ignition.ign")
    files = Provision(seed=b"ISO", ignition=b"{}", seed_path=seed_path, ignition_path=ign_path)
    p = CreatePlan(**{**plan(str(tmp_path), f"{tmp_path}/d.qcow2").__dict__, "provision": files})
    job = Job(LocalRunner(), "local")
    await provision.upload(job, p)
    assert Path(seed_path).read_bytes() == b"ISO" and Path(ign_path).read_bytes() == b"{}"
    assert oct(Path(ign_path).stat().st_mode & 0o777) == "0o644"
    assert not any(b"ISO" in json.dumps(c.argv).encode() for c in job.commands)  # content never in a record
    await job.rollback()
    assert not Path(seed_path).exists() and not Path(ign_path).exists()


async def test_upload_never_overwrites(tmp_path: Path) -> None:
    existing = tmp_path / "seed.iso"
    existing.write_bytes(b"theirs")
    p = CreatePlan(**{**plan(str(tmp_path), f"{tmp_path}/d.qcow2").__dict__,
                      "provision": Provision(seed=b"ISO", seed_path=str(existing))})  # fmt: skip
    with pytest.raises(Exception, match="reserving"):
        await provision.upload(Job(LocalRunner(), "local"), p)
    assert existing.read_bytes() == b"theirs"


def test_cli_cloud_init_from_flags_and_files(tmp_path: Path) -> None:
    pub = tmp_path / "id.pub"
    pub.write_text(KEY + "\n")
    fields = tmp_path / "ci.yaml"
    fields.write_text("timezone: UTC\npackages: [htop]\n")
    got = cloud_init_from({"cloud_init": str(fields), "hostname": "h1", "user": "u", "authorized_key": [str(pub)]})
    assert got == {"timezone": "UTC", "packages": ["htop"], "hostname": "h1", "user": "u", "ssh_authorized_keys": [KEY]}
    raw = tmp_path / "user-data"
    raw.write_text("#cloud-config\nruncmd: [true]\n")
    assert cloud_init_from({"cloud_init": str(raw)}) == {"user_data": "#cloud-config\nruncmd: [true]\n"}
    assert cloud_init_from({}) is None


def test_other_vms_recorded_forwards_are_not_picked_again() -> None:
    from_meta = build_domain_xml(spec(network=None, ssh_forward=21000, mac=MAC))
    no_forward = build_domain_xml(spec(network="default"))
    assert lv_provision.forward_ports([from_meta, no_forward, ""]) == {21000}
    # a domain whose metadata was lost still shows its forward in <qemu:commandline>
    bare = etree.fromstring(from_meta.encode())
    bare.remove(bare.find("metadata"))  # type: ignore[arg-type]
    assert lv_provision.forward_ports([etree.tostring(bare, encoding="unicode")]) == {21000}
    assert recorded_forwards([conf(), None, conf(nics=(ConfNic("user", "virtio-net-pci", MAC),))]) == {22022}

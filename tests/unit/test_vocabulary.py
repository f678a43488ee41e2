"""The shared tables: arch names, the machine per arch (both backends build the same guest from it),
and each backend's states mapped onto the shared VmStatus."""

from __future__ import annotations

from typing import get_args

import pytest
from lxml import etree

from qemu_mcp import arches, validation
from qemu_mcp.backends.counters import STOPPED_STATES
from qemu_mcp.backends.libvirt import states as libvirt_states
from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, Firmware, build_domain_xml, build_kvm_probe_xml
from qemu_mcp.backends.machines import MACHINES, machine_for
from qemu_mcp.backends.qemu import states as qemu_states
from qemu_mcp.backends.qemu.argv import build_argv, kvm_probe_argv
from qemu_mcp.backends.qemu.read import QemuVm, disks_of
from qemu_mcp.backends.qemu.vmconf import Home, VmConf, parse, render
from qemu_mcp.models import VmStatus
from qemu_mcp.parsers.domstats import state_name

STATUSES = set(get_args(VmStatus))


@pytest.mark.parametrize(
    ("name", "want"),
    [("x86_64", "x86_64"), ("amd64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "aarch64"), ("arm64", "aarch64"),
     ("sparc", None), ("", None), (None, None)],
)  # fmt: skip
def test_arch_aliases(name: str | None, want: str | None) -> None:
    assert arches.canonical(name) == want


def test_every_arch_name_is_one_we_create() -> None:
    assert set(arches.ALIASES.values()) == set(MACHINES)
    assert all(validation.arch(alias) == arch for alias, arch in arches.ALIASES.items())


def test_machine_table() -> None:
    assert (machine_for("x86_64").machine, machine_for("x86_64").tcg_cpu) == ("q35", None)
    assert (machine_for("aarch64").machine, machine_for("aarch64").tcg_cpu) == ("virt", "cortex-a57")
    with pytest.raises(ValueError, match="unsupported arch 'sparc'"):
        machine_for("sparc")


@pytest.mark.parametrize("arch", sorted(MACHINES))
def test_both_backends_build_the_machine_of_the_table(arch: str) -> None:
    machine = MACHINES[arch]
    fw = Firmware("/fw/CODE.fd", "/fw/VARS.fd") if arch == "aarch64" else None
    xml = build_domain_xml(DomainSpec("a", arch, "qemu", 64, 1, "/v/a.qcow2", "qcow2", iso="/i.iso", firmware=fw))
    root = etree.fromstring(xml)
    cdrom = root.find("devices/disk[@device='cdrom']/target")
    assert root.find("os/type").get("machine") == machine.machine  # type: ignore[union-attr]
    assert root.findtext("cpu/model") == machine.tcg_cpu
    assert cdrom is not None and cdrom.get("bus") == machine.cdrom_bus

    conf = VmConf("a", "u", arch, "", "tcg", 64, 1, iso="/i.iso", firmware_code=fw and fw.code,
                  firmware_vars=fw and "/v/a/efivars.fd")  # fmt: skip
    argv = build_argv(conf, Home("/v", "a"), vnc_display=None)
    assert argv[argv.index("-machine") + 1].split(",")[0] == machine.machine
    assert (argv[argv.index("-cpu") + 1] if "-cpu" in argv else None) == machine.tcg_cpu
    cd = next(w for w in argv if "drive=sda" in w)
    assert cd.startswith("ide-cd" if machine.cdrom_bus == "sata" else "scsi-cd")
    assert [d.bus for d in disks_of(QemuVm("a", Home("/v", "a"), conf=conf))] == [machine.cdrom_bus]

    text = render(conf).replace("machine=\n", "")
    assert parse(text).machine == machine.machine  # a vm.conf without machine= gets the arch's
    assert machine.machine in kvm_probe_argv(arch)[2]
    assert f"machine='{machine.machine}'" in build_kvm_probe_xml("p", arch).replace('"', "'")


def test_libvirt_states() -> None:
    words = [state_name(code) for code in range(8)]
    assert all(libvirt_states.vm_status(w) in STATUSES for w in words)
    assert [libvirt_states.vm_status(w) for w in ("running", "idle", "shut off", "in shutdown", "no state", "?")] == [
        "running", "running", "stopped", "shutting-down", "unknown", "unknown"]  # fmt: skip


def test_qemu_states() -> None:
    assert all(status in STATUSES for status, _monitor in qemu_states.QMP_STATES.values())
    assert qemu_states.vm_status(alive=False, qmp_status="running") == "stopped"
    assert qemu_states.vm_status(alive=True) == "running"
    assert [qemu_states.vm_status(alive=True, qmp_status=w) for w in ("paused", "io-error", "shutdown", "new")] == [
        "paused", "paused", "shutting-down", "unknown"]  # fmt: skip
    assert qemu_states.vm_state(alive=False, incomplete=True) == "incomplete"
    assert qemu_states.vm_state(alive=False, incomplete=False, qmp_status="paused") == "stopped"
    assert qemu_states.vm_state(alive=True, incomplete=False) == "running"
    assert qemu_states.vm_state(alive=True, incomplete=False, qmp_status="io-error") == "io-error"


def test_qemu_monitor_states_speak_libvirt_words() -> None:
    assert qemu_states.monitor_state(alive=False) in STOPPED_STATES
    assert qemu_states.monitor_state(alive=True) == "running"
    assert [qemu_states.monitor_state(alive=True, qmp_status=w) for w in
            ("running", "paused", "guest-panicked", "shutdown", "suspended", "io-error")] == [
        "running", "paused", "crashed", "in shutdown", "suspended", "io-error"]  # fmt: skip
    assert qemu_states.monitor_state(alive=True, qmp_status="guest-panicked") in STOPPED_STATES

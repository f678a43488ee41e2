"""LibvirtBackend.prepare_create against scripted virsh answers: emulator, firmware, network, KVM."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from qemu_mcp.backends.base import CreatePlan
from qemu_mcp.backends.firmware import AARCH64_FIRMWARE
from qemu_mcp.backends.job import Job
from qemu_mcp.backends.libvirt.manage import LibvirtBackend
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import InvalidInput, NotFound
from qemu_mcp.ops.fleet import Fleet
from tests.fakes import Answer, Call, FakeRunner

PROBE = "create --file /dev/stdin"  # the probe guest: virsh create, its XML on stdin
PYENV_NOISE = "rm: cannot remove '/root/.pyenv/shims/.pyenv-shim': No such file or directory\n"


@dataclass
class ScriptedHost:
    """A FakeRunner handler: what virsh on a host with these facts answers."""

    network_active: bool = True
    emulator: bool = True
    kvm_offered: bool = True
    kvm_starts: bool = True
    firmware: bool = True
    noise: str = ""

    def __call__(self, call: Call) -> Answer:
        argv = call.argv
        if argv[:2] == ("sh", "-c"):  # firmware path check
            words = ["file" if self.firmware else "missing" for _ in argv[4:]]
            return Answer(0, "\n".join(words) + "\n")
        script = argv[-1]
        if script.startswith(PROBE):
            if self.kvm_starts:
                return Answer(0, "Domain 'p' created from /dev/stdin\n")
            return Answer(1, "", "error: Failed to create domain\nerror: Could not access KVM kernel module\n")
        marker = re.search(r"echo (@@qmcp-\w+@@)", script)[1]  # type: ignore[index]
        sections, errors = [], []
        sections.append(f"Name: default\nActive: {'yes' if self.network_active else 'no'}\n")
        sections.append("<domainCapabilities/>\n" if self.emulator else "\n")
        if not self.emulator:
            errors.append("error: invalid argument: unable to find any emulator to serve 'aarch64' architecture")
        sections.append("<domainCapabilities/>\n" if self.kvm_offered else "\n")
        if not self.kvm_offered:
            errors.append("error: invalid argument: KVM is not supported")
        out = f"{marker}\n".join(sections)
        return Answer(1 if not self.kvm_offered else 0, out, self.noise + "\n".join(errors))


def plan(arch: str = "x86_64") -> CreatePlan:
    return CreatePlan("web1", arch, 512, 1, "/vm/web1.qcow2", "qcow2", 1024**3, None, False)


def setup(accel: str = "auto", **host) -> tuple[LibvirtBackend, FakeRunner, Fleet]:  # type: ignore[no-untyped-def]
    spec = HostSpec(name="lab", address="192.0.2.1", accel=accel)  # type: ignore[arg-type]
    fleet = Fleet(Inventory([spec]))
    return LibvirtBackend(fleet.accel_verdicts, spec), FakeRunner(ScriptedHost(**host), host="lab"), fleet


async def test_kvm_when_the_probe_guest_starts_and_the_verdict_is_kept() -> None:
    backend, host, _ = setup(noise=PYENV_NOISE)  # shell start-up noise does not make libvirt "unusable"
    facts = await backend.prepare_create(Job(host, "lab"), plan())
    assert (facts.accel, facts.network, facts.firmware) == ("kvm", "default", None)
    again = await backend.prepare_create(Job(host, "lab"), plan())
    assert again.accel == "kvm" and host.count(PROBE) == 1


async def test_tcg_when_kvm_is_offered_but_cannot_start() -> None:
    backend, host, _ = setup(kvm_starts=False, network_active=False)
    job = Job(host, "lab")
    facts = await backend.prepare_create(job, plan())
    assert facts.accel == "qemu" and facts.network is None
    assert any("Could not access KVM kernel module" in n for n in job.notes)
    assert any("user-mode networking" in n for n in job.notes)


async def test_no_probe_when_kvm_is_not_offered_or_tcg_is_configured() -> None:
    backend, host, _ = setup(kvm_offered=False)
    assert (await backend.prepare_create(Job(host, "lab"), plan())).accel == "qemu" and host.count(PROBE) == 0
    backend, host, _ = setup(accel="tcg")
    assert (await backend.prepare_create(Job(host, "lab"), plan())).accel == "qemu" and host.count(PROBE) == 0


async def test_accel_kvm_insists() -> None:
    backend, host, _ = setup(accel="kvm", kvm_starts=False)
    with pytest.raises(InvalidInput, match="configured with accel: kvm, but KVM x86_64 guests cannot run"):
        await backend.prepare_create(Job(host, "lab"), plan())


async def test_aarch64_firmware_and_emulator() -> None:
    backend, host, _ = setup(kvm_offered=False)
    facts = await backend.prepare_create(Job(host, "lab"), plan("aarch64"))
    assert facts.firmware == AARCH64_FIRMWARE[0]
    backend, host, _ = setup(kvm_offered=False, firmware=False)
    with pytest.raises(NotFound, match="install the package qemu-efi-aarch64"):
        await backend.prepare_create(Job(host, "lab"), plan("aarch64"))
    backend, host, _ = setup(kvm_offered=False, emulator=False)
    with pytest.raises(NotFound, match=r"cannot run aarch64 guests.*install the package qemu-system-arm"):
        await backend.prepare_create(Job(host, "lab"), plan("aarch64"))

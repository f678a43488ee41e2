"""The machine a new VM of each arch gets, shared by both backends (libvirt's domain XML and the
plain-QEMU command line describe the same guest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    machine: str  # QEMU's machine type
    tcg_cpu: str | None  # the CPU under TCG when the machine's default is wrong; None: QEMU's default
    cdrom_bus: str  # sata: q35's AHCI controller; scsi: virt has no IDE/AHCI, so virtio-scsi


MACHINES = {
    "x86_64": Machine("q35", None, "sata"),
    # TCG's default CPU for virt is a 32-bit cortex-a15, which cannot run AArch64 UEFI.
    "aarch64": Machine("virt", "cortex-a57", "scsi"),
}


def machine_for(arch: str) -> Machine:
    """The arch's machine; ValueError for an arch no backend creates."""
    if arch not in MACHINES:
        raise ValueError(f"unsupported arch {arch!r}")
    return MACHINES[arch]

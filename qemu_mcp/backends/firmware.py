"""What a host needs to run a guest arch: emulator packages and aarch64 UEFI firmware (both backends)."""

from __future__ import annotations

from collections.abc import Awaitable

from qemu_mcp.backends.job import Job
from qemu_mcp.errors import NotFound
from qemu_mcp.host import fs
from qemu_mcp.parsers.path_status import parse_path_status
from qemu_mcp.transport.base import CommandResult

# (UEFI code, NVRAM template) pairs, first present wins: Debian/Ubuntu, then Fedora/RHEL.
AARCH64_FIRMWARE = (
    ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
    ("/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw", "/usr/share/edk2/aarch64/vars-template-pflash.raw"),
)
EMULATOR_PACKAGE = {"x86_64": "qemu-system-x86", "aarch64": "qemu-system-arm"}
FIRMWARE_PACKAGE = {"aarch64": "qemu-efi-aarch64 (Fedora: edk2-aarch64)"}


def firmware_paths(arch: str) -> list[str]:
    return [p for pair in AARCH64_FIRMWARE for p in pair] if arch == "aarch64" else []


def read_firmware(job: Job, arch: str) -> list[Awaitable[CommandResult]]:
    """The read to gather with the other create checks: none for archs that need no firmware."""
    paths = firmware_paths(arch)
    return [job.read("looking for aarch64 UEFI firmware", fs.path_status(paths))] if paths else []


def pick_firmware(job: Job, host: str, arch: str, results: list[CommandResult]) -> tuple[str, str] | None:
    """The first complete (code, vars) pair present on the host, or a clear error naming the package."""
    if not results:
        return None
    if results[0].exit_status != 0:
        raise job.step_failed("looking for aarch64 UEFI firmware", results[0])
    kinds = parse_path_status(results[0].stdout, firmware_paths(arch))
    firmware = next((pair for pair in AARCH64_FIRMWARE if all(kinds[p] == "file" for p in pair)), None)
    if firmware is None:
        raise NotFound(
            f"UEFI firmware for aarch64 guests is missing on host '{host}' (looked for "
            f"{', '.join(p for p, _ in AARCH64_FIRMWARE)}); install the package {FIRMWARE_PACKAGE['aarch64']} "
            "on the host"
        )
    return firmware

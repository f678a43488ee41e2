"""How virsh fails, read from its output: a missing domain, an unusable libvirt, a failed batch."""

from __future__ import annotations

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed
from qemu_mcp.transport.base import CommandResult

NOT_FOUND_MARKS = ("failed to get domain", "Domain not found", "domain not found")
UNUSABLE_MARKS = ("failed to connect to the hypervisor", "not found", "No such file or directory")


class LibvirtUnusable(CommandFailed):
    """virsh is missing or cannot reach libvirtd: a backend=auto host may be a plain-QEMU host."""


# Lines a failing virsh, env or sh prints. Other stderr (a login shell's rc-file noise, e.g. pyenv's
# racing rehash) must never be mistaken for a virsh failure.
ERROR_PREFIXES = ("error:", "env:", "sh:", "virsh:")


def error_lines(result: CommandResult) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith(ERROR_PREFIXES)]


def check_batch(result: CommandResult, spec: HostSpec, what: str) -> None:
    """virsh keeps going after a failed command in a batch; its errors are on stderr."""
    errs = error_lines(result)
    if result.exit_status == 127 or any(m in line for line in errs for m in UNUSABLE_MARKS):
        raise LibvirtUnusable(
            f"libvirt is not usable on host '{spec.name}' at {spec.libvirt_uri} "
            f"(virsh exit {result.exit_status}: {' '.join(errs) or result.stderr.strip()}); "
            "check that libvirt-clients is installed and libvirtd is running, or set backend: qemu",
            host=spec.name,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )
    if errs or result.exit_status != 0:
        detail = " ".join(errs) or result.stderr.strip() or "no output"
        raise CommandFailed(
            f"{what} failed on host '{spec.name}' (virsh exit {result.exit_status}: {detail})",
            host=spec.name,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )

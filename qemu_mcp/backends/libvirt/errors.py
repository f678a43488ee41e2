"""How virsh fails, read from its output: a missing domain, an unusable libvirt, a failed batch."""

from __future__ import annotations

from qemu_mcp.backends.job import Check, Job
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed
from qemu_mcp.transport.base import CommandResult

NOT_FOUND_MARKS = ("failed to get domain", "Domain not found", "domain not found")
# virsh could not reach libvirtd (daemon stopped or restarting, socket refused, access denied).
CONNECT_MARK = "failed to connect to the hypervisor"
# ... because there is no libvirt socket at all: evidence that libvirt is not installed or not run here.
NO_SOCKET_MARKS = ("Failed to connect socket to", "No such file or directory")
COMMAND_MISSING = 127  # sh's and env's exit status for a program that does not exist


class LibvirtUnusable(CommandFailed):
    """libvirt did not answer this call: an error for the call, never a reason to switch backends."""


class LibvirtAbsent(LibvirtUnusable):
    """Definitive evidence that the host has no libvirt: virsh is missing, or there is no libvirt
    socket (`no_socket`: believe that only after a retry, a starting libvirtd creates it late)."""

    def __init__(self, message: str, *, no_socket: bool, host: str, exit_status: int | None, stderr: str) -> None:
        super().__init__(message, host, exit_status, stderr)
        self.no_socket = no_socket


# Lines a failing virsh, env or sh prints. Other stderr (a login shell's rc-file noise, e.g. pyenv's
# racing rehash) must never be mistaken for a virsh failure.
ERROR_PREFIXES = ("error:", "env:", "sh:", "virsh:")


def error_lines(result: CommandResult) -> list[str]:
    return error_lines_of(result.stderr)


def error_lines_of(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(ERROR_PREFIXES)]


def raise_if_unusable(result: CommandResult, spec: HostSpec) -> None:
    """LibvirtAbsent when virsh is missing or the socket does not exist, LibvirtUnusable when
    libvirtd did not answer; nothing when virsh reached libvirtd."""
    errs = error_lines(result)
    detail = f"virsh exit {result.exit_status}: {' '.join(errs) or result.stderr.strip() or 'no output'}"
    if result.exit_status == COMMAND_MISSING:
        raise LibvirtAbsent(
            f"virsh is not installed on host '{spec.name}' ({detail}); install libvirt-clients, "
            "or set backend: qemu for a plain-QEMU host",
            no_socket=False,
            host=spec.name,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )
    if any(all(m in line for m in NO_SOCKET_MARKS) for line in errs):
        raise LibvirtAbsent(
            f"libvirtd on host '{spec.name}' did not answer at {spec.libvirt_uri}: it has no socket, so it is "
            f"not running or libvirt is not installed ({detail}); start libvirtd, then try again (a host "
            "without libvirt needs backend: qemu)",
            no_socket=True,
            host=spec.name,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )
    if any(CONNECT_MARK in line for line in errs):
        raise LibvirtUnusable(
            f"libvirtd on host '{spec.name}' did not answer at {spec.libvirt_uri} ({detail}); check that "
            "libvirtd is running (start libvirtd if not) and this user may use its socket, then try again",
            host=spec.name,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )


def check_batch(result: CommandResult, spec: HostSpec, what: str) -> None:
    """virsh keeps going after a failed command in a batch; its errors are on stderr."""
    raise_if_unusable(result, spec)
    errs = error_lines(result)
    if errs or result.exit_status != 0:
        detail = " ".join(errs) or result.stderr.strip() or "no output"
        raise CommandFailed(
            f"{what} failed on host '{spec.name}' (virsh exit {result.exit_status}: {detail})",
            host=spec.name,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )


# Asked only when virsh found no socket: is a libvirt daemon (monolithic or modular) installed? Then
# the socket is missing because the daemon is stopped, an outage, not a host without libvirt.
DAEMON_INSTALLED_SCRIPT = r"""
for d in libvirtd virtqemud; do
  command -v "$d" >/dev/null 2>&1 && exit 0
  for p in /usr/sbin /usr/local/sbin /sbin; do [ -x "$p/$d" ] && exit 0; done
done
exit 1
"""


def daemon_installed() -> list[str]:
    """argv exiting 0 when libvirtd or virtqemud is installed on the host (root's PATH or sbin)."""
    return ["sh", "-c", DAEMON_INSTALLED_SCRIPT]


def daemon_stopped(absent: LibvirtAbsent, spec: HostSpec) -> LibvirtUnusable:
    """The error for a host whose libvirt daemon is installed but has no socket: not running."""
    return LibvirtUnusable(
        f"libvirtd on host '{spec.name}' did not answer at {spec.libvirt_uri}: it is installed but not running "
        f"(no socket; {' '.join(error_lines_of(absent.stderr)) or 'no output'}); start libvirtd (or virtqemud), "
        "then try again",
        host=spec.name,
        exit_status=absent.exit_status,
        stderr=absent.stderr,
    )


def virsh_errors(result: CommandResult) -> list[str]:
    """The `error:` lines virsh printed (a batch goes on after a failed command)."""
    return [ln.strip() for ln in result.stderr.splitlines() if ln.startswith("error:")]


def batch_check(job: Job, spec: HostSpec, purpose: str) -> Check:
    """virsh goes on after a failed command in a batch (exit status = the last one's): look at stderr.
    A libvirtd that did not answer is said so, with the step, and what to do."""

    def check(result: CommandResult) -> None:
        if result.exit_status != 0 or virsh_errors(result):
            try:
                raise_if_unusable(result, spec)
            except LibvirtUnusable as e:
                e.message = f'step "{purpose}" failed: {e.message}'
                e.args = (e.message,)
                raise
            raise job.step_failed(purpose, result)

    return check

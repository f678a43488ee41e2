"""Test rig: real sshd, libvirtd and TCG guests for qemu-mcp's integration tests.

Independent of the product code (imports nothing from qemu_mcp). Needs root.
"""

from .libvirt import TEST_DRIVER_URI, Guests, create_guests, destroy_guests, ensure_libvirtd, sweep_leftovers
from .proc import RigError, free_port, run
from .sshd import Sshd, SshHost, keygen, known_hosts_line, ssh_exec, start_sshd

__all__ = [
    "TEST_DRIVER_URI",
    "Guests",
    "RigError",
    "SshHost",
    "Sshd",
    "create_guests",
    "destroy_guests",
    "ensure_libvirtd",
    "free_port",
    "keygen",
    "known_hosts_line",
    "run",
    "ssh_exec",
    "start_sshd",
    "sweep_leftovers",
]

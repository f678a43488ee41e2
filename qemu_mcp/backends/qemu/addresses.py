"""Guest addresses of a plain-QEMU VM (its guest agent), its SSH forward and VNC display.

The agent listens on `<vm_dir>/<name>/qga.sock` (a virtio-serial port `org.qemu.guest_agent.0`);
qemu-mcp reaches the socket through the host's sshd (no program runs on the host). Plain QEMU has
no DHCP leases to read: user-mode networking hands out 10.0.2.15 inside QEMU itself.
"""

from __future__ import annotations

from qemu_mcp.backends.access import ssh_endpoint, vnc_endpoint
from qemu_mcp.backends.qemu.qga import QGAClient
from qemu_mcp.backends.qemu.vmconf import Home
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.models import VmInfo
from qemu_mcp.models_addresses import AddressInfo
from qemu_mcp.parsers.guest_access import argv_ssh_forward, conf_ssh_forward
from qemu_mcp.parsers.qga_interfaces import parse_qga_interfaces
from qemu_mcp.transport.base import Runner

QGA_SOCKET = "qga.sock"
AGENT_CHANNEL = "org.qemu.guest_agent.0"
AGENT_TIMEOUT = 5.0


def has_agent_channel(running_argv: list[str] | None) -> bool:
    """The running qemu has the guest agent's virtio-serial port (else there is nobody to ask)."""
    return any(AGENT_CHANNEL in arg for arg in running_argv or ())


def ssh_forward_of(conf_text: str | None, running_argv: list[str] | None) -> int | None:
    """The forward vm.conf records (nic.N.ssh_forward), else the running qemu's hostfwd to :22."""
    return conf_ssh_forward(conf_text) or (argv_ssh_forward(running_argv) if running_argv else None)


def with_access(spec: HostSpec, info: VmInfo, conf_text: str | None, running_argv: list[str] | None) -> VmInfo:
    """`info` with its ssh forward and VNC display (both known without another round trip)."""
    info.ssh = ssh_endpoint(spec, ssh_forward_of(conf_text, running_argv))
    info.vnc = vnc_endpoint(spec, info)
    return info


async def agent_addresses(
    runner: Runner, home: Home, timeout: float = AGENT_TIMEOUT
) -> tuple[list[AddressInfo], list[str]]:
    """(addresses the running guest's agent reports, notes): nothing and a note when it does not answer."""
    path = home.file(QGA_SOCKET)
    try:
        client = await QGAClient.connect(runner, path, timeout=timeout)
    except (QemuMcpError, OSError) as e:
        return [], [f"no guest agent answered at {path} ({e}); addresses need qemu-guest-agent in the guest"]
    try:
        reply = await client.execute("guest-network-get-interfaces", timeout=timeout)
        return parse_qga_interfaces(reply), []
    except (QemuMcpError, OSError, ValueError) as e:
        return [], [f"the guest agent at {path} did not list the interfaces ({e})"]
    finally:
        client.close()

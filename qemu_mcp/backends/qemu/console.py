"""vm_console on a plain-QEMU host: `<vm_dir>/<name>/serial.log` (qemu writes it) and QMP
`screendump` with format=png (QEMU >= 7.1) into the VM's directory, read back and removed."""

from __future__ import annotations

import secrets

from qemu_mcp.backends.qemu import read as qemu_read
from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound, QemuMcpError
from qemu_mcp.host import console
from qemu_mcp.models_console import ConsoleData
from qemu_mcp.parsers.sections import new_marker
from qemu_mcp.transport.base import Runner

QMP_TIMEOUT = 20.0


async def read_console(
    runner: Runner, spec: HostSpec, vm_dir: str | None, name: str, lines: int, screenshot: bool
) -> tuple[ConsoleData, bytes | None]:
    """(the console's tail with notes, the PNG screenshot or None)."""
    directory = qemu_read.vm_dir_of(spec, vm_dir)
    vm = await qemu_read.find_vm(runner, spec, directory, name)
    if vm is None:
        raise NotFound(f"VM '{name}' not found on host '{spec.name}' (no {directory}/{name}/vm.conf)")
    data = ConsoleData(host=spec.name, vm_name=name, serial_log=vm.home.serial)
    marker = new_marker()
    result = await runner.run(console.tail(marker, vm.home.serial, lines), read_only=True)
    console.fill(data, result.stdout, marker, spec.name)
    if not screenshot:
        return data, None
    if not vm.alive:
        data.notes.append(f"no screenshot: '{name}' is not running")
        return data, None
    path = vm.home.file(f"screendump-{secrets.token_hex(4)}.png")
    try:
        async with QMPClient.session(runner, vm.home.qmp, timeout=QMP_TIMEOUT) as qmp:
            await qmp.execute("screendump", {"filename": path, "format": "png"}, timeout=QMP_TIMEOUT)
    except (QemuMcpError, OSError) as e:
        data.notes.append(f"no screenshot: QMP screendump failed ({e}); QEMU >= 7.1 writes PNG")
    # Read back and remove in any case: a screendump that timed out may still write the file.
    result = await runner.run(console.read_and_remove(marker, path), read_only=False)
    return data, console.fill(data, result.stdout, marker, spec.name)

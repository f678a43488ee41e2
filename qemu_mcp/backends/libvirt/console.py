"""vm_console on a libvirt host: the serial log virtlogd writes (`<serial><log file=.../>`, recorded
as `<qmcp:serial-log path=.../>`) and `virsh screenshot`, in two round trips (find the domain
exactly by name with its XML; then tail + screenshot)."""

from __future__ import annotations

from qemu_mcp.backends.libvirt import target, virsh
from qemu_mcp.backends.libvirt.errors import NOT_FOUND_MARKS, check_batch, error_lines
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, NotFound
from qemu_mcp.host import console
from qemu_mcp.models_console import ConsoleData
from qemu_mcp.parsers.guest_access import xml_serial_log
from qemu_mcp.parsers.sections import new_marker
from qemu_mcp.transport.base import Runner


def no_log_note(name: str) -> str:
    return (
        f"'{name}' has no serial log file (its <serial> is a pty without <log>): read it live with "
        f"`virsh console`, or add <log file='/var/log/libvirt/qemu/{name}-serial.log' append='off'/> to its "
        "<serial> element (virsh edit; applies at the next start). VMs qemu-mcp creates have one."
    )


async def _domain(runner: Runner, spec: HostSpec, name: str) -> tuple[str, str]:
    """(UUID, live XML) of the domain named exactly `name`."""
    result = await runner.run(target.by_name(spec.libvirt_uri, name, [virsh.dumpxml(virsh.UUID_SLOT)]), read_only=True)
    uuid, xml = target.split_uuid(result.stdout)
    if uuid is None or not xml.strip():
        if any(m in result.stderr for m in NOT_FOUND_MARKS):
            raise NotFound(
                f"domain '{name}' not found on host '{spec.name}' (virsh: {' '.join(error_lines(result))}); "
                "list_vms shows the names that exist"
            )
        check_batch(result, spec, f"reading domain '{name}'")
        raise CommandFailed(f"reading domain '{name}' on host '{spec.name}' gave no XML", host=spec.name)
    return uuid, xml


async def read_console(
    runner: Runner, spec: HostSpec, name: str, lines: int, screenshot: bool
) -> tuple[ConsoleData, bytes | None]:
    """(the console's tail with notes, the raw screenshot image or None)."""
    uuid, xml = await _domain(runner, spec, name)
    log = xml_serial_log(xml)
    data = ConsoleData(host=spec.name, vm_name=name, serial_log=log)
    if log is None:
        data.notes.append(no_log_note(name))
    marker = new_marker()
    if screenshot:
        argv = console.tail_and_screenshot(marker, log, lines, spec.libvirt_uri, uuid)
    elif log is not None:
        argv = console.tail(marker, log, lines)
    else:
        return data, None
    result = await runner.run(argv, read_only=True)
    return data, console.fill(data, result.stdout, marker, spec.name)

"""vm_console: the tail of a VM's serial console and, when asked, its screen as PNG."""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.backends.libvirt import console as libvirt_console
from qemu_mcp.backends.qemu import console as qemu_console
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host.console import MAX_LINES
from qemu_mcp.images import as_png, png_size
from qemu_mcp.models_console import ConsoleData, ScreenshotInfo
from qemu_mcp.ops.backend import with_backend
from qemu_mcp.ops.fleet_core import FleetCore, HostRef

DEFAULT_LINES = 50


async def vm_console(
    fleet: FleetCore,
    name: str,
    ref: HostRef | None = None,
    *,
    lines: int = DEFAULT_LINES,
    screenshot: bool = False,
    vm_dir: str | None = None,
) -> tuple[ConsoleData, bytes | None]:
    """(the console data, the screen as PNG bytes or None)."""
    validation.vm_name(name)
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LINES:
        raise InvalidInput(f"lines {lines!r} is out of range: use 1 to {MAX_LINES}")
    if vm_dir is not None:
        validation.abs_path(vm_dir, "vm_dir")
    spec = fleet.resolve(ref)
    data, image = await with_backend(
        fleet,
        spec,
        lambda runner: libvirt_console.read_console(runner, spec, name, lines, screenshot),
        lambda runner: qemu_console.read_console(runner, spec, vm_dir, name, lines, screenshot),
    )
    if image is None:
        return data, None
    try:
        png, source = as_png(image)
        width, height = png_size(png)
    except ValueError as e:
        data.notes.append(f"the screenshot is not an image this server reads ({e})")
        return data, None
    data.screenshot = ScreenshotInfo(width=width, height=height, bytes=len(png), source_format=source)
    return data, png


def summary(data: ConsoleData) -> str:
    shot = f"; screen {data.screenshot.width}x{data.screenshot.height}" if data.screenshot else ""
    return f"{len(data.lines)} console line(s) of VM '{data.vm_name}' on host '{data.host}'{shot}"

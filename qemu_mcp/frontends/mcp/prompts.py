"""MCP prompts for the flows users run most, beyond snapshot_then_change (tools/snapshot.py):
investigate a VM that will not boot, and a capacity report of the whole fleet. Each prompt is a
plan in words that names the server's own tools; it reads nothing itself."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

# Added by the console work (issue 11/12); the prompt names it and says what to do without it.
CONSOLE_TOOL = "vm_console"


def register(server: MCPServer) -> None:
    server.prompt(
        title="Investigate a VM that won't boot",
        description="Find out why a VM does not start or does not come up, without changing anything",
    )(investigate_vm_boot)
    server.prompt(
        title="Fleet capacity report",
        description="CPU, memory, storage and disk load of every host, and where a new VM fits",
    )(fleet_capacity_report)


def _where(name: str | None, host: str | None) -> str:
    args = [f'name="{name}"'] if name else []
    return ", ".join([*args, *([f'host="{host}"'] if host else [])])


def investigate_vm_boot(
    name: Annotated[str, Field(description="The VM that does not boot, exactly as list_vms shows it")],
    host: Annotated[str | None, Field(description="Inventory host (default: this machine)")] = None,
    symptom: Annotated[str | None, Field(description="What the user sees (e.g. 'stuck at the firmware')")] = None,
) -> str:
    """Read-only first: the definition, the host, the console; changes only with the user's yes."""
    on = f" on host '{host}'" if host else ""
    vm, h = _where(name, host), _where(None, host)
    seen = f"\nThe user reports: {symptom}\n" if symptom else ""
    return f"""The VM '{name}'{on} does not boot. Find out why; change nothing until the user agrees.
{seen}
1. get_vm_info({vm}): note status and state, `notes` (an unfinished create says so), the disks (path,
   format, capacity), the boot devices and firmware in the domain XML (libvirt) or vm.conf (plain QEMU),
   and the NICs. The same definition is the resource qemu-mcp://{host or "<host>"}/vm/{name}/domain.xml
   (libvirt) or .../vm.conf (plain QEMU).
2. host_info({h}): is the guest's qemu-system-<arch> present (`missing`)? Is KVM usable (`kvm`)? If not,
   `kvm_note` says why: the VM runs under TCG emulation and boots many times slower, so a "hang" may
   just be slowness.
3. If the VM is running: {CONSOLE_TOOL}({vm}) shows the serial console or a screenshot of the screen
   (firmware menu, boot loader, kernel panic, a login prompt that means it did boot). If the server has
   no {CONSOLE_TOOL} tool, say so and use monitor_vm_status({vm}, count=3): a vCPU busy at 100% with no
   disk I/O points at a boot loop or a firmware that found nothing to boot.
4. If it is shut off or crashed: check each disk and ISO exists where the definition says, with
   list_storage_pools({h}) and list_storage_pools(pool=<the pool>) (which VM uses each volume, its
   backing file). A missing backing file, a raw disk with no OS, or an ISO listed first in the boot order
   after the install are the usual causes.
5. Report what you found, the most likely cause and the fix (e.g. manage_vm action=modify, start, or a
   change on the host). Before any change, offer snapshot_then_change so it can be undone, and ask."""


def fleet_capacity_report(
    host: Annotated[str | None, Field(description="One inventory host (default: every host)")] = None,
) -> str:
    """Every read is fleet-wide when `host` is omitted: one call per tool, not one per host."""
    scope = f"the host '{host}'" if host else "every host in the inventory"
    h = _where(None, host)
    return f"""Write a capacity report of {scope}. Read only; change nothing.

1. list_hosts(): which hosts are reachable, their backend and latency. Unreachable hosts go in the report
   as such, with their error.
2. For each reachable host: host_info(host=...) for CPUs, memory_mib, KVM (kvm, kvm_note), and
   host_stats(host=..., interval=5) for each disk's %util, await and throughput.
3. list_vms({h}): per host, the VMs with their status, vCPUs and memory. Add up vCPUs and memory of the
   running VMs, and of all VMs (what is committed if they all start).
4. list_storage_pools({h}): capacity, allocation, available and volume count of each pool (libvirt
   pools, or vm_dir and image_dir on plain-QEMU hosts). An inactive pool reports no sizes: say so.
5. The report: one table row per host with CPUs, vCPUs running / defined (and the ratio), memory
   running / defined / host, the fullest pool (% used, GiB free), the busiest disk (%util). Then flag:
   memory committed above 100% of the host, vCPUs above 4 per CPU, a pool above 80% full, a disk above
   80% util, a host without KVM. End with where a new VM of 2 vCPUs, 4 GiB and a 20 GiB disk fits best."""

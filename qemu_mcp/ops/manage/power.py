"""manage_vm start, stop and reboot."""

from __future__ import annotations

from qemu_mcp.errors import CommandFailed, CommandTimeout, Conflict
from qemu_mcp.ops.manage.call import (
    Call,
    existing,
    read_back,
    require_consent,
    stop_guest,
)
from qemu_mcp.ops.manage.reach import wait_step


async def start(call: Call) -> str:
    vm = await existing(call)
    if vm.running:
        resume = "virsh resume" if call.backend.kind == "libvirt" else "QMP cont"
        hint = f" (resume it with {resume})" if vm.status == "paused" else ""
        raise Conflict(f"{call.where} is already {vm.state}{hint}; nothing to start")
    await call.job.report(0, 1, f"starting '{vm.name}'")
    await call.backend.start(call.job, vm)
    if call.req.dry_run:
        return f"would start {call.where}"
    after = await read_back(call)
    if after is None or not after.running:
        state = after.state if after else "gone"
        raise CommandFailed(f"{call.where} was started but reads back as '{state}'", call.spec.name)
    return f"started {call.where}; it is {after.state}" + await wait_step(call, after.uuid)


async def stop(call: Call) -> str:
    vm = await existing(call)
    if not vm.running:
        raise Conflict(f"{call.where} is already {vm.state}; nothing to stop")
    if call.req.force:
        require_consent(call, vm)
    await stop_guest(
        call,
        vm,
        force=call.req.force,
        then="Retry with force=true to power it off at once (like pulling the plug).",
    )
    if call.req.dry_run:
        return f"would {'power off' if call.req.force else 'shut down'} {call.where}"
    after = await read_back(call)
    if after is not None and after.running:
        raise CommandFailed(f"{call.where} still reads as '{after.state}' after stopping it", call.spec.name)
    how = "powered off (forced)" if call.req.force else "shut down"
    return f"{call.where} {how}; it is {after.state if after else 'gone (it was transient)'}"


async def reboot(call: Call) -> str:
    vm = await existing(call)
    if not vm.running:
        raise Conflict(f"{call.where} is {vm.state}, so it cannot reboot; use action=start to boot it")
    if call.req.force:
        require_consent(call, vm)
        await call.backend.reset(call.job, vm)
        how = "reset (forced)"
    else:
        timeout = call.req.timeout
        if not await call.backend.reboot(call.job, vm, timeout):
            raise CommandTimeout(
                f"{call.where} did not reboot within {timeout:g} s after the ACPI reboot request "
                "(the guest may have no OS, or ignore ACPI); it is still running as before. "
                "Retry with force=true to reset it at once (like pressing the reset button).",
                call.spec.name,
            )
        how = "rebooted"
    if call.req.dry_run:
        return f"would {'reset' if call.req.force else 'reboot'} {call.where}"
    after = await read_back(call)
    return f"{call.where} {how}; it is {after.state if after else 'gone'}"

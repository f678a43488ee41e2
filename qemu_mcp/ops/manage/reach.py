"""The wait_for_ip step of create, start (and clone): after the VM runs, wait until it can be reached."""

from __future__ import annotations

from qemu_mcp.errors import QemuMcpError
from qemu_mcp.ops.addresses import Target, wait_for_address
from qemu_mcp.ops.manage.call import Call


async def wait_step(call: Call, uuid: str) -> str:
    """'' when no wait was asked; else a sentence for the flow's message (also on a timeout: the
    VM was made and runs, so a slow guest is reported, not undone)."""
    seconds = call.req.wait_for_ip
    if not seconds:
        return ""
    if call.req.dry_run:
        call.job.note(f"would wait up to {seconds:g} s for an address or the SSH forward to answer")
        return ""
    # The VM is made and runs: a wait that fails or is cancelled must not undo it.
    call.job.commit()
    target = Target(call.spec, call.backend.kind, call.req.name, uuid, call.req.vm_dir)
    try:
        wait = await wait_for_address(call.job.runner, target, seconds, call.job.report)
    except QemuMcpError as e:  # never undo a VM that was made because the wait went wrong
        call.details.reachable = False
        return f"; waiting for its address failed: {e}"
    call.details.addresses = wait.addresses
    call.details.ssh = wait.ssh
    call.details.reachable = not wait.timed_out
    return "; " + wait.sentence(seconds)

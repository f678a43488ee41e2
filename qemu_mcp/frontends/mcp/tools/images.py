"""Base images on hosts (issue 11): list_images (read) and upload_image (a change; overwrite is
dangerous and asks for confirmation)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from pydantic import Field

from qemu_mcp.consent import Consent
from qemu_mcp.frontends.mcp.tools.common import (
    Host,
    SshKey,
    SshPort,
    SshPwd,
    SshUser,
    add_tool,
    answer,
    caller,
    fleet_of,
    unreachable,
)
from qemu_mcp.frontends.mcp.tools.confirm import ConfirmAnswer, ask, consent_from
from qemu_mcp.models_images import ListImagesResult, UploadImageResult

LIST_IMAGES = (
    "List the base images in a host's image_dir (hosts.yaml; default <vm_dir>/images), or on every "
    "inventory host when `host` is omitted and no ssh_* argument is given: name, path, format (qemu-img info: "
    ".qcow2, .raw, .iso by extension; a .img file as it is, qcow2 or raw), virtual and actual size, "
    "backing chain (qemu-img info --backing-chain) and used_by: the VMs whose disks are overlays on it "
    "(manage_vm delete refuses to delete a VM whose disk other VMs build on). Unreachable hosts are "
    "listed in data.errors."
)
UPLOAD_IMAGE = (
    "Copy a qcow2, raw or ISO image file from the server's machine to a host's image_dir (over SFTP on "
    "the host's SSH connection; a plain copy for the local host), with progress. The copy is written "
    "under a temporary name, checked with sha256sum on the host against the local file's digest, then "
    "renamed into place. An existing image is never replaced unless overwrite=true, which needs "
    "confirmation (confirm=true, or the user is asked) and is refused while a VM builds on it. The "
    "image can then be used by manage_vm create image=<name>. dry_run=true changes nothing."
)


def register(server: MCPServer) -> None:
    add_tool(server, list_images, title="List base images", description=LIST_IMAGES, idempotent=True,
             open_world=True)  # fmt: skip
    add_tool(server, upload_image, title="Upload a base image", description=UPLOAD_IMAGE, idempotent=False,
             open_world=False)  # fmt: skip


async def list_images(
    ctx: Context,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> ListImagesResult:
    from qemu_mcp.ops import images as image_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    data = await answer(image_ops.list_images(await fleet_of(ctx), ref))
    msg = unreachable(f"found {data.image_count} image(s) on {data.host}", data.errors)
    return ListImagesResult(success=not data.errors or bool(data.images), message=msg, data=data)


async def upload_consent(
    ctx: Context, local_path: str, name: str | None, overwrite: bool, confirm: bool, dry_run: bool, host: str | None
) -> Elicit[ConfirmAnswer] | Consent:
    """Ask before an upload that may replace a file (overwrite=true)."""
    if confirm or dry_run or not overwrite:
        return Consent(confirm, "confirm" if confirm else "none")
    target = name or local_path.rsplit("/", 1)[-1]
    return ask(ctx, f"Replace the image '{target}' on host '{host or 'local'}' if it exists?")


async def upload_image(
    ctx: Context,
    local_path: Annotated[str, Field(description="Image file on the server's machine (.qcow2, .raw, .img, .iso)")],
    consent: Annotated[ElicitationResult[ConfirmAnswer], Resolve(upload_consent)],
    name: Annotated[str | None, Field(description="File name in image_dir (default: the local file's name)")] = None,
    overwrite: Annotated[bool, Field(description="Replace an existing image of that name (confirmed)")] = False,
    confirm: Annotated[bool, Field(description="Confirm overwrite=true")] = False,
    dry_run: Annotated[bool, Field(description="Only return the steps that would run")] = False,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> UploadImageResult:
    from qemu_mcp.ops import images as image_ops
    from qemu_mcp.ops.fleet import HostRef

    async def progress(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    return await answer(
        image_ops.upload_image(
            await fleet_of(ctx),
            ref,
            local_path,
            name=name,
            overwrite=overwrite,
            consent=consent_from(consent, confirm),
            dry_run=dry_run,
            progress=progress,
            who=caller(ctx),
        )
    )

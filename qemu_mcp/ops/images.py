"""Base images on hosts (issue 11): list_images (one round trip per host, fleet-wide when no host
is named) and upload_image (SFTP to a temp name, sha256sum on the host, atomic rename)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import secrets
import time

from qemu_mcp import levels
from qemu_mcp.audit import AuditEntry
from qemu_mcp.auth import STDIO, Principal
from qemu_mcp.backends.job import Job, ProgressFn, Undo
from qemu_mcp.config import HostSpec
from qemu_mcp.consent import Consent
from qemu_mcp.errors import CommandFailed, ConfirmationRequired, Conflict, InvalidInput, NotFound
from qemu_mcp.host import fs, images
from qemu_mcp.models_images import ChainLink, ImageInfo, ListImagesData, UploadImageData, UploadImageResult
from qemu_mcp.ops import guard
from qemu_mcp.ops.backend import backend_of
from qemu_mcp.ops.fleet_core import FleetCore, HostRef, across_hosts
from qemu_mcp.ops.manage.actions import allowed_host, audited, undone_on_failure
from qemu_mcp.parsers.image_list import ImageListing, overlay_users, parse_image_listing
from qemu_mcp.parsers.path_status import parse_path_status
from qemu_mcp.parsers.sections import new_marker
from qemu_mcp.transport.base import Runner

HASH_CHUNK = 4 * 1024 * 1024


# ---- list


async def read_listing(fleet: FleetCore, spec: HostSpec, runner: Runner | None = None) -> ImageListing:
    """The image directory and every VM's disks with their backing chains, in one command."""
    kind = await backend_of(fleet, spec)
    where = spec.libvirt_uri if kind == "libvirt" else spec.vm_dir
    marker = new_marker()
    result = await (runner or fleet.runner(spec)).run(
        images.list_argv(spec.images, marker, kind, where), read_only=True
    )
    if result.exit_status != 0:
        raise CommandFailed(f"listing {spec.images} on host '{spec.name}' failed: {result.stderr.strip()[:300]}",
                            host=spec.name)  # fmt: skip
    return parse_image_listing(result.stdout, marker)


def image_infos(spec: HostSpec, listing: ImageListing) -> list[ImageInfo]:
    users = overlay_users(listing)
    out = []
    for image in listing.images:
        top = image.chain[0] if image.chain else None
        info = ImageInfo(
            host=spec.name, name=posixpath.basename(image.path), path=image.path,
            format=top.format if top and top.format else image.format,
            virtual_size_bytes=top.virtual_size if top else None, actual_size_bytes=top.actual_size if top else None,
            backing_chain=[ChainLink(path=c.path, format=c.format, virtual_size_bytes=c.virtual_size,
                                     actual_size_bytes=c.actual_size) for c in image.chain[1:]],
            used_by=users.get(image.path, []),
        )  # fmt: skip
        if image.error:
            info.notes.append(f"qemu-img info failed: {image.error}")
        out.append(info)
    return out


async def _host_images(fleet: FleetCore, spec: HostSpec) -> list[ImageInfo]:
    return image_infos(spec, await read_listing(fleet, spec))


async def list_images(fleet: FleetCore, ref: HostRef | None = None) -> ListImagesData:
    specs, answers, errors = await across_hosts(fleet, ref, lambda s: _host_images(fleet, s), "listing its images")
    found = [i for _, infos in answers for i in infos]
    return ListImagesData(
        host=", ".join(s.name for s in specs), image_count=len(found), images=found, errors=errors,
        image_dirs={s.name: s.images for s in specs},
    )  # fmt: skip


# ---- upload


def local_image(local: str, name: str | None) -> tuple[str, str, str, int]:
    """(the local path, the image's name on the host, its format, its size), checked. A .img file
    may be raw or qcow2 (cloud images often are): its format is what the file is."""
    path = os.path.abspath(os.path.expanduser(local))
    if not os.path.isfile(path):
        raise NotFound(f"{local} is not a file on this machine: give the path of a qcow2, raw or ISO image")
    target = images.image_name(name if name is not None else os.path.basename(path))
    fmt = images.image_format(target)
    with open(path, "rb") as f:
        magic = f.read(4)
    if (magic == b"QFI\xfb") != (fmt == "qcow2") and not target.lower().endswith(".img"):
        what = "a qcow2 image" if magic == b"QFI\xfb" else "not a qcow2 image"
        raise InvalidInput(f"{local} is {what} but the name {target!r} says {fmt}: name it by its format")
    if target.lower().endswith(".img"):
        fmt = "qcow2" if magic == b"QFI\xfb" else "raw"
    return path, target, fmt, os.path.getsize(path)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def upload_image(
    fleet: FleetCore,
    ref: HostRef | None,
    local: str,
    *,
    name: str | None = None,
    overwrite: bool = False,
    consent: Consent | None = None,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    who: Principal = STDIO,
) -> UploadImageResult:
    ref = ref or HostRef()
    path, target, fmt, size = local_image(local, name)
    entry = fleet.audit.begin(
        who=who.subject, tool=levels.UPLOAD_IMAGE, action="upload", host=ref.host or "local", vm=None,
        arguments={"local": path, "name": target, "overwrite": overwrite, "dry_run": dry_run, "host": ref.host},
    )  # fmt: skip
    work = _upload(
        fleet, ref, entry, (path, target, fmt, size), overwrite, consent or Consent(), dry_run, progress, who
    )
    return await audited(entry, work)


async def _upload(
    fleet: FleetCore, ref: HostRef, entry: AuditEntry, image: tuple[str, str, str, int], overwrite: bool,
    consent: Consent, dry_run: bool, progress: ProgressFn | None, who: Principal,
) -> UploadImageResult:  # fmt: skip
    path, target, fmt, size = image
    spec, policy = allowed_host(fleet, ref, entry, "upload", target, who, tool=levels.UPLOAD_IMAGE)
    runner = fleet.runner(spec)
    job = Job(runner, spec.name, dry_run=dry_run, progress=progress)
    entry.commands = job.commands
    dest = posixpath.join(spec.images, target)
    await guard.check_paths(job, policy, {"image": dest})
    exists = await _check_dest(fleet, spec, job, dest, overwrite, consent)
    await job.report(0, size, f"hashing {path}")
    digest = await asyncio.to_thread(_sha256, path)
    started = time.monotonic()
    await undone_on_failure(job, _copy_and_place(job, runner, path, dest, size, digest, replace=exists))
    seconds = None if dry_run else round(time.monotonic() - started, 2)
    data = UploadImageData(host=spec.name, path=dest, format=fmt, size_bytes=size, sha256=digest,
                           overwritten=exists, dry_run=dry_run, seconds=seconds, commands=job.commands)  # fmt: skip
    verb = "would upload" if dry_run else "uploaded"
    replacing = " (replacing the old file)" if exists else ""
    message = f"{verb} {path} to {dest} on host '{spec.name}'{replacing}, sha256 {digest}"
    return UploadImageResult(success=True, message=message, data=data)


async def _check_dest(fleet: FleetCore, spec: HostSpec, job: Job, dest: str, overwrite: bool, consent: Consent) -> bool:
    """Whether `dest` exists (then overwrite=true, consent, and no VM built on it); makes image_dir."""
    image_dir = spec.images
    purpose = f"checking {image_dir} and {dest}"
    result = await job.read(purpose, fs.path_status([image_dir, dest]))
    if result.exit_status != 0:
        raise job.step_failed(purpose, result)
    kinds = dict(parse_path_status(result.stdout, [image_dir, dest]))
    if kinds[image_dir] in ("file", "other"):
        raise InvalidInput(
            f"image_dir {image_dir} on host '{spec.name}' is not a directory; fix image_dir in hosts.yaml"
        )
    if kinds[dest] in ("dir", "other"):
        raise Conflict(f"{dest} on host '{spec.name}' exists and is not a regular file: choose another name")
    if kinds[image_dir] == "missing":
        await job.change(f"creating {image_dir}", fs.make_dirs([image_dir]))
    if kinds[dest] == "missing":
        return False
    if not overwrite:
        raise Conflict(f"image {dest} already exists on host '{spec.name}' and is never replaced unless asked: "
                       "pass overwrite=true (confirmed), or choose another name")  # fmt: skip
    users = overlay_users(await read_listing(fleet, spec, job.runner)).get(dest, [])
    if users:
        raise Conflict(f"image {dest} on host '{spec.name}' is the base of VM(s) {', '.join(users)}: replacing it "
                       "would corrupt their disks; delete those VMs first or upload under another name")  # fmt: skip
    if not consent.given and not job.dry_run:
        raise ConfirmationRequired(f"replacing the image {dest} on host '{spec.name}' needs confirmation: pass "
                                   "confirm=true (CLI: --yes)")  # fmt: skip
    return True


async def _copy_and_place(
    job: Job, runner: Runner, path: str, dest: str, size: int, digest: str, *, replace: bool
) -> None:
    tmp = posixpath.join(posixpath.dirname(dest), f".{posixpath.basename(dest)}.upload-{secrets.token_hex(4)}")
    copy_in = getattr(runner, "copy_in", None)
    if copy_in is None:
        raise CommandFailed(f"host '{job.host}' is reached by a transport that cannot copy files", host=job.host)
    job.push_undo(Undo(f"removing the partial upload {tmp}", fs.remove_files([tmp])))

    async def copied(done: int, total: int) -> None:
        await job.report(done, total, f"copied {done >> 20} of {total >> 20} MiB to {job.host}")

    await job.act(f"copying {path} to {tmp} ({size} bytes)", ["sftp-put", path, tmp],
                  lambda: copy_in(path, tmp, copied))  # fmt: skip
    if job.dry_run:
        job.note(f"would check the copy with sha256sum on the host against {digest}")
    else:
        purpose = f"checking the sha256 of {tmp} on the host"
        result = await job.read(purpose, images.sha256(tmp))
        if result.exit_status != 0:
            raise job.step_failed(purpose, result)
        remote = result.stdout.split()[0] if result.stdout.split() else ""
        if remote != digest:
            raise CommandFailed(f"the copy of {path} on host '{job.host}' has sha256 {remote or '?'}, not {digest}: "
                                "it was damaged on the way; upload it again", host=job.host)  # fmt: skip
    argv = images.replace(tmp, dest) if replace else images.place(tmp, dest)
    await job.change(f"moving the upload into place as {dest}", argv)

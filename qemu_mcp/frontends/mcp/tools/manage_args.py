"""manage_vm's typed arguments, one alias each, so the tool's signature stays one line a parameter
(their descriptions are the input schema's)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

Action = Literal["create", "start", "stop", "reboot", "delete", "modify", "clone"]

NameArg = Annotated[str, Field(description="VM name")]
ActionArg = Annotated[Action, Field(description="create, start, stop, reboot, delete, modify or clone")]
ArchArg = Annotated[str | None, Field(description="create: x86_64 or aarch64 (arm64)")]
MemoryArg = Annotated[str | None, Field(description="create/modify: e.g. 2G, 4096M (default 2G)")]
DiskArg = Annotated[str | None, Field(description="create/modify: 'path=/data/vm/x.qcow2,size=20G' (parts optional)")]
IsoArg = Annotated[str | None, Field(description="create: ISO path on the host, booted first")]
VcpusArg = Annotated[int | None, Field(description="create/modify: vCPU count (default 2)")]
VmDirArg = Annotated[
    str | None, Field(description="Plain-QEMU hosts: where the VMs live (any action); libvirt: create's disk dir")
]
AddDiskArg = Annotated[
    str | None, Field(description="modify: new disk 'size=10G[,path=..][,format=qcow2|raw][,bus=virtio|sata|scsi]'")
]
RemoveDiskArg = Annotated[str | None, Field(description="modify: detach this disk (a target such as vdb)")]
KeepFileArg = Annotated[
    bool | None, Field(description="remove_disk: keep the image file (default true; false deletes it)")
]
ForceArg = Annotated[bool, Field(description="stop: power off at once; reboot: reset; delete: a running VM")]
ConfirmArg = Annotated[
    bool, Field(description="Confirm delete, force stop/reboot, modify's restart, remove_disk keep_file=false")
]
DryRunArg = Annotated[bool, Field(description="Only return the commands that would run")]
StartArg = Annotated[bool, Field(description="create: boot the new VM")]
TimeoutArg = Annotated[float | None, Field(description="stop/reboot: seconds to wait for the guest (default 60)")]
WaitForIpArg = Annotated[
    float | None,
    Field(description="create (start=true)/start: seconds to wait for a guest address or the SSH forward"),
]
ImageArg = Annotated[str | None, Field(description="create: base image, a host path or a name in the host's image_dir")]
LinkedArg = Annotated[
    bool | None, Field(description="create with image / clone: qcow2 overlay (default true) or full copy")
]
SourceArg = Annotated[str | None, Field(description="clone: the existing VM to clone")]

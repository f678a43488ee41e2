"""Results of the image tools (issue 11): list_images and upload_image."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from qemu_mcp.models import CommandRecord, Envelope, FleetListing


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ChainLink(_Model):
    """One backing image below an image."""

    path: str
    format: str | None = None
    virtual_size_bytes: int | None = None
    actual_size_bytes: int | None = None


class ImageInfo(_Model):
    host: str
    name: str = Field(description="File name in the host's image_dir")
    path: str
    format: str | None = Field(
        None, description="qcow2 or raw (an ISO is raw): by extension, a .img file as qemu-img reads it"
    )
    virtual_size_bytes: int | None = Field(None, description="Size the guest sees")
    actual_size_bytes: int | None = Field(None, description="Bytes allocated on the host")
    backing_chain: list[ChainLink] = Field(
        default_factory=list, description="Backing images below this one, nearest first (empty: standalone)"
    )
    used_by: list[str] = Field(
        default_factory=list, description="VMs whose disks use this image as a base (linked clones, overlays)"
    )
    notes: list[str] = Field(default_factory=list)


class ListImagesData(FleetListing):
    image_count: int
    image_dirs: dict[str, str] = Field(default_factory=dict, description="Each host's image_dir")
    images: list[ImageInfo]


class ListImagesResult(Envelope):
    data: ListImagesData


class UploadImageData(_Model):
    host: str
    path: str = Field(description="Where the image is on the host")
    format: str
    size_bytes: int
    sha256: str = Field(description="Hex digest, computed locally and checked on the host with sha256sum")
    overwritten: bool = False
    dry_run: bool = False
    seconds: float | None = Field(None, description="Time the copy took")
    commands: list[CommandRecord] = Field(default_factory=list)


class UploadImageResult(Envelope):
    data: UploadImageData

"""Which other VMs have a file in their disks' backing chains: delete's last check before it removes
a base image qemu-mcp made (backends.libvirt.metadata). A shut-off domain's XML names only its top
images, so each other VM's qcow2 disk is asked with `qemu-img info -U --backing-chain` (-f qcow2:
the top image's format is the domain's, never probed), all in one round trip. A chain that cannot
be read counts as a use: the base image is kept, and the answer says why."""

from __future__ import annotations

import json

from lxml import etree

from qemu_mcp import validation
from qemu_mcp.backends.job import Job
from qemu_mcp.parsers.sections import new_marker, script_marker, tagged_sections

CHAIN_SCRIPT = r"""
m=$1
shift
i=0
for f do
  i=$((i + 1))
  if out=$(qemu-img info -U --backing-chain --output=json -f qcow2 -- "$f" 2>&1); then
    echo "$m chain $i"
  else
    echo "$m error $i"
  fi
  printf '%s\n' "$out"
done
"""


def qcow2_disks(root: etree._Element) -> list[str]:
    """The domain's writable qcow2 file disks (the only images that can have a backing chain)."""
    return [
        src.get("file", "")
        for d in root.iterfind("devices/disk")
        if (src := d.find("source")) is not None and src.get("file")
        and (drv := d.find("driver")) is not None and drv.get("type") == "qcow2"
    ]  # fmt: skip


def chain_argv(files: list[str], marker: str) -> list[str]:
    return ["sh", "-c", CHAIN_SCRIPT, "qmcp-chains", script_marker(marker), *(validation.abs_path(f) for f in files)]


def chains_from(stdout: str, marker: str, count: int) -> list[set[str] | None]:
    """Per file (in order): every image below it in its chain, or None when it could not be read."""
    out: list[set[str] | None] = [None] * count
    for s in tagged_sections(stdout, marker):
        n = s.number
        if s.tag != "chain" or n is None or not 1 <= n <= count:
            continue
        try:
            images = json.loads("\n".join(s.lines))
        except ValueError:
            continue
        if isinstance(images, list):
            below = {i.get("filename") for i in images[1:] if isinstance(i, dict)}
            below |= {i.get("full-backing-filename") for i in images if isinstance(i, dict)}
            out[n - 1] = {b for b in below if isinstance(b, str)}
    return out


async def backing_users(job: Job, others: dict[str, list[str]], bases: set[str]) -> dict[str, list[str]]:
    """For each of `bases`, the VMs (of `others`: VM name -> its qcow2 files) whose chains hold it."""
    users: dict[str, list[str]] = {b: [] for b in bases}
    files = [(vm, f) for vm, fs in others.items() for f in fs]
    if not bases or not files:
        return users
    marker = new_marker()
    result = await job.read("reading the other VMs' backing chains", chain_argv([f for _, f in files], marker))
    for (vm, _), chain in zip(files, chains_from(result.stdout, marker, len(files)), strict=True):
        for base in bases:
            if chain is None:
                users[base].append(f"{vm} (its backing chain could not be read)")
            elif base in chain:
                users[base].append(vm)
    return {b: list(dict.fromkeys(u)) for b, u in users.items()}

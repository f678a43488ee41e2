"""Capture real list_vms results (the MCP tool's structured content) for the output-schema tests.

    sudo python scripts/capture_list_vms_result.py [--vms 50]

Defines --vms tiny shut-off domains on qemu:///system named qmcp-cap<pid>-NN (varied devices:
a cdrom, a VNC display, several NICs), runs the list_vms tool on host `local` (filtered to them),
and list_vms, get_vm_info, host_info on the built-in `demo` host (libvirt's test driver: a running
VM) and list_hosts, through a real MCP client; writes each tool result (its structured content) to
fixtures/debian-12/mcp/<tool>.<which>.json, and undefines the domains whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcp import Client  # noqa: E402

from qemu_mcp.config import Inventory  # noqa: E402
from qemu_mcp.frontends.mcp.server import build_server  # noqa: E402

URI = "qemu:///system"
OUT = ROOT / "fixtures" / "debian-12" / "mcp"


def domain_xml(name: str, i: int) -> str:
    cdrom = "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>" if i % 3 == 0 else ""
    vnc = "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>" if i % 2 == 0 else ""
    nics = "".join("<interface type='user'><model type='virtio'/></interface>" for _ in range(1 + i % 3))
    return (
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>{16 + i}</memory><vcpu>{1 + i % 4}</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        f"<driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/{name}.qcow2'/>"
        f"<target dev='vda' bus='virtio'/></disk>{cdrom}{nics}{vnc}</devices></domain>"
    )


CALLS = {  # file name -> (tool, arguments); PREFIX is replaced by the bench domains' name prefix
    "list_vms.local-N": ("list_vms", {"host": "local", "filter_name": "PREFIX"}),
    "list_vms.demo": ("list_vms", {"host": "demo"}),
    "get_vm_info.demo": ("get_vm_info", {"host": "demo", "name": "test"}),
    "host_info.demo": ("host_info", {"host": "demo"}),
    "list_hosts": ("list_hosts", {}),
}


async def results(prefix: str) -> dict[str, object]:
    """Each call through a real (in-process) MCP client, which also checks it against the schema."""
    out = {}
    async with Client(build_server(Inventory([]))) as client:
        for what, (tool, arguments) in CALLS.items():
            args = {k: prefix if v == "PREFIX" else v for k, v in arguments.items()}
            result = await client.call_tool(tool, args)
            assert not result.is_error, (what, result)
            out[what] = result.structured_content
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--vms", type=int, default=50)
    args = p.parse_args()
    prefix = f"qmcp-cap{os.getpid()}-"
    names = []
    try:
        with tempfile.TemporaryDirectory() as d:
            for i in range(args.vms):
                name = f"{prefix}{i:02d}"
                (Path(d) / "x.xml").write_text(domain_xml(name, i))
                subprocess.run(["virsh", "-q", "-c", URI, "define", str(Path(d) / "x.xml")], check=True)
                names.append(name)
        got = asyncio.run(results(prefix))
        OUT.mkdir(parents=True, exist_ok=True)
        for what, content in got.items():
            name = what.replace("-N", f"-{args.vms}")
            (OUT / f"{name}.json").write_text(json.dumps(content, indent=1) + "\n")
    finally:
        for name in names:
            subprocess.run(["virsh", "-q", "-c", URI, "undefine", name], check=False)


if __name__ == "__main__":
    main()

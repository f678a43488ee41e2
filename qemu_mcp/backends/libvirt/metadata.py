"""What qemu-mcp records in a domain's <metadata>, in its own XML namespace: that qemu-mcp made
the domain, and whether its create finished. A create defines the domain FIRST, marked
state="creating", and marks it "created" only at the end: a create that was interrupted (server
killed, a define that outlived its timeout) leaves a domain that says so, which list_vms shows as
a note and manage_vm delete removes."""

from __future__ import annotations

from lxml import etree

NS = "http://qemu-mcp/xmlns/vm/1"
PREFIX = "qmcp"
CREATING, CREATED = "creating", "created"


def add(root: etree._Element, state: str) -> None:
    """<metadata><qmcp:vm state=...  created-by="qemu-mcp"/></metadata> under a <domain> root."""
    metadata = etree.SubElement(root, "metadata")
    etree.SubElement(metadata, f"{{{NS}}}vm", {"state": state, "created-by": "qemu-mcp"}, nsmap={PREFIX: NS})


def create_state(root: etree._Element) -> str | None:
    """The qemu-mcp create state of a parsed domain XML: 'creating', 'created', or None (not made by us)."""
    node = root.find(f"metadata/{{{NS}}}vm")
    return node.get("state") if node is not None else None


def unfinished_note(name: str) -> str:
    return (
        f"'{name}' is an unfinished create (qemu-mcp was interrupted, or a step outlived its timeout); "
        "delete it with manage_vm action=delete and create it again"
    )

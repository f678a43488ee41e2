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
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def add(root: etree._Element, state: str, facts: list[tuple[str, dict[str, str]]] | None = None) -> None:
    """<metadata><qmcp:vm state=...  created-by="qemu-mcp"/></metadata> under a <domain> root;
    `facts` (tag, attributes) become children of <qmcp:vm> (libvirt keeps one element per namespace)."""
    metadata = etree.SubElement(root, "metadata")
    vm = etree.SubElement(metadata, f"{{{NS}}}vm", {"state": state, "created-by": "qemu-mcp"}, nsmap={PREFIX: NS})
    for tag, attrs in facts or []:
        etree.SubElement(vm, f"{{{NS}}}{tag}", attrs)


def facts(xml: str) -> dict[str, dict[str, str]]:
    """The facts below <qmcp:vm> by tag (seed, ignition, ssh-forward, serial-log): {} if none."""
    if NS not in xml:
        return {}
    root = etree.fromstring(xml.encode(), _PARSER)
    node = root.find(f"metadata/{{{NS}}}vm")
    if node is None:
        return {}
    children = [c for c in node if isinstance(c.tag, str)]
    return {etree.QName(c).localname: {str(k): str(v) for k, v in c.attrib.items()} for c in children}


def create_state(xml: str) -> str | None:
    """The qemu-mcp create state of a domain XML: 'creating', 'created', or None (not made by us)."""
    if NS not in xml:  # cheap: most listings have nothing of ours to parse
        return None
    root = etree.fromstring(xml.encode(), _PARSER)
    node = root.find(f"metadata/{{{NS}}}vm")
    return node.get("state") if node is not None else None


def unfinished_note(name: str) -> str:
    return (
        f"'{name}' is an unfinished create (qemu-mcp was interrupted, or a step outlived its timeout); "
        "delete it with manage_vm action=delete and create it again"
    )

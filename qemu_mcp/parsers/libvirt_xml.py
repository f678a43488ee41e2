"""What the storage and network XML parsers share: a safe XML parser, text and size helpers. Pure."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from qemu_mcp.parsers.domain_xml import UNITS

# No entity expansion, no network: the XML may come from a remote host.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_root(xml: str, tag: str) -> etree._Element:
    """The root element, which must be <tag>. ValueError for anything else."""
    try:
        root = etree.fromstring(xml.encode(), PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"{tag} XML is not well-formed: {exc}") from None
    if root is None or root.tag != tag:
        raise ValueError(f"expected a <{tag}> XML document, got <{None if root is None else root.tag}>")
    return root


def text(node: etree._Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def attr(root: etree._Element, path: str, name: str) -> str | None:
    """Attribute `name` of the element at `path`, None when either is missing."""
    node = root.find(path)
    return None if node is None else node.get(name)


def name_of(root: etree._Element) -> str:
    """<name>, not stripped (libvirt keeps leading and trailing spaces in names)."""
    node = root.find("name")
    if node is None or not node.text:
        raise ValueError(f"<{root.tag}> XML has no <name>")
    return str(node.text)


def size_bytes(node: etree._Element | None) -> int | None:
    """A storage size element (<capacity unit='bytes'>N</capacity>) in bytes; no unit means bytes."""
    value = text(node)
    if node is None or value is None:
        return None
    factor = UNITS.get((node.get("unit") or "bytes").strip().lower())
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return None if factor is None else int(amount * factor)

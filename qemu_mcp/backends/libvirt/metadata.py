"""What qemu-mcp records in a domain's <metadata>, in its own XML namespace: that qemu-mcp made
the domain, whether its create finished, and which files it made for it.

A create defines the domain FIRST, marked state="creating", and marks it "created" only at the
end: a create that was interrupted (server killed, a define that outlived its timeout) leaves a
domain that says so, which list_vms shows as a note and manage_vm delete removes.

The files: one child per file qemu-mcp made for this VM, and `files="recorded"` on the element
once the list is kept (every create since issue 12):

    <metadata><qmcp:vm state="created" created-by="qemu-mcp" files="recorded">
      <qmcp:created-disk path="/var/lib/libvirt/images/web.qcow2"/>
      <qmcp:base-image path="..."/> <qmcp:seed path="..."/> <qmcp:ignition path="..."/>
      <qmcp:ssh-forward port="20022" address="127.0.0.1" via="qemu-commandline"/>
      <qmcp:serial-log path="/var/log/libvirt/qemu/web-serial.log"/>
    </qmcp:vm></metadata>

Files are the created-disk, base-image, seed and ignition children; the others are facts (the SSH
forward, the serial console's log, which virtlogd writes), kept as they are when the list changes.

manage_vm delete removes exactly those files (disks_kept lists every other one with the reason).
A domain without `files="recorded"` (created before the list was kept) keeps the older rule: its
writable, unshared file disks are its own."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from qemu_mcp import validation

NS = "http://qemu-mcp/xmlns/vm/1"
PREFIX = "qmcp"
CREATING, CREATED = "creating", "created"
DISK, BASE_IMAGE, SEED, IGNITION = "created-disk", "base-image", "seed", "ignition"
KINDS = (DISK, BASE_IMAGE, SEED, IGNITION)  # files; other children are facts (ssh-forward, serial-log)
RECORDED = "recorded"  # the value of files= when the children are the complete list
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Created:
    """The files qemu-mcp made for one VM, by kind, in the order they were made."""

    files: tuple[tuple[str, str], ...] = ()  # (kind, absolute path)
    # Other children, kept as they are when the list is rewritten: (tag, attributes), e.g.
    # ("ssh-forward", (("address", "127.0.0.1"), ("port", "20022"), ("via", "qemu-commandline"))).
    facts: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def of(self, kind: str) -> list[str]:
        return [p for k, p in self.files if k == kind]

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(p for _, p in self.files))

    def made_disk(self, path: str | None) -> bool:
        """A recorded disk, or the overlay an external snapshot put on one (`<image>.<snapshot>`,
        backends.libvirt.snapshot): libvirt made that on qemu-mcp's request, for this VM only."""
        return bool(path) and any(path == d or (path or "").startswith(d + ".") for d in self.of(DISK))

    def with_file(self, kind: str, path: str) -> Created:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of created file {kind!r}")
        validation.abs_path(path)
        return self if (kind, path) in self.files else Created((*self.files, (kind, path)), self.facts)

    def with_fact(self, tag: str, attrs: dict[str, str]) -> Created:
        if tag in KINDS or not tag.replace("-", "").isalpha():
            raise ValueError(f"not a fact's tag: {tag!r}")
        return Created(self.files, (*self.facts, (tag, tuple(sorted(attrs.items())))))

    def without(self, path: str) -> Created:
        return Created(tuple((k, p) for k, p in self.files if p != path), self.facts)


def element(state: str, created: Created | None, *, prefixed: bool = True) -> etree._Element:
    """<qmcp:vm state=... created-by="qemu-mcp" [files="recorded"]> with one child per file.
    prefixed=False: the same element outside any namespace, as `virsh metadata --set` wants it
    (libvirt puts it, children included, into NS under the --key prefix)."""
    tag = (lambda t: f"{{{NS}}}{t}") if prefixed else (lambda t: t)
    attrs = {"state": state, "created-by": "qemu-mcp"} | ({"files": RECORDED} if created is not None else {})
    vm = etree.Element(tag("vm"), attrs, nsmap={PREFIX: NS} if prefixed else None)
    for kind, path in created.files if created is not None else ():
        etree.SubElement(vm, tag(kind), {"path": path})
    for fact, fact_attrs in created.facts if created is not None else ():
        etree.SubElement(vm, tag(fact), dict(fact_attrs))
    return vm


def add(root: etree._Element, state: str, created: Created | None = None) -> None:
    """<metadata><qmcp:vm .../></metadata> under a <domain> root."""
    etree.SubElement(root, "metadata").append(element(state, created))


def set_command(uuid: str, state: str, created: Created, *, live: bool) -> list[str]:
    """virsh words replacing our metadata element of the domain `uuid` (persistent definition,
    and the running one too when `live`)."""
    xml = etree.tostring(element(state, created, prefixed=False), encoding="unicode")
    flags = ["--config", "--live"] if live else ["--config"]
    return ["metadata", "--domain", validation.domain_uuid(uuid), "--uri", NS, "--key", PREFIX, "--set", xml, *flags]


def _vm_node(xml: str) -> etree._Element | None:
    if NS not in xml:  # cheap: most listings have nothing of ours to parse
        return None
    return etree.fromstring(xml.encode(), _PARSER).find(f"metadata/{{{NS}}}vm")


def create_state(doc: etree._Element | str) -> str | None:
    """The qemu-mcp create state of a domain XML (text, or already parsed): 'creating', 'created', or
    None (not made by us)."""
    node = _vm_node(doc) if isinstance(doc, str) else doc.find(f"metadata/{{{NS}}}vm")
    return node.get("state") if node is not None else None


def created_files(xml: str) -> Created | None:
    """The files qemu-mcp made for the domain, from its XML; None when the domain keeps no list (not
    made by qemu-mcp, or made before the list was kept)."""
    return _files(_vm_node(xml))


def printed(text: str) -> tuple[str | None, Created | None]:
    """(create state, files) from what `virsh metadata --uri NS` prints: our element alone, without
    its namespace."""
    root = etree.fromstring(text.strip().encode(), _PARSER)
    if etree.QName(root).localname != "vm":
        return None, None
    return root.get("state"), _files(root)


def _files(node: etree._Element | None) -> Created | None:
    if node is None or node.get("files") != RECORDED:
        return None
    files, facts = [], []
    for child in node:
        kind = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if kind in KINDS and child.get("path", "").startswith("/"):
            files.append((kind, child.get("path", "")))
        elif kind and kind not in KINDS:
            facts.append((kind, tuple(sorted((str(k), str(v)) for k, v in child.attrib.items()))))
    return Created(tuple(files), tuple(facts))


def facts(xml: str) -> dict[str, dict[str, str]]:
    """Every child of <qmcp:vm> by tag (seed, ignition, ssh-forward, serial-log...): {} if none."""
    node = _vm_node(xml)
    if node is None:
        return {}
    children = [c for c in node if isinstance(c.tag, str)]
    return {etree.QName(c).localname: {str(k): str(v) for k, v in c.attrib.items()} for c in children}


def unfinished_note(name: str) -> str:
    return (
        f"'{name}' is an unfinished create (qemu-mcp was interrupted, or a step outlived its timeout); "
        "delete it with manage_vm action=delete and create it again"
    )

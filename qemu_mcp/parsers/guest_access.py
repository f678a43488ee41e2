"""How a guest is reached, from what its definition records. Pure.

libvirt domain XML: the SSH forward (qemu-mcp's `<qmcp:ssh-forward port=.../>` in <metadata>,
else a passt `<portForward address='127.0.0.1'><range start='PORT' to='22'/>`, else a
`qemu:commandline` `hostfwd=tcp:127.0.0.1:PORT-:22`) and the serial console's log file
(`<qmcp:serial-log path=.../>`, else `<serial><log file=.../>`, else a `<serial type='file'>`).
Plain QEMU: the forward of vm.conf (`nic.N.ssh_forward=PORT`) or of the running qemu's argv.
"""

from __future__ import annotations

import re

from lxml import etree

QMCP_NS = "http://qemu-mcp/xmlns/vm/1"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_HOSTFWD = re.compile(r"hostfwd=tcp:(?:127\.0\.0\.1)?:([0-9]{1,5})-[^,:]*:22(?:[,\s'\"]|$)")
_CONF_FORWARD = re.compile(r"^nic\.[0-9]+\.ssh_forward=([0-9]{1,5})\s*$", re.MULTILINE)
_MARKS = ("ssh-forward", "portForward", "hostfwd")


def _port(text: str | None) -> int | None:
    if text is None or not text.isdigit():
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def _root(xml: str) -> etree._Element | None:
    try:
        return etree.fromstring(xml.encode(), _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def xml_ssh_forward(xml: str) -> int | None:
    """The host port forwarded to the guest's port 22, or None. Cheap when there is none."""
    if not any(mark in xml for mark in _MARKS):
        return None
    root = _root(xml)
    if root is None:
        return None
    node = root.find(f"metadata//{{{QMCP_NS}}}ssh-forward")
    if node is not None and _port(node.get("port")) is not None:
        return _port(node.get("port"))
    for rng in root.iterfind("devices/interface/portForward/range"):
        if rng.get("to") == "22" and rng.getparent().get("proto", "tcp") == "tcp":  # type: ignore[union-attr]
            return _port(rng.get("start"))
    return argv_ssh_forward([a.get("value") or "" for a in root.iter("{*}arg")])


def xml_serial_log(xml: str) -> str | None:
    """Where the serial console is written on the host, or None."""
    root = _root(xml)
    if root is None:
        return None
    node = root.find(f"metadata//{{{QMCP_NS}}}serial-log")
    if node is not None and node.get("path"):
        return node.get("path")
    for serial in root.iterfind("devices/serial"):
        log = serial.find("log")
        if log is not None and log.get("file"):
            return log.get("file")
        source = serial.find("source")
        if serial.get("type") == "file" and source is not None and source.get("path"):
            return source.get("path")
    return None


def argv_ssh_forward(argv: list[str]) -> int | None:
    """The hostfwd to guest port 22 in a qemu argv (or libvirt's qemu:commandline args)."""
    for arg in argv:
        m = _HOSTFWD.search(arg)
        if m:
            return _port(m[1])
    return None


def conf_ssh_forward(conf_text: str | None) -> int | None:
    """`nic.N.ssh_forward=PORT` of a plain-QEMU vm.conf."""
    m = _CONF_FORWARD.search(conf_text or "")
    return _port(m[1]) if m else None

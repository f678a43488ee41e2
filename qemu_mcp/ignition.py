"""Ignition (Fedora CoreOS, Flatcar): the config checked, and how it reaches the guest. Pure: no I/O.

Ignition reads its config from the QEMU firmware config device (fw_cfg) entry
`opt/com.coreos/config`. Both backends wire a file on the host to that entry: plain QEMU with
`-fw_cfg name=opt/com.coreos/config,file=PATH`, libvirt with
`<sysinfo type='fwcfg'><entry name='opt/com.coreos/config' file='PATH'/></sysinfo>` (libvirt >= 6.5;
libvirt turns it into that same -fw_cfg option, with no `<smbios>` element needed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from qemu_mcp.errors import InvalidInput

FW_CFG_NAME = "opt/com.coreos/config"
MAX_CONFIG = 1024 * 1024
_VERSION = re.compile(r"\d+\.\d+\.\d+(-experimental)?")


def parse_ignition(value: dict[str, Any] | str) -> dict[str, Any]:
    """The config as a JSON object with a string `ignition.version` (e.g. 3.4.0), or InvalidInput."""
    if isinstance(value, str):
        if len(value.encode()) > MAX_CONFIG:
            raise InvalidInput(f"ignition is larger than {MAX_CONFIG // 1024} KiB")
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise InvalidInput(
                f"ignition is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                "give the .ign file's content (Butane output), not Butane YAML"
            ) from None
    if not isinstance(value, dict):
        raise InvalidInput('ignition must be a JSON object like {"ignition": {"version": "3.4.0"}}')
    section = value.get("ignition")
    version = section.get("version") if isinstance(section, dict) else None
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise InvalidInput(
            'ignition needs an `ignition.version` string such as "3.4.0" (the spec version the config is written for)'
        )
    return value


def ignition_bytes(value: dict[str, Any] | str) -> bytes:
    """The checked config as the bytes to store on the host (compact JSON, UTF-8)."""
    config = parse_ignition(value)
    data = json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > MAX_CONFIG:
        raise InvalidInput(f"ignition is larger than {MAX_CONFIG // 1024} KiB")
    return data


@dataclass(frozen=True)
class FwCfgFile:
    """A fw_cfg entry whose content is a file on the VM's host."""

    path: str  # absolute path on the host, readable by qemu
    name: str = FW_CFG_NAME

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or any(c in self.path for c in "\n\r\0"):
            raise InvalidInput(f"fw_cfg file {self.path!r} must be an absolute path on one line")

    def qemu_args(self) -> list[str]:
        """For qemu-system's argv; ',' in a QEMU option value is written ',,'."""
        return ["-fw_cfg", f"name={self.name},file={self.path.replace(',', ',,')}"]

    def libvirt_sysinfo(self) -> etree._Element:
        """`<sysinfo type='fwcfg'>` with this entry, for the domain XML."""
        sysinfo = etree.Element("sysinfo", type="fwcfg")
        etree.SubElement(sysinfo, "entry", name=self.name, file=self.path)
        return sysinfo

    def libvirt_xml(self) -> str:
        return etree.tostring(self.libvirt_sysinfo(), encoding="unicode")


def ignition_fw_cfg(path: str) -> FwCfgFile:
    """Where Ignition looks: `opt/com.coreos/config`, filled from `path` on the host."""
    return FwCfgFile(path)

"""Ignition: the config is checked, and its fw_cfg wiring is the same entry on both backends."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from qemu_mcp.errors import InvalidInput
from qemu_mcp.ignition import FW_CFG_NAME, FwCfgFile, ignition_bytes, ignition_fw_cfg, parse_ignition

CONFIG = {"ignition": {"version": "3.4.0"}, "passwd": {"users": [{"name": "core"}]}}


@pytest.mark.parametrize("value", [CONFIG, json.dumps(CONFIG), json.dumps(CONFIG, indent=2)])
def test_objects_and_json_text_are_accepted(value: dict | str) -> None:
    assert parse_ignition(value) == CONFIG
    assert json.loads(ignition_bytes(value)) == CONFIG


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("{not json", "ignition is not valid JSON (line 1, column 2"),
        ("variant: fcos\nversion: 1.5.0\n", "not Butane YAML"),
        ("[1, 2]", "ignition must be a JSON object"),
        ({"passwd": {}}, "ignition needs an `ignition.version` string"),
        ({"ignition": {"version": 3}}, "ignition needs an `ignition.version` string"),
        ({"ignition": "3.4.0"}, "ignition needs an `ignition.version` string"),
    ],
)
def test_refusals_say_what_is_wrong(value: dict | str, sentence: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_ignition(value)
    assert sentence in str(e.value)


def test_the_qemu_argv_fragment() -> None:
    assert ignition_fw_cfg("/vms/web1/ignition.json").qemu_args() == [
        "-fw_cfg",
        "name=opt/com.coreos/config,file=/vms/web1/ignition.json",
    ]
    # QEMU's option syntax: a comma in a value is doubled.
    assert FwCfgFile("/vms/a,b/x.ign").qemu_args()[1] == "name=opt/com.coreos/config,file=/vms/a,,b/x.ign"


def test_the_libvirt_xml_fragment() -> None:
    sysinfo = etree.fromstring(ignition_fw_cfg("/var/lib/libvirt/images/web1.ign").libvirt_xml())
    assert sysinfo.tag == "sysinfo" and sysinfo.get("type") == "fwcfg"
    [entry] = sysinfo
    assert (entry.tag, entry.get("name"), entry.get("file")) == (
        "entry",
        FW_CFG_NAME,
        "/var/lib/libvirt/images/web1.ign",
    )
    # Paths are attribute values, escaped by lxml, never formatted into the XML.
    odd = etree.fromstring(FwCfgFile("/vms/<a&'b\">.ign").libvirt_xml())
    assert odd[0].get("file") == "/vms/<a&'b\">.ign"


@pytest.mark.parametrize("path", ["relative.ign", "/a\nb.ign"])
def test_paths_must_be_absolute_and_on_one_line(path: str) -> None:
    with pytest.raises(InvalidInput, match="absolute path on one line"):
        ignition_fw_cfg(path)

"""Parse the guest agent's `guest-network-get-interfaces` reply (its `return` list). Pure.

    [{"name": "enp1s0", "hardware-address": "52:54:00:a7:d0:01",
      "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.2.15", "prefix": 24}], ...}]

Loopback addresses are dropped. Also reads `virsh qemu-agent-command` output ({"return": [...]}).
"""

from __future__ import annotations

import json
from typing import Any

from qemu_mcp.models_addresses import AddressInfo
from qemu_mcp.parsers.domifaddr import is_loopback


def parse_qga_interfaces(reply: Any) -> list[AddressInfo]:
    """ValueError for a reply of another shape."""
    if isinstance(reply, str):
        reply = json.loads(reply)
    if isinstance(reply, dict) and "return" in reply:
        reply = reply["return"]
    if not isinstance(reply, list):
        raise ValueError("guest-network-get-interfaces returned no interface list")
    found = []
    for nic in reply:
        if not isinstance(nic, dict):
            continue
        mac = nic.get("hardware-address")
        for a in nic.get("ip-addresses") or []:
            ip, family = a.get("ip-address"), a.get("ip-address-type")
            if not ip or family not in ("ipv4", "ipv6") or is_loopback(ip):
                continue
            prefix = a.get("prefix") if isinstance(a.get("prefix"), int) else None
            found.append(
                AddressInfo(interface=nic.get("name"), mac=mac, ip=ip, prefix=prefix, family=family, source="agent")
            )
    return found

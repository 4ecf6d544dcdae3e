"""The items of each list command, read defensively: whatever shape an answer has, the mapping gets a
list of objects, and every entry it cannot use is reported once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sysvmdiag.cloudstack.commands import LIST_COMMANDS
from sysvmdiag.cloudstack.fields import COMMAND_RESPONSES, FIELDS
from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.values import Item, text

KINDS: dict[str, str] = {
    "listZones": "zone",
    "listDomains": "domain",
    "listAccounts": "account",
    "listPods": "pod",
    "listNetworks": "network",
    "listVPCs": "vpc",
    "listRouters": "router",
    "listSystemVms": "system_vm",
    "listPrivateGateways": "private_gateway",
    "listStaticRoutes": "static_route",
    "listVpnConnections": "vpn_connection",
    "listVpnCustomerGateways": "vpn_customer_gateway",
    "listNetworkPermissions": "network_permission",
}


class Answers:
    """The answers of one sync: ``items(command)`` is always a list of dicts."""

    def __init__(self, responses: Mapping[str, Any], report: MappingReport) -> None:
        self._responses = responses
        self._report = report
        self.zone_id: str | None = None  # set once the zone is chosen: other zones' items are dropped

    def items(self, command: str, *, unique: bool = True) -> list[Item]:
        entries = self._entries(command)
        kind = KINDS[command]
        fields = FIELDS[COMMAND_RESPONSES[command]]
        usable: list[Item] = []
        seen: set[str] = set()
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                self._report.skip(kind, None, None, f"{command} entry {position} is not an object")
                continue
            zone = text(entry, "zoneid") if "zoneid" in fields else None
            if self.zone_id is not None and zone is not None and zone != self.zone_id:
                continue  # another zone's: not this mapping's business
            item_id = text(entry, "id") if unique else None
            if item_id is not None:
                if item_id in seen:
                    name = text(entry, "name") if "name" in fields else None
                    self._report.skip(kind, item_id, name, f"duplicate {kind} id in {command}")
                    continue
                seen.add(item_id)
            usable.append(entry)
        return usable

    def _entries(self, command: str) -> list[Any]:
        """The raw entries, unwrapping an envelope or a page left wrapped."""
        value = self._responses.get(command)
        if value is None or isinstance(value, list):
            return value or []
        spec = LIST_COMMANDS[command]
        if isinstance(value, dict):
            inner = value.get(spec.response_key, value)
            if isinstance(inner, dict) and isinstance(inner.get(spec.item_key), list):
                return inner[spec.item_key]
            if isinstance(inner, dict) and not inner.get("count"):
                return []  # CloudStack's empty list: {} (or a count of 0)
            what = (
                f"a count ({inner.get('count')}) but no {spec.item_key!r} list"
                if isinstance(inner, dict)
                else ""
            )
            self._report.skip(
                "answer", command, None, f"{command} answered {what or 'an object'}; read as empty"
            )
            return []
        self._report.skip(
            "answer", command, None, f"{command} answered a {type(value).__name__}, not a list; read as empty"
        )
        return []

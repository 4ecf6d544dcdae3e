"""The zone's management ranges, from its pods (listPods).

Pure. A pod's own subnet (gateway and netmask) is its management network, where the management
servers live too; its reserved system IP ranges (``ipranges``, or the deprecated ``startip``/``endip``
lists) usually lie inside it and are summarised into CIDRs in case they do not. Non-admins may never
probe any of it.
"""

from __future__ import annotations

import ipaddress

from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.values import Item, address, network_of, objects, strings, text
from sysvmdiag.topology.model import IPNetwork


def management_ranges(items: list[Item], report: MappingReport) -> tuple[IPNetwork, ...]:
    found: list[IPNetwork] = []
    for item in items:
        pod = network_of(text(item, "gateway"), text(item, "netmask"))
        ranges = _ranges(item, report)
        if pod is None and not ranges:
            report.skip(
                "pod", text(item, "id"), text(item, "name"), "neither gateway and netmask nor IP ranges"
            )
            continue
        found += [pod] if pod is not None else []
        found += ranges
        report.count("pod")
    v4 = ipaddress.collapse_addresses(c for c in found if isinstance(c, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(c for c in found if isinstance(c, ipaddress.IPv6Network))
    return (*v4, *v6)


def _ranges(item: Item, report: MappingReport) -> list[IPNetwork]:
    pairs = [(text(entry, "startip"), text(entry, "endip")) for entry in objects(item.get("ipranges"))]
    pairs += list(zip(strings(item.get("startip")), strings(item.get("endip")), strict=False))
    cidrs: list[IPNetwork] = []
    for start_text, end_text in pairs:
        start, end = address(start_text), address(end_text)
        if start is None or end is None or start.version != end.version or start > end:
            report.skip(
                "pod", text(item, "id"), text(item, "name"), f"IP range {start_text}-{end_text} is unreadable"
            )
            continue
        cidrs += ipaddress.summarize_address_range(start, end)
    return cidrs

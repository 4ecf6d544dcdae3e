"""Reading values out of CloudStack answers that may be messy: absent, mistyped, or in another shape.

Pure. Every reader returns None (or an empty result) for what it cannot read, never raises: the mapping
decides what an unreadable value means and reports it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sysvmdiag.topology.model import IPAddress, IPNetwork

Item = dict[str, Any]
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def text(item: Item, field: str) -> str | None:
    """A non-empty string (numbers as their text); None for anything else."""
    value = item.get(field)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def flag(item: Item, field: str) -> bool:
    """CloudStack booleans: true, or the strings "true" / "True"."""
    value = item.get(field)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def objects(value: Any) -> list[Item]:
    """The objects of a list field; one object where a list was expected is read as a list of one."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [entry for entry in value if isinstance(entry, dict)]
    return []


def strings(value: Any) -> list[str]:
    """A list of strings, from a list or from CloudStack's comma-separated form ("a,b")."""
    if isinstance(value, str):
        parts: Iterable[Any] = value.split(",")
    elif isinstance(value, list):
        parts = value
    else:
        return []
    return [part.strip() for part in parts if isinstance(part, str) and part.strip()]


def address(value: str | None) -> IPAddress | None:
    if value is None:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def network(value: str | None) -> IPNetwork | None:
    """A CIDR; host bits set ("10.1.1.5/24") are read as the network they are in."""
    if value is None or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def prefix_length(netmask: str | None, version: int) -> int | None:
    """A netmask as a prefix length: dotted (255.255.255.0), or a length ("24", "/24")."""
    if netmask is None:
        return None
    mask = netmask.strip().lstrip("/")
    try:
        probe = ipaddress.ip_network(f"{'0.0.0.0' if version == 4 else '::'}/{mask}")
    except ValueError:
        return None
    return probe.prefixlen


def interface(ip: str | None, netmask: str | None) -> IPInterface | None:
    """An address with the prefix of its netmask, or None if either is missing or unreadable."""
    addr = address(ip)
    if addr is None:
        return None
    length = prefix_length(netmask, addr.version)
    if length is None:
        return None
    return ipaddress.ip_interface(f"{addr}/{length}")


LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")


def address_with_mask(
    ip: str | None, netmask: str | None, *, link_local_default: bool = False
) -> tuple[IPInterface | None, str | None]:
    """An address and its netmask as an interface, or why not; no address at all is (None, None).

    A link-local control address without a netmask is on CloudStack's 169.254.0.0/16.
    """
    if ip is None:
        return None, None
    addr = address(ip)
    if addr is None:
        return None, f"address {ip!r} is not an IP address"
    length = prefix_length(netmask, addr.version)
    if length is None and link_local_default and addr in LINK_LOCAL:
        length = LINK_LOCAL.prefixlen
    if length is None:
        return None, f"address {addr} has no readable netmask ({netmask!r})"
    return ipaddress.ip_interface(f"{addr}/{length}"), None


def interface_in(ip: str | None, cidr: IPNetwork | None) -> IPInterface | None:
    """An address with the prefix of the network it is on (IPv6 nics carry ip6cidr, no netmask)."""
    addr = address(ip)
    if addr is None or cidr is None or addr.version != cidr.version:
        return None
    return ipaddress.ip_interface(f"{addr}/{cidr.prefixlen}")


def network_of(gateway: str | None, netmask: str | None) -> IPNetwork | None:
    """The network a gateway and netmask describe (CloudStack's networks may carry no cidr)."""
    found = interface(gateway, netmask)
    return found.network if found is not None else None


def device_number(value: Any) -> int | None:
    """A nic's deviceid (a string in NicResponse) as a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None

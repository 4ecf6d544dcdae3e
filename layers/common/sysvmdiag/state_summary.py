"""A VM's state for people: the interfaces with their addresses, the routes, rules and neighbours as
``ip`` prints them, the firewall's size and the log tails' heads, then where the bundle is.

Pure: formats a ``VmStateView``. Every line goes through :func:`~sysvmdiag.summaries.printable`, so
a log line or an interface name holding control characters cannot forge a line in a terminal.
"""

from __future__ import annotations

from typing import Any

from sysvmdiag.models import VmStateView
from sysvmdiag.summaries import printable

LOG_LINES_SHOWN = 10


def _address_lines(links: list[dict[str, Any]]) -> list[str]:
    lines = []
    for link in links:
        addresses = [f"{a.get('local')}/{a.get('prefixlen')}" for a in link.get("addr_info", [])]
        state = link.get("operstate", "")
        lines.append(f"  {link.get('ifname', '?'):<10} {state:<8} {' '.join(addresses)}".rstrip())
    return lines


def _words(item: dict[str, Any], keys: tuple[tuple[str, str], ...]) -> str:
    return " ".join(f"{label} {item[key]}".strip() for key, label in keys if item.get(key) not in (None, ""))


def _route_line(route: dict[str, Any]) -> str:
    kind = route.get("type")
    head = f"{kind} {route.get('dst', '?')}" if kind and kind != "unicast" else str(route.get("dst", "?"))
    rest = _words(route, (("gateway", "via"), ("dev", "dev"), ("table", "table"), ("prefsrc", "src")))
    return f"  {head} {rest}".rstrip()


def _rule_line(rule: dict[str, Any]) -> str:
    source = rule.get("src", "all")
    if rule.get("srclen") is not None:
        source = f"{source}/{rule['srclen']}"
    rest = _words(rule, (("dst", "to"), ("iif", "iif"), ("oif", "oif"), ("fwmark", "fwmark")))
    return f"  {rule.get('priority', '?')}: from {source} {rest} lookup {rule.get('table', '?')}".replace(
        "  lookup", " lookup"
    )


def _neighbour_line(neighbour: dict[str, Any]) -> str:
    state = ",".join(neighbour.get("state", []))
    address, mac, dev = neighbour.get("dst", "?"), neighbour.get("lladdr", "-"), neighbour.get("dev", "?")
    return f"  {address:<26} {mac:<18} {dev:<8} {state}".rstrip()


_FORMATS = {"routes": _route_line, "rules": _rule_line, "neighbours": _neighbour_line}


def _part_lines(view: VmStateView, name: str) -> list[str]:
    if name not in view.inline:
        return [f"{name}: in the bundle only (too large to show here)"]
    value = view.inline[name]
    if name == "iptables":
        rules = [line for line in str(value).splitlines() if line.startswith("-A")]
        return [
            f"iptables: {len(rules)} rules ({len(str(value).splitlines())} lines; the text is in the bundle)"
        ]
    lines = [f"{name} ({len(value)}):"]
    lines += _address_lines(value) if name == "addresses" else [_FORMATS[name](item) for item in value]
    return lines


def _log_lines(view: VmStateView) -> list[str]:
    lines = []
    for log in view.logs:
        if not log.present:
            lines.append(f"log {log.name}: not on this VM{f' ({log.path})' if log.path else ''}")
            continue
        text = (log.text or "").splitlines()
        lines.append(f"log {log.name} ({log.path}), last {min(len(text), LOG_LINES_SHOWN)} lines:")
        lines += [f"  {line}" for line in text[-LOG_LINES_SHOWN:]]
    return lines


def state_lines(view: VmStateView) -> list[str]:
    """The whole view, one printable line each."""
    who = "cut to your own networks" if view.scoped else "whole (admin)"
    name = view.target_name or view.target_id
    lines = [f"{name} ({view.target_id}): state read {view.collected_at:%Y-%m-%d %H:%M:%S}Z, {who}"]
    for name in view.parts:
        lines += _part_lines(view, name)
    lines += _log_lines(view)
    lines += [f"problem: {problem}" for problem in view.problems]
    bundle = view.bundle
    lines.append(f"bundle: {bundle.bytes} bytes, until {bundle.expires_at:%Y-%m-%d %H:%M:%S}Z: {bundle.url}")
    return [printable(line) for line in lines]

"""getDiagnosticsData's ``files`` as this service's VM-state parts and logs.

CloudStack names what to collect with keywords (IPTABLES, IFCONFIG, ROUTE, IPROUTE, ...) and file
paths. The keywords this service reads map to its parts; a path maps to a log when it is one of the
VM's usual log files (or a log's own name); anything else (DHCP files, user data, configuration files)
is refused by name rather than silently left out of the bundle.
"""

from __future__ import annotations

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.vmstate import DEFAULT_LOG_PATHS, LOG_NAMES

KEYWORD_PARTS: dict[str, tuple[str, ...]] = {
    "IFCONFIG": ("addresses",),
    "IPADDR": ("addresses",),
    "ROUTE": ("routes", "rules"),
    "IPROUTE": ("routes", "rules"),
    "ARP": ("neighbours",),
    "NEIGHBOURS": ("neighbours",),
    "IPTABLES": ("iptables",),
}
_LOG_BY_PATH = {path: name for name, path in DEFAULT_LOG_PATHS.items()}


def parts_and_logs(files: str | None) -> tuple[list[str], list[str]]:
    """The parts and logs ``files`` names (none named: everything the caller may read); INVALID_REQUEST
    naming what this service cannot collect."""
    parts: list[str] = []
    logs: list[str] = []
    unknown: list[str] = []
    for token in (files or "").split(","):
        name = token.strip()
        if not name:
            continue
        if name.upper() in KEYWORD_PARTS:
            parts += [part for part in KEYWORD_PARTS[name.upper()] if part not in parts]
        elif _log_name(name) is not None:
            log = _log_name(name)
            logs += [log] if log not in logs else []
        else:
            unknown.append(name)
    if unknown:
        raise ServiceError(
            ErrorCode.INVALID_REQUEST,
            f"files: this service does not collect {', '.join(unknown)}; it takes "
            f"{', '.join(KEYWORD_PARTS)} and the logs {', '.join(sorted(_LOG_BY_PATH))} (or by name: "
            f"{', '.join(LOG_NAMES)})",
            field="files",
        )
    return parts, logs


def _log_name(text: str) -> str | None:
    if text in _LOG_BY_PATH:
        return _LOG_BY_PATH[text]
    return text.lower() if text.lower() in LOG_NAMES else None

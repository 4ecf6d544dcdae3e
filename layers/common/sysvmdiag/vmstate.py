"""The VM-state verbs: what ``state`` may read on a system VM, shared by the service and the VM side.

The service asks for named parts (``state addresses routes log:cloud``); the VM's forced command
checks every name against these tables and runs only the fixed, read-only argv lists below, or reads
the tail of a log file the VM's operator named. Nothing of the request reaches an argv: a name either
is a key of :data:`PART_COMMANDS` / :data:`LOG_NAMES` or the request is refused.

Standard library only: this module also runs on the system VM, beside ``toolargs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATE_VERB = "state"
# Each part: the read-only commands whose outputs make it (both IP families where ip(8) splits them).
PART_COMMANDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "addresses": (("ip", "-j", "address", "show"),),
    "routes": (
        ("ip", "-j", "-4", "route", "show", "table", "all"),
        ("ip", "-j", "-6", "route", "show", "table", "all"),
    ),
    "rules": (("ip", "-j", "-4", "rule", "show"), ("ip", "-j", "-6", "rule", "show")),
    "neighbours": (("ip", "-j", "neigh", "show"),),
    "iptables": (("iptables-save",), ("ip6tables-save",)),
}
PARTS = tuple(PART_COMMANDS)
JSON_PARTS = frozenset({"addresses", "routes", "rules", "neighbours"})  # ip -j: a JSON list per command
# The logs a request may name; which file each is, is the VM operator's choice (vmside --state-log).
LOG_NAMES = ("cloud", "dnsmasq", "haproxy", "auth", "messages", "sysvmdiag")
DEFAULT_LOG_PATHS = {
    "cloud": "/var/log/cloud.log",
    "dnsmasq": "/var/log/dnsmasq.log",
    "haproxy": "/var/log/haproxy.log",
    "auth": "/var/log/auth.log",
    "messages": "/var/log/messages",
}
LOG_PREFIX = "log:"
LOG_TAIL_LINES = 200
LOG_TAIL_MAX_BYTES = 32 * 1024
COMMAND_OUTPUT_MAX_BYTES = 64 * 1024  # per command; the rest is cut and marked
COMMAND_SECONDS = 5.0  # one ip or iptables-save run; they answer in milliseconds on a healthy VM
STATE_MAX_SECONDS = 10.0  # the whole request, every command and log read together
MAX_REQUESTED = len(PARTS) + len(LOG_NAMES)
_NAME = re.compile(r"[a-z0-9:]{1,24}")


class StateRequestError(ValueError):
    """A ``state`` line naming something outside the tables; the VM refuses it and runs nothing."""


@dataclass(frozen=True)
class StateRequest:
    """The parts and logs one ``state`` line asks for, in a canonical order (each at most once)."""

    parts: tuple[str, ...]
    logs: tuple[str, ...]

    def names(self) -> str:
        """What is read, as the audit keeps it: ``addresses routes log:cloud``."""
        return " ".join((*self.parts, *(LOG_PREFIX + name for name in self.logs)))

    def command_line(self) -> str:
        return f"{STATE_VERB} {self.names()}"


def state_request(parts: list[str] | tuple[str, ...], logs: list[str] | tuple[str, ...]) -> StateRequest:
    """The canonical request for these names (table order, no repeats); unknown names are refused."""
    unknown = [name for name in parts if name not in PART_COMMANDS]
    unknown += [LOG_PREFIX + name for name in logs if name not in LOG_NAMES]
    if unknown:
        raise StateRequestError(
            f"not a part of a VM's state: {', '.join(unknown)}; parts are {', '.join(PARTS)}, "
            f"logs are {', '.join(LOG_NAMES)}"
        )
    if not parts and not logs:
        raise StateRequestError("name at least one part or log")
    return StateRequest(
        parts=tuple(name for name in PARTS if name in parts),
        logs=tuple(name for name in LOG_NAMES if name in logs),
    )


def is_state_command(command: str) -> bool:
    return command.split(maxsplit=1)[:1] == [STATE_VERB]


def parse_state_command(command: str) -> StateRequest:
    """The VM side's check of a received ``state`` line (the service sends only canonical ones)."""
    words = command.split()
    if not words or words[0] != STATE_VERB:
        raise StateRequestError("not a state request")
    names = words[1:]
    if len(names) > MAX_REQUESTED or any(not _NAME.fullmatch(name) for name in names):
        raise StateRequestError("a state request names parts and logs only (lowercase names)")
    if len(set(names)) != len(names):
        raise StateRequestError("a state request names each part or log once")
    logs = [name[len(LOG_PREFIX) :] for name in names if name.startswith(LOG_PREFIX)]
    parts = [name for name in names if not name.startswith(LOG_PREFIX)]
    return state_request(parts, logs)

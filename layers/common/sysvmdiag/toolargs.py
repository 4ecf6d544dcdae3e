"""Option allow-lists for every diagnostic tool, shared by the service and the VM side.

The service turns a caller's free-text ``params`` into a :class:`ToolInvocation` with
:func:`parse_params`; the VM's forced command re-validates the received command line with
:func:`parse_command_line` before it execs anything. Both go through the same option parser,
so whatever the service sends, the VM accepts, and nothing outside the allow-list ever runs.

The command line names the *test* (``mtr``, ``pmtu``, ``ndisc``...) in one uniform shape: options,
the interface as an option, the destination last. :meth:`ToolInvocation.exec_argv` turns it into the
program's own argv (``tracepath``; ``ndisc6`` wants its interface after the destination).

Standard library only: this module also runs on the system VM.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

TOOLS = ("ping", "traceroute", "arping", "mtr", "pmtu", "ndisc")
# The VM side's exit status for a run stopped at its time limit (timeout(1)'s), read by the verdicts.
EXIT_TIMEOUT = 124

INVALID_OPTION = "INVALID_OPTION"
OPTION_OUT_OF_BOUNDS = "OPTION_OUT_OF_BOUNDS"
INVALID_DESTINATION = "INVALID_DESTINATION"

MAX_TOKEN_LENGTH = 64
MAX_PARAMS_LENGTH = 512
MAX_TOKENS = 32

# Only these characters may appear in any token: option letters, numbers, interface names
# and IP literals need nothing else. Everything a shell could interpret is outside the set.
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9._:-]+")
_NUMBER = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,6})?")
_INTERFACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")

RUN_CAP_SECONDS = 60  # the longest a tool may run on a VM (ping's and arping's -w bound)

# Simultaneous traceroute probes; pinned in argv because the worst-case formula depends on it.
TRACEROUTE_SIM_QUERIES = 16


class OptionError(ValueError):
    """A params string or command line that must not run; ``code`` says which rule it broke."""

    def __init__(self, code: str, token: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.token = token
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Option:
    """One allowed option: its flag, what its value is, and the bounds a value must respect."""

    flag: str
    name: str
    kind: str  # "flag" (no value), "int", "float" or "interface"
    low: float | None = None
    high: float | None = None
    exclusive_group: str | None = None  # options of one group may not be combined

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"


@dataclass(frozen=True)
class _ToolSpec:
    options: tuple[_Option, ...]
    interface_flag: str
    executable: str  # the program the VM runs for this test
    family: int | None = None  # the one IP version the tool works with, if it is limited to one
    on_link: bool = False  # it talks to neighbours only: bound to the interface of a connected subnet
    interface_after_destination: bool = False  # ndisc6 DEST IFACE: the interface is positional
    by_flag: dict[str, _Option] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_flag", {o.flag: o for o in self.options})


_SPECS: dict[str, _ToolSpec] = {
    "ping": _ToolSpec(
        options=(
            _Option("-4", "IPv4 only", "flag", exclusive_group="family"),
            _Option("-6", "IPv6 only", "flag", exclusive_group="family"),
            _Option("-n", "numeric output", "flag"),
            _Option("-c", "count", "int", 1, 20),
            _Option("-i", "interval", "float", 0.2, 10),
            _Option("-s", "packet size", "int", 0, 1472),
            _Option("-t", "ttl", "int", 1, 255),
            _Option("-W", "per-reply timeout", "float", 1, 10),
            _Option("-w", "deadline", "int", 1, RUN_CAP_SECONDS),
            _Option("-I", "interface", "interface"),
        ),
        interface_flag="-I",
        executable="ping",
    ),
    "traceroute": _ToolSpec(
        options=(
            _Option("-4", "IPv4 only", "flag", exclusive_group="family"),
            _Option("-6", "IPv6 only", "flag", exclusive_group="family"),
            _Option("-n", "numeric output", "flag"),
            _Option("-I", "ICMP probes", "flag", exclusive_group="probe kind"),
            _Option("-T", "TCP SYN probes", "flag", exclusive_group="probe kind"),
            _Option("-U", "UDP probes to one port", "flag", exclusive_group="probe kind"),
            _Option("-f", "first ttl", "int", 1, 30),
            _Option("-m", "max hops", "int", 1, 30),
            _Option("-q", "queries per hop", "int", 1, 3),
            _Option("-w", "wait", "float", 1, 5),
            _Option("-N", "simultaneous probes", "int", TRACEROUTE_SIM_QUERIES, TRACEROUTE_SIM_QUERIES),
            _Option("-p", "port", "int", 1, 65535),
            _Option("-i", "interface", "interface"),
        ),
        interface_flag="-i",
        executable="traceroute",
    ),
    "arping": _ToolSpec(
        options=(
            _Option("-c", "count", "int", 1, 20),
            _Option("-w", "deadline", "int", 1, RUN_CAP_SECONDS),
            _Option("-i", "interface", "interface"),
        ),
        interface_flag="-i",
        executable="arping",
        family=4,
        on_link=True,
    ),
    "mtr": _ToolSpec(
        options=(
            _Option("-4", "IPv4 only", "flag", exclusive_group="family"),
            _Option("-6", "IPv6 only", "flag", exclusive_group="family"),
            _Option("-n", "numeric output", "flag"),
            _Option("-j", "JSON report", "flag"),
            _Option("-u", "UDP probes", "flag", exclusive_group="probe kind"),
            _Option("-T", "TCP SYN probes", "flag", exclusive_group="probe kind"),
            _Option("-c", "report cycles", "int", 1, 10),
            _Option("-i", "interval", "float", 1, 5),
            _Option("-G", "grace time for the last replies", "float", 1, 5),
            _Option("-f", "first ttl", "int", 1, 30),
            _Option("-m", "max ttl", "int", 1, 30),
            _Option("-P", "port", "int", 1, 65535),
            _Option("-I", "interface", "interface"),
        ),
        interface_flag="-I",
        executable="mtr",
    ),
    "pmtu": _ToolSpec(
        options=(
            _Option("-4", "IPv4 only", "flag", exclusive_group="family"),
            _Option("-6", "IPv6 only", "flag", exclusive_group="family"),
            _Option("-n", "numeric output", "flag"),
            _Option("-m", "max hops", "int", 1, 15),
            _Option("-l", "initial packet length", "int", 128, 65535),
            _Option("-p", "port", "int", 1, 65535),
        ),
        interface_flag="",  # tracepath cannot be bound to an interface: it follows the routing table
        executable="tracepath",
    ),
    "ndisc": _ToolSpec(
        options=(
            _Option("-n", "numeric output", "flag"),
            _Option("-m", "show every reply", "flag"),
            _Option("-r", "attempts", "int", 1, 5),
            _Option("-w", "wait per attempt in ms", "int", 100, 3000),
            _Option("-i", "interface", "interface"),
        ),
        interface_flag="-i",
        executable="ndisc6",
        family=6,
        on_link=True,
        interface_after_destination=True,
    ),
}

# The tests that follow the routing table toward any destination (the neighbour tools stay on a link).
ROUTED_TOOLS = tuple(tool for tool in TOOLS if not _SPECS[tool].on_link)

PING_MAX_SIZE_IPV6 = 1452
PING_DEFAULT_COUNT = 4
PING_DEFAULT_REPLY_ALLOWANCE = 5.0  # seconds left for the last reply when no -w is given
TRACEROUTE_DEFAULT_MAX_HOPS = 20
TRACEROUTE_DEFAULT_QUERIES = 3
TRACEROUTE_DEFAULT_WAIT = "3"
ARPING_DEFAULT_COUNT = 3
ARPING_DEFAULT_SLACK = 2  # arping sends one request a second; leave 2 s for the last reply
MTR_DEFAULT_CYCLES = 5
MTR_DEFAULT_INTERVAL = "1"
MTR_DEFAULT_GRACE = "2"
MTR_DEFAULT_MAX_TTL = 20
MTR_SLACK_SECONDS = 2  # measured: 5 cycles, 1 s apart, 2 s grace end within 8.1 s on a dead path
PMTU_DEFAULT_MAX_HOPS = 6  # 6 silent hops fit the synchronous budget; -m up to 15 becomes a job
PMTU_SECONDS_PER_HOP = 3.5  # tracepath tries a silent hop 3 times, 1 s each (measured 3.34 s)
NDISC_DEFAULT_ATTEMPTS = 3
NDISC_DEFAULT_WAIT_MS = 1000


@dataclass(frozen=True)
class ToolInvocation:
    """A validated, normalised tool run: exactly what the VM will exec, and how long it may take."""

    tool: str
    options: tuple[tuple[str, str | None], ...]
    destination: str
    interface: str | None
    worst_case_seconds: float

    def argv(self) -> list[str]:
        """Test, options (each value its own token), interface option, destination last: the wire form."""
        argv = [self.tool, *self._option_tokens()]
        if self.interface is not None:
            argv += [_SPECS[self.tool].interface_flag, self.interface]
        argv.append(self.destination)
        return argv

    def exec_argv(self) -> list[str]:
        """What the VM execs: the test's program, with the interface where that program wants it."""
        spec = _SPECS[self.tool]
        argv = [spec.executable, *self._option_tokens()]
        if not spec.interface_after_destination:
            return argv + self.argv()[len(argv) :]
        if self.interface is None:
            raise OptionError(
                INVALID_OPTION, self.tool, f"{self.tool} needs {spec.interface_flag} interface."
            )
        return [*argv, self.destination, self.interface]

    def _option_tokens(self) -> list[str]:
        tokens: list[str] = []
        for flag, value in self.options:
            tokens.append(flag)
            if value is not None:
                tokens.append(value)
        return tokens

    def command_line(self) -> str:
        """The SSH command sent to the VM; every token is shell-safe, so quoting never kicks in."""
        return shlex.join(self.argv())

    def with_interface(self, interface: str) -> ToolInvocation:
        """The same run pinned to ``interface`` (the policy pins arping to the egress interface)."""
        _check_interface_name(_SPECS[self.tool].interface_flag, interface)
        return ToolInvocation(self.tool, self.options, self.destination, interface, self.worst_case_seconds)


def canonical_destination(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Parse an IP literal; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 address it names.

    Hostnames, zone ids (fe80::1%eth0), IPv4 with leading zeros or short forms are rejected, so
    the address the policy checks is the address the tool will use.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_TOKEN_LENGTH:
        raise OptionError(INVALID_DESTINATION, str(text), "The destination must be an IP address literal.")
    if "%" in text:
        raise OptionError(
            INVALID_DESTINATION, text, f"{text} carries a zone id; give the IP address without %interface."
        )
    if not _SAFE_TOKEN.fullmatch(text):
        raise OptionError(INVALID_DESTINATION, text, f"{text!r} is not an IP address literal.")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise OptionError(
            INVALID_DESTINATION,
            text,
            f"{text} is not an IP address literal in canonical form (no hostnames, no leading zeros).",
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    nowhere = _no_destination(address)
    if nowhere is not None:
        raise OptionError(INVALID_DESTINATION, text, f"{text} is {nowhere}, which is no destination.")
    return address


_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _no_destination(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What no probe may target, whoever asks: the unspecified addresses, the limited broadcast and
    multicast (one packet would reach a whole link or group, not a host)."""
    if address.is_unspecified:
        return "the unspecified address"
    if address == _LIMITED_BROADCAST:
        return "the limited broadcast address"
    if address.is_multicast:
        return "a multicast address"
    return None


def parse_params(tool: str, params: str | None, destination: str) -> ToolInvocation:
    """Validate a caller's ``params`` for ``tool`` toward ``destination`` and add bounding defaults."""
    _check_tool(tool)
    address = canonical_destination(destination)
    if params is not None and not isinstance(params, str):
        raise OptionError(
            INVALID_OPTION, type(params).__name__, "The options must be one string of command-line arguments."
        )
    params = params or ""
    if len(params) > MAX_PARAMS_LENGTH:
        raise OptionError(
            INVALID_OPTION,
            params[:32] + "...",
            f"The options are longer than {MAX_PARAMS_LENGTH} characters.",
        )
    _reject_unsafe_characters(params)
    try:
        tokens = shlex.split(params)
    except ValueError:
        raise OptionError(INVALID_OPTION, params, "The options have unbalanced quotes.") from None
    return _build(tool, tokens, address)


def parse_command_line(command: str) -> list[str]:
    """VM side: validate a whole command line (tool, options, one IP destination last); return argv.

    The argv returned is normalised the same way :func:`parse_params` normalises, so a command
    line produced by the service comes back token for token.
    """
    return parse_invocation(command).argv()


def parse_invocation(command: str) -> ToolInvocation:
    """VM side: the validated run a command line asks for (its :meth:`~ToolInvocation.exec_argv` runs)."""
    if not isinstance(command, str) or not command.strip():
        raise OptionError(INVALID_OPTION, "", "The command line is empty.")
    if len(command) > MAX_PARAMS_LENGTH + 64:
        raise OptionError(INVALID_OPTION, command[:32] + "...", "The command line is too long.")
    _reject_unsafe_characters(command)
    try:
        tokens = shlex.split(command)
    except ValueError:
        raise OptionError(INVALID_OPTION, command, "The command line has unbalanced quotes.") from None
    tool, *rest = tokens
    _check_tool(tool)
    if not rest:
        raise OptionError(INVALID_DESTINATION, "", f"The {tool} command line has no destination.")
    *option_tokens, destination = rest
    if destination.startswith("-"):
        raise OptionError(
            INVALID_DESTINATION,
            destination,
            f"The {tool} command line must end with the destination address.",
        )
    address = canonical_destination(destination)
    if str(address) != destination:
        raise OptionError(
            INVALID_DESTINATION, destination, f"{destination} is not written in canonical form ({address})."
        )
    invocation = _build(tool, option_tokens, address)
    spec = _SPECS[tool]
    if spec.interface_after_destination and invocation.interface is None:
        raise OptionError(
            INVALID_OPTION, tool, f"The {tool} command line needs {spec.interface_flag} and an interface."
        )
    return invocation


# -- internals ------------------------------------------------------------------------------


def _check_tool(tool: str) -> None:
    if tool not in TOOLS:
        raise OptionError(INVALID_OPTION, str(tool), f"{tool!r} is not one of {', '.join(TOOLS)}.")


def _reject_unsafe_characters(text: str) -> None:
    """Name the first token carrying anything but letters, digits, '.', ':', '-', '_' or a space."""
    for token in text.split(" "):
        if token and not _SAFE_TOKEN.fullmatch(token):
            bad = next(ch for ch in token if not _SAFE_TOKEN.fullmatch(ch))
            raise OptionError(
                INVALID_OPTION,
                token,
                f"{token!r} contains {bad!r}; options may only use letters, digits, '.', ':', '-' and '_'.",
            )


def _check_interface_name(flag: str, value: str) -> None:
    if not _INTERFACE_NAME.fullmatch(value) or value in (".", ".."):
        raise OptionError(INVALID_OPTION, value, f"{value!r} is not a valid interface name for {flag}.")


def _normalise_value(option: _Option, value: str) -> str:
    """Check a value against its option's type and bounds; return it in canonical spelling."""
    if option.kind == "interface":
        _check_interface_name(option.flag, value)
        return value
    if not _NUMBER.fullmatch(value):
        raise OptionError(
            INVALID_OPTION, value, f"{value!r} is not a number for {option.flag} ({option.name})."
        )
    try:
        number = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex already guarantees a decimal
        raise OptionError(INVALID_OPTION, value, f"{value!r} is not a number for {option.flag}.") from None
    if option.kind == "int" and number != number.to_integral_value():
        raise OptionError(
            INVALID_OPTION, value, f"{option.flag} ({option.name}) needs a whole number, not {value}."
        )
    assert option.low is not None and option.high is not None
    if not Decimal(str(option.low)) <= number <= Decimal(str(option.high)):
        raise _out_of_bounds(option, value, option.low, option.high)
    if option.kind == "int":
        return str(int(number))
    return format(number.normalize(), "f")


def _out_of_bounds(option: _Option, value: str, low: float, high: float) -> OptionError:
    return OptionError(
        OPTION_OUT_OF_BOUNDS,
        option.flag,
        f"{option.flag} ({option.name}) must be between {_fmt(low)} and {_fmt(high)}; got {value}.",
    )


def _fmt(number: float | Decimal) -> str:
    return format(Decimal(str(number)).normalize(), "f")


def _check_option_token(token: str) -> None:
    """One token where an option must stand: short, shell-safe, a single dash and a letter."""
    if not token:
        raise OptionError(INVALID_OPTION, token, "Empty options are not allowed.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise OptionError(
            INVALID_OPTION, token[:32] + "...", f"An option is longer than {MAX_TOKEN_LENGTH} characters."
        )
    if not _SAFE_TOKEN.fullmatch(token):
        _reject_unsafe_characters(token)
    if token.startswith("--"):
        raise OptionError(INVALID_OPTION, token, f"{token} is not allowed; use the short options only.")
    if not token.startswith("-") or len(token) < 2:
        raise OptionError(
            INVALID_OPTION,
            token,
            f"{token!r} is not an option; the destination is given separately and only once.",
        )


def _scan(tool: str, tokens: list[str]) -> tuple[dict[str, str | None], str | None]:
    """Split tokens into allowed options (glued ``-c5`` or separate ``-c 5``) and an interface."""
    spec = _SPECS[tool]
    if len(tokens) > MAX_TOKENS:
        raise OptionError(INVALID_OPTION, tokens[MAX_TOKENS], f"More than {MAX_TOKENS} option tokens.")
    given: dict[str, str | None] = {}
    groups: dict[str, str] = {}
    interface: str | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        _check_option_token(token)
        flag, glued = token[:2], token[2:]
        option = spec.by_flag.get(flag)
        if option is None:
            raise OptionError(INVALID_OPTION, token, f"{flag} is not an allowed {tool} option.")
        if flag in given or (option.kind == "interface" and interface is not None):
            raise OptionError(INVALID_OPTION, token, f"{flag} ({option.name}) is given more than once.")
        if option.exclusive_group is not None:
            other = groups.get(option.exclusive_group)
            if other is not None:
                raise OptionError(
                    INVALID_OPTION,
                    token,
                    f"{flag} cannot be combined with {other} ({option.exclusive_group}).",
                )
            groups[option.exclusive_group] = flag
        if not option.takes_value:
            if glued:
                raise OptionError(INVALID_OPTION, token, f"{flag} takes no value; give options one by one.")
            given[flag] = None
            continue
        if glued:
            value = glued
        elif index < len(tokens):
            value = tokens[index]
            index += 1
        else:
            raise OptionError(INVALID_OPTION, token, f"{flag} ({option.name}) needs a value.")
        if len(value) > MAX_TOKEN_LENGTH:
            raise OptionError(INVALID_OPTION, value[:32] + "...", f"The value of {flag} is too long.")
        normalised = _normalise_value(option, value)
        if option.kind == "interface":
            interface = normalised
        else:
            given[flag] = normalised
    return given, interface


def _check_family(tool: str, given: dict[str, str | None], address: ipaddress._BaseAddress) -> None:
    wrong = "-6" if address.version == 4 else "-4"
    if wrong in given:
        raise OptionError(
            INVALID_OPTION, wrong, f"{wrong} contradicts the IPv{address.version} destination {address}."
        )


def tool_family(tool: str) -> int | None:
    """The one IP version ``tool`` works with (arping 4, ndisc 6), or None when it takes both."""
    return _SPECS[tool].family


def works_on_link_only(tool: str) -> bool:
    """True for the tools that talk to neighbours: the policy binds them to a connected subnet."""
    return _SPECS[tool].on_link


def _build(tool: str, tokens: list[str], address: ipaddress._BaseAddress) -> ToolInvocation:
    given, interface = _scan(tool, tokens)
    _check_family(tool, given, address)
    family = _SPECS[tool].family
    if family is not None and address.version != family:
        raise OptionError(
            INVALID_DESTINATION, str(address), f"{tool} works on IPv{family} only, not {address}."
        )
    worst = _DEFAULTS[tool](given, address)
    order = [o.flag for o in _SPECS[tool].options]
    options = tuple((flag, given[flag]) for flag in order if flag in given)
    return ToolInvocation(tool, options, str(address), interface, worst)


def _ping_defaults(given: dict[str, str | None], address: ipaddress._BaseAddress) -> float:
    """Pin -n, -c and -w; the deadline bounds the run whatever else was asked. A count that cannot be
    sent within the run cap is refused, never cut short (a shorter -w of the caller's is what it asked)."""
    if address.version == 6 and "-s" in given and int(given["-s"] or 0) > PING_MAX_SIZE_IPV6:
        raise _out_of_bounds(_SPECS["ping"].by_flag["-s"], given["-s"] or "", 0, PING_MAX_SIZE_IPV6)
    counted = "-c" in given
    given.setdefault("-n", None)
    given.setdefault("-c", str(PING_DEFAULT_COUNT))
    count = int(given["-c"] or PING_DEFAULT_COUNT)
    interval = float(given.get("-i") or 1)
    sending = (count - 1) * interval  # when the last echo request leaves
    if "-w" in given:
        if counted and sending >= RUN_CAP_SECONDS:
            raise _cannot_finish(count, given, math.ceil(sending))
        return float(given["-w"] or 0)
    needed = math.ceil(sending + float(given.get("-W") or PING_DEFAULT_REPLY_ALLOWANCE))
    if needed > RUN_CAP_SECONDS:
        raise _cannot_finish(count, given, needed)
    given["-w"] = str(needed)
    return float(needed)


def _cannot_finish(count: int, given: dict[str, str | None], needed: int) -> OptionError:
    return OptionError(
        OPTION_OUT_OF_BOUNDS,
        "-c",
        f"-c {count} with -i {given.get('-i') or 1} needs about {needed} s, more than the "
        f"{RUN_CAP_SECONDS} s a run may take; lower the count or the interval.",
    )


def _traceroute_defaults(given: dict[str, str | None], _address: ipaddress._BaseAddress) -> float:
    """Pin -n, -m, -q, -w and -N; worst case is every probe timing out, N at a time."""
    given.setdefault("-n", None)
    given.setdefault("-m", str(TRACEROUTE_DEFAULT_MAX_HOPS))
    given.setdefault("-q", str(TRACEROUTE_DEFAULT_QUERIES))
    given.setdefault("-w", TRACEROUTE_DEFAULT_WAIT)
    given.setdefault("-N", str(TRACEROUTE_SIM_QUERIES))
    max_hops = int(given["-m"] or 0)
    first = int(given.get("-f") or 1)
    if first > max_hops:
        raise _out_of_bounds(_SPECS["traceroute"].by_flag["-f"], str(first), 1, max_hops)
    probes = (max_hops - first + 1) * int(given["-q"] or 0)
    rounds = math.ceil(probes / int(given["-N"] or 1))
    return rounds * float(given["-w"] or 0)


def _arping_defaults(given: dict[str, str | None], _address: ipaddress._BaseAddress) -> float:
    """Pin -c and -w; arping's -w deadline ends the run regardless of replies."""
    given.setdefault("-c", str(ARPING_DEFAULT_COUNT))
    if "-w" not in given:  # at most 20 + 2 s: always within the run cap
        given["-w"] = str(int(given["-c"] or ARPING_DEFAULT_COUNT) + ARPING_DEFAULT_SLACK)
    return float(given["-w"] or 0)


def _mtr_defaults(given: dict[str, str | None], _address: ipaddress._BaseAddress) -> float:
    """Pin -n, -j (the JSON report the parser reads), -c, -i, -G and -m; worst case is every cycle
    sent, then the grace time for the last replies."""
    given.setdefault("-n", None)
    given.setdefault("-j", None)
    given.setdefault("-c", str(MTR_DEFAULT_CYCLES))
    given.setdefault("-i", MTR_DEFAULT_INTERVAL)
    given.setdefault("-G", MTR_DEFAULT_GRACE)
    given.setdefault("-m", str(MTR_DEFAULT_MAX_TTL))
    max_ttl = int(given["-m"] or 0)
    first = int(given.get("-f") or 1)
    if first > max_ttl:
        raise _out_of_bounds(_SPECS["mtr"].by_flag["-f"], str(first), 1, max_ttl)
    if "-P" in given and "-u" not in given and "-T" not in given:
        raise OptionError(INVALID_OPTION, "-P", "-P (port) needs UDP (-u) or TCP (-T) probes.")
    cycles = int(given["-c"] or 0)
    return cycles * float(given["-i"] or 0) + float(given["-G"] or 0) + MTR_SLACK_SECONDS


def _pmtu_defaults(given: dict[str, str | None], _address: ipaddress._BaseAddress) -> float:
    """Pin -n and -m; worst case is every hop silent, each tried three times."""
    given.setdefault("-n", None)
    given.setdefault("-m", str(PMTU_DEFAULT_MAX_HOPS))
    return int(given["-m"] or 0) * PMTU_SECONDS_PER_HOP + 1


def _ndisc_defaults(given: dict[str, str | None], _address: ipaddress._BaseAddress) -> float:
    """Pin -n, -r and -w; worst case is every attempt waiting its whole time."""
    given.setdefault("-n", None)
    given.setdefault("-r", str(NDISC_DEFAULT_ATTEMPTS))
    given.setdefault("-w", str(NDISC_DEFAULT_WAIT_MS))
    return int(given["-r"] or 0) * int(given["-w"] or 0) / 1000 + 1


_DEFAULTS = {
    "ping": _ping_defaults,
    "traceroute": _traceroute_defaults,
    "arping": _arping_defaults,
    "mtr": _mtr_defaults,
    "pmtu": _pmtu_defaults,
    "ndisc": _ndisc_defaults,
}

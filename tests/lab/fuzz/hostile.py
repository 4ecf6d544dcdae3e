"""Hostile values for the fuzz suites, built from the lab zone's real addresses.

Every family the issue names lives here once, so the API fuzzer and the VM-side fuzzer try the
same things: shell metacharacters, unicode look-alikes, very long strings, zone ids, IPv4-mapped
IPv6, leading zeros and other non-canonical IPv4 spellings, and option smuggling.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st

from sysvmdiag.topology.model import NetworkKind, Topology, load_topology

TOPOLOGY_FILE = Path(__file__).resolve().parents[3] / "simvms" / "topology.yaml"
TOPOLOGY: Topology = load_topology(TOPOLOGY_FILE)


def examples(bounded: int) -> int:
    """``bounded`` in a default run; the profile's own (much larger) count under the "long" profile."""
    if settings.get_current_profile_name() == "long":
        return max(bounded, settings.default.max_examples)
    return bounded


# -- the zone's real addresses -------------------------------------------------------------------

HOST_ADDRESSES: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = sorted(
    {address for host in TOPOLOGY.hosts for iface in host.interfaces for address in iface.addresses},
    key=lambda a: (a.version, int(a)),
)
HOST_IPV4 = [a for a in HOST_ADDRESSES if a.version == 4]
INFRASTRUCTURE_NETWORKS = [
    net.cidr4
    for net in TOPOLOGY.networks
    if net.kind in (NetworkKind.CONTROL, NetworkKind.MANAGEMENT, NetworkKind.STORAGE) and net.cidr4
] + list(TOPOLOGY.zone.management_ranges)
assert TOPOLOGY.lab is not None
LAB_PLANE = [TOPOLOGY.lab.host_link.host.network, TOPOLOGY.lab.host_link.bastion.network]
# A few addresses that sit in the protected planes without being a host: management range, VR control.
PLANE_SAMPLES = [
    ipaddress.IPv4Address("172.31.200.5"),
    ipaddress.IPv4Address("172.31.200.40"),
    ipaddress.IPv4Address("169.254.1.10"),
    ipaddress.IPv4Address("169.254.0.1"),
    ipaddress.IPv4Address("172.31.201.10"),
    ipaddress.IPv4Address("100.64.254.1"),
    ipaddress.IPv4Address("100.64.254.2"),
]
IPV4_TARGETS = sorted(set(HOST_IPV4) | set(PLANE_SAMPLES), key=int)
SYSTEM_VMS = list(TOPOLOGY.system_vms())
VM_REFS = [ref for vm in SYSTEM_VMS for ref in (vm.uuid, vm.vm_name, vm.name) if ref]
INTERFACE_NAMES = sorted({iface.name for vm in SYSTEM_VMS for iface in vm.interfaces})

# -- spellings of one IPv4 address ---------------------------------------------------------------

FULLWIDTH_DIGITS = str.maketrans("0123456789.", "".join(chr(0xFF10 + d) for d in range(10)) + "\uff0e")
UNICODE_DOTS = ["\u3002", "\uff0e", "\u2024", "\u00b7", "\u0701", "\ufe52"]
INVISIBLES = ["\u200f", "\u200e", "\u202e", "\u200b", "\u2060", "\ufeff", "\u00a0", "\x00", "\n", "\r", "\t"]
SHELL_SUFFIXES = [";id", "; id", "&&id", "|id", "$(id)", "`id`", "\nid", ">/tmp/x", "#", "'", '"', "\\", "&"]


def non_canonical_ipv4(address: ipaddress.IPv4Address) -> list[str]:
    """Spellings that name ``address`` (to inet_aton, a resolver, a reader) without being canonical."""
    octets = str(address).split(".")
    packed = int(address)
    high, low = packed >> 16, packed & 0xFFFF
    return [
        ".".join(f"{int(o):03d}" for o in octets),  # leading zeros: 010.001.001.001
        ".".join("0" + o for o in octets),  # octal-looking
        ".".join(f"0x{int(o):02x}" for o in octets),  # hex octets
        f"0x{packed:08x}",  # one hex number: 0x0a010101
        str(packed),  # one decimal number: 167837953
        f"0{packed:o}",  # one octal number
        f"{octets[0]}.{int(''.join(f'{int(o):02x}' for o in octets[1:]), 16)}",  # short form 10.65793
        f"{octets[0]}.{octets[1]}.{(int(octets[2]) << 8) + int(octets[3])}",  # short form 10.1.257
        f"{address}.",  # trailing dot
        f".{address}",
        f"{address}/32",
        f"{address}:22",
        f" {address}\u3000",  # ideographic space around it
        str(address).translate(FULLWIDTH_DIGITS),  # full-width digits and dot
        *(str(address).replace(".", dot) for dot in UNICODE_DOTS),
        *(ch + str(address) for ch in INVISIBLES),
        *(str(address) + ch for ch in INVISIBLES),
        f"[{address}]",
        f"::ffff:{address}%eth0",
        f"{address}%eth1",
        f"{address}%25eth1",
        f"0:0:0:0:0:ffff:{high:04x}:{low:04x}%1",
        f"::FFFF:{address} ",
        f"{address} -c 5",
        f"-I eth1 {address}",
        *(str(address) + suffix for suffix in SHELL_SUFFIXES),
    ]


def mapped_ipv6(address: ipaddress.IPv4Address) -> list[str]:
    """IPv6 literals that carry ``address``: parse as addresses, and the policy must see through them."""
    packed = int(address)
    high, low = packed >> 16, packed & 0xFFFF
    return [
        f"::ffff:{address}",
        f"::FFFF:{address}",
        f"::ffff:{high:x}:{low:x}",
        f"0:0:0:0:0:ffff:{high:04x}:{low:04x}",
        f"::{address}",
        str(ipaddress.IPv6Address((0x64FF9B << 96) | packed)),
        str(ipaddress.IPv6Address((0x2002 << 112) | (packed << 80) | 1)),
    ]


ZONE_IDS = [
    "fe80::1%eth1",
    "fe80::1%eth0",
    "fe80::1%1",
    "fe80::1%25eth1",
    "fe80::1%",
    "fe80::1%eth1;id",
    "2001:db8:113::1%eth2",
    "fe80::1%" + "e" * 60,
]
BARE_HOSTILE_DESTINATIONS = [
    "",
    " ",
    "localhost",
    "example.com",
    "$(id)",
    "`id`",
    "203.0.113.1;id",
    "203.0.113.1 && id",
    "-c5;id",
    "--",
    "-- -I eth1",
    "-I",
    "0",
    "0.0.0.0",
    "::",
    "::1",
    "127.1",
    "255.255.255.255",
    "224.0.0.1",
    "ff02::1",
    "2001:db8:113:::1",
    "2001:db8:113::1::",
    "1.2.3.4.5",
    "256.1.1.1",
    "1" * 70,
    "\u202e1.1.0.01",
    "\x00",
    "\ud800",
    "2001:db8:113::1\x00",
    "2001:0db8:0113:0000:0000:0000:0000:0001",  # a valid, long IPv6 spelling
    "2001:DB8:113::1",
]


@st.composite
def hostile_destination(draw: st.DrawFn) -> str:
    """A destination string: a real address, one of its hostile spellings, or junk."""
    family = draw(st.integers(0, 6))
    if family == 0:
        return str(draw(st.sampled_from(HOST_ADDRESSES)))
    if family == 1:
        return draw(st.sampled_from(non_canonical_ipv4(draw(st.sampled_from(IPV4_TARGETS)))))
    if family == 2:
        return draw(st.sampled_from(mapped_ipv6(draw(st.sampled_from(IPV4_TARGETS)))))
    if family == 3:
        return draw(st.sampled_from(ZONE_IDS + BARE_HOSTILE_DESTINATIONS))
    if family == 4:
        return draw(st.text(alphabet="0123456789abcdefx.:%[]/ -", max_size=48))
    if family == 5:
        return draw(st.text(max_size=80))
    return draw(st.text(min_size=65, max_size=5000))


# -- params --------------------------------------------------------------------------------------

# In-bounds and out-of-bounds values, numbers in every notation a parser might be lenient about.
NUMBERS = [
    "1",
    "2",
    "3",
    "5",
    "0",
    "-1",
    "20",
    "21",
    "60",
    "61",
    "0.2",
    "0.1",
    "1.5",
    "05",
    "0005",
    "1e9",
    "1E1",
    "0x10",
    "010",
    "1_000",
    "+5",
    "5.",
    ".5",
    "5,0",
    "NaN",
    "inf",
    "-0",
    "999999999",
    "9999999999",
    "\uff11",
    "\u0665",
    "5\u200b",
]
HOSTILE_PARAMS = [
    "-c5;id",
    "-c 5;id",
    "-c 5 ; id",
    "-c $(id)",
    "-c `id`",
    "-c 5 && id",
    "-c 5 | id",
    "-c 5\nid",
    "-c\t5",
    "-c 5 #",
    "-c '5'",
    '-c "5"',
    "-c '5",
    "-c 5 \\",
    "--",
    "-- -I eth1",
    "--count=5",
    "--interface=eth1",
    "-I eth1",
    "-I eth0",
    "-i eth1",
    "-i eth0",
    "-I lo",
    "-I eth1:0",
    "-I ../eth1",
    "-I " + "e" * 16,
    "-I eth0 -I eth1",
    "-Ieth1",
    "-w 1e9",
    "-w 999999999",
    "-c 5 203.0.113.1",
    "-c 5 -- 203.0.113.1",
    "203.0.113.1",
    "-f",
    "-f /etc/passwd",
    "-4 -6",
    "-cc",
    "-c",
    "-",
    "-\u2010c 5",
    "\u2010c 5",
    "\u2212c 5",
    "\uff0dc 5",
    "-c\u00a05",
    "-c 5\u200f",
    "-c 5\x00",
    "-s 65507",
    "-W 0",
    "-p 0",
    "-N 1",
    "-q 10",
    "-T -U",
    "-n " * 40,
    "-c 1 " * 60,
    "x" * 300,
    "-c " + "9" * 300,
]


# The tests a request may name, and the program the VM runs for each (written out here, not read from
# toolargs, so the oracles stay independent of the code they judge).
PROGRAMS = {
    "ping": "ping",
    "traceroute": "traceroute",
    "arping": "arping",
    "mtr": "mtr",
    "pmtu": "tracepath",
    "ndisc": "ndisc6",
}
TYPES = list(PROGRAMS)
# ndisc6 takes its interface after the destination: the one program whose last argument is not it.
INTERFACE_LAST = frozenset({"ndisc"})


def allowed_flags(tool: str) -> list[str]:
    from sysvmdiag.toolargs import _SPECS  # the allow-list itself, so the fuzzer covers all of it

    return [option.flag for option in _SPECS[tool].options]


ALL_FLAGS = sorted({flag for tool in TYPES for flag in allowed_flags(tool)})


@st.composite
def option_tokens(draw: st.DrawFn) -> str:
    """Plausible option lists: allowed flags with values in and out of bounds, glued or separate."""
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from([*ALL_FLAGS, "-x", "-R", "-b", "-f", "-e", "-A"]))
        style = draw(st.integers(0, 3))
        value = draw(st.sampled_from(NUMBERS + INTERFACE_NAMES))
        if style == 0:
            parts.append(flag)
        elif style == 1:
            parts.append(f"{flag} {value}")
        elif style == 2:
            parts.append(f"{flag}{value}")
        else:
            parts.append(f"{flag} {value}{draw(st.sampled_from(SHELL_SUFFIXES + INVISIBLES))}")
    return " ".join(parts)


@st.composite
def hostile_params(draw: st.DrawFn) -> str | None:
    family = draw(st.integers(0, 5))
    if family == 0:
        return None
    if family == 1:
        return draw(option_tokens())
    if family == 2:
        return draw(st.sampled_from(HOSTILE_PARAMS))
    if family == 3:
        return f"{draw(option_tokens())} {draw(st.sampled_from(HOSTILE_PARAMS))}".strip()
    if family == 4:
        return draw(st.text(max_size=64))
    return draw(st.text(alphabet="-cinwWstIfmqpNTU46 0123456789.;$()`|&'\"\\\n", max_size=300))


HOSTILE_TARGETS = [
    "",
    " ",
    "*",
    "%",
    "../../etc/passwd",
    "r-4-VM; id",
    "r-4-VM\x00",
    "r\u20104\u2010VM",  # unicode hyphens
    "r-4-VM\u200f",
    "R-4-VM",
    " r-4-VM ",
    "\uff52-4-VM",
    "4b1d5c2e-7a0f-4c1e-9d3b-00000000000\uff14",
    "4B1D5C2E-7A0F-4C1E-9D3B-000000000004",
    "{4b1d5c2e-7a0f-4c1e-9d3b-000000000004}",
    "VM#r-4-VM",
    "bastion",
    "guest1a",
    "r1",
    "\ud800",
    "x" * 64,
    "x" * 65,
    "x" * 5000,
]


@st.composite
def hostile_target(draw: st.DrawFn) -> str:
    family = draw(st.integers(0, 3))
    if family == 0:
        return draw(st.sampled_from(VM_REFS))
    if family == 1:
        return draw(st.sampled_from(HOSTILE_TARGETS))
    if family == 2:
        return draw(st.sampled_from(VM_REFS)) + draw(st.sampled_from(SHELL_SUFFIXES + INVISIBLES))
    return draw(st.text(max_size=80))


HOSTILE_TYPES = [
    "PING",
    "Ping",
    "ping ",
    "ping;id",
    "bash",
    "sh",
    "nc",
    "ping\x00",
    "\uff50\uff49\uff4e\uff47",
    "",
    "traceroute6",
    "tracepath",
    "arping -I eth1",
]

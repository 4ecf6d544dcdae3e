"""Capture real tool outputs (ping, traceroute, arping, mtr, pmtu, ndisc) from the namespace lab as
parser fixtures.

Run as root with the lab up (``simvms up``)::

    .venv/bin/python tests/lab/parsers/capture.py            # every capture
    .venv/bin/python tests/lab/parsers/capture.py arping_ok  # just some, by name

Each capture is a command line as the service sends it (``pmtu -n -m 6 198.51.100.130``); the VM
side's own reading of it (``toolargs.parse_invocation``) gives the program's argv (``tracepath ...``),
which runs inside one lab host's network namespace (``ip netns exec <prefix>-<host>``, argv only, no
shell). It is stored as ``outputs/<name>.json`` with the command line, the argv run, stdout, stderr
and exit code; ``tool`` is the diagnostic type. Only lab addresses are ever targeted: a destination
that is not inside one of the topology's networks is refused before anything is sent.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sysvmdiag.toolargs import parse_invocation
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology
from tests.conftest import GOLDEN_OUTPUTS

OUTPUTS_DIR = GOLDEN_OUTPUTS
NETNS_DIR = Path("/run/netns")
CAPTURE_TIMEOUT_SECONDS = 60

# What a pmtu capture needs of the host's path MTU cache: empty (the drop shows), or filled by a
# first run of the same command (tracepath starts at the cached MTU and no drop shows).
FLUSH_PMTU = "flush"
WARM_PMTU = "warm"


@dataclass(frozen=True)
class Capture:
    """One run to record: on which lab host, with which command line (as argv, test first, destination
    last)."""

    name: str
    host: str
    argv: tuple[str, ...]
    description: str
    pmtu_cache: str | None = None  # FLUSH_PMTU or WARM_PMTU before the run

    @property
    def tool(self) -> str:
        """The diagnostic type, as the fixture and the parsers name it."""
        return self.argv[0]

    @property
    def destination(self) -> str:
        return self.argv[-1]

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def exec_argv(self) -> list[str]:
        """What the VM side runs for this command line (and refuses, if it would refuse it)."""
        return parse_invocation(self.command).exec_argv()


MTR = ("mtr", "-n", "-j", "-c", "5", "-i", "1", "-G", "2", "-m", "20")
PMTU = ("pmtu", "-n", "-m", "6")
NDISC = ("ndisc", "-n", "-r", "3", "-w", "1000", "-i", "eth0")


CAPTURES: tuple[Capture, ...] = (
    Capture(
        "ping_v4_ok",
        "vr",
        ("ping", "-n", "-c", "3", "-w", "8", "198.51.100.80"),
        "VR pings the web server through r1 and r2: every reply comes back.",
    ),
    Capture(
        "ping_v6_ok",
        "vr",
        ("ping", "-n", "-c", "3", "-w", "8", "2001:db8:52::80"),
        "The same over IPv6.",
    ),
    Capture(
        "ping_v4_host_unreachable",
        "vr",
        ("ping", "-n", "-c", "4", "-w", "8", "10.1.1.99"),
        "VR pings a free address of its own guest subnet: ARP fails, 'Destination Host Unreachable'.",
    ),
    Capture(
        "ping_v6_address_unreachable",
        "vr",
        ("ping", "-n", "-c", "4", "-w", "8", "2001:db8:1:1::99"),
        "VR pings a free IPv6 address of its guest subnet: neighbour discovery fails.",
    ),
    Capture(
        "ping_v4_net_unreachable",
        "vr",
        ("ping", "-n", "-c", "2", "-w", "4", "10.100.0.10"),
        "VR pings the datacenter host, which only the VPC reaches: r2 has no route and says so.",
    ),
    Capture(
        "ping_v4_deadline_no_reply",
        "vr",
        ("ping", "-n", "-c", "2", "-w", "2", "10.1.1.99"),
        "The -w deadline ends the run before ARP gives up: no reply and no error line at all.",
    ),
    Capture(
        "traceroute_v4",
        "vr",
        ("traceroute", "-n", "-m", "20", "-q", "3", "-w", "3", "-N", "16", "198.51.100.80"),
        "VR to the web server: r1, r2, then the web server itself.",
    ),
    Capture(
        "traceroute_v6",
        "vr",
        ("traceroute", "-n", "-m", "20", "-q", "3", "-w", "3", "-N", "16", "2001:db8:52::80"),
        "The same over IPv6.",
    ),
    Capture(
        "traceroute_stars",
        "vr",
        ("traceroute", "-n", "-m", "3", "-q", "3", "-w", "1", "-N", "16", "10.1.1.99"),
        "VR to a free guest address with a 1 s wait: every probe times out, '* * *' hops.",
    ),
    Capture(
        "traceroute_net_unreachable",
        "vr",
        ("traceroute", "-n", "-m", "5", "-q", "3", "-w", "2", "-N", "16", "10.100.0.10"),
        "VR to the datacenter host: r1 forwards, r2 has no route and answers '!N'.",
    ),
    Capture(
        "traceroute_v6_stars",
        "vr",
        ("traceroute", "-n", "-m", "2", "-q", "2", "-w", "1", "-N", "16", "2001:db8:1:1::99"),
        "IPv6 '*' hops: a free guest address, neighbour discovery outlasts the 1 s wait.",
    ),
    Capture(
        "traceroute_vpc_private_gateway",
        "vpcvr",
        ("traceroute", "-n", "-m", "10", "-q", "3", "-w", "3", "-N", "16", "10.100.0.10"),
        "VPC VR to the datacenter host through its private gateway: dc, then dchost.",
    ),
    Capture(
        "ping_ssvm_storage",
        "ssvm",
        ("ping", "-n", "-c", "2", "-w", "6", "172.31.201.10"),
        "SSVM pings the NFS server on its storage network (directly connected: ttl 64).",
    ),
    Capture(
        "arping_ssvm_management",
        "ssvm",
        ("arping", "-c", "3", "-w", "5", "-i", "eth1", "172.31.200.10"),
        "SSVM arpings the management server on its management interface.",
    ),
    Capture(
        "arping_ok",
        "vr",
        ("arping", "-c", "2", "-w", "4", "-i", "eth2", "203.0.113.1"),
        "VR arpings the public gateway r1 on its public interface.",
    ),
    Capture(
        "arping_no_reply",
        "vr",
        ("arping", "-c", "2", "-w", "4", "-i", "eth2", "203.0.113.99"),
        "VR arpings a free public address: nobody answers.",
    ),
    Capture(
        "mtr_v4_ok",
        "vr",
        (*MTR, "198.51.100.80"),
        "mtr's JSON report from the VR to the web server: r1, r2, then the web server, every probe answered.",
    ),
    Capture("mtr_v6_ok", "vr", (*MTR, "2001:db8:52::80"), "The same over IPv6."),
    Capture(
        "mtr_host_unreachable",
        "vr",
        (*MTR, "198.51.100.99"),
        "mtr to a free address of the web server's network: r2 answers its hop, then the next one in the "
        "destination's place (ARP fails there: host unreachable, which mtr's report does not name).",
    ),
    Capture(
        "mtr_no_such_interface",
        "vr",
        (*MTR, "-I", "eth9", "198.51.100.80"),
        "mtr told to send from an interface the VM does not have: it fails on stderr, exit 1, no report.",
    ),
    Capture(
        "pmtu_drop",
        "vr",
        (*PMTU, "198.51.100.130"),
        "tracepath to the narrow network (MTU 1400) behind r2 with an empty PMTU cache: r2 answers "
        "'pmtu 1400' (frag needed) and the host is reached at 1400.",
        pmtu_cache=FLUSH_PMTU,
    ),
    Capture(
        "pmtu_cached",
        "vr",
        (*PMTU, "198.51.100.130"),
        "The same right after a first run: the kernel has cached the path MTU, tracepath starts at 1400 "
        "and no hop reports a drop.",
        pmtu_cache=WARM_PMTU,
    ),
    Capture(
        "pmtu_v6",
        "vr",
        (*PMTU, "2001:db8:53::130"),
        "tracepath over IPv6 to the narrow network with an empty PMTU cache: r2 answers 'packet too big' "
        "(pmtu 1400); reached.",
        pmtu_cache=FLUSH_PMTU,
    ),
    Capture(
        "pmtu_too_many_hops",
        "vr",
        ("pmtu", "-n", "-m", "2", "198.51.100.130"),
        "tracepath to the narrow network's host, three hops away, with -m 2: r1 and r2 answer (r2 with "
        "the drop to 1400), then 'Too many hops'; not reached.",
        pmtu_cache=FLUSH_PMTU,
    ),
    Capture(
        "pmtu_host_unreachable",
        "vr",
        (*PMTU, "198.51.100.150"),
        "tracepath to a free address of the narrow network: after the drop to 1400, ARP fails at r2 and it "
        "answers '!H'; no 'hops'/'back' in Resume.",
        pmtu_cache=FLUSH_PMTU,
    ),
    Capture(
        "ndisc_ok",
        "vr",
        (*NDISC, "2001:db8:1:1::11"),
        "VR solicits guest1a on its guest interface: the guest answers with its link-layer address, exit 0.",
    ),
    Capture(
        "ndisc_no_response",
        "vr",
        (*NDISC, "2001:db8:1:1::99"),
        "VR solicits a free guest address: three attempts time out, 'No response.', exit 2 (all on stdout).",
    ),
)


class CaptureRefused(RuntimeError):
    """A capture that would leave the lab, or a lab that is not there."""


def check_lab_destination(topology: Topology, destination: str) -> None:
    """Refuse any destination that is not inside one of the lab topology's networks."""
    address = ipaddress.ip_address(destination)
    if not any(network.contains(address) for network in topology.networks):
        raise CaptureRefused(f"{destination} is not a lab address; refusing to send traffic to it")


def namespace_of(topology: Topology, host: str) -> str:
    """The network namespace of a lab host, which must exist (the lab must be up)."""
    topology.host(host)  # raises for a host the topology does not have
    namespace = f"{topology.lab.prefix}-{host}"
    if not (NETNS_DIR / namespace).exists():
        raise CaptureRefused(
            f"network namespace {namespace} does not exist: bring the lab up with `simvms up`"
        )
    return namespace


# A neighbour entry between these states is still resolving: an earlier run's resolution that fails
# during this run would answer its probes ("!H" after the remaining second, not the usual 3 s).
RESOLVING_STATES = frozenset({"INCOMPLETE", "PROBE", "DELAY"})
SETTLE_SECONDS = 15.0


def settle_neighbour(namespace: str, destination: str) -> None:
    """Wait until ``namespace`` holds no resolution in progress for ``destination`` (an earlier capture's,
    or an earlier test's): then this run's resolution starts afresh and its timing is the kernel's own."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        shown = subprocess.run(
            ["ip", "-n", namespace, "-j", "neigh", "show", "to", destination],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        states = {state for entry in json.loads(shown.stdout or "[]") for state in entry.get("state", [])}
        if not states & RESOLVING_STATES:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{namespace}: the neighbour {destination} is still {sorted(states)}")
        time.sleep(0.1)


def prepare_pmtu_cache(namespace: str, capture: Capture) -> None:
    """Empty the host's path MTU cache (IPv4 and IPv6), then for WARM_PMTU fill it with a first run."""
    if capture.pmtu_cache is None:
        return
    for family in ("-4", "-6"):
        subprocess.run(["ip", "-n", namespace, family, "route", "flush", "cache"], timeout=10, check=True)
    if capture.pmtu_cache == WARM_PMTU:
        subprocess.run(
            ["ip", "netns", "exec", namespace, *capture.exec_argv()],
            capture_output=True,
            timeout=CAPTURE_TIMEOUT_SECONDS,
            check=False,
        )


def run_capture(capture: Capture, topology: Topology) -> dict[str, object]:
    """Run one capture inside its host's namespace and return the fixture record."""
    check_lab_destination(topology, capture.destination)
    namespace = namespace_of(topology, capture.host)
    settle_neighbour(namespace, capture.destination)
    prepare_pmtu_cache(namespace, capture)
    argv = capture.exec_argv()
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=CAPTURE_TIMEOUT_SECONDS,
        check=False,
    )
    return {
        "name": capture.name,
        "description": capture.description,
        "host": capture.host,
        "namespace": namespace,
        "tool": capture.tool,
        "argv": argv,
        "command": capture.command,
        "stdout": completed.stdout,
        "stderr": completed.stderr,
        "exit_code": completed.returncode,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="captures to run (default: all)")
    parser.add_argument("--topology", default=str(DEFAULT_TOPOLOGY_FILE), help="lab topology file")
    parser.add_argument("--outputs", default=str(OUTPUTS_DIR), help="directory for the fixture files")
    args = parser.parse_args(argv)

    by_name = {capture.name: capture for capture in CAPTURES}
    unknown = sorted(set(args.names) - set(by_name))
    if unknown:
        parser.error(f"unknown capture(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    topology = load_topology(args.topology)
    outputs = Path(args.outputs)
    outputs.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(by_name):
        record = run_capture(by_name[name], topology)
        (outputs / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: exit {record['exit_code']}, {len(str(record['stdout']))} bytes of stdout")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Linux ``traceroute`` (IPv4 and IPv6) via jc, normalised.

jc reads addresses, round-trip times and ``!H``-style annotations, but not unanswered probes
(``*``) consistently: ``* * *`` comes back with no probes, ``10.0.0.1 0.1 ms * 0.2 ms`` with two,
and ``10.0.0.1 0.1 ms !N * *`` with a made-up second answer that has no time. A diagnosis needs
to see those timeouts, so the answered probes are taken from jc and the ``*`` put back, in their
places, from the line itself.
"""

from __future__ import annotations

import re
from typing import Any

import jc

from sysvmdiag.parsers.common import same_address, stderr_errors
from sysvmdiag.results import HopError, TracerouteHop, TracerouteProbe, TracerouteResult

TIMEOUT_MARK = "*"  # a probe that got no answer within -w
RTT_UNIT = "ms"  # follows every answered probe's round-trip time
HOP_LINE = re.compile(r"^\s*(?P<hop>\d+)\s+(?P<rest>.*)$")

# What traceroute's "!X" marks after a round-trip time mean (traceroute(8), "ANNOTATIONS").
ANNOTATIONS = {
    "!H": "host unreachable",
    "!N": "network unreachable",
    "!P": "protocol unreachable",
    "!S": "source route failed",
    "!F": "fragmentation needed",
    "!X": "communication administratively prohibited",
    "!V": "host precedence violation",
    "!C": "precedence cutoff in effect",
}


def _probe_slots(rest: str) -> list[bool]:
    """For the probes of one hop line, in order: True where a reply was printed, False for ``*``."""
    slots: list[bool] = []
    for word in rest.split():
        if word == TIMEOUT_MARK:
            slots.append(False)
        elif word == RTT_UNIT:
            slots.append(True)
    return slots


def _hop_lines(stdout: str) -> dict[int, str]:
    hop_lines: dict[int, str] = {}
    for line in stdout.splitlines():
        match = HOP_LINE.match(line)
        if match:
            hop_lines[int(match["hop"])] = match["rest"]
    return hop_lines


def _probe(jc_probe: dict[str, Any]) -> TracerouteProbe:
    return TracerouteProbe(
        address=jc_probe.get("ip"), rtt_ms=jc_probe.get("rtt"), annotation=jc_probe.get("annotation")
    )


def _merge_probes(jc_probes: list[dict[str, Any]], line: str | None) -> list[TracerouteProbe]:
    """jc's answered probes with the unanswered ones re-inserted where the line had ``*``."""
    # jc sometimes turns trailing "* *" into a probe with an address but no time: not an answer.
    answered = [_probe(probe) for probe in jc_probes if probe.get("rtt") is not None]
    slots = _probe_slots(line) if line is not None else []
    if slots.count(True) != len(answered):
        # The line did not tokenise as expected: keep jc's view, and still report the timeouts.
        return answered + [TracerouteProbe() for _ in range(slots.count(False))]
    replies = iter(answered)
    return [next(replies) if answered_slot else TracerouteProbe() for answered_slot in slots]


def _annotation_errors(hops: list[TracerouteHop]) -> list[HopError]:
    errors: list[HopError] = []
    seen: set[tuple[int, str | None, str]] = set()
    for hop in hops:
        for probe in hop.probes:
            annotation = probe.annotation
            key = (hop.hop, probe.address, annotation)
            if not annotation or key in seen:
                continue
            seen.add(key)
            meaning = ANNOTATIONS.get(annotation, "unreachable (ICMP code in the mark)")
            errors.append(HopError(hop=hop.hop, address=probe.address, message=f"{annotation} {meaning}"))
    return errors


def parse_traceroute(stdout: str, stderr: str, exit_code: int | None) -> TracerouteResult:
    """Destination, hops with every probe (``*`` as address null) and whether the destination answered."""
    parse_error: str | None = None
    try:
        parsed = jc.parse("traceroute", stdout, quiet=True) or {}
    except Exception as exc:  # jc raises on some malformed inputs; keep the raw-line view then
        parsed = {}
        parse_error = f"traceroute output not understood by jc: {exc}"

    hop_lines = _hop_lines(stdout)
    hops = [
        TracerouteHop(
            hop=jc_hop["hop"],
            probes=_merge_probes(jc_hop.get("probes") or [], hop_lines.get(jc_hop["hop"])),
        )
        for jc_hop in parsed.get("hops") or []
        if isinstance(jc_hop.get("hop"), int)
    ]
    destination = parsed.get("destination_ip")
    last_hop_probes = hops[-1].probes if hops else []
    reached = any(same_address(probe.address, destination) for probe in last_hop_probes)

    if parse_error is None and destination is None:
        parse_error = (
            f"traceroute produced no output (exit code {exit_code})"
            if not stdout.strip()
            else "traceroute output has no 'traceroute to' header"
        )
    elif parse_error is None and len(hops) != len(hop_lines):
        parse_error = f"{len(hop_lines) - len(hops)} hop line(s) of traceroute output were not understood"

    return TracerouteResult(
        destination=destination,
        max_hops=parsed.get("max_hops"),
        hops=hops,
        reached=reached,
        errors=[*_annotation_errors(hops), *stderr_errors(stderr)],
        parse_error=parse_error,
    )

"""iputils ``tracepath`` (20221126, IPv4 and IPv6), read for the path MTU. jc has no tracepath parser.

Its output::

     1?: [LOCALHOST]                      pmtu 1500
     1:  10.99.1.1                                             0.090ms
     2:  10.99.1.1                                             0.063ms pmtu 1400
     2:  10.99.2.2                                             0.028ms reached
         Resume: pmtu 1400 hops 2 back 2

The first line is the MTU the VM starts from. A line ending "pmtu N" is a router saying its next link
takes packets of at most N (frag needed, packet too big): it answered the probe of that TTL, so it
sits before that hop, and tracepath probes the hop again at the smaller size. Other hops end in
"reached", a mark (!H, !N, !A, !P: the probe was refused there), "asymm N" (replies came back over N
hops, not kept) or nothing; a silent hop is "no reply". The Resume line holds the answer.
"""

from __future__ import annotations

import re

from sysvmdiag.parsers.common import stderr_errors
from sysvmdiag.parsers.traceroute import ANNOTATIONS
from sysvmdiag.results import PMTU_SEND_FAILED, HopError, PmtuDrop, PmtuHop, PmtuResult

HOP_LINE = re.compile(r"^(?P<hop>\d{1,9})\??:\s+(?P<rest>.*)$")
LOCALHOST = "[LOCALHOST]"
NO_REPLY = "no reply"
# "10.99.1.1  0.063ms pmtu 1400"; without -n "gw (10.99.1.1)"; the rtt is missing when none was measured.
ANSWER = re.compile(
    r"^(?P<who>\S+)(?:\s+\((?P<address>[^()\s]+)\))?"
    r"(?:\s+(?P<rtt>\d{1,9}(?:\.\d{1,9})?)ms)?"
    r"(?:\s+(?:pmtu\s+(?P<pmtu>\d{1,9})|(?P<reached>reached)|(?P<mark>![A-Z])|asymm\s+\d+))?$"
)
TOO_MANY_HOPS = re.compile(r"^Too many hops: pmtu \d+$")
RESUME = re.compile(
    r"^Resume: pmtu (?P<pmtu>\d{1,9})(?: hops (?P<hops>\d{1,9}))?(?: back (?P<back>\d{1,9}))?$"
)
# tracepath's marks (one per errno it reads); its !A (EACCES) is IPv6's administratively prohibited.
MARK_MEANINGS = {mark: ANNOTATIONS[mark] for mark in ("!H", "!N", "!P")} | {"!A": ANNOTATIONS["!X"]}
SEND_FAILED_MEANING = "the VM could not send the probe (no route?)"


def _read_hop(result: PmtuResult, hop: int, rest: str) -> bool:
    """Add one hop line's facts to ``result``; False when the line is not one tracepath writes."""
    if rest in (NO_REPLY, PMTU_SEND_FAILED):
        result.hops.append(PmtuHop(hop=hop, mark=PMTU_SEND_FAILED if rest == PMTU_SEND_FAILED else None))
        return True
    match = ANSWER.match(rest)
    if match is None:
        return False
    pmtu = int(match["pmtu"]) if match["pmtu"] else None
    address: str | None = match["address"] or match["who"]
    if address == LOCALHOST:
        if pmtu is not None and result.local_pmtu is None and not result.hops:
            result.local_pmtu = pmtu
            return True
        address = None  # the VM itself, later in the run: its own route learnt a smaller MTU
    rtt_ms = float(match["rtt"]) if match["rtt"] else None
    result.hops.append(PmtuHop(hop=hop, address=address, rtt_ms=rtt_ms, pmtu=pmtu, mark=match["mark"]))
    if pmtu is not None:
        result.drops.append(PmtuDrop(hop=hop, address=address, pmtu=pmtu))
    if match["reached"]:
        result.reached, result.destination = True, address
    return True


def _mark_errors(hops: list[PmtuHop]) -> list[HopError]:
    """One error per mark, hop and address, with what it means."""
    errors: dict[tuple[int, str | None, str], HopError] = {}
    for hop in hops:
        if hop.mark is None:
            continue
        meaning = (
            SEND_FAILED_MEANING
            if hop.mark == PMTU_SEND_FAILED
            else MARK_MEANINGS.get(hop.mark, "unreachable (ICMP error)")
        )
        errors.setdefault(
            (hop.hop, hop.address, hop.mark),
            HopError(hop=hop.hop, address=hop.address, message=f"{hop.mark} {meaning}"),
        )
    return list(errors.values())


def parse_pmtu(stdout: str, stderr: str, exit_code: int | None) -> PmtuResult:
    """The path MTU, its drops and where they were reported, every hop, and whether it was reached."""
    result = PmtuResult()
    unread = 0
    resumed = False
    for raw_line in stdout.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if match := HOP_LINE.match(line):
            if not _read_hop(result, int(match["hop"]), match["rest"].strip()):
                unread += 1
        elif TOO_MANY_HOPS.match(line):
            result.too_many_hops = True
        elif match := RESUME.match(line):
            resumed = True
            result.pmtu = int(match["pmtu"])
            result.hop_count = int(match["hops"]) if match["hops"] else None
            result.back = int(match["back"]) if match["back"] else None
        else:
            unread += 1
    result.errors = [*_mark_errors(result.hops), *stderr_errors(stderr)]
    if not stdout.strip():
        result.parse_error = f"tracepath produced no output (exit code {exit_code})"
    elif not resumed:
        result.parse_error = "tracepath output has no Resume line (the run was probably cut short)"
    elif unread:
        result.parse_error = f"{unread} line(s) of tracepath output were not understood"
    return result

"""``ndisc6`` (1.0.5): one IPv6 neighbour solicitation and its answer, the IPv6 twin of arping.

Its output, all on stdout, for an answer (exit 0)::

    Soliciting fd99:1::1 (fd99:1::1) on eth0...
    Target link-layer address: CA:37:5D:9F:B7:7E
     from fd99:1::1

and for none (exit 2), one "Timed out." per attempt (-r), then "No response.".
"""

from __future__ import annotations

import re

from sysvmdiag.parsers.common import stderr_errors
from sysvmdiag.results import NdiscResult

HEADER_LINE = re.compile(r"^Soliciting\s+\S+\s+\((?P<address>[^()\s]+)\)\s+on\s+(?P<interface>\S+?)\.\.\.$")
TARGET_LINE = re.compile(r"^Target link-layer address:\s+(?P<mac>\S+)$")
FROM_LINE = re.compile(r"^from\s+(?P<address>\S+)$")
TIMED_OUT = "Timed out."
NO_RESPONSE = "No response."


def _missing(result: NdiscResult, no_response: bool) -> str | None:
    """What a whole run prints and this one lacks, if anything."""
    if result.destination is None:
        return "ndisc6 output has no 'Soliciting' line"
    if result.mac is None and not no_response:
        return f"ndisc6 output ends before an answer or '{NO_RESPONSE}' (the run was probably cut short)"
    if result.mac is not None and result.address is None:
        return "ndisc6 output ends before the answer's 'from' line (the run was probably cut short)"
    return None


def parse_ndisc(stdout: str, stderr: str, exit_code: int | None) -> NdiscResult:
    """The solicited address and interface, the MAC that answered and from where, or the timeouts."""
    result = NdiscResult(errors=stderr_errors(stderr))
    no_response = False
    unread = 0
    for raw_line in stdout.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if line == TIMED_OUT:
            result.attempts_timed_out += 1
        elif line == NO_RESPONSE:
            no_response = True
        elif (match := TARGET_LINE.match(line)) and result.mac is None:
            result.mac = match["mac"].lower()
        elif (match := FROM_LINE.match(line)) and result.address is None:
            result.address = match["address"]
        elif match := HEADER_LINE.match(line):
            result.destination, result.interface = match["address"], match["interface"]
        else:
            unread += 1
    result.responded = result.mac is not None
    if not stdout.strip():
        result.parse_error = f"ndisc6 produced no output (exit code {exit_code})"
    else:
        result.parse_error = _missing(result, no_response) or (
            f"{unread} line(s) of ndisc6 output were not understood" if unread else None
        )
    return result

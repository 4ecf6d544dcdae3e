"""Turn the raw output of ping, traceroute, arping, mtr, tracepath (pmtu) and ndisc6 into one stable,
structured shape per diagnostic type.

The API returns the tool's stdout/stderr verbatim *and* this structure (the models of
:mod:`sysvmdiag.results`), so callers never have to scrape text. Every parser is total: odd,
truncated or empty output yields whatever could be read plus a ``parse_error`` sentence, never an
exception (the run itself already happened and must be reported even when its output surprises us).
"""

from __future__ import annotations

from collections.abc import Callable

from sysvmdiag.parsers.arping import parse_arping
from sysvmdiag.parsers.mtr import parse_mtr
from sysvmdiag.parsers.ndisc import parse_ndisc
from sysvmdiag.parsers.ping import parse_ping
from sysvmdiag.parsers.pmtu import parse_pmtu
from sysvmdiag.parsers.traceroute import parse_traceroute
from sysvmdiag.results import RESULT_TYPES, ParsedResult

__all__ = [
    "PARSERS",
    "parse_arping",
    "parse_mtr",
    "parse_ndisc",
    "parse_output",
    "parse_ping",
    "parse_pmtu",
    "parse_traceroute",
]

Parser = Callable[[str, str, "int | None"], ParsedResult]

PARSERS: dict[str, Parser] = {
    "ping": parse_ping,
    "traceroute": parse_traceroute,
    "arping": parse_arping,
    "mtr": parse_mtr,
    "pmtu": parse_pmtu,
    "ndisc": parse_ndisc,
}


def parse_output(tool: str, stdout: str, stderr: str, exit_code: int | None) -> ParsedResult:
    """Structured result of one run of ``tool``; raises only for a tool that has no parser.

    A tool without a parser is a programming error: requests name one of the diagnostic types (the
    request model's enum), so no caller input reaches here with another name. ``tool`` is the type
    ("pmtu", "ndisc"), not the program the VM runs for it (tracepath, ndisc6).
    """
    parser = PARSERS.get(tool)
    if parser is None:
        raise ValueError(f"no parser for tool {tool!r}")
    try:
        return parser(stdout or "", stderr or "", exit_code)
    except Exception as exc:  # a parser bug must not turn a finished run into a 500
        return RESULT_TYPES[tool](parse_error=f"{tool} output could not be parsed: {exc!r}")

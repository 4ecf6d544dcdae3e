"""Every reason the policy can give: the policy's part of the error catalogue (``sysvmdiag.errors``),
which holds each code's HTTP status and sentence.
"""

from __future__ import annotations

from enum import StrEnum

from sysvmdiag.errors import ErrorCode, Source


class _PolicyCode(StrEnum):
    """What every reason code knows of itself, from its entry in the error catalogue."""

    @property
    def sentence(self) -> str:
        return ErrorCode(self.value).sentence

    @property
    def http_status(self) -> int:
        """The HTTP status the API answers with (from the error catalogue)."""
        return int(ErrorCode(self.value).status)


# Why a request was refused: the catalogue's policy codes, in its order (one list, in errors.py).
ReasonCode = _PolicyCode(
    "ReasonCode",
    [(code.name, code.value) for code in ErrorCode if code.spec.source is Source.POLICY],
    module=__name__,
)


def markdown_table() -> str:
    """The reason-code table, one row per code (the catalogue's policy rows)."""
    lines = ["| Code | HTTP | Meaning |", "| --- | --- | --- |"]
    for code in ReasonCode:
        lines.append(f"| `{code.value}` | {code.http_status} | {code.sentence} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

"""Every reason the policy can give: the policy's part of the error catalogue (``sysvmdiag.errors``),
which holds each code's HTTP status and sentence.
"""

from __future__ import annotations

from enum import StrEnum

from sysvmdiag.errors import ErrorCode


class ReasonCode(StrEnum):
    """Why a request was refused; the value is what the API returns as ``code``."""

    INVALID_TEST = "INVALID_TEST"
    INVALID_DESTINATION = "INVALID_DESTINATION"
    INVALID_OPTION = "INVALID_OPTION"
    OPTION_OUT_OF_BOUNDS = "OPTION_OUT_OF_BOUNDS"
    ARPING_IPV4_ONLY = "ARPING_IPV4_ONLY"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    SYSTEM_VM_KIND_ADMIN_ONLY = "SYSTEM_VM_KIND_ADMIN_ONLY"
    TARGET_NOT_OWNED = "TARGET_NOT_OWNED"
    VM_NOT_RUNNING = "VM_NOT_RUNNING"
    DESTINATION_IN_MANAGEMENT_RANGE = "DESTINATION_IN_MANAGEMENT_RANGE"
    VR_CONTROL_OR_MANAGEMENT_ADDRESS = "VR_CONTROL_OR_MANAGEMENT_ADDRESS"
    DESTINATION_NOT_ALLOWED = "DESTINATION_NOT_ALLOWED"
    SHARED_NETWORK_NOT_EXCLUSIVE = "SHARED_NETWORK_NOT_EXCLUSIVE"
    NO_ROUTE = "NO_ROUTE"
    EGRESS_NOT_ALLOWED = "EGRESS_NOT_ALLOWED"
    INTERFACE_NOT_ALLOWED = "INTERFACE_NOT_ALLOWED"
    ARPING_NOT_ON_LINK = "ARPING_NOT_ON_LINK"

    @property
    def sentence(self) -> str:
        return ErrorCode(self.value).sentence

    @property
    def http_status(self) -> int:
        """The HTTP status the API answers with (from the error catalogue)."""
        return int(ErrorCode(self.value).status)


def markdown_table() -> str:
    """The reason-code table, one row per code (the catalogue's policy rows)."""
    lines = ["| Code | HTTP | Meaning |", "| --- | --- | --- |"]
    for code in ReasonCode:
        lines.append(f"| `{code.value}` | {code.http_status} | {code.sentence} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

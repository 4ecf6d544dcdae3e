"""Every reason the policy can give, in one place, each with a sentence a person understands.

``python -m sysvmdiag.policy.reasons`` prints the table as markdown for the README.
"""

from __future__ import annotations

from enum import StrEnum


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
        return _SENTENCES[self]

    @property
    def http_status(self) -> int:
        """The HTTP status the API answers with: 400 bad input, 404 unknown VM, 409 not running, else 403."""
        return _HTTP_STATUS.get(self, 403)


_SENTENCES: dict[ReasonCode, str] = {
    ReasonCode.INVALID_TEST: "The test must be one of ping, traceroute or arping.",
    ReasonCode.INVALID_DESTINATION: (
        "The destination must be a single IPv4 or IPv6 address literal in canonical form (no hostnames, "
        "leading zeros or zone ids), and never 0.0.0.0, ::, 255.255.255.255 or multicast (for anyone); "
        "an IPv4-mapped IPv6 address is judged as the IPv4 address."
    ),
    ReasonCode.INVALID_OPTION: (
        "An option is not on the tool's allow-list (or is malformed, repeated, contains shell "
        "characters, or is an extra argument); the message names it."
    ),
    ReasonCode.OPTION_OUT_OF_BOUNDS: (
        "An allowed option has a value outside its bounds, or the options together could not finish "
        "within the 60 s a run may take; the message names the bound."
    ),
    ReasonCode.ARPING_IPV4_ONLY: "arping works with IPv4 destinations only.",
    ReasonCode.TARGET_NOT_FOUND: (
        "No system VM with that id or name exists that you may use: a VM you may not use is answered "
        "exactly like one that does not exist."
    ),
    ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY: (
        "Audit detail only (the caller is answered TARGET_NOT_FOUND): secondary storage and console "
        "proxy VMs can be diagnosed by root admins only."
    ),
    ReasonCode.TARGET_NOT_OWNED: (
        "Audit detail only (the caller is answered TARGET_NOT_FOUND): the virtual router serves no "
        "network your account has (or, for a domain admin, an account of your domain subtree has); a "
        "shared network used by several accounts is nobody's."
    ),
    ReasonCode.VM_NOT_RUNNING: "The system VM is not in the Running state, so nothing can run on it.",
    ReasonCode.DESTINATION_IN_MANAGEMENT_RANGE: (
        "The destination is in the zone's management range(s), an address reserved for the zone's "
        "infrastructure; only admins may probe it."
    ),
    ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS: (
        "The destination is an address reserved for the zone's infrastructure: on its control, "
        "management or storage network, of the SSH bastion, or on the link between the lab and its "
        "host; only admins may probe it."
    ),
    ReasonCode.DESTINATION_NOT_ALLOWED: (
        "The destination is an address of another tenant (reached over the public network or a static "
        "route, it lies in a network, VPC, private-gateway route or VPN remote CIDR of an account you do "
        "not cover, or on a shared network used by several accounts), the network or broadcast address "
        "of a subnet the zone describes, or a loopback, link-local, reserved or 0.0.0.0/8 address; only "
        "admins may probe it."
    ),
    ReasonCode.SHARED_NETWORK_NOT_EXCLUSIVE: (
        "The destination or the egress is on a shared network that your account uses together with "
        "other accounts (whoever owns it); only admins may probe it."
    ),
    ReasonCode.NO_ROUTE: "The system VM has no route toward the destination.",
    ReasonCode.EGRESS_NOT_ALLOWED: (
        "The traffic would leave the VM over an interface your account may not probe from: the zone's "
        "infrastructure, another tenant's network, or a VPC gateway toward something other than its "
        "routes, remote CIDRs or far end."
    ),
    ReasonCode.INTERFACE_NOT_ALLOWED: (
        "The interface option names an interface other than the one the policy chose for the "
        "destination (non-admins, and arping for everyone), or one the VM does not have."
    ),
    ReasonCode.ARPING_NOT_ON_LINK: (
        "arping only works toward an address on a subnet directly connected to one of the VM's interfaces."
    ),
}

_HTTP_STATUS: dict[ReasonCode, int] = {
    ReasonCode.INVALID_TEST: 400,
    ReasonCode.INVALID_DESTINATION: 400,
    ReasonCode.INVALID_OPTION: 400,
    ReasonCode.OPTION_OUT_OF_BOUNDS: 400,
    ReasonCode.TARGET_NOT_FOUND: 404,
    ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY: 404,
    ReasonCode.TARGET_NOT_OWNED: 404,
    ReasonCode.VM_NOT_RUNNING: 409,
}


def markdown_table() -> str:
    """The reason-code table, one row per code, for the README."""
    lines = ["| Code | HTTP | Meaning |", "| --- | --- | --- |"]
    for code in ReasonCode:
        lines.append(f"| `{code.value}` | {code.http_status} | {code.sentence} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

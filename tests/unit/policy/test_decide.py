"""Table-driven policy cases over the lab's topology: every role, VM kind, egress kind and reason code."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from sysvmdiag.policy import ReasonCode, allowed_egress_kinds, decide, may_target
from sysvmdiag.toolargs import ROUTED_TOOLS, parse_command_line, works_on_link_only
from sysvmdiag.topology.layout import decision_slice
from sysvmdiag.topology.model import NetworkKind
from tests.unit.policy.topologies import LAB, VARIANTS, caller

ALLOW = None


class Case(NamedTuple):
    who: str
    vm: str
    test: str  # "ping", "arping", ... or "*" for every routed test (ROUTED_TOOLS)
    dest: str
    code: ReasonCode | None
    egress: str | None = None  # "eth2/public" when allowed
    params: str | None = None
    variant: str = "lab"


R = ReasonCode
CASES: list[Case] = [
    # --- admin: every VM kind, every network kind, very few restrictions -------------------
    Case("admin", "vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("admin", "vr", "*", "2001:db8:52::80", ALLOW, "eth2/public"),
    Case("admin", "vr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("admin", "vr", "*", "2001:db8:1:1::11", ALLOW, "eth0/isolated"),
    Case("admin", "vr", "*", "169.254.0.1", ALLOW, "eth1/control"),
    Case("admin", "vr", "*", "172.31.200.10", ALLOW, "eth2/public"),
    Case("admin", "vr", "*", "10.1.1.255", ALLOW, "eth0/isolated"),
    Case("admin", "r-4-VM", "*", "203.0.113.1", ALLOW, "eth2/public"),
    Case("admin", "4b1d5c2e-7a0f-4c1e-9d3b-000000000004", "*", "10.1.1.12", ALLOW, "eth0/isolated"),
    Case("admin", "vpcvr", "*", "10.2.1.11", ALLOW, "eth2/vpc_tier"),
    Case("admin", "vpcvr", "*", "10.2.2.11", ALLOW, "eth3/vpc_tier"),
    Case("admin", "vpcvr", "*", "2001:db8:2:2::11", ALLOW, "eth3/vpc_tier"),
    Case("admin", "vpcvr", "*", "10.100.0.10", ALLOW, "eth4/private_gateway"),
    Case("admin", "vpcvr", "*", "10.50.0.10", ALLOW, "vpn0/vpn_gateway"),
    Case("admin", "vpcvr", "*", "10.255.0.2", ALLOW, "vpn0/vpn_gateway"),
    Case("admin", "vpcvr", "*", "198.51.100.80", ALLOW, "eth1/public"),
    Case("admin", "vpcvr", "*", "2001:db8:113::1", ALLOW, "eth1/public"),
    Case("admin", "sharedvr", "*", "10.3.0.21", ALLOW, "eth0/shared"),
    Case("admin", "sharedvr", "*", "198.51.100.80", ALLOW, "eth0/shared"),
    Case("admin", "sharedvr", "*", "2001:db8:3::22", ALLOW, "eth0/shared"),
    Case("admin", "ssvm", "*", "172.31.200.10", ALLOW, "eth1/management"),
    Case("admin", "ssvm", "*", "172.31.201.10", ALLOW, "eth3/storage"),
    Case("admin", "ssvm", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("admin", "ssvm", "*", "2001:db8:52::80", ALLOW, "eth2/public"),
    Case("admin", "s-1-VM", "*", "169.254.0.1", ALLOW, "eth0/control"),
    Case("admin", "cpvm", "*", "172.31.200.10", ALLOW, "eth1/management"),
    Case("admin", "cpvm", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("admin", "v-2-VM", "*", "2001:db8:113::1", ALLOW, "eth2/public"),
    Case("admin", "vr", "ping", "10.1.1.11", ALLOW, "eth2/public", params="-I eth2"),  # what ran
    Case("admin", "vr", "ping", "10.1.1.11", R.INTERFACE_NOT_ALLOWED, params="-I eth9"),
    Case("admin", "vr", "arping", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("admin", "vr", "arping", "10.1.1.11", R.INTERFACE_NOT_ALLOWED, params="-i eth2"),
    Case("admin", "vr", "traceroute", "198.51.100.80", ALLOW, "eth0/isolated", params="-i eth0"),
    Case("admin", "ssvm", "arping", "172.31.200.10", ALLOW, "eth1/management"),
    Case("admin", "ssvm", "arping", "172.31.201.10", ALLOW, "eth3/storage"),
    Case("admin", "cpvm", "arping", "203.0.113.1", ALLOW, "eth2/public"),
    Case("admin", "vpcvr", "arping", "10.255.0.2", ALLOW, "vpn0/vpn_gateway"),
    Case("admin", "vr", "ndisc", "2001:db8:1:1::11", ALLOW, "eth0/isolated"),
    Case("admin", "ssvm", "ndisc", "2001:db8:113::1", ALLOW, "eth2/public"),
    Case("admin", "vr", "ndisc", "10.1.1.11", R.NDISC_IPV6_ONLY),
    Case("admin", "vr", "ndisc", "2001:db8:52::80", R.NDISC_NOT_ON_LINK),
    Case("admin", "vr", "ndisc", "2001:db8:1:1::11", R.INTERFACE_NOT_ALLOWED, params="-i eth2"),
    Case("admin", "vr", "mtr", "198.51.100.80", ALLOW, "eth0/isolated", params="-I eth0 -c 2"),
    Case("admin", "vr", "mtr", "198.51.100.80", R.INVALID_OPTION, params="-P 80"),  # -P needs -u or -T
    Case("admin", "vr", "pmtu", "198.51.100.80", R.INVALID_OPTION, params="-I eth0"),  # no interface
    Case("admin", "vr", "pmtu", "198.51.100.80", ALLOW, "eth2/public", params="-m 15 -l 1500"),
    Case("admin", "vr", "pmtu", "198.51.100.80", R.OPTION_OUT_OF_BOUNDS, params="-m 16"),
    Case("admin", "ssvm", "arping", "198.51.100.80", R.ARPING_NOT_ON_LINK),
    Case("admin", "ssvm", "arping", "2001:db8:113::1", R.ARPING_IPV4_ONLY),
    Case("admin", "r-99-VM", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("admin", "r1", "*", "198.51.100.80", R.TARGET_NOT_FOUND),  # a router, not a system VM
    Case("admin", "vr", "*", "198.51.100.80", R.VM_NOT_RUNNING, variant="stopped"),
    Case("admin", "vr", "*", "198.51.100.80", R.NO_ROUTE, variant="noroute"),
    Case("admin", "vr", "*", "2001:db8:52::80", R.NO_ROUTE, variant="noroute"),
    Case("admin", "vr", "ping", "198.51.100.80", R.INVALID_OPTION, params="-f"),
    Case("admin", "vr", "ping", "198.51.100.80", R.OPTION_OUT_OF_BOUNDS, params="-c 500"),
    Case("admin", "vr", "nmap", "198.51.100.80", R.INVALID_TEST),
    Case("admin", "vr", "*", "web.example", R.INVALID_DESTINATION),
    Case("admin", "vr", "*", "0.0.0.0", R.INVALID_DESTINATION),
    Case("admin", "vr", "*", "::", R.INVALID_DESTINATION),
    Case("admin", "vr", "*", "255.255.255.255", R.INVALID_DESTINATION),
    Case("admin", "vr", "*", "224.0.0.1", R.INVALID_DESTINATION),
    Case("admin", "vr", "*", "ff02::1", R.INVALID_DESTINATION),
    Case("admin", "vr", "*", "::ffff:224.0.0.5", R.INVALID_DESTINATION),
    Case("admin", "davevr", "*", "10.4.0.21", ALLOW, "eth3/shared"),
    Case("admin", "davevr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("admin", "dedvr", "*", "10.5.0.21", ALLOW, "eth0/shared"),
    Case("admin", "stoppedvr", "*", "198.51.100.80", R.VM_NOT_RUNNING),
    # --- user owning the isolated network and the VPC -----------------------------------
    Case("alice", "vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("alice", "vr", "*", "2001:db8:52::80", ALLOW, "eth2/public"),
    Case("alice", "r-4-VM", "*", "198.51.100.130", ALLOW, "eth2/public"),  # behind the narrow link
    Case("alice", "r-4-VM", "*", "2001:db8:53::130", ALLOW, "eth2/public"),
    Case("alice", "vr", "*", "203.0.113.1", ALLOW, "eth2/public"),
    Case("alice", "r-4-VM", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("alice", "vr", "*", "2001:db8:1:1::12", ALLOW, "eth0/isolated"),
    Case("alice", "vr", "*", "10.1.1.255", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "10.1.1.0", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "2001:db8:1:1::", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "172.31.200.10", R.DESTINATION_IN_MANAGEMENT_RANGE),
    Case("alice", "vr", "*", "172.31.200.40", R.DESTINATION_IN_MANAGEMENT_RANGE),
    Case("alice", "vr", "*", "::ffff:172.31.200.10", R.DESTINATION_IN_MANAGEMENT_RANGE),
    Case("alice", "vr", "*", "2002:ac1f:c80a::1", R.DESTINATION_IN_MANAGEMENT_RANGE),
    Case("alice", "vr", "*", "169.254.1.10", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vr", "*", "169.254.0.1", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vr", "*", "::ffff:169.254.0.1", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vr", "*", "64:ff9b::a9fe:10a", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vr", "*", "172.31.201.10", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vr", "*", "10.3.0.21", R.DESTINATION_NOT_ALLOWED),  # not a holder: "another tenant"
    Case("alice", "vr", "*", "2001:db8:3::21", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "10.4.0.22", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "10.5.0.21", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "2001:db8:9:1::11", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "127.0.0.1", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "::1", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "0.0.0.0", R.INVALID_DESTINATION),
    Case("alice", "vr", "*", "::", R.INVALID_DESTINATION),
    Case("alice", "vr", "*", "224.0.0.1", R.INVALID_DESTINATION),
    Case("alice", "vr", "*", "ff02::1", R.INVALID_DESTINATION),
    Case("alice", "vr", "*", "255.255.255.255", R.INVALID_DESTINATION),
    Case("alice", "vr", "*", "fe80::1", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "*", "203.0.113.255", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vr", "ping", "10.1.1.11", ALLOW, "eth0/isolated", params="-I eth0 -c 2"),
    Case("alice", "vr", "ping", "10.1.1.11", R.INTERFACE_NOT_ALLOWED, params="-I eth2"),
    Case("alice", "vr", "traceroute", "198.51.100.80", R.INTERFACE_NOT_ALLOWED, params="-i eth1"),
    Case("alice", "vr", "ping", "10.1.1.11", R.INVALID_OPTION, params="-f"),
    Case("alice", "vr", "ping", "10.1.1.11", R.INVALID_OPTION, params="-c 3; reboot"),
    Case("alice", "vr", "ping", "10.1.1.11", R.OPTION_OUT_OF_BOUNDS, params="-c 8 -i 9"),
    Case("alice", "vr", "ping", "10.1.1.11", ALLOW, "eth0/isolated", params="-c 8 -i 7"),
    Case("alice", "vr", "traceroute", "10.1.1.11", R.OPTION_OUT_OF_BOUNDS, params="-m 64"),
    Case("alice", "vr", "ls", "10.1.1.11", R.INVALID_TEST),
    Case("alice", "vr", "*", "010.1.1.11", R.INVALID_DESTINATION),
    Case("alice", "vr", "*", "fe80::1%eth0", R.INVALID_DESTINATION),
    Case("alice", "vr", "arping", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("alice", "vr", "arping", "10.1.1.12", ALLOW, "eth0/isolated", params="-c 1"),
    Case("alice", "vr", "arping", "203.0.113.1", ALLOW, "eth2/public"),
    Case("alice", "vr", "arping", "10.1.1.11", ALLOW, "eth0/isolated", params="-i eth0"),
    Case("alice", "vr", "arping", "10.1.1.11", R.INTERFACE_NOT_ALLOWED, params="-i eth2"),
    Case("alice", "vr", "arping", "198.51.100.80", R.ARPING_NOT_ON_LINK),
    Case("alice", "vr", "arping", "2001:db8:1:1::11", R.ARPING_IPV4_ONLY),
    Case("alice", "vr", "arping", "169.254.1.10", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vr", "ndisc", "2001:db8:1:1::12", ALLOW, "eth0/isolated", params="-r 1 -w 500"),
    Case("alice", "vr", "ndisc", "2001:db8:113::1", ALLOW, "eth2/public"),
    Case("alice", "vr", "ndisc", "2001:db8:1:1::11", R.INTERFACE_NOT_ALLOWED, params="-i eth2"),
    Case("alice", "vr", "ndisc", "2001:db8:52::80", R.NDISC_NOT_ON_LINK),
    Case("alice", "vr", "ndisc", "10.1.1.11", R.NDISC_IPV6_ONLY),
    Case("alice", "vr", "ndisc", "2001:db8:1:1::", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vpcvr", "ndisc", "2001:db8:2:2::11", ALLOW, "eth3/vpc_tier"),
    Case("alice", "vr", "mtr", "10.1.1.11", R.INTERFACE_NOT_ALLOWED, params="-I eth2"),
    Case("alice", "vr", "mtr", "198.51.100.80", ALLOW, "eth2/public", params="-T -P 443 -c 3"),
    Case("alice", "vpcvr", "*", "10.2.1.11", ALLOW, "eth2/vpc_tier"),
    Case("alice", "r-7-VM", "*", "10.2.2.11", ALLOW, "eth3/vpc_tier"),
    Case("alice", "vpcvr", "*", "2001:db8:2:1::11", ALLOW, "eth2/vpc_tier"),
    Case("alice", "vpcvr", "*", "10.100.0.10", ALLOW, "eth4/private_gateway"),
    Case("alice", "vpcvr", "*", "10.250.1.1", ALLOW, "eth4/private_gateway"),
    Case("alice", "vpcvr", "*", "10.250.1.5", R.EGRESS_NOT_ALLOWED),  # neither a route nor the next hop
    Case("alice", "vpcvr", "*", "10.50.0.10", ALLOW, "vpn0/vpn_gateway"),
    Case("alice", "vpcvr", "*", "10.255.0.2", ALLOW, "vpn0/vpn_gateway"),  # the tunnel's far end
    Case("alice", "vpcvr", "*", "198.51.100.80", ALLOW, "eth1/public"),
    Case("alice", "vpcvr", "*", "2001:db8:52::80", ALLOW, "eth1/public"),
    Case("alice", "vpcvr", "*", "10.1.1.11", R.DESTINATION_NOT_ALLOWED),  # over public: dave's CIDR too
    Case("alice", "vpcvr", "*", "10.2.1.255", R.DESTINATION_NOT_ALLOWED),
    Case("alice", "vpcvr", "*", "169.254.1.20", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("alice", "vpcvr", "arping", "10.2.2.11", ALLOW, "eth3/vpc_tier"),
    Case("alice", "vpcvr", "arping", "10.250.1.1", ALLOW, "eth4/private_gateway"),
    Case("alice", "vpcvr", "arping", "10.100.0.10", R.ARPING_NOT_ON_LINK),
    Case("alice", "vpcvr", "arping", "10.50.0.10", R.ARPING_NOT_ON_LINK),
    Case("alice", "vpcvr", "arping", "10.255.0.2", ALLOW, "vpn0/vpn_gateway"),
    Case("alice", "sharedvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("alice", "davevr", "*", "10.1.1.11", R.TARGET_NOT_FOUND),
    Case("alice", "ssvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("alice", "cpvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("alice", "cpvm", "arping", "203.0.113.1", R.TARGET_NOT_FOUND),
    Case("alice", "cpvm", "ping", "198.51.100.80", R.TARGET_NOT_FOUND, params="-f"),  # options come later
    Case("alice", "nope", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("alice", "stoppedvr", "*", "198.51.100.80", R.VM_NOT_RUNNING),
    Case("alice", "vr", "*", "198.51.100.80", R.VM_NOT_RUNNING, variant="stopped"),
    Case("alice", "vr", "*", "10.200.0.5", R.EGRESS_NOT_ALLOWED, variant="ctlroute"),
    Case("alice", "vr", "*", "198.51.100.80", R.NO_ROUTE, variant="noroute"),
    # --- domain admin whose subtree holds alice and erin ----------------------------------
    Case("acme-admin", "vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("acme-admin", "vr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("acme-admin", "vpcvr", "*", "10.100.0.10", ALLOW, "eth4/private_gateway"),
    Case("acme-admin", "vpcvr", "*", "10.50.0.10", ALLOW, "vpn0/vpn_gateway"),
    Case("acme-admin", "vpcvr", "*", "2001:db8:2:2::11", ALLOW, "eth3/vpc_tier"),
    Case("acme-admin", "vpcvr", "*", "10.255.0.2", ALLOW, "vpn0/vpn_gateway"),
    Case("acme-admin", "vr", "*", "10.1.1.255", R.DESTINATION_NOT_ALLOWED),
    Case("acme-admin", "vr", "*", "172.31.200.10", R.DESTINATION_IN_MANAGEMENT_RANGE),
    Case("acme-admin", "vr", "*", "169.254.1.10", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("acme-admin", "vr", "*", "10.3.0.22", R.DESTINATION_NOT_ALLOWED),
    Case("acme-admin", "dedvr", "*", "10.5.0.21", ALLOW, "eth0/shared"),
    Case("acme-admin", "vr", "*", "10.5.0.21", ALLOW, "eth2/public"),  # erin's, in the subtree
    Case("acme-admin", "sharedvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("acme-admin", "davevr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("acme-admin", "ssvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("acme-admin", "cpvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("acme-admin", "vpcvr", "arping", "10.2.1.11", ALLOW, "eth2/vpc_tier"),
    # --- domain admin outside alice's subtree (ROOT/globex: bob and carol) ---------------
    Case("globex-admin", "vr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("globex-admin", "vpcvr", "*", "10.2.1.11", R.TARGET_NOT_FOUND),
    Case("globex-admin", "ssvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    # the shared network serves bob and carol, both in globex, but two accounts: nobody's own
    Case("globex-admin", "sharedvr", "*", "10.3.0.21", R.TARGET_NOT_FOUND),
    # --- users of the multi-tenant shared network (shared with bob and carol) -----------
    Case("bob", "sharedvr", "*", "10.3.0.21", R.TARGET_NOT_FOUND),
    Case("bob", "r-9-VM", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("bob", "vr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("bob", "vpcvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("bob", "dedvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("bob", "stoppedvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("bob", "ssvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("bob", "cpvm", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("carol", "sharedvr", "*", "10.3.0.22", R.TARGET_NOT_FOUND),
    Case("carol", "davevr", "*", "10.4.0.22", R.TARGET_NOT_FOUND),
    Case("carol", "vr", "*", "10.1.1.11", R.TARGET_NOT_FOUND),
    # --- dave: alice's CIDR on his own VR, and a shared network he owns but shares ----------
    Case("dave", "davevr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("dave", "r-11-VM", "*", "2001:db8:9:1::11", ALLOW, "eth0/isolated"),
    Case("dave", "davevr", "arping", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("dave", "davevr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("dave", "davevr", "*", "2001:db8:52::80", ALLOW, "eth2/public"),
    Case("dave", "davevr", "*", "10.4.0.21", R.SHARED_NETWORK_NOT_EXCLUSIVE),  # his own, shared
    Case("dave", "davevr", "*", "10.4.0.22", R.SHARED_NETWORK_NOT_EXCLUSIVE),
    Case("dave", "davevr", "arping", "10.4.0.22", R.SHARED_NETWORK_NOT_EXCLUSIVE),
    Case("dave", "davevr", "*", "10.2.1.11", R.DESTINATION_NOT_ALLOWED),
    Case("dave", "davevr", "*", "2001:db8:1:1::11", R.DESTINATION_NOT_ALLOWED),
    Case("dave", "davevr", "*", "10.3.0.21", R.DESTINATION_NOT_ALLOWED),
    Case("dave", "davevr", "*", "10.5.0.21", R.DESTINATION_NOT_ALLOWED),
    Case("dave", "davevr", "*", "10.50.0.10", R.DESTINATION_NOT_ALLOWED),  # alice's VPN remote CIDR
    Case("dave", "davevr", "*", "10.100.0.10", R.DESTINATION_NOT_ALLOWED),  # alice's private-gw route
    Case("dave", "davevr", "*", "169.254.1.60", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("dave", "davevr", "*", "10.1.1.255", R.DESTINATION_NOT_ALLOWED),
    Case("dave", "vr", "*", "10.1.1.11", R.TARGET_NOT_FOUND),
    Case("dave", "vpcvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("dave", "stoppedvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("initech-admin", "davevr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case("initech-admin", "davevr", "*", "10.4.0.22", R.SHARED_NETWORK_NOT_EXCLUSIVE),
    Case("initech-admin", "vr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    Case("initech-admin", "dedvr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    # --- erin: a shared network dedicated to her counts as her own -------------------------
    Case("erin", "dedvr", "*", "10.5.0.21", ALLOW, "eth0/shared"),
    Case("erin", "r-13-VM", "*", "2001:db8:5::21", ALLOW, "eth0/shared"),
    Case("erin", "dedvr", "arping", "10.5.0.21", ALLOW, "eth0/shared"),
    Case("erin", "dedvr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case("erin", "dedvr", "*", "10.5.0.255", R.DESTINATION_NOT_ALLOWED),
    Case("erin", "dedvr", "*", "10.1.1.11", R.DESTINATION_NOT_ALLOWED),
    Case("erin", "dedvr", "*", "10.4.0.21", R.DESTINATION_NOT_ALLOWED),
    Case("erin", "dedvr", "*", "169.254.1.70", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS),
    Case("erin", "vr", "*", "198.51.100.80", R.TARGET_NOT_FOUND),
    # --- the shared network shared with bob alone (its owner is an admin) -----------------
    Case("bob", "sharedvr", "*", "10.3.0.21", ALLOW, "eth0/shared", variant="exclusive"),
    Case("bob", "sharedvr", "*", "10.3.0.1", ALLOW, "eth0/shared", variant="exclusive"),
    Case("bob", "sharedvr", "*", "198.51.100.80", ALLOW, "eth0/shared", variant="exclusive"),
    Case("bob", "sharedvr", "*", "2001:db8:52::80", ALLOW, "eth0/shared", variant="exclusive"),
    Case("bob", "sharedvr", "arping", "10.3.0.22", ALLOW, "eth0/shared", variant="exclusive"),
    Case("bob", "sharedvr", "*", "10.3.0.255", R.DESTINATION_NOT_ALLOWED, variant="exclusive"),
    Case("bob", "sharedvr", "*", "10.1.1.11", R.DESTINATION_NOT_ALLOWED, variant="exclusive"),
    Case("bob", "sharedvr", "*", "172.31.200.10", R.DESTINATION_IN_MANAGEMENT_RANGE, variant="exclusive"),
    Case("bob", "sharedvr", "*", "169.254.1.30", R.VR_CONTROL_OR_MANAGEMENT_ADDRESS, variant="exclusive"),
    Case(
        "bob", "sharedvr", "ping", "10.3.0.21", R.INTERFACE_NOT_ALLOWED, params="-I eth1", variant="exclusive"
    ),
    Case("carol", "sharedvr", "*", "10.3.0.21", R.TARGET_NOT_FOUND, variant="exclusive"),
    Case("globex-admin", "sharedvr", "*", "10.3.0.21", ALLOW, "eth0/shared", variant="exclusive"),
    Case("alice", "vr", "*", "10.3.0.21", R.DESTINATION_NOT_ALLOWED, variant="exclusive"),
]


def _expand(cases: list[Case]) -> list[Case]:
    expanded = []
    for case in cases:
        tests = ROUTED_TOOLS if case.test == "*" else (case.test,)
        expanded += [case._replace(test=test) for test in tests]
    return expanded


EXPANDED = _expand(CASES)


def _case_id(case: Case) -> str:
    outcome = case.code.value if case.code else "ALLOW"
    suffix = f"[{case.params}]" if case.params else ""
    return f"{case.variant}:{case.who}:{case.vm}:{case.test}:{case.dest}{suffix}->{outcome}"


MASKED = {ReasonCode.TARGET_NOT_OWNED, ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY}  # answered TARGET_NOT_FOUND
NOT_A_PROBE = {ReasonCode.STATE_PART_ADMIN_ONLY}  # reading a VM's state: tests/unit/policy/test_vm_state.py


def test_the_table_is_broad() -> None:
    assert len(EXPANDED) >= 300
    assert {c.code for c in EXPANDED} >= set(ReasonCode) - MASKED - NOT_A_PROBE
    allowed_kinds = {c.egress.split("/")[1] for c in EXPANDED if c.code is None and c.egress}
    assert allowed_kinds >= {k.value for k in NetworkKind if k not in ("vpn_peer", "transit", "external")}
    assert {c.who for c in EXPANDED} >= {
        "admin",
        "acme-admin",
        "globex-admin",
        "initech-admin",
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
    }


@pytest.mark.parametrize("case", EXPANDED, ids=_case_id)
def test_decide(case: Case) -> None:
    topology = VARIANTS[case.variant]
    decision = decide(caller(case.who), case.vm, case.test, case.dest, case.params, topology)
    assert decision.code == case.code, decision.message
    assert decision.allowed is (case.code is None)
    assert decision.message.endswith(".") and len(decision.message) > 20
    as_dict = decision.to_dict()
    assert as_dict["allowed"] is decision.allowed
    if case.code is not None:
        assert decision.invocation is None and decision.egress_interface is None
        assert as_dict["code"] == case.code.value and as_dict["argv"] is None
        return
    interface, kind = case.egress.split("/")
    assert (decision.egress_interface, decision.egress_kind) == (interface, kind)
    vm = topology.system_vm(case.vm)
    assert decision.vm_uuid == vm.uuid
    assert vm.vm_name in decision.message
    argv = decision.invocation.argv()
    assert argv[0] == case.test
    assert parse_command_line(decision.invocation.command_line()) == argv
    assert decision.worst_case_seconds == decision.invocation.worst_case_seconds <= 60
    if works_on_link_only(case.test):
        assert argv[-3:-1] == ["-i", interface], "the policy pins arping and ndisc to the egress interface"
        assert interface in decision.invocation.exec_argv()


@pytest.mark.parametrize(
    ("who", "vm", "detail_code"),
    [
        ("alice", "sharedvr", ReasonCode.TARGET_NOT_OWNED),
        ("alice", "ssvm", ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY),
        ("bob", "cpvm", ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY),
        ("carol", "davevr", ReasonCode.TARGET_NOT_OWNED),
        ("globex-admin", "r-9-VM", ReasonCode.TARGET_NOT_OWNED),
    ],
)
def test_a_vm_the_caller_may_not_use_answers_like_one_that_does_not_exist(
    who: str, vm: str, detail_code: ReasonCode
) -> None:
    """Same code and sentence shape as an unknown VM; the precise reason is kept for the audit only."""
    hidden = decide(caller(who), vm, "ping", "198.51.100.80", "-c 99 -f", LAB)
    missing = decide(caller(who), "r-999-VM", "ping", "198.51.100.80", "-c 99 -f", LAB)
    assert hidden.code == missing.code == ReasonCode.TARGET_NOT_FOUND
    assert hidden.message == missing.message.replace("r-999-VM", vm)
    assert hidden.vm_uuid is None and missing.vm_uuid is None
    assert hidden.detail_code is detail_code and missing.detail_code is ReasonCode.TARGET_NOT_FOUND
    assert LAB.system_vm(vm).vm_name in hidden.detail


@pytest.mark.parametrize(
    ("who", "vm", "dest", "needles"),
    [
        ("admin", "vr", "0.0.0.0", ["0.0.0.0", "unspecified"]),
        ("alice", "vr", "172.31.200.10", ["172.31.200.10", "infrastructure"]),
        ("alice", "vr", "169.254.1.10", ["infrastructure"]),
        ("alice", "vr", "10.3.0.21", ["another tenant"]),
        ("alice", "vpcvr", "10.250.1.5", ["r-7-VM", "gateway"]),
        ("dave", "davevr", "10.4.0.21", ["shared network that other accounts use"]),
        ("alice", "vr", "10.1.1.255", ["10.1.1.255", "broadcast"]),
    ],
)
def test_messages_name_the_destination_and_the_class_of_why(
    who: str, vm: str, dest: str, needles: list[str]
) -> None:
    decision = decide(caller(who), vm, "ping", dest, None, LAB)
    assert not decision.allowed
    for needle in needles:
        assert needle in decision.message


@pytest.mark.parametrize(
    ("dest", "needles"),
    [
        ("172.31.200.10", ["management range 172.31.200.0/24"]),
        ("10.3.0.21", ["shared-guest", "10.3.0.0/24"]),
        ("10.250.1.5", ["alice-vpc-private-gateway", "10.100.0.0/16"]),
        ("10.1.1.11", ["dave-isolated"]),
    ],
)
def test_admins_and_the_audit_get_the_detail(dest: str, needles: list[str]) -> None:
    vm = "vpcvr"
    decision = decide(caller("alice"), vm, "ping", dest, None, LAB)
    assert not decision.allowed
    for needle in needles:
        assert needle in decision.detail and needle not in decision.message


@pytest.mark.parametrize(
    ("who", "vm", "kinds", "variant"),
    [
        ("admin", "vr", ["control", "isolated", "public"], "lab"),
        ("admin", "ssvm", ["control", "management", "public", "storage"], "lab"),
        ("admin", "sharedvr", ["control", "shared"], "lab"),
        ("alice", "vr", ["isolated", "public"], "lab"),
        ("alice", "vpcvr", ["private_gateway", "public", "vpc_tier", "vpn_gateway"], "lab"),
        ("acme-admin", "vpcvr", ["private_gateway", "public", "vpc_tier", "vpn_gateway"], "lab"),
        ("alice", "ssvm", [], "lab"),
        ("alice", "sharedvr", [], "lab"),
        ("bob", "sharedvr", [], "lab"),
        ("bob", "sharedvr", ["shared"], "exclusive"),
        ("globex-admin", "sharedvr", [], "lab"),
        ("globex-admin", "vr", [], "lab"),
        ("carol", "cpvm", [], "lab"),
        ("dave", "davevr", ["isolated", "public"], "lab"),
        ("erin", "dedvr", ["public", "shared"], "lab"),
    ],
)
def test_allowed_egress_kinds(who: str, vm: str, kinds: list[str], variant: str) -> None:
    topology = VARIANTS[variant]
    assert allowed_egress_kinds(caller(who), topology.system_vm(vm), topology) == kinds


@pytest.mark.parametrize(
    ("who", "targets"),
    [
        ("admin", {"vr", "vpcvr", "sharedvr", "ssvm", "cpvm", "davevr", "dedvr", "stoppedvr"}),
        ("acme-admin", {"vr", "vpcvr", "dedvr", "stoppedvr"}),
        ("globex-admin", set()),
        ("initech-admin", {"davevr"}),
        ("alice", {"vr", "vpcvr", "stoppedvr"}),
        ("bob", set()),
        ("carol", set()),
        ("dave", {"davevr"}),
        ("erin", {"dedvr"}),
    ],
)
def test_may_target(who: str, targets: set[str]) -> None:
    assert {vm.name for vm in LAB.system_vms() if may_target(caller(who), vm, LAB)} == targets
    assert not may_target(caller(who), LAB.host("r1"), LAB)


@pytest.mark.parametrize(
    "case", [c for c in EXPANDED if c.vm in {vm.name for vm in LAB.system_vms()}], ids=_case_id
)
def test_a_store_slice_decides_like_the_whole_zone(case: Case) -> None:
    topology = VARIANTS[case.variant]
    whole = decide(caller(case.who), case.vm, case.test, case.dest, case.params, topology)
    sliced = decide(
        caller(case.who),
        case.vm,
        case.test,
        case.dest,
        case.params,
        decision_slice(topology, case.vm, case.dest),
    )
    assert sliced.to_dict() == whole.to_dict()


def test_reason_codes_all_have_sentences_and_a_markdown_row() -> None:
    from sysvmdiag.policy.reasons import markdown_table

    table = markdown_table()
    for code in ReasonCode:
        assert code.sentence.endswith(".")
        assert f"| `{code.value}` | {code.http_status} | {code.sentence} |" in table
    assert ReasonCode.TARGET_NOT_FOUND.http_status == 404
    assert ReasonCode.INVALID_OPTION.http_status == 400
    assert ReasonCode.TARGET_NOT_OWNED.http_status == 404


def test_an_admin_pinned_interface_is_named_in_the_message() -> None:
    decision = decide(caller("admin"), "vr", "ping", "10.1.1.11", "-I eth2", LAB)
    assert decision.allowed and decision.invocation.interface == "eth2"
    assert "out of eth2 (public network public)" in decision.message
    assert (decision.egress_interface, decision.egress_kind) == ("eth2", "public")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ReasonCode.INVALID_OPTION, 400),
        (ReasonCode.OPTION_OUT_OF_BOUNDS, 400),
        (ReasonCode.INVALID_DESTINATION, 400),
        (ReasonCode.INVALID_TEST, 400),
        (ReasonCode.TARGET_NOT_FOUND, 404),
        (ReasonCode.VM_NOT_RUNNING, 409),
        (ReasonCode.TARGET_NOT_OWNED, 404),
        (ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY, 404),
        (ReasonCode.DESTINATION_IN_MANAGEMENT_RANGE, 403),
    ],
)
def test_http_status_of_reason_codes(code: ReasonCode, status: int) -> None:
    assert code.http_status == status

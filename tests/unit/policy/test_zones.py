"""The rules of issue 10, table by table, over small zones the lab does not have (tests/unit/policy/zones).

Each zone file says in its header which naive policy it breaks. The expectations below are written
from the issue's rules 1-8, not from the code.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import NamedTuple

import pytest

from sysvmdiag.policy import Caller, ReasonCode, decide
from sysvmdiag.toolargs import ROUTED_TOOLS, works_on_link_only
from sysvmdiag.topology.layout import decision_slice
from sysvmdiag.topology.model import Topology, load_topology

ZONE_DIR = Path(__file__).parent / "zones"
ZONE_FILES = {
    "a": "multi_tenant_vr",
    "b": "overlapping_routes",
    "c": "management_ranges",
    "d": "domain_boundaries",
    "e": "shared_networks",
    "f": "shared_default_route",
    "g": "vpc_gateways",
    "h": "domain_shared",
}
ZONES: dict[str, Topology] = {
    key: load_topology(ZONE_DIR / f"{stem}.yaml") for key, stem in ZONE_FILES.items()
}


def zone_caller(zone: str, who: str) -> Caller:
    """The caller for account ``zz<zone>-<who>`` of a zone (``root`` is each zone's admin)."""
    account = ZONES[zone].account(f"zz{zone}-{who}")
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


R = ReasonCode
ALLOW = None
TNF = R.TARGET_NOT_FOUND
DNA = R.DESTINATION_NOT_ALLOWED
SNE = R.SHARED_NETWORK_NOT_EXCLUSIVE
ENA = R.EGRESS_NOT_ALLOWED
INA = R.INTERFACE_NOT_ALLOWED
DIMR = R.DESTINATION_IN_MANAGEMENT_RANGE
INFRA = R.VR_CONTROL_OR_MANAGEMENT_ADDRESS
OOB = R.OPTION_OUT_OF_BOUNDS
BAD_DEST = R.INVALID_DESTINATION


class Case(NamedTuple):
    rule: int  # the rule of issue 10 the case is about
    zone: str  # a key of ZONES
    who: str  # account zz<zone>-<who>
    vm: str  # host name, vm_name or uuid
    test: str  # ping, arping, ... or "*" for every routed test (ROUTED_TOOLS)
    dest: str
    code: ReasonCode | tuple[ReasonCode, ...] | None  # None: allowed; a tuple: any of these refusals
    egress: str | None = None  # "eth2/public" when allowed
    params: str | None = None


CASES: list[Case] = [
    # === (a) one VR, two tenants' isolated networks, plus public ======================================
    Case(2, "a", "pat", "zza-multi-vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case(2, "a", "quinn", "r-101-VM", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case(
        2, "a", "quinnadm", "5a0e0000-0000-4000-8000-0000000a0101", "*", "10.62.0.20", ALLOW, "eth3/isolated"
    ),
    Case(2, "a", "rae", "zza-multi-vr", "*", "198.51.100.80", TNF),
    Case(2, "a", "pat", "zza-rae-vr", "*", "198.51.100.80", TNF),
    Case(2, "a", "quinnadm", "r-102-VM", "*", "198.51.100.80", TNF),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.61.0.20", ALLOW, "eth0/isolated"),
    Case(3, "a", "pat", "zza-multi-vr", "*", "2001:db8:61::20", ALLOW, "eth0/isolated"),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.61.0.1", ALLOW, "eth0/isolated"),
    Case(3, "a", "pat", "zza-multi-vr", "*", "203.0.113.11", ALLOW, "eth2/public"),  # rae's VR, public
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.62.0.20", DNA),  # quinn's, connected to this VR
    Case(3, "a", "pat", "zza-multi-vr", "*", "2001:db8:62::20", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.62.0.1", DNA),  # the VR's own address on quinn's net
    Case(3, "a", "pat", "zza-multi-vr", "arping", "10.62.0.20", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "ndisc", "2001:db8:62::20", DNA),  # quinn's link, same VR
    Case(3, "a", "pat", "zza-multi-vr", "ndisc", "2001:db8:61::20", ALLOW, "eth0/isolated"),
    Case(3, "a", "quinn", "zza-multi-vr", "ndisc", "2001:db8:62::20", ALLOW, "eth3/isolated"),
    Case(3, "a", "pat", "zza-multi-vr", "ndisc", "2001:db8:61::", DNA),
    Case(3, "a", "quinn", "zza-multi-vr", "*", "10.62.0.20", ALLOW, "eth3/isolated"),
    Case(3, "a", "quinn", "zza-multi-vr", "*", "2001:db8:62::20", ALLOW, "eth3/isolated"),
    Case(3, "a", "quinn", "zza-multi-vr", "*", "10.61.0.20", DNA),
    Case(3, "a", "quinnadm", "zza-multi-vr", "*", "10.61.0.20", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.1.1.20", DNA),  # rae's, over public
    Case(3, "a", "rae", "zza-rae-vr", "*", "10.1.1.20", ALLOW, "eth0/isolated"),
    Case(3, "a", "rae", "zza-rae-vr", "*", "10.61.0.20", DNA),
    Case(3, "a", "rae", "zza-rae-vr", "*", "2001:db8:62::20", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.61.0.255", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.61.0.0", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "2001:db8:61::", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "10.62.0.255", DNA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "172.31.200.5", DIMR),
    Case(3, "a", "pat", "zza-multi-vr", "*", "169.254.1.10", INFRA),
    Case(3, "a", "pat", "zza-multi-vr", "*", "169.254.0.1", INFRA),  # the bastion
    Case(4, "a", "pat", "zza-multi-vr", "ping", "198.51.100.80", INA, params="-I eth3"),
    Case(4, "a", "pat", "zza-multi-vr", "ping", "10.61.0.20", INA, params="-I eth2"),
    Case(4, "a", "pat", "zza-multi-vr", "traceroute", "198.51.100.80", INA, params="-i eth1"),
    Case(4, "a", "pat", "zza-multi-vr", "ping", "10.61.0.20", ALLOW, "eth0/isolated", params="-I eth0"),
    Case(4, "a", "pat", "zza-multi-vr", "arping", "10.61.0.20", ALLOW, "eth0/isolated"),
    Case(4, "a", "pat", "zza-multi-vr", "arping", "203.0.113.1", ALLOW, "eth2/public"),
    Case(4, "a", "quinn", "zza-multi-vr", "arping", "10.62.0.20", ALLOW, "eth3/isolated", params="-c 1"),
    Case(5, "a", "pat", "zza-multi-vr", "*", "0.0.0.0", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "::ffff:255.255.255.255", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "::ffff:0.0.0.0", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "255.255.255.255", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "::", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "224.0.0.251", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "::ffff:239.1.2.3", BAD_DEST),
    Case(5, "a", "root", "zza-multi-vr", "*", "ff05::2", BAD_DEST),
    Case(5, "a", "pat", "zza-multi-vr", "*", "::ffff:10.61.0.20", ALLOW, "eth0/isolated"),
    Case(5, "a", "pat", "zza-multi-vr", "*", "::ffff:a3d:14", ALLOW, "eth0/isolated"),
    Case(5, "a", "pat", "zza-multi-vr", "arping", "::ffff:10.61.0.20", ALLOW, "eth0/isolated"),
    Case(5, "a", "pat", "zza-multi-vr", "*", "::ffff:10.62.0.20", DNA),
    Case(5, "a", "pat", "zza-multi-vr", "*", "::FFFF:172.31.200.5", DIMR),
    Case(5, "a", "pat", "zza-multi-vr", "arping", "2001:db8:61::20", R.ARPING_IPV4_ONLY),
    Case(5, "a", "root", "zza-multi-vr", "arping", "2001:db8:61::20", R.ARPING_IPV4_ONLY),
    Case(5, "a", "root", "zza-multi-vr", "arping", "198.51.100.80", R.ARPING_NOT_ON_LINK),
    Case(5, "a", "pat", "zza-multi-vr", "arping", "198.51.100.80", R.ARPING_NOT_ON_LINK),
    Case(5, "a", "pat", "zza-multi-vr", "ndisc", "10.61.0.20", R.NDISC_IPV6_ONLY),
    Case(5, "a", "root", "zza-multi-vr", "ndisc", "::ffff:10.61.0.20", R.NDISC_IPV6_ONLY),  # it is IPv4
    Case(5, "a", "root", "zza-multi-vr", "ndisc", "2001:db8:52::80", R.NDISC_NOT_ON_LINK),
    Case(5, "a", "pat", "zza-multi-vr", "ndisc", "2001:db8:52::80", R.NDISC_NOT_ON_LINK),
    Case(6, "a", "root", "zza-multi-vr", "ping", "198.51.100.80", ALLOW, "eth3/isolated", params="-I eth3"),
    Case(6, "a", "root", "zza-multi-vr", "traceroute", "10.61.0.20", ALLOW, "eth2/public", params="-i eth2"),
    Case(6, "a", "root", "zza-multi-vr", "ping", "10.61.0.20", ALLOW, "eth1/control", params="-I eth1"),
    Case(6, "a", "root", "zza-multi-vr", "*", "10.62.0.20", ALLOW, "eth3/isolated"),
    Case(6, "a", "root", "zza-multi-vr", "ping", "10.61.0.20", INA, params="-I eth9"),
    Case(6, "a", "root", "zza-multi-vr", "arping", "10.61.0.20", INA, params="-i eth3"),
    Case(6, "a", "root", "zza-multi-vr", "ndisc", "2001:db8:61::20", INA, params="-i eth3"),
    Case(6, "a", "root", "zza-multi-vr", "mtr", "198.51.100.80", ALLOW, "eth3/isolated", params="-I eth3"),
    Case(6, "a", "pat", "zza-multi-vr", "mtr", "198.51.100.80", INA, params="-I eth0"),
    Case(7, "a", "rae", "zza-multi-vr", "ping", "198.51.100.80", TNF, params="-f"),  # options come later
    Case(7, "a", "rae", "zza-multi-vr", "ping", "not-an-address", TNF),  # so does the destination
    Case(7, "a", "pat", "r-999-VM", "*", "198.51.100.80", TNF),
    Case(7, "a", "pat", "zza-stopped-vr", "*", "198.51.100.80", TNF),  # not its state either
    Case(7, "a", "pat", "zza-multi-vr", "ping", "198.51.100.80", R.INVALID_OPTION, params="-f"),
    Case(7, "a", "rae", "zza-multi-vr", "nmap", "198.51.100.80", R.INVALID_TEST),  # no VM is looked at
    Case(2, "a", "quinn", "zza-stopped-vr", "*", "10.63.0.20", R.VM_NOT_RUNNING),
    Case(2, "a", "quinnadm", "r-103-VM", "ping", "10.63.0.20", R.VM_NOT_RUNNING),
    Case(6, "a", "root", "zza-stopped-vr", "*", "10.63.0.20", R.VM_NOT_RUNNING),
    Case(8, "a", "pat", "zza-multi-vr", "ping", "10.61.0.20", OOB, params="-c 8 -i 9"),
    Case(8, "a", "pat", "zza-multi-vr", "ping", "10.61.0.20", OOB, params="-c 8 -i 9 -w 60"),
    Case(8, "a", "root", "zza-multi-vr", "ping", "10.61.0.20", OOB, params="-c 20 -i 10 -w 60"),
    Case(8, "a", "pat", "zza-multi-vr", "ping", "10.61.0.20", ALLOW, "eth0/isolated", params="-c 8 -i 7"),
    Case(
        8, "a", "pat", "zza-multi-vr", "traceroute", "198.51.100.80", ALLOW, "eth2/public", "-m 30 -q 3 -w 5"
    ),
    # === (b) overlapping VPC CIDRs, private-gateway routes, VPN remote CIDRs and guest CIDRs ============
    Case(2, "b", "tara", "zzb-uma-vpcvr", "*", "198.51.100.80", TNF),
    Case(2, "b", "uma", "r-201-VM", "*", "198.51.100.80", TNF),
    Case(2, "b", "umaadm", "r-202-VM", "*", "10.70.2.10", ALLOW, "eth2/vpc_tier"),
    Case(2, "b", "umaadm", "zzb-tara-vpcvr", "*", "198.51.100.80", TNF),
    Case(2, "b", "walt", "zzb-xena-vr", "*", "10.1.1.11", TNF),
    Case(2, "b", "xena", "zzb-walt-vr", "*", "10.1.1.11", TNF),
    Case(2, "b", "victor", "zzb-tara-vpcvr", "*", "10.80.5.10", TNF),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.70.1.10", ALLOW, "eth2/vpc_tier"),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.80.5.10", ALLOW, "eth3/private_gateway"),  # victor's too
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.80.200.10", ALLOW, "eth3/private_gateway"),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.90.0.10", ALLOW, "vpn0/vpn_gateway"),  # uma's route too
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.90.1.10", DNA),  # uma's route, over public
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.1.1.11", DNA),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.70.2.10", DNA),  # uma's tier, inside tara's VPC CIDR
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.70.9.9", DNA),  # in both VPCs' CIDR
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.252.0.1", DNA),  # uma's private-gateway next hop
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.254.0.6", DNA),  # uma's tunnel far end
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.80.255.255", DNA),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.90.0.255", DNA),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "10.254.0.3", DNA),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "198.51.100.80", ALLOW, "eth1/public"),
    Case(3, "b", "tara", "zzb-tara-vpcvr", "*", "2001:db8:52::80", ALLOW, "eth1/public"),
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.80.5.10", ALLOW, "vpn0/vpn_gateway"),
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.80.6.10", ALLOW, "vpn0/vpn_gateway"),
    Case(
        3, "b", "uma", "zzb-uma-vpcvr", "*", "10.1.1.11", ALLOW, "vpn0/vpn_gateway"
    ),  # walt's and xena's CIDR
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.90.0.10", ALLOW, "eth3/private_gateway"),
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.90.1.10", ALLOW, "eth3/private_gateway"),
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.80.200.10", DNA),  # tara's route, over public
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.70.1.10", DNA),
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.251.0.1", DNA),
    Case(3, "b", "uma", "zzb-uma-vpcvr", "*", "10.254.0.2", DNA),
    Case(3, "b", "umaadm", "zzb-uma-vpcvr", "*", "10.1.1.11", ALLOW, "vpn0/vpn_gateway"),
    Case(3, "b", "victor", "zzb-victor-vr", "*", "10.80.5.10", ALLOW, "eth0/isolated"),
    Case(3, "b", "victor", "zzb-victor-vr", "*", "10.80.6.10", DNA),
    Case(3, "b", "victor", "zzb-victor-vr", "*", "10.90.0.10", DNA),
    Case(3, "b", "victor", "zzb-victor-vr", "*", "10.1.1.11", DNA),
    Case(3, "b", "victor", "zzb-victor-vr", "*", "10.70.1.10", DNA),
    Case(3, "b", "walt", "zzb-walt-vr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case(3, "b", "walt", "zzb-walt-vr", "arping", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case(3, "b", "walt", "zzb-walt-vr", "*", "2001:db8:71::11", ALLOW, "eth0/isolated"),
    Case(3, "b", "walt", "zzb-walt-vr", "*", "2001:db8:72::11", DNA),
    Case(3, "b", "walt", "zzb-walt-vr", "*", "10.80.5.10", DNA),
    Case(3, "b", "walt", "zzb-walt-vr", "*", "10.70.9.9", DNA),
    Case(3, "b", "xena", "zzb-xena-vr", "*", "10.1.1.11", ALLOW, "eth0/isolated"),
    Case(3, "b", "xena", "r-205-VM", "*", "2001:db8:72::11", ALLOW, "eth0/isolated"),
    Case(3, "b", "xena", "zzb-xena-vr", "*", "2001:db8:71::11", DNA),
    Case(4, "b", "tara", "zzb-tara-vpcvr", "*", "10.251.0.1", ALLOW, "eth3/private_gateway"),  # next hop
    Case(4, "b", "tara", "zzb-tara-vpcvr", "*", "10.251.0.9", ENA),
    Case(4, "b", "tara", "zzb-tara-vpcvr", "*", "10.254.0.2", ALLOW, "vpn0/vpn_gateway"),  # far end
    Case(4, "b", "tara", "zzb-tara-vpcvr", "arping", "10.80.5.10", R.ARPING_NOT_ON_LINK),
    Case(4, "b", "tara", "zzb-tara-vpcvr", "ping", "10.80.5.10", INA, params="-I eth1"),
    Case(6, "b", "root", "zzb-tara-vpcvr", "*", "10.1.1.11", ALLOW, "eth1/public"),
    Case(6, "b", "root", "zzb-uma-vpcvr", "*", "10.1.1.11", ALLOW, "vpn0/vpn_gateway"),
    Case(6, "b", "root", "zzb-tara-vpcvr", "*", "10.90.1.10", ALLOW, "eth1/public"),
    Case(6, "b", "root", "zzb-tara-vpcvr", "ping", "10.80.5.10", ALLOW, "vpn0/vpn_gateway", params="-I vpn0"),
    # === (c) several management ranges (one IPv6), a bastion with a public address, a host link =========
    Case(2, "c", "ivy", "zzc-ssvm", "*", "198.51.100.80", TNF),
    Case(2, "c", "ivy", "v-303-VM", "*", "198.51.100.80", TNF),
    Case(2, "c", "topadm", "s-302-VM", "*", "198.51.100.80", TNF),
    Case(2, "c", "topadm", "zzc-cpvm", "*", "198.51.100.80", TNF),
    Case(2, "c", "topadm", "zzc-ivy-vr", "*", "10.64.0.20", ALLOW, "eth0/isolated"),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "10.64.0.20", ALLOW, "eth0/isolated"),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "2001:db8:64::20", ALLOW, "eth0/isolated"),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.31.200.5", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.30.64.1", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.30.70.5", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.30.79.254", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "::ffff:172.30.70.5", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "::ffff:ac1e:4605", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "fd00:5a5a:1::5", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "fd00:5a5a:1:ffff::1", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "fd00:5a5a:1:1::42", DIMR),  # the SSVM's management address
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "FD00:5A5A:0001:0000:0000:0000:0000:0009", DIMR),
    Case(3, "c", "ivyadm", "zzc-ivy-vr", "*", "fd00:5a5a:1::5", DIMR),
    Case(3, "c", "topadm", "zzc-ivy-vr", "*", "172.30.70.5", DIMR),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.30.63.254", ALLOW, "eth2/public"),  # just outside
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.30.80.1", ALLOW, "eth2/public"),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "fd00:5a5a:2::5", ALLOW, "eth2/public"),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "172.31.201.10", INFRA),  # storage
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "fd00:5a5b:2::10", INFRA),  # storage, IPv6
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "169.254.3.2", INFRA),  # the SSVM's control address
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "203.0.113.5", INFRA),  # the bastion's public address
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "2001:db8:113::5", INFRA),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "::ffff:203.0.113.5", INFRA),
    Case(3, "c", "ivy", "zzc-ivy-vr", "arping", "203.0.113.5", INFRA),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "100.64.77.1", INFRA),  # the host link
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "100.64.77.2", INFRA),
    Case(3, "c", "ivy", "zzc-ivy-vr", "*", "203.0.113.42", ALLOW, "eth2/public"),  # the SSVM's public address
    Case(6, "c", "root", "zzc-ssvm", "*", "fd00:5a5a:1:1::10", ALLOW, "eth1/management"),
    Case(6, "c", "root", "zzc-ssvm", "*", "fd00:5a5a:1:9::10", ALLOW, "eth1/management"),
    Case(6, "c", "root", "zzc-ssvm", "*", "172.30.70.5", ALLOW, "eth1/management"),
    Case(6, "c", "root", "zzc-ssvm", "*", "172.31.201.10", ALLOW, "eth3/storage"),
    Case(6, "c", "root", "zzc-ssvm", "ping", "198.51.100.80", ALLOW, "eth1/management", params="-I eth1"),
    Case(6, "c", "root", "zzc-ivy-vr", "*", "172.30.70.5", ALLOW, "eth2/public"),
    Case(6, "c", "root", "zzc-cpvm", "*", "172.30.70.5", ALLOW, "eth2/public"),
    Case(6, "c", "root", "zzc-ivy-vr", "*", "100.64.77.1", ALLOW, "eth2/public"),
    # === (d) domain subtrees on "/" boundaries =========================================================
    Case(2, "d", "acmeadm", "zzd-xavi-vr", "*", "10.65.1.10", ALLOW, "eth0/isolated"),
    Case(2, "d", "acmeadm", "zzd-zaid-vr", "*", "10.65.3.10", ALLOW, "eth0/isolated"),
    Case(2, "d", "acmeadm", "zzd-wren-vr", "*", "10.65.4.10", ALLOW, "eth0/isolated"),
    Case(2, "d", "acmeadm", "zzd-yoko-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "acmeadm", "zzd-shared-vr", "*", "198.51.100.80", TNF),  # covers both holders: nobody's
    Case(2, "d", "acmexadm", "zzd-xavi-vr", "*", "10.65.1.10", ALLOW, "eth0/isolated"),
    Case(2, "d", "acmexadm", "zzd-wren-vr", "*", "10.65.4.10", ALLOW, "eth0/isolated"),
    Case(2, "d", "acmexadm", "zzd-zaid-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "acmexadm", "zzd-yoko-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "acmexadm", "zzd-shared-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "bigxadm", "zzd-yoko-vr", "*", "10.65.2.10", ALLOW, "eth0/isolated"),
    Case(2, "d", "bigxadm", "zzd-xavi-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "bigxadm", "zzd-zaid-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "acmadm", "zzd-xavi-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "acmadm", "zzd-zaid-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "acmadm", "zzd-yoko-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "xavi", "zzd-xavi-vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case(2, "d", "xavi", "zzd-shared-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "zaid", "zzd-shared-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "xavi", "zzd-wren-vr", "*", "198.51.100.80", TNF),
    Case(2, "d", "wren", "zzd-wren-vr", "*", "10.65.4.10", ALLOW, "eth0/isolated"),
    Case(4, "d", "xavi", "zzd-xavi-vr", "*", "2001:db8:52::80", R.NO_ROUTE),  # no IPv6 here
    Case(3, "d", "acmeadm", "zzd-xavi-vr", "*", "10.65.2.10", DNA),  # yoko's, ROOT/acmeX
    Case(3, "d", "acmeadm", "zzd-xavi-vr", "*", "10.65.3.10", ALLOW, "eth2/public"),  # zaid's, covered
    Case(3, "d", "acmeadm", "zzd-xavi-vr", "*", "10.65.4.10", ALLOW, "eth2/public"),
    Case(3, "d", "acmeadm", "zzd-xavi-vr", "*", "10.65.9.10", SNE),
    Case(3, "d", "acmexadm", "zzd-xavi-vr", "*", "10.65.3.10", DNA),
    Case(3, "d", "acmexadm", "zzd-xavi-vr", "*", "10.65.4.10", ALLOW, "eth2/public"),
    Case(3, "d", "acmexadm", "zzd-xavi-vr", "*", "10.65.9.10", SNE),
    Case(3, "d", "bigxadm", "zzd-yoko-vr", "*", "10.65.1.10", DNA),
    Case(3, "d", "bigxadm", "zzd-yoko-vr", "*", "10.65.9.10", DNA),
    Case(3, "d", "xavi", "zzd-xavi-vr", "*", "10.65.9.10", SNE),
    Case(3, "d", "xavi", "zzd-xavi-vr", "*", "10.65.4.10", DNA),  # a user does not cover a sub-domain
    Case(3, "d", "yoko", "zzd-yoko-vr", "*", "10.65.9.10", DNA),
    Case(3, "d", "acmeadm", "zzd-xavi-vr", "*", "169.254.4.5", INFRA),
    Case(6, "d", "root", "zzd-shared-vr", "*", "10.65.9.10", ALLOW, "eth0/shared"),
    # === (e) shared networks: tenant-owned, dedicated, zone-wide, self-shared ==========================
    Case(1, "e", "kim", "zze-kimshared-vr", "*", "10.68.1.10", TNF),  # owning it shared is not having it
    Case(1, "e", "lee", "zze-kimshared-vr", "*", "10.68.1.10", TNF),
    Case(1, "e", "kimadm", "r-501-VM", "*", "10.68.1.10", TNF),
    Case(1, "e", "mia", "zze-miaded-vr", "*", "10.68.2.10", ALLOW, "eth0/shared"),
    Case(1, "e", "mia", "zze-miaded-vr", "*", "2001:db8:68:2::10", ALLOW, "eth0/shared"),
    Case(1, "e", "mia", "zze-miaded-vr", "arping", "10.68.2.10", ALLOW, "eth0/shared"),
    Case(1, "e", "mia", "zze-zonewide-vr", "*", "10.68.3.10", TNF),
    Case(1, "e", "omar", "zze-zonewide-vr", "*", "10.68.3.10", TNF),
    Case(1, "e", "nia", "zze-niaself-vr", "*", "10.68.4.10", ALLOW, "eth0/shared"),
    Case(1, "e", "nia", "r-504-VM", "arping", "10.68.4.10", ALLOW, "eth0/shared"),
    Case(1, "e", "kim", "zze-niaself-vr", "*", "10.68.4.10", TNF),
    Case(2, "e", "kim", "zze-kimguest-vr", "*", "10.68.5.10", ALLOW, "eth0/isolated"),
    Case(2, "e", "lee", "zze-kimguest-vr", "*", "10.68.5.10", TNF),
    Case(2, "e", "mia", "zze-kimshared-vr", "*", "198.51.100.80", TNF),
    Case(3, "e", "mia", "zze-miaded-vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case(3, "e", "mia", "zze-miaded-vr", "*", "10.68.2.255", DNA),
    Case(3, "e", "mia", "zze-miaded-vr", "*", "10.68.1.10", DNA),
    Case(3, "e", "mia", "zze-miaded-vr", "*", "10.68.3.10", DNA),
    Case(3, "e", "mia", "zze-miaded-vr", "*", "10.68.4.10", DNA),
    Case(3, "e", "nia", "zze-niaself-vr", "*", "10.68.4.1", ALLOW, "eth0/shared"),
    Case(3, "e", "nia", "zze-niaself-vr", "*", "10.68.4.255", DNA),
    Case(3, "e", "nia", "zze-niaself-vr", "*", "10.68.2.10", DNA),
    Case(3, "e", "kim", "zze-kimguest-vr", "*", "10.68.1.10", SNE),  # its owner too
    Case(3, "e", "kim", "zze-kimguest-vr", "*", "2001:db8:68:1::10", SNE),
    Case(3, "e", "kim", "zze-kimguest-vr", "*", "10.68.3.10", (DNA, SNE)),  # zone-wide
    Case(3, "e", "kim", "zze-kimguest-vr", "*", "10.68.2.10", DNA),
    Case(3, "e", "kimadm", "zze-kimguest-vr", "*", "10.68.1.10", SNE),
    Case(3, "e", "kimadm", "zze-kimguest-vr", "*", "10.68.5.10", ALLOW, "eth0/isolated"),
    Case(3, "e", "omar", "zze-omar-vr", "*", "10.68.6.10", ALLOW, "eth0/isolated"),
    Case(3, "e", "omar", "zze-omar-vr", "*", "10.68.1.10", DNA),
    Case(3, "e", "omar", "zze-omar-vr", "*", "2001:db8:68:1::10", DNA),
    Case(3, "e", "omar", "zze-omar-vr", "*", "10.68.2.10", DNA),
    Case(3, "e", "omar", "zze-omar-vr", "*", "10.68.4.10", DNA),
    Case(3, "e", "omar", "zze-omar-vr", "*", "10.68.3.10", DNA),
    Case(6, "e", "root", "zze-zonewide-vr", "*", "10.68.3.10", ALLOW, "eth0/shared"),
    Case(6, "e", "root", "zze-zonewide-vr", "*", "2001:db8:52::80", R.NO_ROUTE),
    Case(6, "e", "root", "zze-kimshared-vr", "*", "10.68.1.10", ALLOW, "eth0/shared"),
    # === (f) default route over a multi-tenant shared network ==========================================
    Case(2, "f", "ola", "zzf-ola-vr", "*", "10.66.0.20", ALLOW, "eth0/isolated"),  # pia's and ria's too
    Case(2, "f", "ola", "zzf-ola-vr", "*", "2001:db8:66::20", ALLOW, "eth0/isolated"),
    Case(2, "f", "ola", "zzf-ola-vr", "arping", "10.66.0.20", ALLOW, "eth0/isolated"),
    Case(2, "f", "pia", "zzf-ola-vr", "*", "198.51.100.80", TNF),
    Case(2, "f", "ria", "zzf-ola-vr", "*", "198.51.100.80", TNF),
    Case(2, "f", "pia", "zzf-ola-vr2", "*", "198.51.100.80", TNF),
    Case(3, "f", "ola", "zzf-ola-vr", "*", "10.67.0.1", DNA),
    Case(3, "f", "ola", "zzf-ola-vr", "*", "10.67.0.30", DNA),
    Case(3, "f", "ola", "zzf-ola-vr", "*", "2001:db8:67::30", DNA),
    Case(3, "f", "ola", "zzf-ola-vr", "arping", "10.67.0.30", DNA),
    Case(3, "f", "ola", "zzf-ola-vr2", "*", "10.67.8.30", SNE),
    Case(4, "f", "ola", "zzf-ola-vr", "*", "198.51.100.80", ENA),
    Case(4, "f", "ola", "zzf-ola-vr", "*", "2001:db8:52::80", ENA),
    Case(4, "f", "ola", "zzf-ola-vr", "*", "203.0.113.1", ENA),
    Case(4, "f", "ola", "zzf-ola-vr", "*", "10.66.1.20", ENA),  # her own other network, but out over it
    Case(4, "f", "ola", "zzf-ola-vr2", "*", "10.66.1.20", ALLOW, "eth0/isolated"),
    Case(4, "f", "ola", "zzf-ola-vr2", "*", "203.0.113.1", ALLOW, "eth3/public"),
    Case(4, "f", "ola", "zzf-ola-vr2", "arping", "203.0.113.1", ALLOW, "eth3/public"),
    Case(4, "f", "ola", "zzf-ola-vr2", "*", "198.51.100.80", SNE),  # out over the one she owns and shares
    Case(4, "f", "ola", "zzf-ola-vr2", "*", "10.66.0.20", (SNE, DNA)),  # out over ola-shared; pia's and ria's
    Case(4, "f", "ola", "zzf-ola-vr2", "ping", "198.51.100.80", (SNE, INA), params="-I eth3"),
    Case(6, "f", "root", "zzf-ola-vr", "*", "198.51.100.80", ALLOW, "eth2/shared"),
    Case(6, "f", "root", "zzf-ola-vr2", "*", "198.51.100.80", ALLOW, "eth2/shared"),
    Case(6, "f", "root", "zzf-ola-vr2", "ping", "198.51.100.80", ALLOW, "eth3/public", params="-I eth3"),
    # === (g) a VPC VR's private gateway and VPN gateway, dual-stack =====================================
    Case(2, "g", "zed", "zzg-yve-vpcvr", "*", "198.51.100.80", TNF),
    Case(2, "g", "yveadm", "zzg-yve-vpcvr", "*", "10.254.9.2", ALLOW, "vpn0/vpn_gateway"),
    Case(2, "g", "yveadm", "zzg-yve-vpcvr", "*", "10.251.9.1", ALLOW, "eth3/private_gateway"),
    Case(2, "g", "yveadm", "zzg-zed-vr", "*", "198.51.100.80", TNF),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.72.1.10", ALLOW, "eth2/vpc_tier"),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:72:1::10", ALLOW, "eth2/vpc_tier"),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.72.9.9", ALLOW, "eth1/public"),  # its own VPC's CIDR
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.73.0.10", DNA),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.91.0.255", DNA),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.91.0.0", DNA),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.81.255.255", DNA),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "10.254.9.3", DNA),
    Case(3, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:91::", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.73.0.10", ALLOW, "eth0/isolated"),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.254.9.2", DNA),  # yve's far end, over public
    Case(3, "g", "zed", "zzg-zed-vr", "*", "2001:db8:254:9::2", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.251.9.1", DNA),  # yve's next hop
    Case(3, "g", "zed", "zzg-zed-vr", "*", "2001:db8:251:9::1", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.81.3.3", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.91.0.9", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "2001:db8:91::9", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.72.9.9", DNA),
    Case(3, "g", "zed", "zzg-zed-vr", "*", "10.72.1.10", DNA),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "10.251.9.1", ALLOW, "eth3/private_gateway"),  # next hop
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:251:9::1", ALLOW, "eth3/private_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "arping", "10.251.9.1", ALLOW, "eth3/private_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "10.251.9.7", ENA),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:251:9::7", ENA),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "arping", "10.251.9.7", ENA),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "10.81.3.3", ALLOW, "eth3/private_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "arping", "10.81.3.3", R.ARPING_NOT_ON_LINK),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "10.254.9.2", ALLOW, "vpn0/vpn_gateway"),  # the far end
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:254:9::2", ALLOW, "vpn0/vpn_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "arping", "10.254.9.2", ALLOW, "vpn0/vpn_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "10.254.9.1", ENA),  # the VR's own end of the tunnel
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:254:9::9", ENA),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "10.91.0.9", ALLOW, "vpn0/vpn_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "*", "2001:db8:91::9", ALLOW, "vpn0/vpn_gateway"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "arping", "10.91.0.9", R.ARPING_NOT_ON_LINK),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "ping", "10.91.0.9", INA, params="-I eth3"),
    Case(4, "g", "yve", "zzg-yve-vpcvr", "ping", "10.91.0.9", ALLOW, "vpn0/vpn_gateway", params="-I vpn0"),
    Case(6, "g", "root", "zzg-yve-vpcvr", "*", "10.251.9.7", ALLOW, "eth3/private_gateway"),
    Case(6, "g", "root", "zzg-zed-vr", "*", "10.91.0.9", ALLOW, "eth2/public"),
    Case(8, "g", "yve", "zzg-yve-vpcvr", "ping", "10.91.0.9", OOB, params="-c 20 -i 3 -W 10"),
    Case(8, "g", "yve", "zzg-yve-vpcvr", "ping", "10.91.0.9", OOB, params="-c 20 -i 10 -w 60"),
    # === (h) shared networks shared with a domain, with and without subdomain access ===================
    Case(1, "h", "bob", "zzh-bob-vr", "*", "10.69.1.10", SNE),  # a holder through its domain
    Case(1, "h", "bob", "zzh-bob-vr", "*", "2001:db8:69:1::10", SNE),
    Case(1, "h", "bob", "zzh-bob-vr", "*", "10.69.2.10", SNE),
    Case(1, "h", "gadm", "zzh-bob-vr", "*", "10.69.1.10", SNE),  # the domain's own admin
    Case(1, "h", "sid", "zzh-sid-vr", "*", "10.69.2.10", SNE),  # a subdomain, with subdomain access
    Case(1, "h", "sid", "zzh-sid-vr", "*", "10.69.1.10", DNA),  # a subdomain, without it
    Case(1, "h", "sadm", "zzh-sid-vr", "*", "10.69.2.10", SNE),
    Case(1, "h", "sadm", "zzh-sid-vr", "*", "10.69.1.10", DNA),
    Case(2, "h", "bob", "zzh-shared-vr", "*", "198.51.100.80", TNF),
    Case(2, "h", "bob", "r-802-VM", "*", "198.51.100.80", TNF),
    Case(2, "h", "gadm", "zzh-shared-vr", "*", "10.69.1.10", TNF),  # nobody's own, not its domain admin's
    Case(2, "h", "alice", "zzh-shared-vr", "*", "198.51.100.80", TNF),
    Case(2, "h", "sid", "zzh-subshared-vr", "*", "10.69.2.10", TNF),
    Case(2, "h", "gadm", "zzh-sid-vr", "*", "10.69.7.10", ALLOW, "eth0/isolated"),  # sid is in its subtree
    Case(2, "h", "sadm", "zzh-bob-vr", "*", "198.51.100.80", TNF),
    Case(3, "h", "alice", "zzh-alice-vr", "*", "10.69.1.10", DNA),  # not a holder: "another tenant"
    Case(3, "h", "alice", "zzh-alice-vr", "*", "10.69.2.10", DNA),
    Case(3, "h", "alice", "zzh-alice-vr", "*", "10.69.6.10", ALLOW, "eth0/isolated"),
    Case(3, "h", "bob", "zzh-bob-vr", "*", "10.69.5.10", ALLOW, "eth0/isolated"),
    Case(3, "h", "bob", "zzh-bob-vr", "*", "198.51.100.80", ALLOW, "eth2/public"),
    Case(3, "h", "bob", "zzh-bob-vr", "*", "10.69.7.10", DNA),  # sid's, over public
    Case(3, "h", "gadm", "zzh-bob-vr", "*", "10.69.7.10", ALLOW, "eth2/public"),
    Case(4, "h", "bob", "zzh-bob-vr", "arping", "10.69.5.10", ALLOW, "eth0/isolated"),
    Case(6, "h", "root", "zzh-shared-vr", "*", "10.69.1.10", ALLOW, "eth0/shared"),
    Case(6, "h", "root", "zzh-subshared-vr", "*", "10.69.2.10", ALLOW, "eth0/shared"),
]


def _expand(cases: list[Case]) -> list[Case]:
    return [
        case._replace(test=test)
        for case in cases
        for test in (ROUTED_TOOLS if case.test == "*" else (case.test,))
    ]


EXPANDED = _expand(CASES)


def _case_id(case: Case) -> str:
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    outcome = "|".join(c.value if c else "ALLOW" for c in codes)
    suffix = f"[{case.params}]" if case.params else ""
    return f"{case.zone}:{case.who}:{case.vm}:{case.test}:{case.dest}{suffix}->{outcome}"


def _params(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=_case_id(case)) for case in cases]


def _check(case: Case, topology: Topology) -> None:
    decision = decide(zone_caller(case.zone, case.who), case.vm, case.test, case.dest, case.params, topology)
    expected = case.code if isinstance(case.code, tuple) else (case.code,)
    assert decision.code in expected, decision.to_dict()
    assert decision.allowed is (decision.code is None)
    if decision.code is not None:
        assert decision.invocation is None and decision.egress_interface is None
        return
    interface, kind = (case.egress or "/").split("/")
    assert (decision.egress_interface, decision.egress_kind) == (interface, kind), decision.to_dict()
    assert decision.vm_uuid == topology.system_vm(case.vm).uuid
    # rule 6: whatever the tool is bound to is what the answer names
    assert decision.invocation.interface in (None, decision.egress_interface)
    if works_on_link_only(case.test):
        assert decision.invocation.interface == decision.egress_interface
    assert decision.worst_case_seconds is not None and decision.worst_case_seconds <= 60


def test_the_table_covers_every_rule_zone_and_outcome() -> None:
    assert {case.rule for case in CASES} == set(range(1, 9))
    assert {case.zone for case in CASES} == set(ZONES)
    for zone in ZONES:
        assert 3 in {case.rule for case in CASES if case.zone == zone}, zone
        assert any(case.code is None for case in CASES if case.zone == zone)
        assert any(case.code is not None for case in CASES if case.zone == zone)
    codes = {c for case in CASES for c in (case.code if isinstance(case.code, tuple) else (case.code,))}
    masked = {R.TARGET_NOT_OWNED, R.SYSTEM_VM_KIND_ADMIN_ONLY}  # answered TARGET_NOT_FOUND
    not_a_probe = {R.STATE_PART_ADMIN_ONLY}  # reading a VM's state: test_vm_state.py, over zone (a)
    assert codes >= set(ReasonCode) - masked - not_a_probe


@pytest.mark.parametrize("case", _params(EXPANDED))
def test_decide(case: Case) -> None:
    _check(case, ZONES[case.zone])


@pytest.mark.parametrize("case", _params([c for c in EXPANDED if c.vm != "r-999-VM"]))
def test_a_store_slice_decides_like_the_rules(case: Case) -> None:
    """The item the store keeps for a VM holds everything a decision about it needs."""
    topology = ZONES[case.zone]
    sliced = decision_slice(topology, case.vm, case.dest)
    _check(case, sliced)
    caller = zone_caller(case.zone, case.who)
    whole = decide(caller, case.vm, case.test, case.dest, case.params, topology)
    assert decide(caller, case.vm, case.test, case.dest, case.params, sliced).to_dict() == whole.to_dict()


def test_zone_files_validate_and_say_what_they_break() -> None:
    for stem in ZONE_FILES.values():
        text = (ZONE_DIR / f"{stem}.yaml").read_text(encoding="utf-8")
        header = text.split("\nversion:")[0]
        assert header.startswith("# Zone (") and "Breaks a naive" in header, stem
    assert ZONES["c"].lab is not None  # the host link is infrastructure too
    assert all(ZONES[key].lab is None for key in ZONES if key != "c")


# --- rule 7: a VM the caller may not use answers like one that does not exist --------------------------

HIDDEN = [
    ("a", "rae", "zza-multi-vr"),
    ("a", "pat", "r-102-VM"),
    ("a", "rae", "zza-stopped-vr"),
    ("b", "tara", "zzb-uma-vpcvr"),
    ("b", "walt", "5a0e0000-0000-4000-8000-0000000b0205"),
    ("c", "ivy", "zzc-ssvm"),
    ("c", "topadm", "v-303-VM"),
    ("d", "acmeadm", "zzd-yoko-vr"),
    ("d", "acmeadm", "zzd-shared-vr"),
    ("d", "bigxadm", "r-401-VM"),
    ("e", "kim", "zze-kimshared-vr"),
    ("e", "lee", "zze-kimshared-vr"),
    ("e", "omar", "zze-zonewide-vr"),
    ("f", "pia", "zzf-ola-vr"),
    ("g", "zed", "zzg-yve-vpcvr"),
    ("h", "bob", "zzh-shared-vr"),
    ("h", "gadm", "zzh-shared-vr"),
    ("h", "sid", "zzh-subshared-vr"),
]


@pytest.mark.parametrize(("zone", "who", "vm"), HIDDEN)
@pytest.mark.parametrize(
    ("test", "dest", "params"),
    [
        ("ping", "198.51.100.80", None),
        ("ping", "172.31.200.5", "-c 99 -f"),
        ("traceroute", "not-an-address", "-i eth1"),
        ("arping", "2001:db8::1", None),
    ],
)
def test_a_vm_the_caller_may_not_use_answers_like_a_missing_one(
    zone: str, who: str, vm: str, test: str, dest: str, params: str | None
) -> None:
    topology = ZONES[zone]
    caller = zone_caller(zone, who)
    hidden = decide(caller, vm, test, dest, params, topology)
    missing = decide(caller, "r-31337-VM", test, dest, params, topology)
    assert hidden.code is missing.code is R.TARGET_NOT_FOUND
    assert hidden.message == missing.message.replace("r-31337-VM", vm)
    assert hidden.vm_uuid is None and hidden.egress_interface is None and hidden.invocation is None
    sliced = decision_slice(topology, vm, dest)
    assert decide(caller, vm, test, dest, params, sliced).message == hidden.message


@pytest.mark.parametrize(
    ("zone", "who", "vm", "dest", "needles"),
    [
        (
            "a",
            "pat",
            "zza-multi-vr",
            "10.62.0.20",
            ["zza-quinn", "net-zza-quinn-guest", "10.62.0.0/24", "isolated"],
        ),
        ("b", "tara", "zzb-tara-vpcvr", "10.90.1.10", ["zzb-uma", "10.90.0.0/23", "private", "route"]),
        ("b", "walt", "zzb-walt-vr", "2001:db8:72::11", ["zzb-xena", "2001:db8:72::/64"]),
        ("c", "ivy", "zzc-ivy-vr", "fd00:5a5a:1::5", ["fd00:5a5a:1::/48", "zzc-mgmt"]),
        ("c", "ivy", "zzc-ivy-vr", "203.0.113.5", ["bastion", "zzc-"]),
        ("c", "ivy", "zzc-ivy-vr", "100.64.77.1", ["100.64.77.0/30", "host link"]),
        ("c", "ivy", "zzc-ivy-vr", "172.31.201.10", ["storage", "172.31.201.0/24"]),
        ("d", "acmeadm", "zzd-xavi-vr", "10.65.2.10", ["zzd-yoko", "acmeX", "10.65.2.0/24"]),
        ("e", "omar", "zze-omar-vr", "10.68.1.10", ["zze-kim", "shared", "10.68.1.0/24"]),
        ("f", "ola", "zzf-ola-vr", "198.51.100.80", ["zzf-transit", "shared", "10.67.0.0/24"]),
        ("g", "zed", "zzg-zed-vr", "10.254.9.2", ["zzg-yve", "vpn", "tunnel", "10.254.9.0/30"]),
    ],
)
def test_refusals_say_the_class_not_the_names(
    zone: str, who: str, vm: str, dest: str, needles: list[str]
) -> None:
    """Rule 7: what a non-admin is refused names nothing it does not cover; the detail is kept apart
    (for admins and the audit trail)."""
    topology = ZONES[zone]
    decision = decide(zone_caller(zone, who), vm, "ping", dest, None, topology)
    assert not decision.allowed
    for needle in needles:
        assert needle.lower() not in decision.message.lower(), decision.message
    assert any(needle.lower() in decision.detail.lower() for needle in needles), decision.detail


def test_an_ipv4_mapped_destination_runs_as_ipv4() -> None:
    """Rule 5: the tool gets the IPv4 address (and so does arping)."""
    for test in ("ping", "traceroute", "arping"):
        decision = decide(zone_caller("a", "pat"), "zza-multi-vr", test, "::ffff:a3d:14", None, ZONES["a"])
        assert decision.allowed, decision.to_dict()
        assert decision.invocation.destination == "10.61.0.20"
        assert decision.invocation.argv()[-1] == "10.61.0.20"


def test_a_run_that_cannot_finish_names_the_bound() -> None:
    """Rule 8: refused with OPTION_OUT_OF_BOUNDS, and the message says the 60 s a run may take."""
    decision = decide(zone_caller("a", "pat"), "zza-multi-vr", "ping", "10.61.0.20", "-c 8 -i 9", ZONES["a"])
    assert decision.code is OOB
    assert "60" in decision.message


@pytest.mark.parametrize(("zone", "vm"), [(z, vm.name) for z, t in ZONES.items() for vm in t.system_vms()])
def test_admins_reach_every_system_vm_of_the_zones(zone: str, vm: str) -> None:
    """The non-admin refusals above are about the role: the admin may use every VM, any public address."""
    decision = decide(zone_caller(zone, "root"), vm, "ping", "198.51.100.80", None, ZONES[zone])
    if ZONES[zone].system_vm(vm).state != "Running":
        assert decision.code is R.VM_NOT_RUNNING
        return
    assert decision.allowed, decision.to_dict()
    assert ipaddress.ip_address(decision.invocation.destination) == ipaddress.ip_address("198.51.100.80")

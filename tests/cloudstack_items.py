"""A small hand-made cloud in CloudStack's item shapes (only the fields the transport looks at), keyed by
list command as the lab's ``responses_for`` keys them: two zones, 1,200 networks in the first (so a
500-item page size needs three pages), shared networks scoped to an account, to a domain and in a VPC."""

from __future__ import annotations

ZONE = {"id": "zone-1", "name": "lab-zone"}
OTHER_ZONE = {"id": "zone-2", "name": "other-zone"}
NETWORKS_IN_ZONE = 1200
VPC_TIER_SHARED = "net-0300"  # a shared, account-scoped network in a VPC: it cannot carry permissions


def _network(number: int) -> dict:
    network = {"id": f"net-{number:04d}", "name": f"net {number}", "zoneid": "zone-1", "type": "Isolated"}
    if number % 100 == 0:
        network.update(type="Shared", acltype="Account")
    elif number % 100 == 50:
        network.update(type="Shared", acltype="Domain")
    else:
        network["acltype"] = "Account"
    if number in (7, 300):
        network["vpcid"] = "vpc-1"
    return network


def account_shared_networks() -> list[str]:
    """The networks whose permissions a sync asks for: shared, account-scoped, outside VPCs."""
    return [f"net-{n:04d}" for n in range(0, NETWORKS_IN_ZONE, 100) if f"net-{n:04d}" != VPC_TIER_SHARED]


def cloud_items() -> dict[str, list[dict]]:
    other_networks = [
        {"id": f"far-{n}", "name": f"far {n}", "zoneid": "zone-2", "type": "Shared", "acltype": "Account"}
        for n in range(3)
    ]
    return {
        "listZones": [dict(ZONE), dict(OTHER_ZONE)],
        "listDomains": [
            {"id": "dom-root", "name": "ROOT", "path": "ROOT"},
            {"id": "dom-acme", "name": "acme", "path": "ROOT/acme", "parentdomainid": "dom-root"},
        ],
        "listAccounts": [
            {"id": "acc-admin", "name": "admin", "domainid": "dom-root", "accounttype": 1},
            {"id": "acc-alice", "name": "alice", "domainid": "dom-acme", "accounttype": 0},
            {"id": "acc-bob", "name": "bob", "domainid": "dom-acme", "accounttype": 0},
        ],
        "listPods": [{"id": "pod-1", "name": "pod 1", "zoneid": "zone-1"}],
        "listNetworks": [_network(n) for n in range(NETWORKS_IN_ZONE)] + other_networks,
        "listVPCs": [{"id": "vpc-1", "name": "alice-vpc", "zoneid": "zone-1"}],
        "listRouters": [
            {
                "id": "r-1",
                "zoneid": "zone-1",
                "guestnetworkid": "net-0001",
                "nic": [{"networkid": "net-0001"}],
            },
            {"id": "r-2", "zoneid": "zone-1", "vpcid": "vpc-1", "nic": [{"networkid": "net-0007"}]},
            {"id": "r-9", "zoneid": "zone-2", "nic": [{"networkid": "far-0"}]},
        ],
        "listSystemVms": [
            {"id": "s-1", "zoneid": "zone-1", "systemvmtype": "secondarystoragevm"},
            {"id": "v-2", "zoneid": "zone-1", "systemvmtype": "consoleproxy"},
        ],
        "listPrivateGateways": [],
        "listStaticRoutes": [{"id": "sr-1", "vpcid": "vpc-1", "cidr": "10.9.0.0/16"}],
        "listVpnConnections": [],
        "listVpnCustomerGateways": [],
        "listNetworkPermissions": [
            {"networkid": "net-0100", "accountid": "acc-bob", "account": "bob"},
            {"networkid": "net-0100", "accountid": "acc-alice", "account": "alice"},
            {"networkid": "net-0050", "accountid": "acc-bob", "account": "bob"},  # never asked: domain-wide
        ],
    }

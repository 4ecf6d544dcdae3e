"""The fields a zone mapping reads, per CloudStack response class, as Apache CloudStack names them.

Every name below is the ``@SerializedName`` of a field in ``api/src/main/java/org/apache/cloudstack/
api/response/<Class>.java`` (through ``ApiConstants`` where the class uses a constant); the mapping
reads nothing else, and a unit test holds it to that. Per command (item key in ``commands``):

- listZones -> ZoneResponse: id, name.
- listDomains -> DomainResponse: id, name, parentdomainid, path (the path is "ROOT/acme/eng").
- listAccounts -> AccountResponse: id, name, accounttype (Integer: 0 user, 1 root admin, 2 domain admin,
  3 resource admin, 4 read-only admin, 5 project), roletype (RoleType name: Admin, ResourceAdmin,
  DomainAdmin, User), domainid, domainpath (since 4.13).
- listPods -> PodResponse: id, name, zoneid, gateway, netmask, startip and endip (lists, deprecated
  since 4.16), ipranges (IpRangeResponse: startip, endip; since 4.16).
- listNetworks -> NetworkResponse: id, name, type (GuestType: Isolated, Shared, L2), traffictype,
  zoneid, cidr, networkcidr (the whole range when IP reservation is on), netmask, gateway, ip6cidr,
  ip6gateway, vpcid, acltype (Account or Domain), subdomainaccess, account, domainid, projectid,
  privatemtu (Integer, since 4.18: the MTU of the network's VR interfaces on it).
- listVPCs -> VpcResponse: id, name, cidr, zoneid, account, domainid, projectid.
- listRouters -> DomainRouterResponse: id, name (r-4-VM), state, zoneid, vpcid, account, domainid,
  linklocalip, linklocalnetmask, nic (NicResponse: id, networkid, traffictype, ipaddress,
  netmask, gateway, ip6address, ip6cidr, ip6gateway, deviceid).
- listSystemVms -> SystemVmResponse: id, name, systemvmtype (secondarystoragevm, consoleproxy), state,
  zoneid, gateway, linklocalip, linklocalnetmask, privateip, privatenetmask, publicip, publicnetmask.
  The class has no storage address, no IPv6 address and no nic list: a sync cannot see either.
- listPrivateGateways -> PrivateGatewayResponse: id, vpcid, ipaddress, gateway, netmask, zoneid, vlan.
- listStaticRoutes -> StaticRouteResponse: id, vpcid, cidr, and the gateway: gatewayid (ApiConstants
  GATEWAY_ID, up to 4.20) or vpcgatewayid / nexthop (since 4.21, which also routes by next hop).
- listVpnConnections -> Site2SiteVpnConnectionResponse: id, s2scustomergatewayid, publicip (the VPC's
  VPN gateway address), gateway (the customer gateway's address), cidrlist ("10.0.0.0/24,10.1.0.0/24").
  It names no VPC; the connection belongs to the VPC whose VR has ``publicip`` on a public nic.
- listVpnCustomerGateways -> Site2SiteCustomerGatewayResponse: id, name, gateway, cidrlist.
- listNetworkPermissions -> NetworkPermissionsResponse: networkid, accountid, account, domainid,
  projectid.
"""

from __future__ import annotations

COMMAND_RESPONSES: dict[str, str] = {
    "listZones": "ZoneResponse",
    "listDomains": "DomainResponse",
    "listAccounts": "AccountResponse",
    "listPods": "PodResponse",
    "listNetworks": "NetworkResponse",
    "listVPCs": "VpcResponse",
    "listRouters": "DomainRouterResponse",
    "listSystemVms": "SystemVmResponse",
    "listPrivateGateways": "PrivateGatewayResponse",
    "listStaticRoutes": "StaticRouteResponse",
    "listVpnConnections": "Site2SiteVpnConnectionResponse",
    "listVpnCustomerGateways": "Site2SiteCustomerGatewayResponse",
    "listNetworkPermissions": "NetworkPermissionsResponse",
}

# Objects nested in a response: (class, field) -> the class of the objects in it.
NESTED: dict[tuple[str, str], str] = {
    ("DomainRouterResponse", "nic"): "NicResponse",
    ("PodResponse", "ipranges"): "IpRangeResponse",
}

_OWNED = ("account", "domainid", "projectid")

FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(fields)
    for name, fields in {
        "ZoneResponse": ("id", "name"),
        "DomainResponse": ("id", "name", "parentdomainid", "path"),
        "AccountResponse": ("id", "name", "accounttype", "roletype", "domainid", "domainpath"),
        "PodResponse": ("id", "name", "zoneid", "gateway", "netmask", "startip", "endip", "ipranges"),
        "IpRangeResponse": ("startip", "endip"),
        "NetworkResponse": (
            *("id", "name", "type", "traffictype", "zoneid", "cidr", "networkcidr", "netmask"),
            *("gateway", "ip6cidr", "ip6gateway", "vpcid", "acltype", "subdomainaccess", *_OWNED),
            "privatemtu",
        ),
        "VpcResponse": ("id", "name", "cidr", "zoneid", *_OWNED),
        "DomainRouterResponse": (
            *("id", "name", "state", "zoneid", "vpcid", "linklocalip", "linklocalnetmask", "nic"),
            *("account", "domainid"),
        ),
        "NicResponse": (
            *("id", "networkid", "traffictype", "ipaddress", "netmask", "gateway"),
            *("ip6address", "ip6cidr", "ip6gateway", "deviceid"),
        ),
        "SystemVmResponse": (
            *("id", "name", "systemvmtype", "state", "zoneid", "gateway", "linklocalip"),
            *("linklocalnetmask", "privateip", "privatenetmask", "publicip", "publicnetmask"),
        ),
        "PrivateGatewayResponse": ("id", "vpcid", "ipaddress", "gateway", "netmask", "zoneid", "vlan"),
        "StaticRouteResponse": ("id", "vpcid", "cidr", "gatewayid", "vpcgatewayid", "nexthop"),
        "Site2SiteVpnConnectionResponse": ("id", "s2scustomergatewayid", "publicip", "gateway", "cidrlist"),
        "Site2SiteCustomerGatewayResponse": ("id", "name", "gateway", "cidrlist"),
        "NetworkPermissionsResponse": ("networkid", "accountid", *_OWNED),
    }.items()
}

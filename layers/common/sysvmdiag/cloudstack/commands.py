"""The CloudStack list commands a topology sync reads: the one place their names and shapes are kept.

Both sides use this table: the sync client (``client``) to page through each command and unwrap its
answer, and the lab's CloudStack-shaped API (``simvms/cloudstack_api.py``) to serve the same commands.
An answer is ``{"<command lowercased>response": {"count": N, "<item key>": [...]}}``, as CloudStack's
``ListResponse`` serialises (an empty list comes back as ``{}``, with neither count nor items).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListCommand:
    """One list command: the key its items come under, and the parameters a sync sends."""

    name: str
    item_key: str
    listall: bool = True  # every account's objects, not only the caller's (root admin keys)
    zone_scoped: bool = False  # takes zoneid
    per_network: bool = False  # takes networkid: called once per network that needs it

    @property
    def response_key(self) -> str:
        return f"{self.name.lower()}response"


LIST_COMMANDS: dict[str, ListCommand] = {
    command.name: command
    for command in (
        ListCommand("listZones", "zone", listall=False),
        ListCommand("listDomains", "domain"),
        ListCommand("listAccounts", "account"),
        ListCommand("listPods", "pod", listall=False, zone_scoped=True),
        ListCommand("listNetworks", "network", zone_scoped=True),
        ListCommand("listVPCs", "vpc", zone_scoped=True),
        ListCommand("listRouters", "router", zone_scoped=True),
        ListCommand("listSystemVms", "systemvm", listall=False, zone_scoped=True),
        ListCommand("listPrivateGateways", "privategateway", zone_scoped=True),
        ListCommand("listStaticRoutes", "staticroute"),
        ListCommand("listVpnConnections", "vpnconnection"),
        ListCommand("listVpnCustomerGateways", "vpncustomergateway"),
        ListCommand("listNetworkPermissions", "networkpermission", listall=False, per_network=True),
    )
}

DEFAULT_PAGE_SIZE = 500

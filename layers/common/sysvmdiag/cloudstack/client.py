"""Signed, paged calls to CloudStack's list commands, and the read of one zone a topology sync needs.

urllib3 carries the requests: botocore already depends on it, so the Lambda layer has it without a new
package (requests is only a development dependency here). Every call is signed with an expiry
(``signatureversion=3``), so a URL caught in a proxy log cannot be replayed for long.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import urllib3

from sysvmdiag.cloudstack.answers import CloudStackError, response_object
from sysvmdiag.cloudstack.commands import DEFAULT_PAGE_SIZE, LIST_COMMANDS, ListCommand
from sysvmdiag.cloudstack.signing import signed_params

SIGNATURE_LIFETIME = timedelta(minutes=10)
# Connection failures are retried (list calls change nothing); a slow or refusing server is not.
DEFAULT_RETRIES = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.5)
ParamValue = str | int | bool


@dataclass(frozen=True)
class PageProgress:
    """One page received: enough for a CLI progress line ("listNetworks 1000/1200")."""

    command: str
    page: int
    received: int
    total: int | None  # CloudStack's count, when the answer had one


class CloudStackClient:
    """A CloudStack API endpoint (``https://.../client/api``) called with one API key pair."""

    def __init__(
        self,
        url: str,
        api_key: str,
        secret_key: str,
        *,
        timeout: float,
        page_size: int = DEFAULT_PAGE_SIZE,
        session: urllib3.PoolManager | None = None,
        method: str = "GET",
        progress: Callable[[PageProgress], None] | None = None,
    ) -> None:
        if method not in ("GET", "POST"):
            raise ValueError(f"method must be GET or POST, not {method!r}")
        self.url = url
        self.api_key = api_key
        self.secret_key = secret_key
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.page_size = page_size
        self.http = session or urllib3.PoolManager(retries=DEFAULT_RETRIES)
        self.method = method
        self.progress = progress or (lambda _page: None)
        # What did not add up but was no reason to stop (a count without its list, a short total).
        self.warnings: list[str] = []

    def call(self, command: str, expected_key: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One signed request; the object inside the answer (CloudStackError for an error answer)."""
        fields = signed_params(
            {"command": command, "response": "json", **params},
            self.api_key,
            self.secret_key,
            expires_in=SIGNATURE_LIFETIME,
        )
        # POST sends the same fields as a form body (keeps the signed query out of access logs).
        form = {"encode_multipart": False} if self.method == "POST" else {}
        try:
            response = self.http.request(
                self.method, self.url, fields=fields, timeout=self.timeout, redirect=False, **form
            )
        except urllib3.exceptions.HTTPError as err:
            raise CloudStackError(command, None, None, f"{self.url}: {_transport_problem(err)}") from err
        if 300 <= response.status < 400:
            where = response.headers.get("Location", "elsewhere")
            raise CloudStackError(command, response.status, None, f"redirected to {where}: use that URL")
        inner, note = response_object(
            command, expected_key, response.status, response.headers.get("Content-Type", ""), response.data
        )
        if note:
            self.warnings.append(note)
        return inner

    def list_all(
        self, command: ListCommand, *, zone_id: str | None = None, **params: ParamValue
    ) -> list[dict]:
        """Every item of a list command, page after page until CloudStack's count is reached or a page
        comes back short. ``zoneid`` is sent only to zone-scoped commands, ``listall=true`` to those
        that take it (a root admin key then sees every account's objects)."""
        base = {name: _param(value) for name, value in params.items()}
        if command.listall:
            base["listall"] = "true"
        if zone_id is not None and command.zone_scoped:
            base["zoneid"] = zone_id
        items: list[dict] = []
        page, total = 1, None
        while True:
            paging = {"page": str(page), "pagesize": str(self.page_size)}
            total, batch, problem = _page_items(
                command, self.call(command.name, command.response_key, base | paging)
            )
            items.extend(batch)
            self.progress(PageProgress(command.name, page, len(items), total))
            if problem:
                self.warnings.append(f"{problem} (page {page}); kept the {len(items)} items received")
                return items
            if len(batch) < self.page_size or (total is not None and len(items) >= total):
                break
            page += 1
        if total is not None and len(items) != total:
            self.warnings.append(
                f"{command.name}: CloudStack counted {total} but {len(items)} came "
                "(objects created or removed while paging?)"
            )
        return items


def _transport_problem(err: urllib3.exceptions.HTTPError) -> str:
    """What went wrong, without the request's URL: urllib3's retry error repeats it with the signed query
    (API key, signature), which must not reach a log."""
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        return f"{type(err.reason).__name__}: {err.reason}"
    return f"{type(err).__name__}: {err}"


def _param(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _page_items(command: ListCommand, inner: dict[str, Any]) -> tuple[int | None, list[dict], str | None]:
    """(count, items, problem) of one page. ``{}`` is CloudStack's empty list; a count without the list
    is what it sends for a page past the end (items removed while paging) or from a broken serializer."""
    total = _count(inner.get("count"))
    batch = inner.get(command.item_key)
    if batch is None:
        if total:
            return total, [], f"{command.name}: count {total} but no {command.item_key!r} list in the answer"
        return total, [], None
    if not isinstance(batch, list) or not all(isinstance(item, dict) for item in batch):
        return total, [], f"{command.name}: {command.item_key!r} is not a list of objects"
    return total, batch, None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class ZoneNotFoundError(LookupError):
    """The zone asked for is not among the zones CloudStack lists (the message names those)."""


def fetch_zone(client: CloudStackClient, zone: str | None) -> dict[str, list[dict]]:
    """Every LIST_COMMANDS command's items for one zone (by id or name; None when there is only one).

    Zone-scoped commands are asked with the zone's id, the others (domains, accounts, static routes,
    VPN connections and customer gateways) once for the whole cloud; per-network commands once per
    network that can carry what they list (``networks_with_permissions``), each item given the
    ``networkid`` it was asked for when it lacks one. ``listZones`` holds the chosen zone alone.
    """
    chosen = choose_zone(client.list_all(LIST_COMMANDS["listZones"]), zone)
    fetched: dict[str, list[dict]] = {"listZones": [chosen]}
    for command in LIST_COMMANDS.values():
        if command.name != "listZones" and not command.per_network:
            fetched[command.name] = client.list_all(command, zone_id=chosen["id"])
    network_ids = networks_with_permissions(fetched.get("listNetworks", []))
    for command in LIST_COMMANDS.values():
        if command.per_network:
            fetched[command.name] = [
                {"networkid": network_id, **item}
                for network_id in network_ids
                for item in client.list_all(command, networkid=network_id)
            ]
    return {name: fetched[name] for name in LIST_COMMANDS}


def choose_zone(zones: list[dict], wanted: str | None) -> dict:
    """The zone whose id or name is ``wanted`` (an exact id, then an exact name, then a name in any case)."""
    if wanted is None:
        if len(zones) == 1:
            return zones[0]
        raise ZoneNotFoundError(f"name the zone to read: {_zone_names(zones)}")
    for matches in (
        lambda z: z.get("id") == wanted,
        lambda z: z.get("name") == wanted,
        lambda z: str(z.get("name", "")).casefold() == wanted.casefold(),
    ):
        found = [z for z in zones if matches(z)]
        if len(found) == 1:
            return found[0]
    raise ZoneNotFoundError(f"no single zone {wanted!r}: {_zone_names(zones)}")


def _zone_names(zones: list[dict]) -> str:
    if not zones:
        return "CloudStack lists no zone to this key"
    return "CloudStack lists " + ", ".join(f"{z.get('name')} ({z.get('id')})" for z in zones)


def networks_with_permissions(networks: list[dict]) -> list[str]:
    """Ids of the networks whose listNetworkPermissions a sync asks: shared networks scoped to an account.

    Network permissions (CloudStack 4.17+) name the other accounts that may use an account's network.
    CloudStack refuses them on domain-scoped networks ("network is already shared in domain": their
    users are the domain, which the network's own answer says) and on VPC tiers ("VPC tiers cannot be
    shared"), so those have none to ask for. Isolated and L2 networks may carry permissions too; they
    are not asked, because the topology records other users (``shared_with``) for shared networks only
    and a zone may have thousands of isolated networks (one call each). Widen this if that changes.
    """
    return [
        str(network["id"])
        for network in networks
        if str(network.get("type", "")).lower() == "shared"
        and str(network.get("acltype", "")).lower() == "account"
        and not network.get("vpcid")
        and network.get("id")
    ]

"""The CloudStack client against the lab's CloudStack-shaped API over real HTTP on loopback: signed
calls, paging through 1,200 networks 500 at a time, CloudStack's error answers, and the odd answers
(``{}``, a count without its list) a real management server sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import requests
import urllib3

from simvms.cloudstack_api import LabCloudStackApi, api_url, serve
from simvms.cloudstack_credentials import Credentials, generate_credentials
from sysvmdiag.cloudstack.answers import CloudStackError
from sysvmdiag.cloudstack.client import CloudStackClient, PageProgress, fetch_zone
from sysvmdiag.cloudstack.commands import LIST_COMMANDS
from sysvmdiag.cloudstack.signing import signed_params
from sysvmdiag.local.motoserver import free_loopback_port
from tests.cloudstack_items import NETWORKS_IN_ZONE, ZONE, account_shared_networks, cloud_items

NETWORKS = LIST_COMMANDS["listNetworks"]


def serving(app: Callable) -> Iterator[str]:
    """``app`` on a loopback server of its own (port 0) in a thread; yields the API URL."""
    server = serve(app, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def keys() -> Credentials:
    return generate_credentials()


@pytest.fixture(scope="module")
def url(keys: Credentials) -> Iterator[str]:
    items = cloud_items()
    yield from serving(LabCloudStackApi(lambda: items, keys))


def client_for(url: str, keys: Credentials, **options) -> CloudStackClient:
    return CloudStackClient(url, keys.api_key, keys.secret_key, **{"timeout": 5, "page_size": 500, **options})


def test_pages_are_followed_until_the_count(url: str, keys: Credentials) -> None:
    pages: list[PageProgress] = []
    client = client_for(url, keys, progress=pages.append)
    networks = client.list_all(NETWORKS, zone_id="zone-1")
    assert [n["id"] for n in networks] == [f"net-{n:04d}" for n in range(NETWORKS_IN_ZONE)]
    assert [(p.page, p.received, p.total) for p in pages] == [
        (1, 500, 1200),
        (2, 1000, 1200),
        (3, 1200, 1200),
    ]
    assert client.warnings == []


def test_a_post_form_gives_the_same_items(url: str, keys: Credentials) -> None:
    by_get = client_for(url, keys).list_all(NETWORKS, zone_id="zone-1")
    assert client_for(url, keys, method="POST").list_all(NETWORKS, zone_id="zone-1") == by_get


def test_the_whole_zone_is_fetched(url: str, keys: Credentials) -> None:
    client = client_for(url, keys)
    fetched = fetch_zone(client, "lab-zone")
    assert fetched["listZones"] == [ZONE]
    assert len(fetched["listNetworks"]) == NETWORKS_IN_ZONE
    assert [r["id"] for r in fetched["listRouters"]] == ["r-1", "r-2"]
    assert fetched["listPrivateGateways"] == []  # CloudStack's {} for an empty list
    assert [p["networkid"] for p in fetched["listNetworkPermissions"]] == ["net-0100", "net-0100"]
    assert "net-0100" in account_shared_networks()
    assert client.warnings == []


def test_filters_reach_the_server(url: str, keys: Credentials) -> None:
    client = client_for(url, keys)
    assert [r["id"] for r in client.list_all(LIST_COMMANDS["listRouters"], networkid="net-0007")] == ["r-2"]
    assert [n["id"] for n in client.list_all(NETWORKS, id="net-0042")] == ["net-0042"]
    assert [v["id"] for v in client.list_all(LIST_COMMANDS["listVPCs"], zone_id="zone-2")] == []


def test_a_wrong_secret_is_a_401_that_says_what_to_check(url: str, keys: Credentials) -> None:
    client = CloudStackClient(url, keys.api_key, "not-the-secret", timeout=5)
    with pytest.raises(CloudStackError) as caught:
        client.list_all(LIST_COMMANDS["listZones"])
    err = caught.value
    assert (err.command, err.http_status, err.errorcode) == ("listZones", 401, 401)
    assert err.errortext == "unable to verify user credentials and/or request signature"
    assert "secret key is wrong" in str(err) and "clock" in str(err)


def test_an_unknown_command_is_a_432(url: str, keys: Credentials) -> None:
    with pytest.raises(CloudStackError) as caught:
        client_for(url, keys).call("deployVirtualMachine", "deployvirtualmachineresponse", {})
    assert (caught.value.http_status, caught.value.errorcode, caught.value.cserrorcode) == (432, 432, 9999)
    assert "root admin key" in str(caught.value)


def test_refused_paging_is_a_431(url: str, keys: Credentials) -> None:
    with pytest.raises(CloudStackError) as caught:
        client_for(url, keys, page_size=501).list_all(NETWORKS)
    assert caught.value.http_status == 431
    assert "max allowed page size value: 500" in caught.value.errortext


def test_the_answer_is_json_with_the_count_of_all_items(url: str, keys: Credentials) -> None:
    params = signed_params(
        {"command": "listNetworks", "response": "json", "zoneid": "zone-1", "page": "3", "pagesize": "500"},
        keys.api_key,
        keys.secret_key,
        expires_in=timedelta(minutes=1),
    )
    answer = requests.get(url, params=params, timeout=5)
    assert answer.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = answer.json()["listnetworksresponse"]
    assert body["count"] == NETWORKS_IN_ZONE and len(body["network"]) == 200


def test_an_expired_signature_is_refused(url: str, keys: Credentials) -> None:
    params = signed_params(
        {"command": "listZones", "response": "json"},
        keys.api_key,
        keys.secret_key,
        expires_in=timedelta(seconds=-1),
    )
    assert requests.post(url, data=params, timeout=5).status_code == 401


def test_items_removed_while_paging_leave_a_count_without_a_list(keys: Credentials) -> None:
    """CloudStack answers a page past the end with the count alone: the client keeps what it has."""
    items = cloud_items()
    served: list[int] = []

    def shrinking() -> dict[str, list[dict]]:
        served.append(1)
        if len(served) > 1:  # after the first page, 800 networks are deleted
            return {**items, "listNetworks": items["listNetworks"][:400]}
        return items

    for url in serving(LabCloudStackApi(shrinking, keys)):
        client = client_for(url, keys)
        networks = client.list_all(NETWORKS, zone_id="zone-1")
        assert len(networks) == 500
        assert client.warnings == [
            "listNetworks: count 400 but no 'network' list in the answer (page 2); "
            "kept the 500 items received"
        ]


def test_a_count_without_a_list_on_the_first_page_is_reported_not_fatal(keys: Credentials) -> None:
    def count_only(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"listvpcsresponse": {"count": 3}}).encode()]

    for url in serving(count_only):
        client = client_for(url, keys)
        assert client.list_all(LIST_COMMANDS["listVPCs"]) == []
        assert client.warnings == [
            "listVPCs: count 3 but no 'vpc' list in the answer (page 1); kept the 0 items received"
        ]


def test_a_url_that_is_not_the_api_says_so(url: str, keys: Credentials) -> None:
    client = client_for(url.replace("/client/api", "/client"), keys)
    with pytest.raises(
        CloudStackError, match=r"HTTP 404: not a CloudStack API answer \(content type text/plain"
    ):
        client.list_all(LIST_COMMANDS["listZones"])


def test_nothing_listening_is_an_error_without_a_status(keys: Credentials) -> None:
    closed = f"http://127.0.0.1:{free_loopback_port()}/client/api"
    client = client_for(closed, keys, session=urllib3.PoolManager(retries=False))
    with pytest.raises(CloudStackError, match="listZones: no answer from CloudStack") as caught:
        client.list_all(LIST_COMMANDS["listZones"])
    assert caught.value.http_status is None

"""The lab's CloudStack-shaped API in process (werkzeug's test client, no socket): envelopes, paging,
filters, and CloudStack's error answers; its key pair file."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.test import Client, TestResponse

from simvms.cloudstack_api import LabCloudStackApi
from simvms.cloudstack_credentials import Credentials, ensure_credentials
from sysvmdiag.cloudstack.signing import signed_params
from tests.cloudstack_items import NETWORKS_IN_ZONE, cloud_items

KEYS = Credentials(api_key="lab-api-key", secret_key="lab-secret-key")


def lab(data=None) -> Client:
    items = cloud_items() if data is None else data
    return Client(LabCloudStackApi(lambda: items, KEYS))


def signed(secret: str = KEYS.secret_key, api_key: str = KEYS.api_key, **params: str) -> dict[str, str]:
    return signed_params({"response": "json", **params}, api_key, secret, expires_in=timedelta(minutes=5))


def get(client: Client, **params: str) -> TestResponse:
    return client.get("/client/api", query_string=signed(**params))


def test_a_page_holds_its_items_and_the_count_of_all() -> None:
    answer = get(lab(), command="listNetworks", zoneid="zone-1", page="2", pagesize="500")
    assert answer.status_code == 200
    assert answer.content_type == "application/json; charset=UTF-8"
    body = answer.get_json()["listnetworksresponse"]
    assert body["count"] == NETWORKS_IN_ZONE
    assert [n["id"] for n in body["network"]] == [f"net-{n:04d}" for n in range(500, 1000)]


def test_without_paging_the_first_500_come_as_cloudstacks_default_page() -> None:
    body = get(lab(), command="listNetworks").get_json()["listnetworksresponse"]
    assert body["count"] == NETWORKS_IN_ZONE + 3 and len(body["network"]) == 500


def test_a_page_past_the_end_has_the_count_alone_and_nothing_has_an_empty_object() -> None:
    past = get(lab(), command="listNetworks", zoneid="zone-1", page="4", pagesize="500")
    assert past.get_json() == {"listnetworksresponse": {"count": NETWORKS_IN_ZONE}}
    assert get(lab(), command="listPrivateGateways").get_json() == {"listprivategatewaysresponse": {}}


@pytest.mark.parametrize(
    ("params", "key", "ids"),
    [
        ({"command": "listNetworks", "id": "net-0042"}, "network", ["net-0042"]),
        ({"command": "listNetworks", "vpcid": "vpc-1"}, "network", ["net-0007", "net-0300"]),
        ({"command": "listNetworks", "zoneid": "zone-2"}, "network", ["far-0", "far-1", "far-2"]),
        ({"command": "listRouters", "networkid": "net-0001"}, "router", ["r-1"]),
        ({"command": "listRouters", "vpcid": "vpc-1"}, "router", ["r-2"]),
        ({"command": "listRouters", "zoneid": "zone-1"}, "router", ["r-1", "r-2"]),
        ({"command": "listAccounts", "domainid": "dom-acme"}, "account", ["acc-alice", "acc-bob"]),
        ({"command": "listZones", "id": "zone-2"}, "zone", ["zone-2"]),
    ],
)
def test_filters_apply_where_cloudstack_takes_them(params: dict, key: str, ids: list[str]) -> None:
    body = next(iter(get(lab(), **params).get_json().values()))
    assert [item["id"] for item in body[key]] == ids
    assert body["count"] == len(ids)


def test_network_permissions_are_listed_per_network_and_need_one() -> None:
    body = get(lab(), command="listNetworkPermissions", networkid="net-0100").get_json()
    assert [p["accountid"] for p in body["listnetworkpermissionsresponse"]["networkpermission"]] == [
        "acc-bob",
        "acc-alice",
    ]
    missing = get(lab(), command="listNetworkPermissions")
    assert missing.status_code == 431
    assert "missing parameter networkid" in missing.get_json()["listnetworkpermissionsresponse"]["errortext"]


def test_parameter_names_are_taken_in_any_case() -> None:
    body = get(lab(), command="listNetworks", zoneId="zone-2", apiKey=KEYS.api_key).get_json()
    assert body["listnetworksresponse"]["count"] == 3


@pytest.mark.parametrize(
    ("paging", "text"),
    [
        ({"page": "1"}, '"pagesize" parameter is required when "page" is specified'),
        ({"pagesize": "10"}, '"page" parameter is required when "pagesize" is specified'),
        ({"page": "1", "pagesize": "501"}, "Page size can't exceed max allowed page size value: 500"),
        ({"page": "0", "pagesize": "10"}, "Invalid parameter page value=0"),
        ({"page": "1", "pagesize": "ten"}, "Invalid parameter pagesize value=ten"),
    ],
)
def test_paging_is_refused_as_cloudstacks_dispatcher_refuses_it(paging: dict, text: str) -> None:
    answer = get(lab(), command="listVPCs", **paging)
    assert answer.status_code == 431
    error = answer.get_json()["listvpcsresponse"]
    assert error["errorcode"] == 431 and text in error["errortext"]


@pytest.mark.parametrize(
    "request_params",
    [
        lambda: signed(command="listZones", secret="not-the-secret"),
        lambda: signed(command="listZones", api_key="another-key"),
        lambda: {k: v for k, v in signed(command="listZones").items() if k != "signature"},
        lambda: signed_params(
            {"command": "listZones", "response": "json"},
            KEYS.api_key,
            KEYS.secret_key,
            expires_in=timedelta(seconds=-1),
        ),
    ],
)
def test_a_request_not_signed_with_the_labs_keys_is_401(request_params) -> None:
    answer = lab().get("/client/api", query_string=request_params())
    assert answer.status_code == 401
    assert answer.get_json() == {
        "listzonesresponse": {
            "uuidList": [],
            "errorcode": 401,
            "errortext": "unable to verify user credentials and/or request signature",
        }
    }


def test_other_commands_are_432_once_signed_and_401_before() -> None:
    answer = get(lab(), command="deployVirtualMachine", zoneid="zone-1")
    assert answer.status_code == 432
    assert answer.get_json() == {
        "errorresponse": {
            "uuidList": [],
            "errorcode": 432,
            "cserrorcode": 9999,
            "errortext": "The given command does not exist or it is not available for user",
        }
    }
    unsigned = lab().get("/client/api", query_string={"command": "deployVirtualMachine", "response": "json"})
    assert unsigned.status_code == 401


def test_a_form_post_is_answered_like_a_get() -> None:
    answer = lab().post("/client/api", data=signed(command="listVPCs"))
    assert answer.status_code == 200
    assert answer.get_json()["listvpcsresponse"]["vpc"][0]["id"] == "vpc-1"


def test_json_only_and_only_on_the_api_path() -> None:
    client = lab()
    xml = client.get("/client/api", query_string=signed(command="listVPCs", response="xml"))
    assert xml.status_code == 431
    assert client.get("/client/other").status_code == 404
    put = client.put("/client/api", data=signed(command="listVPCs"))
    assert put.status_code == 405 and put.headers["Allow"] == "GET, POST"


def test_data_that_cannot_be_built_is_530_with_the_reason() -> None:
    def broken() -> dict:
        raise RuntimeError("topology file unreadable")

    answer = Client(LabCloudStackApi(broken, KEYS)).get(
        "/client/api", query_string=signed(command="listZones")
    )
    assert answer.status_code == 530
    assert "topology file unreadable" in answer.get_json()["listzonesresponse"]["errortext"]


def test_the_key_pair_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cloudstack-api.json"
    made = ensure_credentials(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (
        len(made.api_key) == len(made.secret_key) == 86
    )  # as CloudStack's: 64 random bytes, URL-safe base64
    again = ensure_credentials(path, url="http://127.0.0.1:3080/client/api")
    assert again == made
    assert '"url": "http://127.0.0.1:3080/client/api"' in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

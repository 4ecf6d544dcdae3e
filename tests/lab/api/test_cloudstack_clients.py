"""CloudStack's own clients, unchanged, against the local stack's /client/api (issue 13's acceptance):
the ``cs`` package from PyPI and Apache libcloud's CloudStack driver (pinned in requirements-dev.txt).
cmk is a Go binary that is not installable here: tests/unit/facade checks listApis as its sync reads it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cs import CloudStack, CloudStackApiException
from libcloud.common.types import InvalidCredsError, ProviderError
from libcloud.compute.drivers.cloudstack import CloudStackNodeDriver

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"


def credentials(stack: dict, name: str) -> dict[str, str]:
    [account] = [account for account in stack["accounts"] if account["name"] == name]
    return account["cloudstack"]


def uuid_of(stack: dict, vm_name: str) -> str:
    return next(vm["id"] for vm in stack["systemvms"] if vm["name"] == vm_name)


def cs_client(stack: dict, name: str, **options: object) -> CloudStack:
    keys = credentials(stack, name)
    return CloudStack(
        endpoint=keys["endpoint"], key=keys["apiKey"], secret=keys["secretKey"], poll_interval=0.3, **options
    )


def libcloud_driver(stack: dict, name: str) -> CloudStackNodeDriver:
    keys = credentials(stack, name)
    driver = CloudStackNodeDriver(
        key=keys["apiKey"], secret=keys["secretKey"], secure=False, url=keys["endpoint"]
    )
    driver.connection.poll_interval = 0.3  # libcloud waits 1 s between polls by default
    return driver


def test_local_status_gives_each_demo_account_its_cloudstack_keys(local_stack: dict) -> None:
    for account in local_stack["accounts"]:
        keys = account["cloudstack"]
        assert keys["endpoint"] == f"{local_stack['apiUrl']}/client/api"
        assert keys["apiKey"] and keys["secretKey"] and keys["apiKey"] != keys["secretKey"]


def test_cs_runs_diagnostics_and_polls_the_job_to_its_result(local_stack: dict) -> None:
    client = cs_client(local_stack, "alice", fetch_result=True)
    result = client.runDiagnostics(
        targetid=uuid_of(local_stack, "r-4-VM"), ipaddress=WEB, type="ping", params="-c 1 -W 2"
    )
    assert "0% packet loss" in result["diagnostics"]["stdout"], result
    assert result["diagnostics"]["exitcode"] == "0"
    assert result["sysvmdiag"]["success"] is True and result["sysvmdiag"]["result"]["tool"] == "ping"


def test_cs_raises_its_api_exception_with_the_reason_for_a_refused_request(local_stack: dict) -> None:
    client = cs_client(local_stack, "alice", fetch_result=True)
    with pytest.raises(CloudStackApiException) as refused:
        client.runDiagnostics(targetid=uuid_of(local_stack, "s-1-VM"), ipaddress=WEB, type="ping")
    assert refused.value.error["errorcode"] == 531
    assert refused.value.error["errortext"]


def test_cs_lists_only_the_callers_routers(local_stack: dict) -> None:
    routers = cs_client(local_stack, "alice").listRouters(fetch_list=True)
    names = {router["name"] for router in routers}
    assert "r-4-VM" in names and "r-9-VM" not in names
    assert all("linklocalip" not in router for router in routers)


def test_cs_with_a_wrong_secret_or_an_expired_signature_is_refused(local_stack: dict) -> None:
    keys = credentials(local_stack, "alice")
    wrong = CloudStack(endpoint=keys["endpoint"], key=keys["apiKey"], secret="not-" + keys["secretKey"])
    with pytest.raises(CloudStackApiException) as refused:
        wrong.listApis()
    assert refused.value.error["errorcode"] == 401
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    with pytest.raises(CloudStackApiException) as expired:
        cs_client(local_stack, "alice").listApis(signatureVersion="3", expires=past)
    assert expired.value.error["errorcode"] == 401


def test_cs_list_apis_names_the_commands(local_stack: dict) -> None:
    apis = cs_client(local_stack, "bob").listApis()["api"]
    assert {"runDiagnostics", "queryAsyncJobResult", "listRouters", "listSystemVms"} <= {
        a["name"] for a in apis
    }


def test_libcloud_runs_diagnostics_through_its_async_request_path(local_stack: dict) -> None:
    driver = libcloud_driver(local_stack, "alice")
    result = driver._async_request(
        command="runDiagnostics",
        params={
            "targetid": uuid_of(local_stack, "r-4-VM"),
            "ipaddress": WEB,
            "type": "ping",
            "params": "-c 1",
        },
        method="GET",
    )
    assert "0% packet loss" in result["diagnostics"]["stdout"], result


def test_libcloud_raises_its_provider_error_with_the_reason_for_a_refused_request(local_stack: dict) -> None:
    driver = libcloud_driver(local_stack, "alice")
    with pytest.raises(ProviderError) as refused:
        driver._async_request(
            command="runDiagnostics",
            params={"targetid": uuid_of(local_stack, "s-1-VM"), "ipaddress": WEB, "type": "ping"},
            method="GET",
        )
    assert refused.value.http_code == 531 and refused.value.value


def test_libcloud_with_a_wrong_secret_is_refused(local_stack: dict) -> None:
    keys = credentials(local_stack, "alice")
    driver = CloudStackNodeDriver(
        key=keys["apiKey"], secret="wrong-" + keys["secretKey"], secure=False, url=keys["endpoint"]
    )
    with pytest.raises(InvalidCredsError):
        driver._sync_request(command="listApis", method="GET")


def test_cs_gets_diagnostics_data_and_downloads_the_bundle(local_stack: dict) -> None:
    """getDiagnosticsData as cs sends it (an async command): the job's result is the bundle's URL."""
    client = cs_client(local_stack, "alice", fetch_result=True)
    result = client.getDiagnosticsData(targetid=uuid_of(local_stack, "r-4-VM"), files="IFCONFIG,ROUTE")
    url = result["diagnostics"]["url"]
    assert result["sysvmdiag"]["scoped"] is True and result["sysvmdiag"]["parts"] == [
        "addresses",
        "routes",
        "rules",
    ]
    bundle = requests.get(url, timeout=30)
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert {"addresses.json", "routes.json", "rules.json"} <= set(archive.namelist())
    with pytest.raises(CloudStackApiException) as refused:
        client.getDiagnosticsData(targetid=uuid_of(local_stack, "r-4-VM"), files="IPTABLES")
    assert refused.value.error["errorcode"] == 531

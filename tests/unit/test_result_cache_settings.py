"""RESULT_CACHE_SECONDS: off unless set, bounded, the template's parameter in step with the setting, and
on (60 s) in the local stack unless the environment says otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from sysvmdiag.config import MAX_RESULT_CACHE_SECONDS, Settings, SettingsError
from sysvmdiag.local import server

REPO = Path(__file__).resolve().parents[2]
TABLES = {"TOPOLOGY_TABLE": "top", "ACCOUNTS_TABLE": "acc"}


@pytest.fixture
def saved_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_the_cache_is_off_unless_set_and_bounded() -> None:
    assert Settings.from_env(TABLES).result_cache_seconds == 0
    assert Settings.from_env({**TABLES, "RESULT_CACHE_SECONDS": "300"}).result_cache_seconds == 300
    for bad in ("301", "-1", "1.5", "soon"):
        with pytest.raises(SettingsError, match="RESULT_CACHE_SECONDS"):
            Settings.from_env({**TABLES, "RESULT_CACHE_SECONDS": bad})


def test_the_template_passes_its_parameter_to_the_api_function_only() -> None:
    template: dict[str, Any] = cfn_yaml.load(str(REPO / "template.yaml"))
    parameter = template["Parameters"]["ResultCacheSeconds"]
    assert (parameter["Type"], int(parameter["Default"]), int(parameter["MinValue"])) == ("Number", 0, 0)
    assert int(parameter["MaxValue"]) == MAX_RESULT_CACHE_SECONDS
    given = {
        name: resource["Properties"].get("Environment", {}).get("Variables", {}).get("RESULT_CACHE_SECONDS")
        for name, resource in template["Resources"].items()
        if str(resource["Type"]) == "AWS::Serverless::Function"
    }
    assert {name: str(value) for name, value in given.items() if value is not None} == {
        "ApiFunction": str({"Ref": "ResultCacheSeconds"})
    }


def test_the_local_stack_turns_the_cache_on_unless_told_otherwise(saved_environment: None) -> None:
    os.environ.pop("RESULT_CACHE_SECONDS", None)
    server.configure_environment("http://127.0.0.1:1")
    assert os.environ["RESULT_CACHE_SECONDS"] == str(server.LOCAL_RESULT_CACHE_SECONDS) == "60"
    os.environ["RESULT_CACHE_SECONDS"] = "0"
    server.configure_environment("http://127.0.0.1:1")
    assert os.environ["RESULT_CACHE_SECONDS"] == "0"


def test_in_process_callers_get_the_running_stack_s_setting(saved_environment: None) -> None:
    os.environ.pop("RESULT_CACHE_SECONDS", None)
    status = {
        "awsEndpointUrl": "http://127.0.0.1:1",
        "jobsQueueUrl": "q",
        "jobsDeadLetterQueueUrl": "dlq",
        "resultsTopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "resultCacheSeconds": 5,
    }
    server.configure_from_status(status)
    assert os.environ["RESULT_CACHE_SECONDS"] == "5"

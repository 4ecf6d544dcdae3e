"""The typed results (sysvmdiag.results): what the parsers return, what the API documents, what loads back."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from functions.api import app as api_app
from sysvmdiag.jobs import Job
from sysvmdiag.models import DiagnosticResult
from sysvmdiag.parsers import PARSERS, parse_output
from sysvmdiag.results import (
    PARSED_RESULT,
    RESULT_TYPES,
    ArpingResult,
    MtrHop,
    MtrResult,
    NdiscResult,
    PingResult,
    PmtuResult,
    TracerouteResult,
    load_result,
)
from sysvmdiag.verdicts import CauseCode
from tests.conftest import GOLDEN_OUTPUTS, result_from_capture
from tests.unit.parsers.wire import job_doc

OUTPUTS = GOLDEN_OUTPUTS
FIXTURE_NAMES = sorted(path.stem for path in OUTPUTS.glob("*.json"))
TYPES = {
    "ping": PingResult,
    "traceroute": TracerouteResult,
    "arping": ArpingResult,
    "mtr": MtrResult,
    "pmtu": PmtuResult,
    "ndisc": NdiscResult,
}
SCHEMA_NAMES = {tool: model.__name__ for tool, model in TYPES.items()}
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((OUTPUTS / f"{name}.json").read_text())


def diagnostic(name: str) -> DiagnosticResult:
    return result_from_capture(name, at=NOW)


def answer(name: str) -> dict[str, Any]:
    """The API's JSON answer for a captured run."""
    return json.loads(diagnostic(name).model_dump_json(by_alias=True))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_each_parser_returns_its_tools_model_and_it_round_trips(name: str) -> None:
    record = fixture(name)
    result = parse_output(record["tool"], record["stdout"], record["stderr"], record["exit_code"])
    assert type(result) is TYPES[record["tool"]]
    assert PARSED_RESULT.validate_json(result.model_dump_json()) == result


def test_every_result_type_is_listed() -> None:
    assert RESULT_TYPES == TYPES and set(PARSERS) == set(TYPES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_a_stored_job_loads_back_with_its_typed_result(name: str) -> None:
    job = Job.model_validate_json(job_doc(answer(name)))
    assert job.result == diagnostic(name)


def test_results_stored_without_a_tool_take_it_from_the_run_type() -> None:
    stored = answer("traceroute_v4")
    del stored["result"]["tool"]
    job = Job.model_validate_json(job_doc(stored))
    assert job.result is not None
    assert isinstance(job.result.result, TracerouteResult)
    assert job.result.result.reached is True and len(job.result.result.hops) == 3


@pytest.mark.parametrize(
    "name", ["ping_v4_ok", "traceroute_v4", "arping_ok", "mtr_v4_ok", "pmtu_drop", "ndisc_ok"]
)
@pytest.mark.parametrize("stored", [{}, None])
def test_empty_or_missing_results_load_as_empty_results_of_the_run_type(
    name: str, stored: dict[str, Any] | None
) -> None:
    body = answer(name)
    if stored is None:
        del body["result"]
    else:
        body["result"] = stored
    job = Job.model_validate_json(job_doc(body))
    assert job.result is not None and job.result.result == TYPES[body["type"]]()


def test_load_result_fills_the_tool_and_keeps_one_already_there() -> None:
    assert isinstance(load_result({"transmitted": 2}, "ping"), PingResult)
    assert isinstance(load_result(None, "arping"), ArpingResult)
    assert isinstance(load_result({"tool": "traceroute"}, "ping"), TracerouteResult)
    for tool, model in TYPES.items():
        assert load_result(None, tool) == model()
    assert load_result({"hops": [{"hop": 2}]}, "mtr") == MtrResult(hops=[MtrHop(hop=2)])


def test_only_the_path_tracers_end_short_and_only_when_they_did_not_reach() -> None:
    # mtr and tracepath exit 0 either way; ping, arping and ndisc6 say it with their exit status.
    assert not PingResult().ended_short
    assert not ArpingResult().ended_short
    assert not NdiscResult(responded=False).ended_short
    for model in (TracerouteResult, MtrResult, PmtuResult):
        assert not model(reached=True).ended_short
        assert model(reached=False).ended_short


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_a_parser_bug_still_gives_a_whole_result_of_its_tool(
    tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(stdout: str, stderr: str, exit_code: int | None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(PARSERS, tool, broken)
    result = parse_output(tool, "x", "", 0)
    assert type(result) is TYPES[tool]
    assert result.parse_error == f"{tool} output could not be parsed: RuntimeError('boom')"


# --- the OpenAPI document ----------------------------------------------------------------------------

DOCUMENT = json.loads(
    api_app.app.get_openapi_json_schema(title=api_app.TITLE, description=api_app.DESCRIPTION)
)
SCHEMAS = DOCUMENT["components"]["schemas"]


def test_the_document_shows_the_result_as_a_union_told_apart_by_tool() -> None:
    result = SCHEMAS["DiagnosticResult"]["properties"]["result"]
    assert result["discriminator"]["propertyName"] == "tool"
    assert set(result["discriminator"]["mapping"]) == set(TYPES)
    assert "result" in SCHEMAS["DiagnosticResult"]["required"]
    for tool, name in SCHEMA_NAMES.items():
        assert SCHEMAS[name]["properties"]["tool"]["const"] == tool
        assert "parse_error" in SCHEMAS[name]["required"]
    assert SCHEMAS["TracerouteHop"]["properties"]["probes"]["items"] == {
        "$ref": "#/components/schemas/TracerouteProbe"
    }
    for name, item in (("MtrResult", "MtrHop"), ("PmtuResult", "PmtuHop")):
        assert SCHEMAS[name]["properties"]["hops"]["items"] == {"$ref": f"#/components/schemas/{item}"}
    assert SCHEMAS["PmtuResult"]["properties"]["drops"]["items"] == {"$ref": "#/components/schemas/PmtuDrop"}
    assert set(SCHEMAS["MtrHop"]["required"]) == set(MtrHop.model_fields)


def test_the_document_shows_the_verdict_and_its_causes() -> None:
    answer = SCHEMAS["DiagnosticResult"]
    assert {"verdict", "cause"} <= set(answer["required"])
    assert set(SCHEMAS["Verdict"]["enum"]) == {"reachable", "partial", "unreachable", "undetermined"}
    assert answer["properties"]["cause"]["items"] == {"$ref": "#/components/schemas/Cause"}
    assert set(SCHEMAS["CauseCode"]["enum"]) == {code.value for code in CauseCode}


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_captured_answer_conforms_to_the_document(name: str) -> None:
    body = json.loads(diagnostic(name).model_dump_json(by_alias=True))
    schema = {"$ref": "#/components/schemas/DiagnosticResult", "components": DOCUMENT["components"]}
    jsonschema.validate(body, schema)
    for other in set(TYPES) - {body["type"]}:  # the tool picks exactly one shape
        wrong = {**body, "result": {**body["result"], "tool": other}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def test_importing_the_api_models_does_not_import_boto3() -> None:
    code = (
        "import sys, sysvmdiag.models, sysvmdiag.results, sysvmdiag.summaries\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'jc')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_audit_record_keeps_its_import_path() -> None:
    from sysvmdiag.audit import AuditRecord as FromStore
    from sysvmdiag.audit_record import AuditRecord

    assert FromStore is AuditRecord

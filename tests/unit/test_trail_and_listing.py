"""The audit trail's reads, the listing, the null objects and the error catalogue, on fakes."""

from __future__ import annotations

import pytest

from sysvmdiag.errors import CATALOGUE, ErrorCode, Outcome, ServiceError, Source, markdown_table
from sysvmdiag.jobs import JobStatus
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.pipeline.ports import LogOnlyAudit, NoJobs, NoLimits, NoQueue
from sysvmdiag.policy.reasons import ReasonCode
from sysvmdiag.runner.errors import RunnerErrorCode
from tests.unit.conftest import World, caller

WEB = "198.51.100.80"


def test_admins_page_through_the_trail_and_others_may_not(world: World) -> None:
    service = world.service()
    service.submit(
        caller("alice"), DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address=WEB), world.origin()
    )
    records, token = service.audit_page(caller("admin"), account_id="acct-alice")
    assert [r.id for r in records] == ["req-1"] and token is None
    with pytest.raises(ServiceError) as refused:
        service.audit_page(caller("acme-admin"))
    assert refused.value.code is ErrorCode.AUDIT_ADMIN_ONLY and refused.value.status == 403
    with pytest.raises(ServiceError) as bad:
        service.audit_page(caller("admin"), next_token="bad")
    assert bad.value.code is ErrorCode.INVALID_AUDIT_QUERY


def test_without_an_audit_table_records_are_logged_and_the_trail_is_unavailable(world: World) -> None:
    service = world.service(audit=None)
    service.submit(
        caller("alice"), DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address=WEB), world.origin()
    )
    with pytest.raises(ServiceError) as raised:
        service.audit_page(caller("admin"))
    assert raised.value.code is ErrorCode.AUDIT_UNAVAILABLE and raised.value.status == 503


def test_the_null_objects_do_what_a_deployment_without_the_part_expects() -> None:
    assert not NoJobs.available and NoJobs().get("x") is None and NoJobs().overdue(None) == []  # type: ignore[arg-type]
    assert NoJobs().transition(None, JobStatus.FAILED) is None  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="JOBS_TABLE"):
        NoJobs().create(None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="JOBS_QUEUE_URL"):
        NoQueue().send("job")
    limits = NoLimits()
    for call in (limits.count_request, limits.release_account_slot, limits.release_vm_slot):
        assert call("a", 1) is None  # type: ignore[arg-type]
    assert (
        limits.acquire_account_slot("a", "h", 1, 1.0, 1.0) is None
        and limits.acquire_vm_slot("v", "h", 1, 1.0, 1.0) is None
    )
    assert LogOnlyAudit().complete(_record(), status="failed").status == "failed"


def _record():
    from datetime import UTC, datetime

    from sysvmdiag.audit_record import AuditRecord

    return AuditRecord(id="r", at=datetime.now(UTC), account_id="a", role="user", decision="allowed")


@pytest.mark.parametrize(
    ("who", "vms", "interfaces"),
    [
        ("admin", 8, {"r-11-VM": {"eth0", "eth1", "eth2", "eth3"}}),
        ("dave", 1, {"r-11-VM": {"eth0", "eth2"}}),
        ("alice", 3, {"r-4-VM": {"eth0", "eth2"}, "r-7-VM": {"eth1", "eth2", "eth3", "eth4", "vpn0"}}),
        ("bob", 0, {}),
    ],
)
def test_the_listing_shows_what_the_caller_may_see(
    world: World, who: str, vms: int, interfaces: dict
) -> None:
    listing = world.service().list_targets(caller(who))
    assert listing.count == vms == len(listing.systemvms)
    shown = {vm.name: {i.name for i in vm.interfaces} for vm in listing.systemvms}
    for name, expected in interfaces.items():
        assert shown[name] == expected


def test_every_code_has_one_entry_and_each_source_derives_from_the_catalogue() -> None:
    assert set(CATALOGUE) == set(ErrorCode)
    assert {c.value for c in ReasonCode} == {c.value for c in ErrorCode if c.spec.source is Source.POLICY}
    assert {c.value for c in RunnerErrorCode} == {
        c.value for c in ErrorCode if c.spec.source is Source.RUNNER
    }
    limits = {c.value for c in ErrorCode if c.spec.source is Source.LIMITS}
    assert limits == {"RATE_LIMITED", "TOO_MANY_JOBS", "VM_BUSY"}
    for code in ReasonCode:
        assert (
            code.http_status == ErrorCode(code.value).status
            and code.sentence == ErrorCode(code.value).sentence
        )
    table = markdown_table()
    for code, spec in CATALOGUE.items():
        assert f"| `{code.value}` | {int(spec.status)} | {spec.outcome.value} |" in table
        assert spec.sentence.endswith(".")
    assert all(
        spec.outcome is Outcome.FAILED for c, spec in CATALOGUE.items() if spec.source is Source.RUNNER
    )


def test_a_code_outside_the_catalogue_cannot_be_raised() -> None:
    with pytest.raises(ValueError):
        ServiceError("NOT_A_CODE", "made up")
    err = ServiceError(ErrorCode.VM_BUSY, "busy", retry_after=3, detail_code="VM_BUSY", detail="busy")
    assert (err.status, err.headers(), err.detail_code, err.detail) == (429, {"Retry-After": "3"}, None, None)

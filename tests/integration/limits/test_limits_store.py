"""LimitStore against moto's real server: rate windows, leases, release, expiry and a real race."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from sysvmdiag.errors import ServiceError
from sysvmdiag.limits import (
    DEFAULT_ACCOUNT_LIMITS,
    AccountLimits,
    LimitExceeded,
    LimitStore,
    WindowCount,
)
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.topology.model import Role


@pytest.fixture
def limits(limits_table: Any, clock: Any) -> LimitStore:
    return LimitStore(limits_table, clock=clock)


# -- requests per minute ------------------------------------------------------------------------------


def test_rate_window_refuses_the_request_over_the_limit(limits: LimitStore, clock: Any) -> None:
    window_start = 1_699_999_980  # a multiple of 60: a minute starts here
    clock.now = window_start + 15.2
    for _ in range(3):
        limits.count_request("acct-1", per_minute=3)
    with pytest.raises(LimitExceeded) as refused:
        limits.count_request("acct-1", per_minute=3)
    assert refused.value.code == "RATE_LIMITED"
    assert refused.value.retry_after == 45  # ceil(60 - 15.2): the window's end
    assert "3 requests allowed per minute" in refused.value.message
    assert "retry in 45 s" in refused.value.message
    # the refused request was not counted, and other accounts have their own window
    item = limits.table.get_item(Key={"pk": "RATE#acct-1", "sk": str(window_start)})["Item"]
    assert item["count"] == 3
    assert item["expires_at"] > window_start + 60
    limits.count_request("acct-2", per_minute=3)


def test_a_source_without_a_caller_has_its_own_minute_in_the_table(limits: LimitStore, clock: Any) -> None:
    window_start = 1_700_000_100
    clock.now = window_start + 1
    leases = Leases(limits, {**DEFAULT_ACCOUNT_LIMITS, Role.USER: AccountLimits(4, 2)})
    leases.count_source("192.0.2.7")
    leases.count_source("192.0.2.7")
    with pytest.raises(ServiceError) as refused:
        leases.count_source("192.0.2.7")
    assert (refused.value.code, refused.value.retry_after) == ("RATE_LIMITED", 59)
    item = limits.table.get_item(Key={"pk": "RATE#SOURCE#192.0.2.7", "sk": str(window_start)})["Item"]
    assert item["count"] == 2
    leases.count_source("192.0.2.8")  # another address, another minute


def test_a_new_window_allows_again(limits: LimitStore, clock: Any) -> None:
    window_start = 1_700_000_040
    clock.now = window_start + 59.9
    limits.count_request("acct-1", per_minute=1)
    with pytest.raises(LimitExceeded) as refused:
        limits.count_request("acct-1", per_minute=1)
    assert refused.value.retry_after == 1  # rounded up, never 0
    clock.now = window_start + 60.0
    limits.count_request("acct-1", per_minute=1)
    with pytest.raises(LimitExceeded):
        limits.count_request("acct-1", per_minute=1)


def test_a_count_says_how_many_the_window_holds_and_when_it_ends(limits: LimitStore, clock: Any) -> None:
    """UpdateItem's UPDATED_NEW gives the count after the increment; a read counts nothing."""
    window_start = 1_700_000_160
    clock.now = window_start + 20.5
    assert limits.read_window("acct-1") == WindowCount(0, window_start + 60, 40)  # no item yet
    assert limits.count_request("acct-1", per_minute=3) == WindowCount(1, window_start + 60, 40)
    clock.now = window_start + 59.2
    assert limits.count_request("acct-1", per_minute=3) == WindowCount(2, window_start + 60, 1)
    assert limits.read_window("acct-1") == WindowCount(2, window_start + 60, 1)
    assert limits.read_window("acct-1").count == 2  # reading twice spent nothing
    assert limits.count_request("acct-2", per_minute=3).count == 1  # its own window
    clock.now = window_start + 60
    assert limits.read_window("acct-1") == WindowCount(0, window_start + 120, 60)  # a fresh minute


def test_the_held_account_slots_are_read_as_the_use_leases_report(limits: LimitStore, clock: Any) -> None:
    clock.now = 1_700_000_000
    leases = Leases(limits, {**DEFAULT_ACCOUNT_LIMITS, Role.USER: AccountLimits(4, 2)})
    limits.acquire_account_slot("acct-1", "job-1", limit=4, lease_seconds=30)
    limits.acquire_account_slot("acct-1", "job-2", limit=4, lease_seconds=90)
    limits.count_request("acct-1", per_minute=2)
    assert leases.usage("acct-1") == (WindowCount(1, 1_700_000_040, 40), 2)
    clock.now += 31  # job-1's lease ran out: its slot is free again
    assert leases.usage("acct-1")[1] == 1


def test_a_zero_rate_limit_refuses_everything(limits: LimitStore) -> None:
    with pytest.raises(LimitExceeded) as refused:
        limits.count_request("acct-1", per_minute=0)
    assert refused.value.code == "RATE_LIMITED"


# -- concurrency leases -------------------------------------------------------------------------------


def test_account_slots_until_too_many_jobs_with_retry_after_from_earliest_lease(
    limits: LimitStore, clock: Any
) -> None:
    limits.acquire_account_slot("acct-1", "job-a", limit=3, lease_seconds=100)
    clock.advance(10)
    limits.acquire_account_slot("acct-1", "job-b", limit=3, lease_seconds=300)
    limits.acquire_account_slot("acct-1", "job-c", limit=3, lease_seconds=30)  # ends at +40, the earliest
    assert limits.in_flight_for_account("acct-1") == 3
    clock.advance(5.5)
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_account_slot("acct-1", "job-d", limit=3, lease_seconds=100)
    assert refused.value.code == "TOO_MANY_JOBS"
    assert refused.value.retry_after == 25  # ceil(40 - 15.5): job-c's lease ends first
    assert "3 diagnostics in flight" in refused.value.message
    assert limits.in_flight_for_account("acct-2") == 0  # other accounts are not touched
    limits.acquire_account_slot("acct-2", "job-d", limit=3, lease_seconds=100)


def test_vm_slots_until_vm_busy(limits: LimitStore) -> None:
    limits.acquire_vm_slot("vm-1", "run-a", limit=2, lease_seconds=60)
    limits.acquire_vm_slot("vm-1", "run-b", limit=2, lease_seconds=60)
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_vm_slot("vm-1", "run-c", limit=2, lease_seconds=60)
    assert refused.value.code == "VM_BUSY"
    assert refused.value.retry_after == 60
    assert "vm-1" in refused.value.message
    # account and VM partitions are separate, even with the same id
    assert limits.in_flight_for_account("vm-1") == 0
    assert limits.in_flight_for_vm("vm-1") == 2


def test_release_brings_in_flight_down_and_frees_the_slot(limits: LimitStore) -> None:
    limits.acquire_vm_slot("vm-1", "run-a", limit=2, lease_seconds=60)
    limits.acquire_vm_slot("vm-1", "run-b", limit=2, lease_seconds=60)
    limits.release_vm_slot("vm-1", "run-a")
    assert limits.in_flight_for_vm("vm-1") == 1
    limits.acquire_vm_slot("vm-1", "run-c", limit=2, lease_seconds=60)
    assert limits.in_flight_for_vm("vm-1") == 2
    limits.release_vm_slot("vm-1", "run-b")
    limits.release_vm_slot("vm-1", "run-c")
    assert limits.in_flight_for_vm("vm-1") == 0
    assert limits.table.scan()["Items"] == []  # released slots are deleted, not left behind


def test_double_release_and_release_of_unheld_slot_are_no_ops(limits: LimitStore) -> None:
    limits.acquire_account_slot("acct-1", "job-a", limit=2, lease_seconds=60)
    limits.acquire_account_slot("acct-1", "job-b", limit=2, lease_seconds=60)
    limits.release_account_slot("acct-1", "job-a")
    limits.release_account_slot("acct-1", "job-a")
    limits.release_account_slot("acct-1", "never-held")
    limits.release_account_slot("acct-without-slots", "job-a")
    assert limits.in_flight_for_account("acct-1") == 1  # job-b still holds its slot


def test_expired_lease_is_reusable(limits: LimitStore, clock: Any) -> None:
    """A worker that crashed without releasing gives its capacity back when its lease ends."""
    limits.acquire_account_slot("acct-1", "crashed-job", limit=1, lease_seconds=30)
    with pytest.raises(LimitExceeded):
        limits.acquire_account_slot("acct-1", "job-b", limit=1, lease_seconds=30)
    clock.advance(30.5)
    assert limits.in_flight_for_account("acct-1") == 0
    limits.acquire_account_slot("acct-1", "job-b", limit=1, lease_seconds=30)
    assert limits.in_flight_for_account("acct-1") == 1
    items = limits.table.scan()["Items"]
    assert [(item["sk"], item["holder"]) for item in items] == [("SLOT#0", "job-b")]
    # the crashed worker's late release must not free the slot job-b now holds
    limits.release_account_slot("acct-1", "crashed-job")
    assert limits.in_flight_for_account("acct-1") == 1


def test_same_holder_twice_holds_one_slot_and_renews_its_lease(limits: LimitStore, clock: Any) -> None:
    limits.acquire_account_slot("acct-1", "job-a", limit=2, lease_seconds=30)
    clock.advance(20)
    limits.acquire_account_slot("acct-1", "job-a", limit=2, lease_seconds=30)
    assert limits.in_flight_for_account("acct-1") == 1
    clock.advance(20)  # past the first lease, within the renewed one
    assert limits.in_flight_for_account("acct-1") == 1
    limits.acquire_account_slot("acct-1", "job-b", limit=2, lease_seconds=30)
    assert limits.in_flight_for_account("acct-1") == 2


def test_lease_items_carry_holder_lease_and_ttl(limits: LimitStore, clock: Any) -> None:
    limits.acquire_vm_slot("vm-1", "run-a", limit=4, lease_seconds=90)
    (item,) = limits.table.scan()["Items"]
    assert item["pk"] == "VM#vm-1"
    assert item["sk"].startswith("SLOT#")
    assert int(item["sk"].removeprefix("SLOT#")) < 4
    assert item["holder"] == "run-a"
    assert float(item["lease_until"]) == pytest.approx(clock.now + 90)
    assert int(item["expires_at"]) == pytest.approx(clock.now + 90 + 86400, abs=1)


def test_twenty_instances_race_for_five_slots(
    limits_table: Any, instance_stores: list[Any], race: Any
) -> None:
    """Separate boto3 resources, as separate Lambda instances: the conditional writes let exactly 5 in."""
    outcomes = race(
        lambda index, store: store.acquire_account_slot(
            "acct-race", f"job-{index}", limit=5, lease_seconds=60
        )
    )
    assert len(outcomes) == 20
    assert sorted(outcomes.values()).count("acquired") == 5
    assert sorted(outcomes.values()).count("TOO_MANY_JOBS") == 15
    assert instance_stores[0].in_flight_for_account("acct-race") == 5
    holders = {item["holder"] for item in limits_table.scan()["Items"]}
    assert holders == {f"job-{i}" for i, outcome in outcomes.items() if outcome == "acquired"}


def test_a_release_by_the_instance_that_acquired_costs_one_call(limits: LimitStore) -> None:
    """The acquiring instance remembers its slot key: release is one conditional DeleteItem, no Query."""
    calls: list[str] = []
    client = limits.table.meta.client
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    limits.acquire_vm_slot("vm-remember", "run-1", limit=2, lease_seconds=30)
    calls.clear()
    limits.release_vm_slot("vm-remember", "run-1")
    assert calls == ["DeleteItem"]
    assert limits.in_flight_for_vm("vm-remember") == 0


# -- Retry-After from the expected ends, not the leases ---------------------------------------------


def test_retry_after_is_the_earliest_expected_end_not_the_lease(limits: LimitStore, clock: Any) -> None:
    # a queued job: leased for its deadline (600 s queue allowance + worst case), expected in ~38 s
    limits.acquire_account_slot("acct-1", "job-a", limit=2, lease_seconds=643, expected_seconds=38)
    clock.advance(4)
    limits.acquire_account_slot("acct-1", "run-b", limit=2, lease_seconds=33, expected_seconds=28)
    item = limits.table.get_item(Key={"pk": "ACCOUNT#acct-1", "sk": "SLOT#0"})["Item"]
    assert (float(item["lease_until"]), float(item["expected_end"])) == (clock.now - 4 + 643, clock.now + 34)
    clock.advance(10.5)
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_account_slot("acct-1", "job-c", limit=2, lease_seconds=643, expected_seconds=38)
    assert refused.value.retry_after == 18  # ceil(32 - 14.5): run-b's end, not job-a's 638 s lease
    assert "retry in 18 s" in refused.value.message
    limits.release_account_slot("acct-1", "run-b")
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_account_slot("acct-1", "job-c", limit=1, lease_seconds=643, expected_seconds=38)
    assert refused.value.retry_after == 24  # ceil(38 - 14.5): job-a's expected end


def test_a_holder_past_its_expected_end_frees_any_moment(limits: LimitStore, clock: Any) -> None:
    limits.acquire_vm_slot("vm-1", "job-a", limit=1, lease_seconds=643, expected_seconds=38)
    clock.advance(100)  # the job waited in the queue longer than expected: its lease still holds
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_vm_slot("vm-1", "run-b", limit=1, lease_seconds=30, expected_seconds=25)
    assert (refused.value.code, refused.value.retry_after) == ("VM_BUSY", 1)


def test_an_expected_end_never_outlives_the_lease_and_defaults_to_it(limits: LimitStore, clock: Any) -> None:
    limits.acquire_account_slot("acct-1", "job-a", limit=2, lease_seconds=20, expected_seconds=500)
    limits.acquire_account_slot("acct-1", "job-b", limit=2, lease_seconds=90)  # no estimate: the lease
    items = limits.table.query(
        KeyConditionExpression=boto3.dynamodb.conditions.Key("pk").eq("ACCOUNT#acct-1")
    )
    ends = sorted(float(i["expected_end"]) - clock.now for i in items["Items"])
    assert ends == [20, 90]
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_account_slot("acct-1", "job-c", limit=2, lease_seconds=20)
    assert refused.value.retry_after == 20


def test_a_slot_written_before_expected_ends_existed_counts_at_its_lease(
    limits: LimitStore, clock: Any
) -> None:
    limits.table.put_item(
        Item={"pk": "VM#vm-1", "sk": "SLOT#0", "holder": "old", "lease_until": int(clock.now) + 45}
    )
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_vm_slot("vm-1", "run-b", limit=1, lease_seconds=30, expected_seconds=25)
    assert refused.value.retry_after == 45


def test_a_job_whose_run_starts_announces_its_run_s_end(limits: LimitStore, clock: Any) -> None:
    """A job waited in the queue past its estimate (Retry-After 1 for others), then its run started: the
    slot is now expected back at the run's end, and a refused caller is told that."""
    limits.acquire_account_slot("acct-1", "job-a", limit=1, lease_seconds=643, expected_seconds=38)
    clock.advance(100)
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_account_slot("acct-1", "job-b", limit=1, lease_seconds=643, expected_seconds=38)
    assert refused.value.retry_after == 1  # past its expected end: any moment
    limits.expect_account_slot_back("acct-1", "job-a", expected_seconds=33)
    clock.advance(3.5)
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_account_slot("acct-1", "job-b", limit=1, lease_seconds=643, expected_seconds=38)
    assert refused.value.retry_after == 30  # ceil(33 - 3.5): the run's end
    lease = float(limits.table.get_item(Key={"pk": "ACCOUNT#acct-1", "sk": "SLOT#0"})["Item"]["lease_until"])
    assert lease == clock.now - 103.5 + 643  # the lease, the safety expiry, is unchanged


def test_an_announced_end_stays_within_the_lease_and_needs_the_slot(limits: LimitStore, clock: Any) -> None:
    limits.acquire_account_slot("acct-1", "job-a", limit=2, lease_seconds=20, expected_seconds=10)
    limits.expect_account_slot_back("acct-1", "job-a", expected_seconds=500)
    limits.expect_account_slot_back("acct-1", "not-a-holder", expected_seconds=5)  # a no-op
    item = limits.table.get_item(Key={"pk": "ACCOUNT#acct-1", "sk": "SLOT#0"})["Item"]
    assert (item["holder"], float(item["expected_end"])) == ("job-a", clock.now + 20)
    assert limits.in_flight_for_account("acct-1") == 1

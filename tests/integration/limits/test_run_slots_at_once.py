"""A run's account and VM slots in one transaction on moto's server: one call to take both, one to give
both back, all or none when a partition is full, and the Query path only when another instance holds the
slots this one picked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from sysvmdiag.limits import LimitExceeded, LimitStore, SlotClaim, account_slots, vm_slots


@pytest.fixture
def calls(limits_table: Any) -> Iterator[Counter]:
    """The DynamoDB operations the limits table's client sends, by name."""
    counted: Counter = Counter()
    events = limits_table.meta.client.meta.events

    def count(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    events.register("before-call.dynamodb", count)
    yield counted
    events.unregister("before-call.dynamodb", count)


def run_claims(limit: int = 2, vm_limit: int = 2) -> list[SlotClaim]:
    return [SlotClaim.account("acct-1", limit), SlotClaim.vm("vm-1", vm_limit)]


def test_a_run_takes_and_gives_back_both_slots_in_one_call_each(
    limits_table: Any, clock: Any, calls: Counter
) -> None:
    limits = LimitStore(limits_table, clock=clock)
    limits.acquire_slots(run_claims(), "run-1", lease_seconds=60, expected_seconds=20)
    assert calls == Counter({"TransactWriteItems": 1})
    assert limits.in_flight_for_account("acct-1") == limits.in_flight_for_vm("vm-1") == 1
    calls.clear()
    limits.release_slots([account_slots("acct-1"), vm_slots("vm-1")], "run-1")
    assert calls == Counter({"TransactWriteItems": 1})
    assert limits.in_flight_for_account("acct-1") == limits.in_flight_for_vm("vm-1") == 0


def test_slots_another_instance_holds_are_skipped_after_one_lost_transaction(
    limits_table: Any, clock: Any, calls: Counter
) -> None:
    LimitStore(limits_table, clock=clock).acquire_slots(run_claims(), "elsewhere", lease_seconds=60)
    calls.clear()
    here = LimitStore(limits_table, clock=clock)  # knows nothing of the other's SLOT#0s
    here.acquire_slots(run_claims(), "run-2", lease_seconds=60)
    assert calls == Counter({"TransactWriteItems": 2})  # SLOT#0 lost, SLOT#1 taken
    assert here.in_flight_for_account("acct-1") == here.in_flight_for_vm("vm-1") == 2


def test_all_or_none_when_the_vm_is_full(limits_table: Any, clock: Any) -> None:
    other = LimitStore(limits_table, clock=clock)
    other.acquire_vm_slot("vm-1", "long-run", limit=1, lease_seconds=300, expected_seconds=30)
    limits = LimitStore(limits_table, clock=clock)
    with pytest.raises(LimitExceeded) as refused:
        limits.acquire_slots(run_claims(vm_limit=1), "run-3", lease_seconds=60)
    assert refused.value.code == "VM_BUSY" and refused.value.retry_after == 30
    assert limits.in_flight_for_account("acct-1") == 0  # the account slot it took is given back


def test_an_expired_slot_taken_by_another_stays_with_it_on_release(limits_table: Any, clock: Any) -> None:
    limits = LimitStore(limits_table, clock=clock)
    limits.acquire_slots(run_claims(limit=1), "slow-run", lease_seconds=30)
    clock.advance(31)  # both leases expired: another holder takes the account's one slot
    LimitStore(limits_table, clock=clock).acquire_account_slot(
        "acct-1", "next-run", limit=1, lease_seconds=30
    )
    limits.release_slots([account_slots("acct-1"), vm_slots("vm-1")], "slow-run")
    item = limits_table.get_item(Key={"pk": account_slots("acct-1"), "sk": "SLOT#0"})["Item"]
    assert item["holder"] == "next-run"
    assert limits_table.get_item(Key={"pk": vm_slots("vm-1"), "sk": "SLOT#0"}).get("Item") is None


def test_a_renewal_keeps_the_holders_slot(limits_table: Any, clock: Any, calls: Counter) -> None:
    limits = LimitStore(limits_table, clock=clock)
    limits.acquire_slots(run_claims(limit=1, vm_limit=1), "run-4", lease_seconds=30)
    clock.advance(10)
    limits.acquire_slots(run_claims(limit=1, vm_limit=1), "run-4", lease_seconds=30)
    assert limits.in_flight_for_account("acct-1") == 1 and limits.in_flight_for_vm("vm-1") == 1


def test_twenty_instances_race_for_a_vms_three_runs_and_keep_nothing_they_lose(
    limits_table: Any,
    race: Any,
) -> None:
    """Separate resources, as separate Lambda instances: each run wants an account slot (5) and a VM slot
    (3) at once; exactly 3 get both, and no loser keeps the account slot it took before the VM said no."""
    outcomes = race(
        lambda index, store: store.acquire_slots(
            run_claims(limit=5, vm_limit=3), f"run-{index}", lease_seconds=60
        )
    )
    winners = {f"run-{i}" for i, outcome in outcomes.items() if outcome == "acquired"}
    assert len(outcomes) == 20 and len(winners) == 3
    assert set(outcomes.values()) <= {"acquired", "VM_BUSY", "TOO_MANY_JOBS"}
    held = {(item["pk"], item["holder"]) for item in limits_table.scan()["Items"]}
    assert held == {(pk, run) for run in winners for pk in (account_slots("acct-1"), vm_slots("vm-1"))}

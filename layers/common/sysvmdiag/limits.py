"""Per-account and per-VM limits that hold across Lambda instances (DynamoDB conditional writes).

Every Lambda instance has its own memory, so counters live in the limits table (``pk``/``sk``, TTL
``expires_at``) and every increment is a conditional write that DynamoDB serialises:

* ``RATE#<account>`` / ``<window start epoch>``: requests counted in a fixed one-minute window
  (UpdateItem ADD, refused once the count reached the limit; the count after the increment comes back,
  so the caller can be told what is left of its minute).
* ``ACCOUNT#<account>`` / ``SLOT#<n>`` and ``VM#<vm>`` / ``SLOT#<n>``: concurrency *leases*, not bare
  counters. A slot is taken while its ``lease_until`` lies ahead, so a worker that crashes before
  releasing gives its capacity back when the lease runs out, and a failed job never leaks a slot.
  Each slot also keeps ``expected_end``, when its holder is expected to give it back (a run's end, a
  job's expected end; never after ``lease_until``). The lease is the safety expiry, the worst case; a
  refusal's Retry-After is the time until the earliest *expected* end among the held slots (at least
  1 s; a holder already past its expected end counts as freeing any moment), so a queued job's
  10-minute queue allowance does not turn into a 10-minute Retry-After.

The defaults live in :data:`DEFAULT_ACCOUNT_LIMITS` and :data:`DEFAULT_VM_CONCURRENT_RUNS` (the one
config place), overridable per account (:func:`limits_for`) and per deployment (``LIMITS_JSON``,
:func:`parse_limits`). Callers map :class:`LimitExceeded` to 429 with Retry-After.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from sysvmdiag.errors import ErrorCode
from sysvmdiag.topology.model import Role


@dataclass(frozen=True)
class AccountLimits:
    """What one account may have in flight and send per minute."""

    concurrent_jobs: int  # queued + running jobs and synchronous runs in flight
    requests_per_minute: int


# -- the one config place ------------------------------------------------------------------------------

DEFAULT_ACCOUNT_LIMITS: dict[Role, AccountLimits] = {
    Role.USER: AccountLimits(concurrent_jobs=4, requests_per_minute=30),
    Role.DOMAIN_ADMIN: AccountLimits(concurrent_jobs=8, requests_per_minute=60),
    Role.ADMIN: AccountLimits(concurrent_jobs=32, requests_per_minute=600),
}
# Below OpenSSH's MaxStartups default start (10:30:100), so a burst of runs on one VM never makes its
# sshd drop connections that other callers (or operators) open.
DEFAULT_VM_CONCURRENT_RUNS = 8

LIMITS_ENV_VAR = "LIMITS_JSON"
RATE_WINDOW_SECONDS = 60
RATE_ITEM_TTL_SECONDS = 5 * 60  # a few minutes after the window, the counter is garbage
LEASE_TTL_SECONDS = 24 * 60 * 60  # expired leases linger a day for whoever debugs, then TTL drops them
ACQUIRE_ATTEMPTS = 8  # re-Queries after lost races before giving up with a short Retry-After
# Transactions tried on slots this instance believes free, before the Query path: a run's slots are
# then one TransactWriteItems (no Query) unless another instance took the very slots picked.
AT_ONCE_ATTEMPTS = 2
REMEMBERED_LEASES = 1024  # slot keys kept per instance so a release is one DeleteItem, not a Query too

_OVERRIDE_FIELDS: dict[str, str] = {
    "concurrentJobs": "concurrent_jobs",
    "requestsPerMinute": "requests_per_minute",
}
_VM_RUNS_KEY = "vmConcurrentRuns"


def _positive_int(value: Any, where: str) -> int:
    """A limit value: a whole number >= 1 (DynamoDB hands numbers back as Decimal)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value) or value < 1:
        raise ValueError(f"{where} must be a whole number of at least 1, not {value!r}")
    return int(value)


def limits_for(role: Role, overrides: Mapping[str, Any] | None = None) -> AccountLimits:
    """The limits of an account of ``role``, with its own overrides (e.g. from its account item).

    ``overrides`` may hold ``concurrentJobs`` and ``requestsPerMinute`` (either optional, None means
    "the default"); any other key is a mistake worth hearing about, so it raises ValueError.
    """
    return _apply_overrides(DEFAULT_ACCOUNT_LIMITS[Role(role)], overrides, "account limits")


def _apply_overrides(base: AccountLimits, overrides: Mapping[str, Any] | None, where: str) -> AccountLimits:
    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise ValueError(f'{where} must be an object like {{"concurrentJobs": 4}}, not {overrides!r}')
    unknown = sorted(set(overrides) - set(_OVERRIDE_FIELDS))
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_OVERRIDE_FIELDS)}"
        )
    changes = {
        field: _positive_int(overrides[key], f"{where}.{key}")
        for key, field in _OVERRIDE_FIELDS.items()
        if overrides.get(key) is not None
    }
    return replace(base, **changes)


def parse_limits(raw: str | None) -> tuple[dict[Role, AccountLimits], int]:
    """Per-role account limits and the per-VM concurrent runs: LIMITS_JSON merged over the defaults.

    LIMITS_JSON='{"user": {"concurrentJobs": 2, "requestsPerMinute": 100}, "vmConcurrentRuns": 4}';
    role keys are the role values (user, domain_admin, admin). Unknown keys or bad values raise
    ValueError naming them, so a typo in the deployment fails loudly instead of being ignored.
    """
    by_role = dict(DEFAULT_ACCOUNT_LIMITS)
    vm_runs = DEFAULT_VM_CONCURRENT_RUNS
    raw = (raw or "").strip()
    if not raw:
        return by_role, vm_runs
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{LIMITS_ENV_VAR} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{LIMITS_ENV_VAR} must be a JSON object, not {type(config).__name__}")
    known = {role.value for role in Role} | {_VM_RUNS_KEY}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(
            f"{LIMITS_ENV_VAR}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    for role in Role:
        if role.value in config:
            where = f"{LIMITS_ENV_VAR}.{role.value}"
            by_role[role] = _apply_overrides(by_role[role], config[role.value], where)
    if config.get(_VM_RUNS_KEY) is not None:
        vm_runs = _positive_int(config[_VM_RUNS_KEY], f"{LIMITS_ENV_VAR}.{_VM_RUNS_KEY}")
    return by_role, vm_runs


@dataclass(frozen=True)
class WindowCount:
    """An account's requests in the current fixed window: what ``X-RateLimit-*`` and GET /limits report."""

    count: int  # requests counted in the window so far (after this one, when counting)
    window_end: int  # epoch seconds: the next window starts here, at 0
    reset_seconds: int  # whole seconds from now until window_end, rounded up, at least 1


def rate_window(now: float) -> tuple[int, int]:
    """The fixed one-minute window ``now`` falls in: (start, end) in epoch seconds."""
    start = int(now // RATE_WINDOW_SECONDS) * RATE_WINDOW_SECONDS
    return start, start + RATE_WINDOW_SECONDS


class LimitExceeded(Exception):
    """A request over a limit: the caller answers 429 with ``Retry-After: retry_after``."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)  # a LIMITS code of the catalogue
        self.message = message
        self.retry_after = max(1, int(retry_after))


def _seconds_until(moment: float, now: float) -> int:
    """Whole seconds from ``now`` to ``moment``, rounded up and at least 1 (a Retry-After value)."""
    return max(1, math.ceil(moment - now))


def _number(value: float) -> Decimal:
    """A float as DynamoDB takes it (boto3 refuses floats); millisecond precision is plenty."""
    return Decimal(str(round(value, 3)))


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def account_slots(account_id: str) -> str:
    """The partition of an account's job slots."""
    return f"ACCOUNT#{account_id}"


def vm_slots(vm_id: str) -> str:
    """The partition of a system VM's run slots."""
    return f"VM#{vm_id}"


@dataclass(frozen=True)
class SlotClaim:
    """One slot a holder needs: in which partition, how many it has, and how to refuse when all are held."""

    pk: str
    limit: int
    code: ErrorCode
    what: str

    @classmethod
    def account(cls, account_id: str, limit: int) -> SlotClaim:
        return cls(
            account_slots(account_id),
            limit,
            ErrorCode.TOO_MANY_JOBS,
            f"Account {account_id} already has {limit} diagnostics in flight (its limit)",
        )

    @classmethod
    def vm(cls, vm_id: str, limit: int) -> SlotClaim:
        return cls(
            vm_slots(vm_id),
            limit,
            ErrorCode.VM_BUSY,
            f"System VM {vm_id} is already running {limit} diagnostics (its limit)",
        )


@dataclass(frozen=True)
class _Slot:
    sk: str
    holder: str
    lease_until: float
    expected_end: float  # when the holder is expected to free it (<= lease_until)


def retry_after_for(held: list[_Slot], now: float) -> int:
    """Seconds until the earliest of the held slots is expected to free (each at its expected end,
    never later than its lease), rounded up and at least 1."""
    return _seconds_until(min(min(slot.expected_end, slot.lease_until) for slot in held), now)


def _slot_of(item: Mapping[str, Any]) -> _Slot:
    """A slot item as stored; one written before ``expected_end`` existed is expected at its lease."""
    lease_until = float(item.get("lease_until", 0))
    return _Slot(
        item["sk"], str(item.get("holder", "")), lease_until, float(item.get("expected_end", lease_until))
    )


def _slot_fields(holder: str, ends: tuple[float, float]) -> dict[str, Any]:
    """A lease item's fields (``ends``: lease_until, expected_end), keys aside."""
    lease_until, expected_end = ends
    return {
        "holder": holder,
        "lease_until": _number(lease_until),
        "expected_end": _number(expected_end),
        "expires_at": math.ceil(lease_until) + LEASE_TTL_SECONDS,
    }


_FREE_OR_MINE = "attribute_not_exists(pk) OR lease_until < :now OR holder = :holder"


def _put_at_once(
    table: Any, picks: list[tuple[str, str]], fields: dict[str, Any], now: float
) -> list[tuple[str, str]]:
    """Each picked slot leased (free, expired or the holder's own), all or none: [] when taken, else
    the picks another holder had (a transaction that lost for another reason loses them all)."""
    items = [
        {
            "Put": {
                "TableName": table.name,
                "Item": {"pk": pk, "sk": sk, **fields},
                "ConditionExpression": _FREE_OR_MINE,
                "ExpressionAttributeValues": {":now": _number(now), ":holder": fields["holder"]},
            }
        }
        for pk, sk in picks
    ]
    try:
        table.meta.client.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = exc.response.get("CancellationReasons") or [{"Code": "ConditionalCheckFailed"}] * len(picks)
        held = [
            pick
            for pick, why in zip(picks, reasons, strict=False)
            if why.get("Code") == "ConditionalCheckFailed"
        ]
        return held or list(picks)
    return []


def _delete_at_once(table: Any, keys: list[tuple[str, str | None]], holder: str) -> bool:
    """Each slot deleted if the holder still has it, all or none; False when one was not its own."""
    items = [
        {
            "Delete": {
                "TableName": table.name,
                "Key": {"pk": pk, "sk": sk},
                "ConditionExpression": "holder = :holder",
                "ExpressionAttributeValues": {":holder": holder},
            }
        }
        for pk, sk in keys
    ]
    try:
        table.meta.client.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        return False
    return True


def _query_slots(table: Any, pk: str) -> list[_Slot]:
    """Every slot item of the partition, strongly consistent (a lease taken a moment ago counts)."""
    slots: list[_Slot] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(pk) & Key("sk").begins_with("SLOT#"),
        "ConsistentRead": True,
    }
    while True:
        response = table.query(**kwargs)
        slots.extend(_slot_of(item) for item in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return slots
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class LimitStore:
    """Request-rate windows and concurrency leases in the limits table."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock
        # (partition, holder) -> slot key of the leases this instance took: a release here is one
        # conditional DeleteItem; a lease taken elsewhere (the API's, freed by the worker) is looked up.
        # Bounded: a job's lease taken by the API is released by the worker, never here.
        self._taken: OrderedDict[tuple[str, str], str] = OrderedDict()
        # partition -> slot keys this instance last saw held (by a lost transaction or a Query): the
        # transaction path skips them; the Query path sets them anew, so a stale hint lasts one fallback.
        self._busy: dict[str, set[str]] = {}

    # -- requests per minute -----------------------------------------------------------------------------

    def count_request(self, account_id: str, per_minute: int) -> WindowCount:
        """Count one request of the account in the current minute: the window's count after it. Over
        the minute (the window already holds ``per_minute``): LimitExceeded RATE_LIMITED, Retry-After
        until the window ends, and nothing counted."""
        now = self.clock()
        window_start, window_end = rate_window(now)
        refusal = LimitExceeded(
            ErrorCode.RATE_LIMITED,
            f"Account {account_id} sent its {per_minute} requests allowed per minute; "
            f"retry in {_seconds_until(window_end, now)} s.",
            _seconds_until(window_end, now),
        )
        if per_minute < 1:
            raise refusal
        try:
            response = self.table.update_item(
                Key={"pk": f"RATE#{account_id}", "sk": str(window_start)},
                UpdateExpression="ADD #count :one SET expires_at = :expires_at",
                ConditionExpression=Attr("count").not_exists() | Attr("count").lt(per_minute),
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": 1, ":expires_at": window_end + RATE_ITEM_TTL_SECONDS},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise refusal from None
            raise
        return WindowCount(int(response["Attributes"]["count"]), window_end, _seconds_until(window_end, now))

    def read_window(self, account_id: str) -> WindowCount:
        """The account's requests in the current minute, counting nothing (a strongly consistent read)."""
        now = self.clock()
        window_start, window_end = rate_window(now)
        key = {"pk": f"RATE#{account_id}", "sk": str(window_start)}
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
        return WindowCount(int(item.get("count", 0)), window_end, _seconds_until(window_end, now))

    # -- concurrency leases ------------------------------------------------------------------------------

    def acquire_account_slot(
        self,
        account_id: str,
        holder: str,
        limit: int,
        lease_seconds: float,
        expected_seconds: float | None = None,
    ) -> None:
        """One of the account's job slots (:meth:`acquire_slots`); TOO_MANY_JOBS when all are held."""
        self.acquire_slots([SlotClaim.account(account_id, limit)], holder, lease_seconds, expected_seconds)

    def acquire_vm_slot(
        self, vm_id: str, holder: str, limit: int, lease_seconds: float, expected_seconds: float | None = None
    ) -> None:
        """One of the VM's ``limit`` run slots (keeps a burst under its sshd's MaxStartups); VM_BUSY when all
        are held."""
        self.acquire_slots([SlotClaim.vm(vm_id, limit)], holder, lease_seconds, expected_seconds)

    def acquire_slots(
        self,
        claims: Sequence[SlotClaim],
        holder: str,
        lease_seconds: float,
        expected_seconds: float | None = None,
    ) -> None:
        """Take a slot of each claim for ``holder`` for ``lease_seconds`` (the safety expiry), expected back
        within ``expected_seconds`` (default: the lease), all or none: LimitExceeded (the first full
        claim's code) with nothing kept. Slots this instance believes free are taken in one transaction;
        only when that loses to other instances twice are the partitions read (a Query each)."""
        seconds = (lease_seconds, lease_seconds if expected_seconds is None else expected_seconds)
        if self._acquire_at_once(claims, holder, seconds):
            return
        taken: list[str] = []
        try:
            for claim in claims:
                self._acquire(claim.pk, holder, claim.limit, seconds, claim.code, claim.what)
                taken.append(claim.pk)
        except LimitExceeded:
            for pk in taken:
                self._release(pk, holder)
            raise

    def release_account_slot(self, account_id: str, holder: str) -> None:
        """Give back the holder's account slot; a no-op when it holds none (released twice, expired)."""
        self._release(account_slots(account_id), holder)

    def release_vm_slot(self, vm_id: str, holder: str) -> None:
        """Give back the holder's VM slot; a no-op when it holds none."""
        self._release(vm_slots(vm_id), holder)

    def release_slots(self, partitions: Sequence[str], holder: str) -> None:
        """Give back the holder's slot in each partition: one transaction when this instance took them all,
        else one by one (a lease that expired and was taken by another stays with it)."""
        keys = [(pk, self._taken.get((pk, holder))) for pk in partitions]
        if len(keys) > 1 and all(sk for _, sk in keys) and _delete_at_once(self.table, keys, holder):
            for pk, sk in keys:
                self._taken.pop((pk, holder), None)
                self._busy.setdefault(pk, set()).discard(str(sk))
            return
        for pk in partitions:
            self._release(pk, holder)

    def expect_account_slot_back(self, account_id: str, holder: str, expected_seconds: float) -> None:
        """The holder now expects to give its account slot back within ``expected_seconds`` (a job whose
        run just started: the run's end replaces the queue estimate), never after its lease; a no-op when
        it holds none."""
        self._expect_back(account_slots(account_id), holder, expected_seconds)

    def in_flight_for_account(self, account_id: str) -> int:
        """Live leases of the account now (for tests, status and metrics)."""
        return self._live_count(account_slots(account_id))

    def in_flight_for_vm(self, vm_id: str) -> int:
        """Live leases on the VM now."""
        return self._live_count(vm_slots(vm_id))

    def _live_count(self, pk: str) -> int:
        return sum(1 for slot in _query_slots(self.table, pk) if slot.lease_until >= self.clock())

    def _acquire(
        self, pk: str, holder: str, limit: int, seconds: tuple[float, float], code: str, what: str
    ) -> None:
        """``seconds``: the lease and the expected time the holder keeps the slot, both from now."""
        for _ in range(ACQUIRE_ATTEMPTS):
            now = self.clock()
            lease_until = now + seconds[0]
            ends = (lease_until, min(now + seconds[1], lease_until))
            slots = _query_slots(self.table, pk)
            mine = next((slot for slot in slots if slot.holder == holder), None)
            still_mine = Attr("holder").eq(holder)
            if mine is not None and self._put_slot(pk, mine.sk, holder, ends, still_mine):
                self._remember(pk, holder, mine.sk)
                return  # already held: the same slot, its lease renewed
            live = [slot for slot in slots if slot.lease_until >= now and slot.holder != holder]
            self._busy[pk] = {slot.sk for slot in live}
            if len(live) >= limit:
                retry_after = retry_after_for(live, now)
                raise LimitExceeded(code, f"{what}; retry in {retry_after} s.", retry_after)
            taken = {slot.sk for slot in live}
            free = [f"SLOT#{n}" for n in range(limit) if f"SLOT#{n}" not in taken]
            is_free = Attr("pk").not_exists() | Attr("lease_until").lt(_number(now))
            for sk in free:
                if self._put_slot(pk, sk, holder, ends, is_free):
                    self._remember(pk, holder, sk)
                    return
            # every slot we saw free was taken meanwhile by another instance: look again
        raise LimitExceeded(code, f"{what}; retry in 1 s.", 1)

    def _acquire_at_once(
        self, claims: Sequence[SlotClaim], holder: str, seconds: tuple[float, float]
    ) -> bool:
        """One TransactWriteItems over a slot per claim that this instance believes free (or its own);
        False when it knows of none free, or lost the picked slots twice (the hints are then updated)."""
        for _ in range(AT_ONCE_ATTEMPTS):
            picks = [(claim.pk, self._candidate(claim, holder)) for claim in claims]
            if any(sk is None for _, sk in picks):
                return False
            now = self.clock()
            lease_until = now + seconds[0]
            ends = (lease_until, min(now + seconds[1], lease_until))
            lost = _put_at_once(self.table, picks, _slot_fields(holder, ends), now)  # type: ignore[arg-type]
            if not lost:
                for pk, sk in picks:
                    self._remember(pk, holder, str(sk))
                return True
            for pk, sk in lost:
                self._busy.setdefault(pk, set()).add(sk)
        return False

    def _candidate(self, claim: SlotClaim, holder: str) -> str | None:
        """The holder's own slot (a renewal), else the first slot not last seen held."""
        mine = self._taken.get((claim.pk, holder))
        if mine is not None:
            return mine
        busy = self._busy.get(claim.pk, set())
        return next((f"SLOT#{n}" for n in range(claim.limit) if f"SLOT#{n}" not in busy), None)

    def _put_slot(self, pk: str, sk: str, holder: str, ends: tuple[float, float], condition: Any) -> bool:
        """Conditional PutItem of a lease (``ends``: lease_until, expected_end); False when another
        instance won the slot."""
        try:
            self.table.put_item(
                Item={"pk": pk, "sk": sk, **_slot_fields(holder, ends)}, ConditionExpression=condition
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def _expect_back(self, pk: str, holder: str, expected_seconds: float) -> None:
        now = self.clock()
        for slot in _query_slots(self.table, pk):
            if slot.holder != holder or slot.lease_until < now:
                continue
            expected_end = min(now + expected_seconds, slot.lease_until)
            try:  # conditional on the holder: a lease that expired and was taken by another stays
                self.table.update_item(
                    Key={"pk": pk, "sk": slot.sk},
                    UpdateExpression="SET expected_end = :end",
                    ConditionExpression=Attr("holder").eq(holder),
                    ExpressionAttributeValues={":end": _number(expected_end)},
                )
            except ClientError as exc:
                if not _is_conditional_failure(exc):
                    raise

    def _remember(self, pk: str, holder: str, sk: str) -> None:
        self._taken[(pk, holder)] = sk
        while len(self._taken) > REMEMBERED_LEASES:
            self._taken.popitem(last=False)

    def _release(self, pk: str, holder: str) -> None:
        known = self._taken.pop((pk, holder), None)
        slot_keys = (
            [known] if known else [slot.sk for slot in _query_slots(self.table, pk) if slot.holder == holder]
        )
        for sk in slot_keys:
            try:  # conditional on the holder: a lease that expired and was taken by another stays
                self.table.delete_item(
                    Key={"pk": pk, "sk": sk}, ConditionExpression=Attr("holder").eq(holder)
                )
            except ClientError as exc:
                if not _is_conditional_failure(exc):
                    raise

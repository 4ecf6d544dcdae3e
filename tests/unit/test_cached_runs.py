"""The opt-in result cache through the whole pipeline on fakes: who shares an answer, for how long, and that
admission (policy and the minute's count) still decides every request. The clock is moved, never slept."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import Job
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.pipeline.cached_runs import cache_key
from sysvmdiag.pipeline.service import DiagnosticsService
from tests.unit.conftest import World, caller
from tests.unit.fakes import LAB, InMemoryResultCache, captured, runner_error

WEB = "198.51.100.80"
N = 60  # RESULT_CACHE_SECONDS of these tests


def ping(
    vm: str = "r-4-VM", dest: str = WEB, params: str | None = "-c 3", cache: bool = True, **extra: object
) -> DiagnosticRequest:
    return DiagnosticRequest(target_id=vm, type="ping", ip_address=dest, params=params, cache=cache, **extra)


@pytest.fixture
def cache() -> InMemoryResultCache:
    return InMemoryResultCache()


@pytest.fixture
def service(world: World, cache: InMemoryResultCache) -> DiagnosticsService:
    return world.service(result_cache=cache, result_cache_seconds=N)


def submit(
    world: World, service: DiagnosticsService, who: str, request: DiagnosticRequest
) -> DiagnosticResult:
    answer = service.submit(caller(who), request, world.origin())
    assert isinstance(answer, DiagnosticResult)
    return answer


def test_a_repeat_within_n_seconds_is_the_stored_result_with_its_age(
    world: World, service: DiagnosticsService, cache: InMemoryResultCache
) -> None:
    first = submit(world, service, "alice", ping())
    assert (first.cached, first.cache_age_seconds) == (False, None)
    world.clock.advance(12.5)
    again = submit(world, service, "alice", ping())
    assert len(world.runner.commands) == 1  # nothing ran the second time
    assert (again.cached, again.cache_age_seconds) == (True, 12.5)
    assert again.model_dump(exclude={"cached", "cache_age_seconds"}) == first.model_dump(
        exclude={"cached", "cache_age_seconds"}
    )
    [(stored, stored_at, _)] = cache.entries.values()
    assert stored == first and stored_at == first.finished_at


def test_a_hit_takes_no_slot_and_is_audited_as_cached(world: World, service: DiagnosticsService) -> None:
    submit(world, service, "alice", ping())
    world.limiter.taken.clear()
    submit(world, service, "alice", ping())
    assert world.limiter.taken == [] and world.limiter.held() == 0
    ran, answered = world.audit.records["req-1"], world.audit.records["req-2"]
    assert (ran.cached, answered.cached) == (False, True)
    assert (answered.decision, answered.status, answered.mode) == ("allowed", "succeeded", "sync")
    assert (answered.exit_code, answered.vm_name) == (0, "r-4-VM")


def test_an_entry_answers_until_exactly_n_seconds_then_the_test_runs_again(
    world: World, service: DiagnosticsService
) -> None:
    submit(world, service, "alice", ping())
    world.clock.advance(N - 0.001)
    assert submit(world, service, "alice", ping()).cached
    world.clock.advance(0.001)  # the entry is exactly N seconds old
    fresh = submit(world, service, "alice", ping())
    assert not fresh.cached and len(world.runner.commands) == 2
    world.clock.advance(1)
    assert submit(world, service, "alice", ping()).cache_age_seconds == 1  # the new run's entry


def test_an_entry_kept_under_a_longer_setting_answers_no_longer_than_the_current_one(
    world: World, cache: InMemoryResultCache
) -> None:
    submit(world, world.service(result_cache=cache, result_cache_seconds=300), "alice", ping())
    world.clock.advance(N)
    shorter = world.service(result_cache=cache, result_cache_seconds=N)
    assert not submit(world, shorter, "alice", ping()).cached
    assert len(world.runner.commands) == 2


@pytest.mark.parametrize(
    ("who", "request_"),
    [
        ("admin", ping()),  # another account, the same VM and command
        ("alice", ping(vm="r-7-VM", dest="10.2.1.11")),  # another VM
        ("alice", ping(params="-c 2")),  # other options
        ("alice", ping(params=None)),  # the defaults are other options too
        ("alice", ping(dest="198.51.100.81")),  # another destination
        ("alice", DiagnosticRequest(target_id="r-4-VM", type="traceroute", ip_address=WEB, cache=True)),
    ],
)
def test_anything_but_the_same_decision_for_the_same_account_misses(
    world: World, service: DiagnosticsService, who: str, request_: DiagnosticRequest
) -> None:
    submit(world, service, "alice", ping())
    other = submit(world, service, who, request_)
    assert not other.cached and len(world.runner.commands) == 2


@pytest.mark.parametrize(
    "request_",
    [
        ping(params="-c3"),  # the same options, written otherwise
        ping(dest=f"::ffff:{WEB}"),  # the same destination, as an IPv4-mapped IPv6 address
        ping(vm=str(LAB.system_vm("r-4-VM").uuid)),  # the same VM, by its uuid
    ],
)
def test_requests_the_policy_decides_alike_share_the_entry(
    world: World, service: DiagnosticsService, request_: DiagnosticRequest
) -> None:
    submit(world, service, "alice", ping())
    assert submit(world, service, "alice", request_).cached
    assert len(world.runner.commands) == 1


def test_the_key_tells_every_part_apart() -> None:
    parts = ("acct-alice", "vm-1", "eth2", "ping -n -c 3 -w 7 198.51.100.80")
    key = cache_key(*parts)
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key(*parts) == key
    for i in range(len(parts)):
        changed = list(parts)
        changed[i] = (changed[i] or "") + "x"
        assert cache_key(*changed) != key
    assert cache_key("a", "bc", None, "d") != cache_key("ab", "c", None, "d")  # no part runs into the next


def test_without_cache_true_a_request_neither_reads_nor_stores(
    world: World, service: DiagnosticsService, cache: InMemoryResultCache
) -> None:
    submit(world, service, "alice", ping(cache=False))
    assert cache.entries == {} and cache.reads == 0
    submit(world, service, "alice", ping())
    assert not submit(world, service, "alice", ping(cache=False)).cached
    assert len(world.runner.commands) == 3


@pytest.mark.parametrize(("result_cache", "seconds"), [(True, 0), (False, N)])
def test_a_cache_that_is_off_answers_nothing_from_it(
    world: World, cache: InMemoryResultCache, result_cache: bool, seconds: int
) -> None:
    service = world.service(result_cache=cache if result_cache else None, result_cache_seconds=seconds)
    submit(world, service, "alice", ping())
    assert not submit(world, service, "alice", ping()).cached
    assert len(world.runner.commands) == 2 and cache.entries == {} and cache.reads == 0


@pytest.mark.parametrize(
    "request_",
    [ping(run_async=True), ping(params="-c 20 -i 2")],  # asked as a job; longer than the sync budget
    ids=["async", "long"],
)
def test_jobs_are_never_answered_from_the_cache_nor_stored(
    world: World, service: DiagnosticsService, cache: InMemoryResultCache, request_: DiagnosticRequest
) -> None:
    submit(world, service, "alice", ping())  # a fresh entry for the same VM and destination
    reads, before = cache.reads, dict(cache.entries)
    job = service.submit(caller("alice"), request_, world.origin())
    assert isinstance(job, Job) and cache.reads == reads
    done = service.process_job(job.id)
    assert done is not None and done.result is not None and not done.result.cached
    assert cache.entries == before and cache.reads == reads and len(world.runner.commands) == 2


def test_a_caller_who_lost_access_is_refused_though_an_entry_exists(
    world: World, service: DiagnosticsService, cache: InMemoryResultCache
) -> None:
    submit(world, service, "alice", ping())
    data = world.topology.topology.model_dump(mode="json")
    for network in data["networks"]:
        if network["owner"] == "acct-alice":
            network["owner"] = "acct-dave"  # alice's networks went to another account
    world.topology.topology = type(world.topology.topology).model_validate(data)
    reads = cache.reads
    with pytest.raises(ServiceError) as raised:
        service.submit(caller("alice"), ping(), world.origin())
    assert raised.value.code is ErrorCode.TARGET_NOT_FOUND
    assert cache.reads == reads and len(world.runner.commands) == 1
    assert world.audit.records["req-2"].decision == "denied"


def test_a_cached_answer_still_counts_toward_the_minute(world: World, service: DiagnosticsService) -> None:
    for _ in range(5):  # alice may send 5 a minute (TIGHT)
        submit(world, service, "alice", ping())
    with pytest.raises(ServiceError) as raised:
        service.submit(caller("alice"), ping(), world.origin())
    assert raised.value.code is ErrorCode.RATE_LIMITED
    assert len(world.runner.commands) == 1  # one run, four cached answers, one refusal
    assert [r.cached for r in world.audit.records.values()] == [False, True, True, True, True, False]


def test_a_runner_error_is_not_stored(
    world: World, service: DiagnosticsService, cache: InMemoryResultCache
) -> None:
    world.runner.outputs.append(runner_error("VM_UNREACHABLE"))
    with pytest.raises(ServiceError):
        service.submit(caller("alice"), ping(), world.origin())
    assert cache.entries == {}
    assert not submit(world, service, "alice", ping()).cached and len(world.runner.commands) == 2


def test_a_failed_test_is_a_tools_answer_and_is_stored(world: World, service: DiagnosticsService) -> None:
    world.runner.outputs.append(captured("traceroute_net_unreachable"))
    request = DiagnosticRequest(target_id="r-4-VM", type="traceroute", ip_address=WEB, cache=True)
    failed = submit(world, service, "admin", request)
    assert not failed.success
    again = submit(world, service, "admin", request)
    assert again.cached and not again.success and len(world.runner.commands) == 1


@pytest.mark.parametrize(("exit_code", "truncated"), [(None, False), (None, True)])
def test_a_run_without_an_exit_status_or_cut_short_is_not_stored(
    world: World,
    service: DiagnosticsService,
    cache: InMemoryResultCache,
    exit_code: int | None,
    truncated: bool,
) -> None:
    output = captured("ping_v4_ok")
    output.exit_code, output.truncated = exit_code, truncated
    world.runner.outputs.append(output)
    submit(world, service, "alice", ping())
    assert cache.entries == {}


def test_a_cache_outage_is_a_miss_and_never_fails_the_request(
    world: World, service: DiagnosticsService, cache: InMemoryResultCache
) -> None:
    cache.fail_with = ClientError({"Error": {"Code": "ThrottlingException"}}, "GetItem")
    first = submit(world, service, "alice", ping())
    second = submit(world, service, "alice", ping())
    assert first.success and not second.cached and len(world.runner.commands) == 2
    assert [r.status for r in world.audit.records.values()] == ["succeeded", "succeeded"]

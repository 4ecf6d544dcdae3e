"""A running job's live output on the fakes: stdout so far in the job at most once a second, the hops
parsed from its complete lines, nothing left once it ends, and never a broken run."""

from __future__ import annotations

from datetime import UTC, datetime

from sysvmdiag.jobs import Job, JobStatus
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.pipeline.live_output import LiveWriter
from tests.unit.conftest import World, caller
from tests.unit.fakes import InMemoryJobs, captured

WEB = "198.51.100.80"
TRACE = captured("traceroute_v4")
LINES = TRACE.stdout.splitlines(keepends=True)  # the header, then hops 1, 2 and 3


def traceroute_job(world: World) -> Job:
    request = DiagnosticRequest(target_id="r-4-VM", type="traceroute", ip_address=WEB, run_async=True)
    job = world.service().submit(caller("alice"), request, world.origin())
    assert isinstance(job, Job)
    return job


def test_a_running_traceroute_shows_its_hops_as_they_come(world: World) -> None:
    job = traceroute_job(world)
    world.runner.outputs.append(TRACE)
    world.runner.live_chunks = ["".join(LINES[:2]), "".join(LINES[:3]) + " 3  198.51", "".join(LINES)]
    seen: list[Job] = []

    def look() -> None:
        seen.append(world.service().job_for(caller("alice"), job.id))
        world.clock.advance(1.0)

    world.runner.during_run = look
    done = world.service().process_job(job.id)
    assert [view.status for view in seen] == [JobStatus.RUNNING] * 3
    hops = [[hop.hop for hop in view.live.result.hops] for view in seen if view.live and view.live.result]
    assert hops == [[1], [1, 2], [1, 2, 3]]  # "3  198.51" is a line still being written: not yet a hop
    assert seen[1].live is not None and seen[1].live.stdout.endswith(" 3  198.51")
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.live is None
    assert world.service().job_for(caller("alice"), job.id).live is None  # the result replaces it


def test_output_is_written_at_most_once_a_second(world: World) -> None:
    job = traceroute_job(world)
    world.runner.outputs.append(TRACE)
    world.runner.live_chunks = ["".join(LINES[: n + 1]) for n in range(len(LINES))]
    ticks = iter([0.4, 0.4, 0.4, 0.4])
    world.runner.during_run = lambda: world.clock.advance(next(ticks))
    world.service().process_job(job.id)
    assert world.jobs.live_writes == 2  # at 0 s and at 1.2 s; not at 0.4 s nor 0.8 s


def test_a_synchronous_run_writes_nothing_live(world: World) -> None:
    world.runner.live_chunks = ["PING 198.51.100.80\n"]
    world.service().submit(
        caller("alice"), DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address=WEB), world.origin()
    )
    assert world.jobs.live_writes == 0


class FailingLive(InMemoryJobs):
    def record_live(self, job_id: str, stdout: str, at: datetime) -> bool:
        raise ConnectionError("DynamoDB is down")


def test_a_failed_live_write_never_breaks_the_run() -> None:
    world = World(jobs=FailingLive())
    job = traceroute_job(world)
    world.runner.outputs.append(TRACE)
    world.runner.live_chunks = [LINES[0]]
    done = world.service().process_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED


def test_a_late_write_never_lands_on_an_ended_job() -> None:
    jobs = InMemoryJobs()
    world = World(jobs=jobs)
    job = traceroute_job(world)
    world.runner.outputs.append(TRACE)
    world.service().process_job(job.id)
    writer = LiveWriter(jobs, job.id, lambda: datetime(2026, 12, 1, tzinfo=UTC))
    writer("late output\n")
    assert jobs.live == {} and jobs.get(job.id).live is None  # type: ignore[union-attr]


def test_the_cli_shows_each_complete_line_once() -> None:
    from sysvmdiag.cli.client import live_lines

    running = {"status": "running", "live": {"stdout": "traceroute to x\n 1  203.0.113.1  0.05 ms\n 2  19"}}
    lines, shown = live_lines(running, 0)
    assert lines == ["traceroute to x", " 1  203.0.113.1  0.05 ms"]
    assert live_lines(running, shown) == ([], shown)  # " 2  19" is still being written
    later = {"status": "running", "live": {"stdout": running["live"]["stdout"] + "8.51.100.2  0.02 ms\n"}}
    assert live_lines(later, shown)[0] == [" 2  198.51.100.2  0.02 ms"]
    assert live_lines({"status": "queued", "live": None}, 0) == ([], 0)

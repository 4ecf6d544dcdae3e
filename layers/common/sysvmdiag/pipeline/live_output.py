"""A running job's live output: the worker writes stdout so far into the job at most once a second, and
a read of the job parses what the complete lines say so far (traceroute's and pmtu's hops, ping's
replies).

The writer listens on the runner's reading thread: it returns at once when the last write was under a
second ago, and a failed write is logged, never raised, so live output can only ever be late, never
break a run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sysvmdiag.jobs import Job, LiveOutput
from sysvmdiag.observability import logger
from sysvmdiag.parsers import parse_output
from sysvmdiag.pipeline.ports import JobRepository

LIVE_INTERVAL_SECONDS = 1.0


class LiveWriter:
    """``on_output`` for one job's run: stdout so far into the job record, at most once a second."""

    def __init__(
        self,
        jobs: JobRepository,
        job_id: str,
        clock: Callable[[], datetime],
        interval: float = LIVE_INTERVAL_SECONDS,
    ) -> None:
        self._jobs = jobs
        self._job_id = job_id
        self._clock = clock
        self._interval = timedelta(seconds=interval)
        self._last: datetime | None = None

    def __call__(self, stdout: str) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        try:
            self._jobs.record_live(self._job_id, stdout, now)
        except Exception:
            logger.warning("live output not written", extra={"job_id": self._job_id}, exc_info=True)


def with_live_result(job: Job) -> Job:
    """The job with what its complete output lines say so far (a line still being written is left for
    the next read, so a hop is never shown half-parsed)."""
    if job.live is None:
        return job
    complete = job.live.stdout[: job.live.stdout.rfind("\n") + 1]
    result = parse_output(job.type.value, complete, "", None) if complete else None
    live = LiveOutput(stdout=job.live.stdout, updated_at=job.live.updated_at, result=result)
    return job.model_copy(update={"live": live})

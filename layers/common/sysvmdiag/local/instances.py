"""Lambda functions for the local stack, run the way Lambda runs them: one event at a time per instance.

A handler module keeps per-process state (powertools' ``app.current_event``, cached services, the SSH
connection); Lambda never gives one instance two events at once, so that state is safe there. Calling
the handler from the local server's request threads would let concurrent requests see each other's
event (and caller). :class:`FunctionInstances` keeps instance processes instead, each importing the
handler once and serving one event at a time. Like Lambda it scales out: an event that finds every
instance busy starts a new one (a cold start), up to ``max_instances``; warm instances are reused, the
most recently used first, and an instance idle for ``idle_seconds`` stops. Like Lambda's proactive
initialisation, ``spare`` instances are kept initialised beyond the busy ones once the function is in
use, so a caller arriving while others hold every instance does not pay a cold start (on a two-core
machine a cold start costs seconds). At the cap an event waits for an instance (Lambda throttles).

At most ``max_starting`` instances initialise at once (default: one per two cores). Lambda bounds its
scale-out rate too; here the bound is the CPU: a burst of 100 requests once started 50 Inits together on
two cores, each then needing over a minute, and 91 of the 100 callers gave up. An event that cannot
start one waits for the first instance free, a warm one or a new one.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sysvmdiag.local.function_process import FunctionError, FunctionInstance
from sysvmdiag.local.gateway import LambdaContext
from sysvmdiag.observability import logger

# Lambda's default concurrency quota per account is 1,000; a laptop stack stops well before that.
DEFAULT_MAX_INSTANCES = 50
# Lambda keeps an idle execution environment for minutes (it does not say how long); so do we.
DEFAULT_IDLE_SECONDS = 300.0
DEFAULT_SPARE_INSTANCES = 1
MAX_INSTANCES_ENV_VAR = "SYSVMDIAG_LOCAL_MAX_INSTANCES"
IDLE_SECONDS_ENV_VAR = "SYSVMDIAG_LOCAL_IDLE_SECONDS"
MAX_STARTING_ENV_VAR = "SYSVMDIAG_LOCAL_MAX_STARTING"


def default_max_starting() -> int:
    """Inits at once per function: one per two cores (at least 1). An Init is CPU-bound imports, and
    the machine also runs moto, the VMs and the warm instances (on 2 cores, 2 at once: 99 of 100
    requests of a burst answered within 35 s; 1 at once: 100 of 100, p95 26 s)."""
    return max(1, (os.cpu_count() or 2) // 2)


class Scaling(NamedTuple):
    max_instances: int
    idle_seconds: float
    max_starting: int


def scaling_from_env(environ: Mapping[str, str]) -> Scaling:
    """Max instances per function, idle seconds before an instance stops, Inits at once."""
    names = f"{MAX_INSTANCES_ENV_VAR} / {IDLE_SECONDS_ENV_VAR} / {MAX_STARTING_ENV_VAR}"
    try:
        scaling = Scaling(
            int(environ.get(MAX_INSTANCES_ENV_VAR) or DEFAULT_MAX_INSTANCES),
            float(environ.get(IDLE_SECONDS_ENV_VAR) or DEFAULT_IDLE_SECONDS),
            int(environ.get(MAX_STARTING_ENV_VAR) or default_max_starting()),
        )
    except ValueError as err:
        raise ValueError(f"{names}: {err}") from err
    if scaling.max_instances < 1 or not scaling.idle_seconds > 0 or scaling.max_starting < 1:
        raise ValueError(
            f"{MAX_INSTANCES_ENV_VAR} and {MAX_STARTING_ENV_VAR} must be at least 1 and "
            f"{IDLE_SECONDS_ENV_VAR} more than 0 (got {scaling.max_instances}, {scaling.max_starting} "
            f"and {scaling.idle_seconds})"
        )
    return scaling


class FunctionInstances:
    """``handler(event, context)`` run in one of up to ``max_instances`` instance processes."""

    def __init__(
        self,
        target: str,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        *,
        spare: int = DEFAULT_SPARE_INSTANCES,
        max_starting: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        start_instance: Callable[[str], FunctionInstance] | None = None,
    ) -> None:
        if max_instances < 1:
            raise ValueError(f"max_instances must be at least 1, not {max_instances}")
        self.target = target
        self.max_instances = max_instances
        self.idle_seconds = idle_seconds
        self.spare = spare
        self.max_starting = max_starting or default_max_starting()
        self._clock = clock
        # spawn, not fork: the server has threads (moto, HTTP), which a forked child would inherit broken.
        self._start = start_instance or _spawner(multiprocessing.get_context("spawn"))
        self._changed = threading.Condition()
        self._idle: list[tuple[FunctionInstance, float]] = []  # (instance, idle since), oldest first
        self._live: set[FunctionInstance] = set()
        self._starting = 0  # cold starts under way, for an event or as a spare
        self._spares_starting = 0
        self._waiting = 0  # events waiting for an instance (at the cap, or Inits at max_starting)
        self._closed = False
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None

    def stats(self) -> dict[str, int]:
        """Instances serving an event, idle (initialised), and starting; events waiting; and the cap."""
        with self._changed:
            idle, live = len(self._idle), len(self._live)
            return {
                "busy": live - idle,
                "idle": idle,
                "starting": self._starting,
                "waiting": self._waiting,
                "max": self.max_instances,
            }

    @property
    def count(self) -> int:
        """Instances alive or starting."""
        with self._changed:
            return len(self._live) + self._starting

    @property
    def busy(self) -> int:
        """Instances serving an event now."""
        return self.stats()["busy"]

    # -- invocation ---------------------------------------------------------------------------------------

    def __call__(self, event: dict, context: Any) -> Any:
        instance = self._take()
        if isinstance(context, LambdaContext):
            context = context.started_now()  # a cold start does not count toward the timeout
        try:
            result = instance.invoke(event, context)
        except FunctionError as err:  # the handler raised (instance fine), or it died or timed out
            if err.instance_survived:
                self._give_back(instance)
            else:
                self._discard(instance)
            raise
        except BaseException:
            self._discard(instance)
            raise
        self._give_back(instance)
        return result

    def _take(self) -> FunctionInstance:
        """A warm idle instance (the most recent), or a new one while below the cap, or wait for one."""
        with self._changed:
            while True:
                if self._closed:
                    raise FunctionError(f"{self.target}: the stack is stopping", instance_survived=False)
                if self._idle:
                    instance = self._idle.pop()[0]
                    self._top_up()
                    return instance
                if self._may_start():
                    self._starting += 1
                    break
                self._waiting += 1
                self._changed.wait()
                self._waiting -= 1
        instance = self._cold_start()
        with self._changed:
            self._top_up()
        return instance

    def _cold_start(self) -> FunctionInstance:
        """Start one instance (its slot already counted in ``_starting``) and count it live."""
        try:
            instance = self._start(self.target)
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()
            raise
        with self._changed:
            self._starting -= 1
            self._live.add(instance)
            self._ensure_reaper()
            self._changed.notify_all()  # a start slot is free: a waiting event may start one
        return instance

    def _may_start(self) -> bool:
        """Called with the lock held: below the cap, and fewer than ``max_starting`` Inits under way."""
        return len(self._live) + self._starting < self.max_instances and self._starting < self.max_starting

    def _give_back(self, instance: FunctionInstance) -> None:
        with self._changed:
            if not self._closed:
                self._idle.append((instance, self._clock()))
                self._changed.notify()
                return
            self._live.discard(instance)
        instance.stop()

    def _discard(self, instance: FunctionInstance) -> None:
        """An instance that died or timed out: Lambda starts a new one for the next event."""
        with self._changed:
            self._live.discard(instance)
            self._changed.notify()
        instance.stop(grace=0)

    # -- spares ------------------------------------------------------------------------------------------

    def _top_up(self) -> None:
        """Called with the lock held: start spares in the background until ``spare`` are idle or coming,
        never past the cap."""
        while not self._closed and len(self._idle) + self._spares_starting < self.spare and self._may_start():
            self._starting += 1
            self._spares_starting += 1
            threading.Thread(target=self._start_spare, name=f"spare-{self.target}", daemon=True).start()

    def _start_spare(self) -> None:
        try:
            instance = self._start(self.target)
        except Exception:
            logger.exception("local stack: a spare instance failed to start", extra={"target": self.target})
            instance = None
        with self._changed:
            self._starting -= 1
            self._spares_starting -= 1
            self._changed.notify_all()  # an instance is idle and a start slot free
            if instance is None:
                return
            if not self._closed:
                self._live.add(instance)
                self._idle.append((instance, self._clock()))
                self._ensure_reaper()
                return
        instance.stop()

    # -- scaling in --------------------------------------------------------------------------------------

    def stop_idle(self) -> int:
        """Stop every instance idle for ``idle_seconds`` or more, but the ``spare`` most recently used;
        how many stopped."""
        now = self._clock()
        with self._changed:
            keep = self._idle[len(self._idle) - self.spare :] if self.spare else []
            expired = [
                instance
                for instance, since in self._idle
                if now - since >= self.idle_seconds and (instance, since) not in keep
            ]
            self._idle = [(instance, since) for instance, since in self._idle if instance not in expired]
            self._live.difference_update(expired)
        for instance in expired:
            instance.stop()
        return len(expired)

    def _ensure_reaper(self) -> None:
        """Called with the lock held: one daemon thread per function stops idle instances."""
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name=f"reaper-{self.target}", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        period = max(0.05, min(self.idle_seconds / 4, 15.0))
        while not self._stopping.wait(period):
            self.stop_idle()

    def shutdown(self) -> None:
        """Stop every instance, busy ones too (their callers get a FunctionError)."""
        self._stopping.set()
        with self._changed:
            self._closed = True
            idle = [instance for instance, _since in self._idle]
            busy = [instance for instance in self._live if instance not in idle]
            self._live.clear()
            self._idle.clear()
            self._changed.notify_all()
        for instance in busy:
            instance.stop(grace=0)
        for instance in idle:
            instance.stop()


def _spawner(context: Any) -> Callable[[str], FunctionInstance]:
    def start(target: str) -> FunctionInstance:
        return FunctionInstance.start(target, context)

    return start

"""A run's wall-clock budget, and the watchdog that holds it where paramiko waits without a timeout.

Both take their clock and timer from the caller, so unit tests drive time by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

# How long past the budget the watchdog waits before closing a VM connection stuck in paramiko.
WATCHDOG_GRACE_SECONDS = 1.0
# Every network step gets at least this long, so a nearly spent budget still fails by timeout, not 0.
MIN_STEP_SECONDS = 0.05

Clock = Callable[[], float]


class Timer(Protocol):
    """What a started timer offers: ``threading.Timer`` in production, a hand-fired fake in tests."""

    def cancel(self) -> None: ...


StartTimer = Callable[[float, Callable[[], None]], Timer]


def start_daemon_timer(seconds: float, action: Callable[[], None]) -> threading.Timer:
    """Call ``action`` in a daemon thread after ``seconds``; a daemon never holds the process up."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


class Deadline:
    """A wall-clock budget for one run (connect + exec)."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self.started = clock()
        self.expires = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - self._clock())

    def limit_to(self, seconds: float) -> None:
        """At most ``seconds`` left from now (never more than before): a connect allowance ends."""
        self.expires = min(self.expires, self._clock() + seconds)
        self.seconds = self.expires - self.started

    def step(self, cap: float) -> float:
        """Timeout for one network step: the small connect timeout or what is left, if less."""
        return max(MIN_STEP_SECONDS, min(cap, self.remaining()))

    def elapsed_ms(self) -> int:
        return int((self._clock() - self.started) * 1000)


class Watchdog:
    """Closes what the run is blocked on once its budget (plus a grace) is spent.

    Some paramiko calls (exec_command's reply) wait without a timeout; closing what they wait on
    wakes them with an error that the run reports as TIMEOUT. The target changes as the run moves
    from connecting (its own new Transport) to its session, so a shared connection is closed only
    when the run is stuck on it in a call that no channel close can wake.
    """

    def __init__(self, seconds: float, start_timer: StartTimer = start_daemon_timer):
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._target: Callable[[], None] | None = None
        self._start_timer = start_timer
        self._timer = start_timer(seconds, self._fire)

    def reschedule(self, seconds: float) -> None:
        """Fire ``seconds`` from now instead (the run's deadline moved); nothing if it already fired."""
        with self._lock:
            if self.fired.is_set():
                return
            self._timer.cancel()
            self._timer = self._start_timer(seconds, self._fire)

    def guard(self, close: Callable[[], None] | None) -> None:
        """From now on, firing calls ``close`` (at once if the watchdog already fired)."""
        with self._lock:
            self._target = close
            fired = self.fired.is_set()
        if fired and close is not None:
            close()

    def _fire(self) -> None:
        with self._lock:
            self.fired.set()
            target = self._target
        if target is not None:
            target()

    def cancel(self) -> None:
        self._timer.cancel()

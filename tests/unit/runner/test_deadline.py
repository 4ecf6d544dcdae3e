"""Deadline and Watchdog with a hand-moved clock and hand-fired timers."""

from __future__ import annotations

import threading

from sysvmdiag.runner.deadline import MIN_STEP_SECONDS, Deadline, Watchdog, start_daemon_timer
from tests.unit.runner.fakes import FakeClock, FakeTimers


def test_a_deadline_counts_down_on_its_clock() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock)
    assert deadline.remaining() == 10
    clock.advance(2.5)
    assert deadline.remaining() == 7.5
    assert deadline.elapsed_ms() == 2500
    clock.advance(100)
    assert deadline.remaining() == 0.0


def test_a_step_is_the_cap_what_is_left_or_the_floor() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock)
    assert deadline.step(4.0) == 4.0
    clock.advance(8)
    assert deadline.step(4.0) == 2.0
    clock.advance(5)
    assert deadline.step(4.0) == MIN_STEP_SECONDS


def test_the_watchdog_closes_the_current_target_when_it_fires() -> None:
    timers = FakeTimers()
    watchdog = Watchdog(3.0, timers)
    (timer,) = timers.started
    assert timer.seconds == 3.0
    closed: list[str] = []
    watchdog.guard(lambda: closed.append("first"))
    watchdog.guard(lambda: closed.append("second"))
    timer.fire()
    assert closed == ["second"]
    assert watchdog.fired.is_set()


def test_a_target_guarded_after_firing_is_closed_at_once() -> None:
    timers = FakeTimers()
    watchdog = Watchdog(3.0, timers)
    watchdog.guard(None)
    timers.started[0].fire()  # nothing to close: only marks the run as stopped
    closed: list[str] = []
    watchdog.guard(lambda: closed.append("late"))
    watchdog.guard(None)
    assert closed == ["late"]


def test_cancel_stops_the_timer() -> None:
    timers = FakeTimers()
    Watchdog(3.0, timers).cancel()
    assert timers.started[0].cancelled


def test_the_real_timer_runs_its_action_in_a_daemon_thread() -> None:
    done = threading.Event()
    timer = start_daemon_timer(0.0, done.set)
    assert timer.daemon
    assert done.wait(10)


def test_limit_to_leaves_at_most_that_long_from_now_and_never_extends() -> None:
    clock = FakeClock()
    deadline = Deadline(14, clock)
    clock.advance(2)
    deadline.limit_to(4)
    assert (deadline.remaining(), deadline.seconds) == (4, 6)
    clock.advance(1)
    deadline.limit_to(20)  # more than is left: unchanged
    assert (deadline.remaining(), deadline.seconds) == (3, 6)


def test_a_rescheduled_watchdog_fires_on_its_new_timer_only() -> None:
    timers = FakeTimers()
    watchdog = Watchdog(15.0, timers)
    closed: list[str] = []
    watchdog.guard(lambda: closed.append("session"))
    watchdog.reschedule(5.0)
    first, second = timers.started
    assert first.cancelled and (second.seconds, second.cancelled) == (5.0, False)
    timers.fire_live()
    assert closed == ["session"] and watchdog.fired.is_set()


def test_a_watchdog_that_fired_is_not_rescheduled() -> None:
    timers = FakeTimers()
    watchdog = Watchdog(1.0, timers)
    timers.started[0].fire()
    watchdog.reschedule(5.0)
    assert len(timers.started) == 1

"""A run's session: exec once, read both streams to EOF within the cap and the deadline."""

from __future__ import annotations

import paramiko
import pytest

from sysvmdiag.runner.deadline import Deadline, Watchdog
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.session import StaleConnection, execute, open_session, trim
from tests.unit.runner.fakes import FakeChannel, FakeClock, FakeTimers, FakeTransport, wait_on_script

NAME = "the system VM r-4-VM at 169.254.1.10:3922"


class Harness:
    def __init__(self, script: list, budget: float = 10) -> None:
        self.clock = FakeClock()
        self.timers = FakeTimers()
        self.deadline = Deadline(budget, self.clock)
        self.watchdog = Watchdog(budget + 1, self.timers)
        self.channel = FakeChannel(self.clock, script)
        self.events: list[str] = []

    def run(self, cap: int = 1000):
        return execute(
            self.channel,  # type: ignore[arg-type]
            "ping -c 1 10.0.0.1",
            vm_name=NAME,
            deadline=self.deadline,
            watchdog=self.watchdog,
            output_cap=cap,
            on_hung=lambda: self.events.append("hung"),
            on_refused=lambda: self.events.append("refused"),
            wait=wait_on_script,
        )


def test_open_session_gives_the_runs_own_channel() -> None:
    transport = FakeTransport(FakeClock())
    assert open_session(transport, NAME, 2.0, retryable=True) is transport.sessions[0]  # type: ignore[arg-type]


def test_a_refused_session_is_stale_on_a_cached_connection_and_an_error_on_a_fresh_one() -> None:
    transport = FakeTransport(FakeClock())
    transport.session_errors = [paramiko.SSHException("administratively prohibited")] * 2
    with pytest.raises(StaleConnection):
        open_session(transport, NAME, 2.0, retryable=True)  # type: ignore[arg-type]
    with pytest.raises(RunnerError) as caught:
        open_session(transport, NAME, 2.0, retryable=False)  # type: ignore[arg-type]
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert (
        caught.value.message == "The system VM r-4-VM at 169.254.1.10:3922 refused the session: "
        "administratively prohibited."
    )


def test_both_streams_are_read_to_eof_with_the_exit_status() -> None:
    h = Harness([(b"PING 10.0.0.1\n", b""), 0.2, (b"1 received\n", b"warn\n"), "eof"])
    h.channel.exit_with(3)
    output = h.run()
    assert h.channel.commands == ["ping -c 1 10.0.0.1"]
    assert (output.exit_code, output.stdout, output.stderr) == (3, "PING 10.0.0.1\n1 received\n", "warn\n")
    assert not output.truncated and output.duration_ms == 200
    assert h.channel.closed, "closing the session is what stops the tool on the VM"


def test_data_left_after_eof_is_still_read() -> None:
    h = Harness(["eof"])
    h.channel.stdout += b"late"
    h.channel.exit_with(0)
    assert h.run().stdout == "late"


def test_a_closed_channel_without_status_has_no_exit_code() -> None:
    h = Harness([])
    h.channel.closed = True
    output = h.run()
    assert output.exit_code is None and output.stdout == ""
    assert h.channel.status_event.waited == [9.5]  # what is left after one poll


def test_a_negative_exit_status_is_none() -> None:
    h = Harness(["eof"])
    h.channel.exit_with(-1)
    assert h.run().exit_code is None


def test_the_exit_status_is_awaited_briefly_even_when_the_budget_is_spent() -> None:
    h = Harness([], budget=10)
    h.channel.stdout += b"x"
    h.channel.eof_received = True
    h.clock.advance(10)
    assert h.run().stdout == "x"
    assert h.channel.status_event.waited == [0.5]


def test_output_over_the_cap_is_cut_stdout_first_and_has_no_exit_code() -> None:
    h = Harness([(b"a" * 600, b"b" * 600)])
    h.channel.exit_with(0)
    output = h.run(cap=1000)
    assert output.truncated and output.exit_code is None
    assert output.stdout == "a" * 600 and output.stderr == "b" * 400
    assert h.channel.closed


def test_a_silent_tool_is_stopped_at_the_deadline() -> None:
    h = Harness([], budget=3)
    with pytest.raises(RunnerError) as caught:
        h.run()
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert caught.value.message == f"The run on {NAME} did not finish within 3 s; it was stopped."
    assert h.channel.closed and h.clock.now == 1003


def test_a_refused_exec_closes_the_session_and_reports_it() -> None:
    h = Harness([])
    h.channel.exec_error = EOFError("connection lost")
    with pytest.raises(RunnerError) as caught:
        h.run()
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert "refused the session: connection lost." in caught.value.message
    assert h.channel.closed and h.events == ["refused"]


def test_the_watchdog_guards_the_exec_with_on_hung_then_the_reading_with_the_session() -> None:
    h = Harness([(b"x", b""), "eof"])
    h.channel.on_exec = h.timers.fire_live  # the exec reply never came within the budget
    h.channel.exit_with(0)
    h.run()
    assert h.events == ["hung"]
    assert h.watchdog.fired.is_set()


def test_a_watchdog_firing_while_reading_closes_the_session_and_ends_the_read() -> None:
    h = Harness([(b"partial", b"")])

    def fire_then_wait(channel: FakeChannel, seconds: float) -> None:
        h.timers.fire_live()
        channel.deliver(seconds)

    output = execute(
        h.channel,  # type: ignore[arg-type]
        "ping",
        vm_name=NAME,
        deadline=h.deadline,
        watchdog=h.watchdog,
        output_cap=100,
        on_hung=lambda: h.events.append("hung"),
        on_refused=lambda: None,
        wait=fire_then_wait,  # type: ignore[arg-type]
    )
    assert h.events == [] and h.channel.closed
    assert output.stdout == "partial" and output.exit_code is None


def test_trim_keeps_the_cap_stdout_first() -> None:
    assert trim(bytearray(b"abc"), bytearray(b"de"), 4) == (b"abc", b"d")
    assert trim(bytearray(b"abcdef"), bytearray(b"gh"), 4) == (b"abcd", b"")


def test_data_that_arrives_with_the_eof_is_read_before_the_end() -> None:
    class LateChannel(FakeChannel):
        """stdout that lands just after the drain looked (paramiko's reader thread is that quick)."""

        late = b"late"

        def recv_ready(self) -> bool:
            if self.eof_received and self.late:
                self.stdout += self.late
                self.late = b""
                return False
            return super().recv_ready()

    h = Harness([])
    h.channel = LateChannel(h.clock, ["eof"])
    h.channel.exit_with(0)
    assert h.run().stdout == "late"

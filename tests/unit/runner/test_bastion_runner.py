"""BastionRunner composing the layers, on fake paramiko: reuse, the stale retry, the watchdog, the cache."""

from __future__ import annotations

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode, clear_runners, get_runner
from sysvmdiag.runner.deadline import WATCHDOG_GRACE_SECONDS
from sysvmdiag.runner.keys import parse_private_key
from sysvmdiag.topology.model import SshEndpoint
from tests.unit.runner.fakes import ED25519_PIN, FakeNetwork, FakeTransport

BASTION = SshEndpoint(address="192.0.2.10", port=22, user="diag", host_key=ED25519_PIN)
VM = SshEndpoint(address="169.254.1.10", port=3922, user="root", host_key=ED25519_PIN)
COMMAND = "ping -c 1 10.0.0.1"


def _answering(transport: FakeTransport) -> None:
    transport.session_script = [(b"ran\n", b""), "eof"]


def _runner(net: FakeNetwork, **options) -> BastionRunner:
    return BastionRunner(BASTION, None, plumbing=net.plumbing(), **options)  # type: ignore[arg-type]


@pytest.fixture
def net() -> FakeNetwork:
    return FakeNetwork(prepare_vm=_answering)


def _exit_all_sessions_with(transport: FakeTransport, status: int) -> None:
    real_open = transport.open_session

    def open_session(timeout: float):
        channel = real_open(timeout)
        channel.exit_with(status)
        return channel

    transport.open_session = open_session  # type: ignore[method-assign]


def test_a_run_goes_bastion_tunnel_vm_session_and_returns_the_output(net: FakeNetwork) -> None:
    net.prepare_vm = lambda t: (_answering(t), _exit_all_sessions_with(t, 3))
    runner = _runner(net)
    output = runner.run(VM, COMMAND, timeout=10, vm_label="r-4-VM")
    assert (output.exit_code, output.stdout, output.truncated) == (3, "ran\n", False)
    (bastion,), (vm,) = net.bastions, net.vms
    assert bastion.opened_channels[0][:2] == ("direct-tcpip", ("169.254.1.10", 3922))
    assert vm.is_authenticated() and vm.sessions[0].commands == [COMMAND]
    assert runner.transport is bastion and runner.connections_to(VM) == [vm]
    (watchdog,) = net.timers.started
    assert watchdog.seconds == 10 + WATCHDOG_GRACE_SECONDS and watchdog.cancelled


def test_warm_runs_reuse_the_bastion_and_the_vm_connection(net: FakeNetwork) -> None:
    runner = _runner(net)
    for _ in range(3):
        runner.run(VM, COMMAND, timeout=10)
    assert len(net.bastions) == 1 and len(net.vms) == 1 and len(net.vms[0].sessions) == 3
    assert runner.connect_attempts == 3


def test_close_drops_both_connections(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    runner.close()
    assert runner.transport is None and runner.connections_to(VM) == []
    assert not net.bastions[0].is_active() and not net.vms[0].is_active()


def test_a_stale_cached_connection_is_retried_once_on_a_fresh_one(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    (cached,) = net.vms
    cached.session_errors = [EOFError("tunnel gone")]
    assert runner.run(VM, COMMAND, timeout=10).stdout == "ran\n"
    assert len(net.vms) == 2 and runner.connections_to(VM) == [net.vms[1]]
    assert not cached.is_active(), "the stale connection is closed once its run let it go"


def test_a_fresh_connection_that_refuses_the_session_fails_the_run(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    net.vms[0].session_errors = [paramiko.SSHException("administratively prohibited")]
    net.prepare_vm = lambda t: t.session_errors.append(paramiko.SSHException("administratively prohibited"))
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, COMMAND, timeout=10)
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert "refused the session" in caught.value.message
    assert len(net.vms) == 2, "one retry, not a loop"


def test_a_stale_connection_found_when_the_budget_is_spent_is_timeout(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    net.vms[0].session_errors = [EOFError()]
    net.vms[0].session_delay = 5
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, COMMAND, timeout=5)
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert (
        caught.value.message
        == "The run on the system VM at 169.254.1.10:3922 ran out of time opening a session."
    )


def test_a_vm_connect_stopped_by_the_watchdog_is_timeout(net: FakeNetwork) -> None:
    def hang_in_handshake(transport: FakeTransport) -> None:
        def fire() -> None:
            net.timers.fire_live()  # the budget ran out in key exchange: the watchdog closes it
            assert not transport.is_active()
            raise EOFError

        transport.on_handshake = fire

    net.prepare_vm = hang_in_handshake
    with pytest.raises(RunnerError) as caught:
        _runner(net).run(VM, COMMAND, timeout=3)
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert (
        caught.value.message
        == "The run on the system VM at 169.254.1.10:3922 did not finish within 3 s; it was stopped."
    )
    assert isinstance(caught.value.__cause__, RunnerError)
    assert caught.value.__cause__.code is RunnerErrorCode.VM_UNREACHABLE


def _slow_vm_handshake(net: FakeNetwork, seconds: float, tool_seconds: float) -> None:
    """The VM's key exchange takes ``seconds``; its tool then answers after ``tool_seconds``."""

    def prepare(transport: FakeTransport) -> None:
        transport.on_handshake = lambda: net.clock.advance(seconds)
        polls = [0.5] * int(tool_seconds / 0.5)  # what each of the reader's waits (0.5 s) brings
        transport.session_script = [*polls, (b"ran\n", b""), "eof"]

    net.prepare_vm = prepare


def test_a_slow_connect_moves_the_run_s_end_back_within_the_connect_allowance(net: FakeNetwork) -> None:
    """A 3.5 s handshake then a 3 s tool, on a 4 s budget: within it once the connect has its allowance."""
    _slow_vm_handshake(net, 3.5, 3.0)
    output = _runner(net).run(VM, COMMAND, timeout=4, connect_allowance=10)
    assert output.stdout == "ran\n"
    whole, after_connect = net.timers.started
    assert (whole.seconds, whole.cancelled) == (14 + WATCHDOG_GRACE_SECONDS, True)
    assert (after_connect.seconds, after_connect.cancelled) == (4 + WATCHDOG_GRACE_SECONDS, True)


def test_without_an_allowance_the_slow_connect_leaves_the_tool_too_little(net: FakeNetwork) -> None:
    _slow_vm_handshake(net, 3.5, 3.0)
    with pytest.raises(RunnerError) as caught:
        _runner(net).run(VM, COMMAND, timeout=4)
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert len(net.timers.started) == 1


@pytest.mark.parametrize(
    ("handshake", "tool", "budget", "elapsed"),
    [
        (20, 0.5, "14", 20),  # a connect slower than the allowance: the handshake's own time, no more
        (0.5, 60, "4.5", 4.5),  # the allowance is for connecting only: a hung tool is cut 4 s after
    ],
)
def test_past_the_allowance_or_the_tool_s_budget_a_run_is_timeout(
    net: FakeNetwork, handshake: float, tool: float, budget: str, elapsed: float
) -> None:
    _slow_vm_handshake(net, handshake, tool)
    started = net.clock()
    with pytest.raises(RunnerError) as caught:
        _runner(net).run(VM, COMMAND, timeout=4, connect_allowance=10)
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert caught.value.message.endswith(f"did not finish within {budget} s; it was stopped.")
    assert net.clock() - started == elapsed


def test_a_hung_exec_abandons_the_shared_connection(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    (vm,) = net.vms
    real_open = vm.open_session

    def hanging_session(timeout: float):
        channel = real_open(timeout)
        channel.on_exec = net.timers.fire_live
        channel.exec_error = EOFError("transport closed")
        return channel

    vm.open_session = hanging_session  # type: ignore[method-assign]
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, COMMAND, timeout=2)
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert not vm.is_active() and runner.connections_to(VM) == []


def test_a_refused_exec_on_a_dead_connection_retires_it(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    (vm,) = net.vms
    real_open = vm.open_session

    def dying_session(timeout: float):
        channel = real_open(timeout)
        channel.on_exec = vm.close
        channel.exec_error = EOFError()
        return channel

    vm.open_session = dying_session  # type: ignore[method-assign]
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, COMMAND, timeout=10)
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert runner.connections_to(VM) == []


def test_a_refused_exec_on_a_live_connection_keeps_it(net: FakeNetwork) -> None:
    runner = _runner(net)
    runner.run(VM, COMMAND, timeout=10)
    (vm,) = net.vms
    real_open = vm.open_session

    def refusing(timeout: float):
        channel = real_open(timeout)
        channel.exec_error = paramiko.SSHException("exec refused")
        return channel

    vm.open_session = refusing  # type: ignore[method-assign]
    with pytest.raises(RunnerError):
        runner.run(VM, COMMAND, timeout=10)
    assert runner.connections_to(VM) == [vm]


def test_endpoints_without_an_address_or_pin_are_refused() -> None:
    with pytest.raises(ValueError, match="bastion endpoint has no address"):
        BastionRunner(BASTION.model_copy(update={"address": None}), None)  # type: ignore[arg-type]
    net = FakeNetwork()
    runner = _runner(net)
    with pytest.raises(ValueError, match="VM endpoint has no address"):
        runner.run(VM.model_copy(update={"address": None}), COMMAND, timeout=10)
    with pytest.raises(RunnerError) as caught:
        runner.run(VM.model_copy(update={"host_key": None}), COMMAND, timeout=10)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert net.connects == [], "nothing is connected for a VM without a pin"


def _key() -> paramiko.PKey:
    private = ed25519.Ed25519PrivateKey.generate()
    return parse_private_key(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
    )


def test_get_runner_caches_per_bastion_and_key_and_closes_the_replaced_one() -> None:
    clear_runners()
    key, rotated = _key(), _key()
    try:
        first = get_runner(BASTION, lambda: key)
        assert get_runner(BASTION, lambda: key) is first
        other = get_runner(BASTION.model_copy(update={"port": 2222}), lambda: key)
        assert other is not first
        closed: list[BastionRunner] = []
        first.close = lambda: closed.append(first)  # type: ignore[method-assign]
        replaced = get_runner(BASTION, lambda: rotated)
        assert replaced is not first and closed == [first]
    finally:
        clear_runners()
    assert get_runner(BASTION, lambda: rotated) is not replaced
    clear_runners()


def test_a_key_that_cannot_be_loaded_is_ssh_key_unavailable() -> None:
    def missing() -> paramiko.PKey:
        raise KeyError("SSH_KEY_SECRET_ID")

    with pytest.raises(RunnerError) as caught:
        get_runner(BASTION, missing)
    assert caught.value.code is RunnerErrorCode.SSH_KEY_UNAVAILABLE
    assert caught.value.message == (
        "The runner's SSH key could not be loaded (KeyError: 'SSH_KEY_SECRET_ID'); nothing ran."
    )

"""The bastion tunnel: connect with backoff, reuse, replace, retire, and direct-tcpip opens."""

from __future__ import annotations

import errno

import paramiko
import pytest

from sysvmdiag.runner import tunnel as tunnel_module
from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.tunnel import BastionTunnel, TunnelSocket
from sysvmdiag.topology.model import SshEndpoint
from tests.unit.runner.fakes import ED25519_PIN, FakeChannel, FakeClock, FakeNetwork

BASTION = SshEndpoint(address="192.0.2.10", port=22, user="diag", host_key=ED25519_PIN)
VM = SshEndpoint(address="169.254.1.10", port=3922, user="root", host_key=ED25519_PIN)
VM_NAME = "the system VM at 169.254.1.10:3922"


def _tunnel(net: FakeNetwork, **options) -> BastionTunnel:
    return BastionTunnel(BASTION, None, plumbing=net.plumbing(), **options)  # type: ignore[arg-type]


def _refused() -> OSError:
    return OSError(errno.ECONNREFUSED, "Connection refused")


def test_the_bastion_is_connected_once_pinned_authenticated_and_kept_alive() -> None:
    net = FakeNetwork()
    tunnel = _tunnel(net, connect_timeout=2.0)
    assert tunnel.transport is None
    first = tunnel.live(Deadline(10, net.clock))
    assert tunnel.live(Deadline(10, net.clock)) is first is tunnel.transport
    (bastion,) = net.bastions
    assert net.connects == [(("192.0.2.10", 22), 2.0)]
    assert bastion.is_authenticated() and bastion.keepalive == tunnel_module.BASTION_KEEPALIVE_SECONDS


def test_a_dead_or_stale_bastion_transport_is_replaced() -> None:
    net = FakeNetwork()
    tunnel = _tunnel(net)
    first = tunnel.live(Deadline(10, net.clock))
    first.close()
    second = tunnel.live(Deadline(10, net.clock))
    assert second is not first
    third = tunnel.live(Deadline(10, net.clock), stale=second)
    assert third is not second and not second.is_active()


def test_refused_connects_are_retried_with_doubling_backoff() -> None:
    net = FakeNetwork(socket_errors=[_refused(), _refused()])
    tunnel = _tunnel(net, connect_attempts=3)
    tunnel.live(Deadline(10, net.clock))
    assert net.sleeps == [tunnel_module.FIRST_BACKOFF_SECONDS, 2 * tunnel_module.FIRST_BACKOFF_SECONDS]
    assert len(net.connects) == 3


def test_the_last_attempt_fails_with_the_reason() -> None:
    net = FakeNetwork(socket_errors=[_refused(), _refused()])
    tunnel = _tunnel(net, connect_attempts=2)
    with pytest.raises(RunnerError) as caught:
        tunnel.live(Deadline(10, net.clock))
    assert caught.value.code is RunnerErrorCode.BASTION_UNREACHABLE
    assert caught.value.message == "Could not connect to the bastion at 192.0.2.10:22: Connection refused."
    assert net.sleeps == [tunnel_module.FIRST_BACKOFF_SECONDS]
    assert tunnel.transport is None


def test_no_retry_when_the_backoff_does_not_fit_the_budget() -> None:
    net = FakeNetwork(socket_errors=[_refused()])
    with pytest.raises(RunnerError):
        _tunnel(net, connect_attempts=5).live(Deadline(0.6, net.clock))
    assert net.sleeps == []


def test_a_key_mismatch_is_never_retried() -> None:
    net = FakeNetwork(bastion_key="ssh-ed25519 AAAAother")
    with pytest.raises(RunnerError) as caught:
        _tunnel(net).live(Deadline(10, net.clock))
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert net.sleeps == [] and not net.bastions[0].is_active()


def test_waiting_for_anothers_connect_is_bounded_by_this_runs_budget() -> None:
    net = FakeNetwork()
    tunnel = _tunnel(net)
    tunnel._lock.acquire()  # another run is connecting
    try:
        with pytest.raises(RunnerError) as caught:
            tunnel.live(Deadline(0, net.clock))
    finally:
        tunnel._lock.release()
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert caught.value.message == (
        "The connection to the bastion at 192.0.2.10:22 was still being established by another run "
        "when this run's 0 s budget ran out."
    )


def test_a_tunnel_is_a_direct_tcpip_channel_to_the_vm() -> None:
    net = FakeNetwork()
    tunnel = _tunnel(net, connect_timeout=3.0)
    channel = tunnel.open_channel(VM, VM_NAME, Deadline(10, net.clock))
    assert channel.get_transport() is net.bastions[0]
    opened = ("direct-tcpip", ("169.254.1.10", 3922), ("127.0.0.1", 0), 3.0)
    assert net.bastions[0].opened_channels == [opened]


def test_a_refused_channel_is_vm_unreachable() -> None:
    refusal = paramiko.ChannelException(2, "No route")
    net = FakeNetwork(prepare_bastion=lambda t: t.channel_errors.append(refusal))
    with pytest.raises(RunnerError) as caught:
        _tunnel(net).open_channel(VM, VM_NAME, Deadline(10, net.clock))
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert caught.value.message == f"The bastion could not reach {VM_NAME}: No route."


def test_a_quick_failure_reconnects_the_bastion_once() -> None:
    net = FakeNetwork()
    net.prepare_bastion = lambda t: t.channel_errors.append(EOFError()) if not net.bastions[1:] else None
    channel = _tunnel(net).open_channel(VM, VM_NAME, Deadline(10, net.clock))
    assert len(net.bastions) == 2 and channel.get_transport() is net.bastions[1]
    assert not net.bastions[0].is_active()


def test_a_bastion_that_drops_twice_is_bastion_unreachable() -> None:
    net = FakeNetwork(prepare_bastion=lambda t: t.channel_errors.append(paramiko.SSHException("gone")))
    with pytest.raises(RunnerError) as caught:
        _tunnel(net).open_channel(VM, VM_NAME, Deadline(10, net.clock))
    assert caught.value.code is RunnerErrorCode.BASTION_UNREACHABLE
    assert caught.value.message == (
        f"The connection to the bastion at 192.0.2.10:22 dropped while opening a tunnel to {VM_NAME}."
    )


def _unanswered(transport) -> None:
    transport.channel_errors.append(paramiko.SSHException("Timeout opening channel."))
    transport.channel_delay = 4.0


def test_an_unanswered_open_retires_the_bastion_and_is_vm_unreachable() -> None:
    net = FakeNetwork(prepare_bastion=_unanswered)
    tunnel = _tunnel(net, connect_timeout=4.0)
    with pytest.raises(RunnerError) as caught:
        tunnel.open_channel(VM, VM_NAME, Deadline(10, net.clock))
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert caught.value.message == f"The bastion got no answer from {VM_NAME} within 4.0 s."
    (hung,) = net.bastions
    assert tunnel.transport is None and hung.is_active(), "runs already on it keep it until the grace ends"
    (closer,) = net.timers.started
    assert closer.seconds == tunnel_module.RETIRED_TRANSPORT_GRACE_SECONDS
    closer.fire()
    assert not hung.is_active()


def test_an_unanswered_open_that_spends_the_budget_is_timeout() -> None:
    net = FakeNetwork(prepare_bastion=_unanswered)
    with pytest.raises(RunnerError) as caught:
        _tunnel(net, connect_timeout=4.0).open_channel(VM, VM_NAME, Deadline(4.0, net.clock))
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert caught.value.message == f"The run on {VM_NAME} ran out of time opening the tunnel."


def test_retiring_an_old_transport_leaves_the_current_one() -> None:
    net = FakeNetwork()
    tunnel = _tunnel(net)
    old = tunnel.live(Deadline(10, net.clock))
    current = tunnel.live(Deadline(10, net.clock), stale=old)
    tunnel.retire(old)
    assert tunnel.transport is current


def test_close_closes_the_bastion_transport() -> None:
    net = FakeNetwork()
    tunnel = _tunnel(net)
    tunnel.close()  # nothing yet: nothing to do
    current = tunnel.live(Deadline(10, net.clock))
    tunnel.close()
    assert tunnel.transport is None and not current.is_active()


def test_the_tunnel_socket_delegates_and_closes_quietly() -> None:
    channel = FakeChannel(FakeClock())
    sock = TunnelSocket(channel)  # type: ignore[arg-type]
    assert sock.recv_ready() is False
    sock.close()
    assert channel.closed

    class Dead(FakeChannel):
        def close(self) -> None:
            raise EOFError

    TunnelSocket(Dead(FakeClock())).close()  # type: ignore[arg-type]

"""The bastion tunnel: one shared, pinned bastion Transport and direct-tcpip channels over it.

Connecting is the expensive part, so the Transport is kept for the warm process and replaced only
when it is closed, found dead, or suspected hung; a replaced one is closed only after a grace that
outlives any run still using it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import paramiko

from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.names import describe
from sysvmdiag.runner.pinning import Login, PinnedKey, connect_pinned
from sysvmdiag.runner.plumbing import Plumbing
from sysvmdiag.topology.model import SshEndpoint

# Each network step (TCP connect, key exchange, auth, channel open) gets at most this long,
# whatever is left of the run's budget, so a dead host fails fast instead of eating the budget.
DEFAULT_CONNECT_TIMEOUT = 4.0
# Bastion connects are retried (a restarting bastion, a transient refusal) with backoff.
DEFAULT_CONNECT_ATTEMPTS = 3
FIRST_BACKOFF_SECONDS = 0.2
# A retry is worth it only if a backoff plus a connect attempt of at least this long still fit.
MIN_ATTEMPT_SECONDS = 0.5
# Keepalives let a cached bastion Transport notice a silently dead peer between invocations.
BASTION_KEEPALIVE_SECONDS = 30
# A retired bastion connection outlives the longest run that may still use it (API budgets < 30 s).
RETIRED_TRANSPORT_GRACE_SECONDS = 60.0

_NETWORK_ERRORS = (paramiko.SSHException, EOFError, OSError)


class TunnelSocket:
    """The direct-tcpip channel as the socket of a VM Transport that outlives single runs.

    When the bastion connection under a cached VM connection dies, paramiko's VM Transport thread
    closes its socket on the way out, and closing a channel of a dead Transport raises EOFError in
    that thread; there is nothing left to close then, so the error is dropped here.
    """

    def __init__(self, channel: paramiko.Channel):
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def close(self) -> None:
        with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
            self._channel.close()


class BastionTunnel:
    """The shared bastion Transport of one runner and the channels it opens to VMs.

    Thread-safe: a lock guards (re)connecting; channels are opened concurrently over the Transport.
    """

    def __init__(
        self,
        endpoint: SshEndpoint,
        private_key: paramiko.PKey,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
        plumbing: Plumbing | None = None,
    ):
        self.endpoint = endpoint
        self.private_key = private_key
        self.connect_timeout = connect_timeout
        self.connect_attempts = max(1, connect_attempts)
        self.name = describe(endpoint, "bastion")
        self._plumbing = plumbing or Plumbing()
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None

    @property
    def transport(self) -> paramiko.Transport | None:
        """The current bastion Transport (None before the first connect or after a retire/close)."""
        return self._transport

    def live(self, deadline: Deadline, stale: paramiko.Transport | None = None) -> paramiko.Transport:
        """The live bastion Transport, (re)connecting under the lock when missing, closed or ``stale``.

        Waiting for the lock counts against this run's budget: another run may hold it for its
        whole (longer) connect, and this run must still fail within its own time.
        """
        if not self._lock.acquire(timeout=deadline.remaining()):
            raise RunnerError(
                RunnerErrorCode.TIMEOUT,
                f"The connection to {self.name} was still being established by "
                f"another run when this run's {deadline.seconds:g} s budget ran out.",
            )
        try:
            current = self._transport
            if current is not None and current is not stale and current.is_active():
                return current
            if current is not None:
                current.close()
                self._transport = None
            self._transport = self._connect(deadline)
            return self._transport
        finally:
            self._lock.release()

    def _connect(self, deadline: Deadline) -> paramiko.Transport:
        """Connect and authenticate, retrying unreachable-bastion failures with exponential backoff."""
        login = Login(
            pinned=PinnedKey.of(self.endpoint, self.name),
            user=self.endpoint.user,
            key=self.private_key,
            who=self.name,
            unreachable=RunnerErrorCode.BASTION_UNREACHABLE,
        )
        backoff = FIRST_BACKOFF_SECONDS
        attempt = 1
        while True:
            try:
                return self._connect_once(login, deadline)
            except RunnerError as exc:
                retryable = exc.code is RunnerErrorCode.BASTION_UNREACHABLE
                last = attempt >= self.connect_attempts
                # Retry only if a backoff plus a meaningful connect attempt still fit in the budget.
                if not retryable or last or deadline.remaining() < backoff + MIN_ATTEMPT_SECONDS:
                    raise
            self._plumbing.sleep(backoff)
            backoff *= 2
            attempt += 1

    def _connect_once(self, login: Login, deadline: Deadline) -> paramiko.Transport:
        address = (str(self.endpoint.address), self.endpoint.port)
        try:
            sock = self._plumbing.open_socket(address, deadline.step(self.connect_timeout))
        except OSError as exc:
            message = f"Could not connect to {self.name}: {exc.strerror or exc}."
            raise RunnerError(RunnerErrorCode.BASTION_UNREACHABLE, message) from exc
        transport = self._plumbing.new_transport(sock)
        connect_pinned(transport, login, deadline, self.connect_timeout)
        transport.set_keepalive(BASTION_KEEPALIVE_SECONDS)
        return transport

    def open_channel(self, vm: SshEndpoint, vm_name: str, deadline: Deadline) -> paramiko.Channel:
        """A direct-tcpip channel to the VM's sshd; a dead cached bastion Transport is replaced once."""
        transport = self.live(deadline)
        try:
            return self._open_direct_tcpip(transport, vm, vm_name, deadline)
        except _NETWORK_ERRORS:
            # A quick failure means the bastion connection itself is gone (paramiko raises only on
            # timeout while the Transport is alive): reconnect once.
            transport = self.live(deadline, stale=transport)
        try:
            return self._open_direct_tcpip(transport, vm, vm_name, deadline)
        except _NETWORK_ERRORS as exc:
            raise RunnerError(
                RunnerErrorCode.BASTION_UNREACHABLE,
                f"The connection to {self.name} dropped while opening a tunnel to {vm_name}.",
            ) from exc

    def _open_direct_tcpip(
        self, transport: paramiko.Transport, vm: SshEndpoint, vm_name: str, deadline: Deadline
    ) -> paramiko.Channel:
        """One open: no answer within the step is a RunnerError; a quick failure is raised as it came."""
        step = deadline.step(self.connect_timeout)
        began = self._plumbing.clock()
        try:
            return transport.open_channel(
                "direct-tcpip", (str(vm.address), vm.port), ("127.0.0.1", 0), timeout=step
            )
        except paramiko.ChannelException as exc:
            raise RunnerError(
                RunnerErrorCode.VM_UNREACHABLE,
                f"The bastion could not reach {vm_name}: {exc.text or 'channel open refused'}.",
            ) from exc
        except _NETWORK_ERRORS as exc:
            if self._plumbing.clock() - began >= step:
                raise self._unanswered_open(transport, vm_name, step, deadline) from exc
            raise

    def _unanswered_open(
        self, transport: paramiko.Transport, vm_name: str, step: float, deadline: Deadline
    ) -> RunnerError:
        """No answer to the open: the bastion's connect to the VM hangs, or the bastion itself froze.

        A frozen peer keeps the Transport "active" for minutes and we cannot tell which it is, so the
        Transport is retired: later runs connect anew while runs already on it keep their channels.
        """
        self.retire(transport)
        if not deadline.remaining():
            message = f"The run on {vm_name} ran out of time opening the tunnel."
            return RunnerError(RunnerErrorCode.TIMEOUT, message)
        return RunnerError(
            RunnerErrorCode.VM_UNREACHABLE, f"The bastion got no answer from {vm_name} within {step:.1f} s."
        )

    def retire(self, transport: paramiko.Transport) -> None:
        """Stop handing out ``transport``; close it once runs already using it are past their budget."""
        with self._lock:
            if self._transport is transport:
                self._transport = None
        self._plumbing.start_timer(RETIRED_TRANSPORT_GRACE_SECONDS, transport.close)

    def close(self) -> None:
        """Close the current Transport now (the next run reconnects)."""
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

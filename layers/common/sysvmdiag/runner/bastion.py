"""SSH to a system VM through the bastion: cached bastion and VM connections, one session per run.

Connecting is the expensive part (TCP + key exchange + auth, twice), so a warm process keeps the
bastion Transport and, like an OpenSSH ControlMaster, one authenticated VM Transport per VM
endpoint, reached through a ``direct-tcpip`` channel to the VM's control address (port 3922).
Each run opens its own session channel on the VM Transport, so concurrent runs on one VM
multiplex over one connection. Both server keys are checked against the keys pinned in the
topology when a connection is made; cached VM connections live only as long as a
ControlPersist would let them, so a rekeyed VM is seen at the next connect.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode, RunOutput
from sysvmdiag.runner.keys import key_fingerprint
from sysvmdiag.topology.model import SshEndpoint

DEFAULT_OUTPUT_CAP = 256 * 1024
# Each network step (TCP connect, key exchange, auth, channel open) gets at most this long,
# whatever is left of the run's budget, so a dead host fails fast instead of eating the budget.
DEFAULT_CONNECT_TIMEOUT = 4.0
# Bastion connects are retried (a restarting bastion, a transient refusal) with backoff.
DEFAULT_CONNECT_ATTEMPTS = 3
FIRST_BACKOFF_SECONDS = 0.2
# Keepalives let a cached bastion Transport notice a silently dead peer between invocations.
BASTION_KEEPALIVE_SECONDS = 30
# How long past the budget the watchdog waits before closing a VM connection stuck in paramiko.
WATCHDOG_GRACE_SECONDS = 1.0
# A retired bastion connection outlives the longest run that may still use it (API budgets < 30 s).
RETIRED_TRANSPORT_GRACE_SECONDS = 60.0
# Like ControlPersist: an idle VM connection is closed after a minute and none lives past five,
# so a VM rekeyed (or replaced) behind the same address is verified again within minutes.
VM_CONNECTION_IDLE_SECONDS = 60.0
VM_CONNECTION_MAX_AGE_SECONDS = 300.0
# sshd allows MaxSessions (default 10) sessions per connection; the per-VM limit is 8 concurrent
# runs, so 8 sessions fit one connection and a ninth run opens a second connection.
MAX_SESSIONS_PER_VM_CONNECTION = 8
_READ_CHUNK = 32 * 1024
_POLL_SECONDS = 0.5

# Which host-key algorithms to offer for a pinned key type, so the server shows the pinned key.
# An RSA key is pinned as "ssh-rsa" but signs with SHA-2 only: paramiko no longer accepts SHA-1
# "ssh-rsa" signatures, and offering that name makes the whole offer invalid.
_HOST_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


@dataclass(frozen=True)
class _Pinned:
    """A pinned host key split into the two parts we compare exactly."""

    key_type: str
    blob: str


def _pinned_key(endpoint: SshEndpoint, who: str) -> _Pinned:
    parts = (endpoint.host_key or "").split()
    if len(parts) < 2:
        raise RunnerError(
            RunnerErrorCode.HOST_KEY_MISMATCH,
            f"No host key is pinned for {who}; refusing to connect to an unverified server.",
        )
    return _Pinned(key_type=parts[0], blob=parts[1])


def _describe(endpoint: SshEndpoint, role: str, label: str | None = None) -> str:
    name = f" {label}" if label else ""
    return f"the {role}{name} at {endpoint.address}:{endpoint.port}"


def _capitalized(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


class _Deadline:
    """A wall-clock budget for one run (connect + exec)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.monotonic()
        self.expires = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def step(self, cap: float) -> float:
        """Timeout for one network step: the small connect timeout or what is left, if less."""
        return max(0.05, min(cap, self.remaining()))

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


_VmKey = tuple[str, int, str, str]


def _vm_key(vm: SshEndpoint) -> _VmKey:
    """What a cached VM connection is bound to: a new pin is a new key, so it never reuses the old one."""
    return (str(vm.address), vm.port, vm.user, vm.host_key or "")


@dataclass(eq=False)
class _VmConnection:
    """One authenticated VM Transport shared by runs; ``sessions`` counts the runs leasing it now."""

    key: _VmKey
    transport: paramiko.Transport
    via: paramiko.Transport  # the bastion Transport carrying its tunnel
    created: float
    last_used: float
    sessions: int = 0
    retired: bool = False

    def reusable(self, now: float, bastion: paramiko.Transport | None) -> bool:
        """Still good for a new session: alive, young enough, not idle too long, over the current bastion."""
        return (
            not self.retired
            and self.via is bastion
            and self.transport.is_active()
            and now - self.created < VM_CONNECTION_MAX_AGE_SECONDS
            and (self.sessions > 0 or now - self.last_used < VM_CONNECTION_IDLE_SECONDS)
        )


@dataclass(eq=False)
class _VmSlot:
    """The connections to one VM endpoint and the lock held only while connecting to it."""

    connect_lock: threading.Lock
    connections: list[_VmConnection]
    # The last failed connect (when it ended, the error): runs that waited for it share its answer
    # instead of each trying again one after the other past their budgets.
    failure: tuple[float, RunnerError] | None = None


class _TunnelSocket:
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


class _StaleConnection(Exception):
    """A cached VM connection failed before anything was executed on it: safe to retry once."""


class _Watchdog:
    """Closes what the run is blocked on once its budget (plus a grace) is spent.

    Some paramiko calls (exec_command's reply) wait without a timeout; closing what they wait on
    wakes them with an error that the run reports as TIMEOUT. The target changes as the run moves
    from connecting (its own new Transport) to its session, so a shared connection is closed only
    when the run is stuck on it in a call that no channel close can wake.
    """

    def __init__(self, seconds: float):
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._target: Callable[[], None] | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

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


class BastionRunner:
    """Runs forced-command requests on system VMs through one bastion, reusing its connection.

    Thread-safe: a lock guards (re)connecting the shared bastion Transport and a per-VM lock guards
    connecting to that VM (never a run); each run has its own session channel, which paramiko
    multiplexes concurrently over the shared VM Transport (at most MAX_SESSIONS_PER_VM_CONNECTION).
    """

    def __init__(
        self,
        bastion: SshEndpoint,
        private_key: paramiko.PKey,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
    ):
        if bastion.address is None:
            raise ValueError("the bastion endpoint has no address")
        self.bastion = bastion
        self.private_key = private_key
        self.connect_timeout = connect_timeout
        self.connect_attempts = max(1, connect_attempts)
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        # Guards the VM connection pool's bookkeeping only: never held across network I/O.
        self._vm_guard = threading.Lock()
        self._vm_slots: dict[_VmKey, _VmSlot] = {}

    # -- public ---------------------------------------------------------------------------

    @property
    def transport(self) -> paramiko.Transport | None:
        """The cached bastion Transport (None before the first run); exposed for reuse checks."""
        return self._transport

    def run(
        self,
        vm: SshEndpoint,
        command: str,
        timeout: float,
        output_cap: int = DEFAULT_OUTPUT_CAP,
        *,
        vm_label: str | None = None,
    ) -> RunOutput:
        """Send ``command`` (a validated tool command line) to the VM's forced command and collect it.

        ``timeout`` is the wall-clock budget of the whole run. The run leases a cached VM connection
        (or makes one) and opens its own session on it; if a cached connection turns out dead before
        anything was executed, the run is retried once on a fresh connection. Raises RunnerError; a
        refusal by the VM-side program is not an error but its stderr and exit status.
        """
        if vm.address is None:
            raise ValueError("the VM endpoint has no address")
        deadline = _Deadline(timeout)
        vm_name = _describe(vm, "system VM", vm_label)
        pinned = _pinned_key(vm, vm_name)
        watchdog = _Watchdog(deadline.remaining() + WATCHDOG_GRACE_SECONDS)
        try:
            fresh_only = False
            while True:
                connection, fresh = self._lease(
                    vm, pinned, vm_name, deadline, watchdog, fresh_only=fresh_only
                )
                try:
                    try:
                        session = self._open_session(connection, vm_name, deadline, retryable=not fresh)
                    except _StaleConnection as exc:
                        self._retire_vm(connection)
                        if not deadline.remaining():
                            raise RunnerError(
                                RunnerErrorCode.TIMEOUT,
                                f"The run on {vm_name} ran out of time opening a session.",
                            ) from exc
                        fresh_only = True  # the one retry, on a connection made for it
                        continue
                    return self._execute(
                        session, connection, command, output_cap, vm_name, deadline, watchdog
                    )
                finally:
                    self._release(connection)
        except RunnerError as exc:
            if watchdog.fired.is_set() and exc.code is not RunnerErrorCode.TIMEOUT:
                raise RunnerError(
                    RunnerErrorCode.TIMEOUT,
                    f"The run on {vm_name} did not finish within {deadline.seconds:g} s; it was stopped.",
                ) from exc
            raise
        finally:
            watchdog.cancel()

    def connections_to(self, vm: SshEndpoint) -> list[paramiko.Transport]:
        """The cached VM Transports for this endpoint (pin included); exposed for reuse checks."""
        with self._vm_guard:
            slot = self._vm_slots.get(_vm_key(vm))
            return [c.transport for c in slot.connections] if slot else []

    def _retire(self, transport: paramiko.Transport) -> None:
        """Stop handing out ``transport``; close it once runs already using it are past their budget."""
        with self._lock:
            if self._transport is transport:
                self._transport = None
        closer = threading.Timer(RETIRED_TRANSPORT_GRACE_SECONDS, transport.close)
        closer.daemon = True
        closer.start()

    def close(self) -> None:
        """Drop the cached VM and bastion connections (the next run reconnects)."""
        with self._vm_guard:
            connections = [c for slot in self._vm_slots.values() for c in slot.connections]
            self._vm_slots.clear()
        for connection in connections:
            connection.retired = True
            connection.transport.close()
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    # -- bastion --------------------------------------------------------------------------

    def _bastion_transport(
        self, deadline: _Deadline, stale: paramiko.Transport | None = None
    ) -> paramiko.Transport:
        """The live bastion Transport, (re)connecting under the lock when missing, closed or ``stale``.

        Waiting for the lock counts against this run's budget: another run may hold it for its
        whole (longer) connect, and this run must still fail within its own time.
        """
        if not self._lock.acquire(timeout=deadline.remaining()):
            raise RunnerError(
                RunnerErrorCode.TIMEOUT,
                f"The connection to {_describe(self.bastion, 'bastion')} was still being established by "
                f"another run when this run's {deadline.seconds:g} s budget ran out.",
            )
        try:
            current = self._transport
            if current is not None and current is not stale and current.is_active():
                return current
            if current is not None:
                current.close()
                self._transport = None
            self._transport = self._connect_bastion(deadline)
            return self._transport
        finally:
            self._lock.release()

    def _connect_bastion(self, deadline: _Deadline) -> paramiko.Transport:
        """Connect and authenticate, retrying unreachable-bastion failures with exponential backoff."""
        who = _describe(self.bastion, "bastion")
        pinned = _pinned_key(self.bastion, who)
        backoff = FIRST_BACKOFF_SECONDS
        for attempt in range(1, self.connect_attempts + 1):
            try:
                return self._connect_bastion_once(pinned, who, deadline)
            except RunnerError as exc:
                retryable = exc.code is RunnerErrorCode.BASTION_UNREACHABLE
                # Retry only if a backoff plus a meaningful connect attempt still fit in the budget.
                if not retryable or attempt == self.connect_attempts or deadline.remaining() < backoff + 0.5:
                    raise
            time.sleep(backoff)
            backoff *= 2
        raise AssertionError("unreachable: the loop returns or raises")

    def _connect_bastion_once(self, pinned: _Pinned, who: str, deadline: _Deadline) -> paramiko.Transport:
        address = str(self.bastion.address)
        try:
            sock = socket.create_connection(
                (address, self.bastion.port), timeout=deadline.step(self.connect_timeout)
            )
        except OSError as exc:
            raise RunnerError(
                RunnerErrorCode.BASTION_UNREACHABLE, f"Could not connect to {who}: {exc.strerror or exc}."
            ) from exc
        transport = paramiko.Transport(sock)
        try:
            self._handshake(transport, pinned, who, deadline, RunnerErrorCode.BASTION_UNREACHABLE)
            self._authenticate(transport, self.bastion.user, who, deadline)
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(BASTION_KEEPALIVE_SECONDS)
        return transport

    # -- the tunnel to the VM -------------------------------------------------------------

    def _open_tunnel(self, vm: SshEndpoint, vm_name: str, deadline: _Deadline) -> paramiko.Channel:
        """A direct-tcpip channel to the VM's sshd; a dead cached bastion Transport is replaced once."""
        transport = self._bastion_transport(deadline)
        destination = (str(vm.address), vm.port)
        for retry_on_dead_transport in (True, False):
            step = deadline.step(self.connect_timeout)
            began = time.monotonic()
            try:
                return transport.open_channel("direct-tcpip", destination, ("127.0.0.1", 0), timeout=step)
            except paramiko.ChannelException as exc:
                raise RunnerError(
                    RunnerErrorCode.VM_UNREACHABLE,
                    f"The bastion could not reach {vm_name}: {exc.text or 'channel open refused'}.",
                ) from exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if time.monotonic() - began >= step:
                    # No answer to the open: either the bastion's connect to the VM hangs or the bastion
                    # itself stopped answering (a frozen peer keeps the Transport "active" for minutes).
                    # We cannot tell which, so retire it: later runs connect anew instead of reusing a
                    # hung connection, while runs already on it (other threads) keep their channels.
                    self._retire(transport)
                    if not deadline.remaining():
                        raise RunnerError(
                            RunnerErrorCode.TIMEOUT,
                            f"The run on {vm_name} ran out of time opening the tunnel.",
                        ) from exc
                    raise RunnerError(
                        RunnerErrorCode.VM_UNREACHABLE,
                        f"The bastion got no answer from {vm_name} within {step:.1f} s.",
                    ) from exc
                # Any quicker failure means the bastion connection itself is gone (paramiko raises
                # only on timeout while the Transport is alive): reconnect once.
                if not retry_on_dead_transport:
                    raise RunnerError(
                        RunnerErrorCode.BASTION_UNREACHABLE,
                        f"The connection to {_describe(self.bastion, 'bastion')} dropped while opening a "
                        f"tunnel to {vm_name}.",
                    ) from exc
                transport = self._bastion_transport(deadline, stale=transport)
        raise AssertionError("unreachable: the loop returns or raises")

    # -- the VM connections (ControlMaster-like) -------------------------------------------

    def _lease(
        self,
        vm: SshEndpoint,
        pinned: _Pinned,
        vm_name: str,
        deadline: _Deadline,
        watchdog: _Watchdog,
        *,
        fresh_only: bool,
    ) -> tuple[_VmConnection, bool]:
        """A VM connection with a free session slot, and whether it was made for this run.

        Only connecting holds the VM's lock; waiting for it counts against this run's budget, and
        a connect that failed while we waited is this run's answer too (it would fail the same way).
        """
        key = _vm_key(vm)
        if not fresh_only:
            reused = self._take_cached(key)
            if reused is not None:
                return reused, False
        # The bastion first, outside the VM's lock: a run waiting on another's bastion connect is told so.
        self._bastion_transport(deadline)
        with self._vm_guard:
            slot = self._vm_slots.setdefault(key, _VmSlot(connect_lock=threading.Lock(), connections=[]))
        waiting_since = time.monotonic()
        if not slot.connect_lock.acquire(timeout=deadline.remaining()):
            raise RunnerError(
                RunnerErrorCode.TIMEOUT,
                f"The connection to {vm_name} was still being established by another run when this run's "
                f"{deadline.seconds:g} s budget ran out.",
            )
        try:
            failure = slot.failure
            if failure is not None and failure[0] > waiting_since:
                raise RunnerError(failure[1].code, failure[1].message)
            if not fresh_only:
                reused = self._take_cached(key)
                if reused is not None:
                    return reused, False
            try:
                connection = self._connect_vm(vm, pinned, vm_name, deadline, watchdog)
            except RunnerError as exc:
                slot.failure = (time.monotonic(), exc)
                raise
            slot.failure = None
            connection.sessions = 1
            with self._vm_guard:
                # close() may have emptied the pool meanwhile: the connection then serves this run only.
                current = self._vm_slots.get(key)
                if current is not None:
                    current.connections.append(connection)
                else:
                    connection.retired = True
            return connection, True
        finally:
            slot.connect_lock.release()

    def _take_cached(self, key: _VmKey) -> _VmConnection | None:
        """Lease a reusable cached connection with a free session slot; sweep out expired ones."""
        now = time.monotonic()
        bastion = self._transport
        chosen: _VmConnection | None = None
        to_close: list[paramiko.Transport] = []
        with self._vm_guard:
            for slot_key, slot in list(self._vm_slots.items()):
                same_vm_other_pin = slot_key[:3] == key[:3] and slot_key != key
                kept: list[_VmConnection] = []
                for connection in slot.connections:
                    if same_vm_other_pin or not connection.reusable(now, bastion):
                        connection.retired = True
                        if connection.sessions == 0:
                            to_close.append(connection.transport)
                        continue
                    kept.append(connection)
                    if (
                        chosen is None
                        and slot_key == key
                        and connection.sessions < MAX_SESSIONS_PER_VM_CONNECTION
                    ):
                        chosen = connection
                slot.connections = kept
            if chosen is not None:
                chosen.sessions += 1
                chosen.last_used = now
        for transport in to_close:
            transport.close()
        return chosen

    def _connect_vm(
        self, vm: SshEndpoint, pinned: _Pinned, vm_name: str, deadline: _Deadline, watchdog: _Watchdog
    ) -> _VmConnection:
        """Tunnel through the bastion, then key exchange against the pin and auth: a new VM connection."""
        channel = self._open_tunnel(vm, vm_name, deadline)
        via = channel.get_transport()
        transport = paramiko.Transport(_TunnelSocket(channel))
        watchdog.guard(transport.close)  # nobody else uses it yet: the watchdog may close it
        try:
            self._handshake(transport, pinned, vm_name, deadline, RunnerErrorCode.VM_UNREACHABLE)
            self._authenticate(transport, vm.user, vm_name, deadline)
        except BaseException:
            transport.close()
            raise
        finally:
            watchdog.guard(None)
        now = time.monotonic()
        return _VmConnection(key=_vm_key(vm), transport=transport, via=via, created=now, last_used=now)

    def _release(self, connection: _VmConnection) -> None:
        """End a lease; a retired connection is closed once its last run is done."""
        with self._vm_guard:
            connection.sessions -= 1
            connection.last_used = time.monotonic()
            close = connection.retired and connection.sessions == 0
        if close:
            connection.transport.close()

    def _retire_vm(self, connection: _VmConnection) -> None:
        """Hand ``connection`` out no more (it failed); it closes when the runs on it are done."""
        with self._vm_guard:
            connection.retired = True
            slot = self._vm_slots.get(connection.key)
            if slot is not None and connection in slot.connections:
                slot.connections.remove(connection)

    def _open_session(
        self, connection: _VmConnection, vm_name: str, deadline: _Deadline, *, retryable: bool
    ) -> paramiko.Channel:
        """A session channel of this run's own; on a cached connection, failing here is retryable."""
        try:
            return connection.transport.open_session(timeout=deadline.step(self.connect_timeout))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if retryable:
                raise _StaleConnection(str(exc)) from exc
            raise RunnerError(
                RunnerErrorCode.VM_UNREACHABLE, f"{_capitalized(vm_name)} refused the session: {exc}."
            ) from exc

    # -- shared SSH steps -----------------------------------------------------------------

    def _handshake(
        self,
        transport: paramiko.Transport,
        pinned: _Pinned,
        who: str,
        deadline: _Deadline,
        unreachable: RunnerErrorCode,
    ) -> None:
        """Key exchange offering only the pinned key type, then an exact check of the server key."""
        try:
            transport.get_security_options().key_types = _HOST_KEY_ALGORITHMS.get(
                pinned.key_type, (pinned.key_type,)
            )
        except ValueError as exc:
            raise RunnerError(
                RunnerErrorCode.HOST_KEY_MISMATCH,
                f"The key pinned for {who} has an unsupported type {pinned.key_type!r}.",
            ) from exc
        step = deadline.step(self.connect_timeout)
        transport.banner_timeout = step
        transport.handshake_timeout = step
        try:
            # start_client returns quietly when its timeout passes; get_remote_server_key then raises.
            transport.start_client(timeout=step)
            server_key = transport.get_remote_server_key()
        except paramiko.IncompatiblePeer as exc:
            raise RunnerError(
                RunnerErrorCode.HOST_KEY_MISMATCH,
                f"{_capitalized(who)} does not offer the pinned {pinned.key_type} host key ({exc}).",
            ) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise RunnerError(
                unreachable,
                f"{_capitalized(who)} did not complete an SSH handshake within {step:.1f} s ({exc}).",
            ) from exc
        if server_key.get_name() != pinned.key_type or server_key.get_base64() != pinned.blob:
            raise RunnerError(
                RunnerErrorCode.HOST_KEY_MISMATCH,
                f"The host key of {who} ({server_key.get_name()} {server_key.fingerprint}) is not the pinned "
                "key; refusing to authenticate or run anything.",
            )

    def _authenticate(self, transport: paramiko.Transport, user: str, who: str, deadline: _Deadline) -> None:
        transport.auth_timeout = deadline.step(self.connect_timeout)
        try:
            transport.auth_publickey(user, self.private_key)
        except paramiko.AuthenticationException as exc:
            raise RunnerError(
                RunnerErrorCode.AUTH_FAILED, f"{_capitalized(who)} rejected the key for user {user}."
            ) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise RunnerError(
                RunnerErrorCode.AUTH_FAILED, f"Authentication as {user} on {who} did not complete: {exc}."
            ) from exc
        if not transport.is_authenticated():
            raise RunnerError(RunnerErrorCode.AUTH_FAILED, f"{_capitalized(who)} did not accept user {user}.")

    # -- the run --------------------------------------------------------------------------

    def _execute(
        self,
        session: paramiko.Channel,
        connection: _VmConnection,
        command: str,
        output_cap: int,
        vm_name: str,
        deadline: _Deadline,
        watchdog: _Watchdog,
    ) -> RunOutput:
        """exec the command and read stdout and stderr together until EOF, the cap or the deadline.

        Not retried whatever happens: from the exec request on, the tool may be running on the VM.
        """

        def abandon_connection() -> None:
            # exec_command's wait for the reply can only be woken by closing the Transport; a VM
            # that did not answer an exec request within the whole budget is a hung connection.
            self._retire_vm(connection)
            connection.transport.close()

        watchdog.guard(abandon_connection)
        try:
            session.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            session.close()
            if not connection.transport.is_active():
                self._retire_vm(connection)
            raise RunnerError(
                RunnerErrorCode.VM_UNREACHABLE, f"{_capitalized(vm_name)} refused the session: {exc}."
            ) from exc
        watchdog.guard(session.close)
        stdout, stderr = bytearray(), bytearray()
        truncated = False
        try:
            while True:
                # One poll wakes on data from either stream, so a chatty stderr cannot starve stdout.
                select.select([session], [], [], min(_POLL_SECONDS, deadline.remaining()))
                while session.recv_ready():
                    stdout += session.recv(_READ_CHUNK)
                while session.recv_stderr_ready():
                    stderr += session.recv_stderr(_READ_CHUNK)
                if len(stdout) + len(stderr) > output_cap:
                    truncated = True
                    break
                if session.eof_received or session.closed:
                    if not session.recv_ready() and not session.recv_stderr_ready():
                        break
                    continue
                if not deadline.remaining():
                    raise RunnerError(
                        RunnerErrorCode.TIMEOUT,
                        f"The run on {vm_name} did not finish within {deadline.seconds:g} s; it was stopped.",
                    )
            exit_code: int | None = None
            # The exit status follows EOF closely; wait for it a little even if the budget is spent.
            if not truncated and session.status_event.wait(max(deadline.remaining(), 0.5)):
                status = session.recv_exit_status()
                exit_code = status if status >= 0 else None
        finally:
            watchdog.guard(None)
            # Closing the session is what makes the VM-side program stop the tool (timeout, cap): sshd
            # closes its stdout, which it watches for, even though the connection stays up.
            session.close()
        if truncated:
            stdout, stderr = _trim(stdout, stderr, output_cap)
        return RunOutput(
            exit_code=exit_code,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            truncated=truncated,
            duration_ms=deadline.elapsed_ms(),
        )


def _trim(stdout: bytearray, stderr: bytearray, cap: int) -> tuple[bytearray, bytearray]:
    """Keep at most ``cap`` bytes in total, stdout first."""
    kept_stdout = stdout[:cap]
    return kept_stdout, stderr[: max(0, cap - len(kept_stdout))]


# -- the warm-process cache ---------------------------------------------------------------

_runners: dict[tuple[str, int, str, str], tuple[str, BastionRunner]] = {}
_runners_lock = threading.Lock()


def get_runner(bastion: SshEndpoint, key_loader: Callable[[], paramiko.PKey]) -> BastionRunner:
    """The process's runner for this bastion, so warm invocations reuse its connection.

    Cached per bastion endpoint (address, port, user, pinned key) and private-key fingerprint:
    a rotated key or re-pinned bastion gets a fresh runner and the old connection is closed.
    A key that cannot be loaded (secret missing, Secrets Manager unreachable, not a key) is a
    RunnerError SSH_KEY_UNAVAILABLE, so callers answer and audit it like any other failed run.
    """
    try:
        key = key_loader()
    except Exception as exc:  # any loader failure means the same thing: no key, so nothing can run
        raise RunnerError(
            RunnerErrorCode.SSH_KEY_UNAVAILABLE,
            f"The runner's SSH key could not be loaded ({type(exc).__name__}: {exc}); nothing ran.",
        ) from exc
    fingerprint = key_fingerprint(key)
    endpoint = (str(bastion.address), bastion.port, bastion.user, bastion.host_key or "")
    with _runners_lock:
        cached = _runners.get(endpoint)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        runner = BastionRunner(bastion, key)
        _runners[endpoint] = (fingerprint, runner)
    if cached is not None:
        cached[1].close()
    return runner


def clear_runners() -> None:
    """Close and forget every cached runner (tests, key rotation by hand)."""
    with _runners_lock:
        runners = [runner for _, runner in _runners.values()]
        _runners.clear()
    for runner in runners:
        runner.close()

"""Stand-ins for paramiko's Transport and Channel, a clock moved by hand and timers fired by hand.

They behave as the runner relies on paramiko behaving (the calls it makes, the exceptions it
catches) and record what was asked of them; no socket, thread or sleep is involved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paramiko

from sysvmdiag.runner.plumbing import Plumbing

ED25519_PIN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPINNEDPINNEDPINNEDPINNEDPINNEDPINNEDPINNED"


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeTimer:
    seconds: float
    action: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        self.action()


class FakeTimers:
    """``start_timer`` for the runner: records each timer; a test fires them when it decides."""

    def __init__(self) -> None:
        self.started: list[FakeTimer] = []

    def __call__(self, seconds: float, action: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(seconds, action)
        self.started.append(timer)
        return timer

    def fire_live(self) -> None:
        """Fire every timer not cancelled (what would happen once their time passed)."""
        for timer in list(self.started):
            if not timer.cancelled:
                timer.fire()


@dataclass
class FakeServerKey:
    """The server key paramiko hands back after key exchange."""

    line: str = ED25519_PIN
    fingerprint: str = "SHA256:fake"

    def get_name(self) -> str:
        return self.line.split()[0]

    def get_base64(self) -> str:
        return self.line.split()[1]


class FakeSecurityOptions:
    """Refuses key types paramiko does not know, as ``SecurityOptions.key_types`` does."""

    KNOWN = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")

    def __init__(self) -> None:
        self.key_types: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "key_types" and any(kind not in self.KNOWN for kind in value):
            raise ValueError(f"unknown key type in {value}")
        super().__setattr__(name, value)


class FakeStatusEvent:
    """``Channel.status_event``: set or not; waiting never blocks, it records how long it would."""

    def __init__(self) -> None:
        self.set_ = False
        self.waited: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waited.append(timeout)
        return self.set_


class FakeChannel:
    """A session (or direct-tcpip) channel; ``script`` lists what each wait delivers.

    Each entry is ``(stdout bytes, stderr bytes)``, ``"eof"`` (the VM closed its side), or a number
    of seconds that pass with nothing arriving. When the script is spent, waits just pass time.
    """

    def __init__(self, clock: FakeClock, script: list[Any] | None = None, transport: Any = None):
        self.clock = clock
        self.script = list(script or [])
        self.transport = transport
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.eof_received = False
        self.closed = False
        self.status_event = FakeStatusEvent()
        self.exit_status = -1
        self.commands: list[str] = []
        self.exec_error: BaseException | None = None
        self.on_exec: Callable[[], None] | None = None

    # -- what the runner calls ----------------------------------------------------------
    def get_transport(self) -> Any:
        return self.transport

    def exec_command(self, command: str) -> None:
        self.commands.append(command)
        if self.on_exec is not None:
            self.on_exec()
        if self.exec_error is not None:
            raise self.exec_error

    def recv_ready(self) -> bool:
        return bool(self.stdout)

    def recv_stderr_ready(self) -> bool:
        return bool(self.stderr)

    def recv(self, size: int) -> bytes:
        chunk, self.stdout = bytes(self.stdout[:size]), self.stdout[size:]
        return chunk

    def recv_stderr(self, size: int) -> bytes:
        chunk, self.stderr = bytes(self.stderr[:size]), self.stderr[size:]
        return chunk

    def recv_exit_status(self) -> int:
        return self.exit_status

    def close(self) -> None:
        self.closed = True

    # -- what the test scripts ------------------------------------------------------------
    def exit_with(self, status: int) -> None:
        self.exit_status = status
        self.status_event.set_ = True

    def deliver(self, seconds: float) -> None:
        """What one wait of at most ``seconds`` brings."""
        if not self.script:
            self.clock.advance(seconds)
            return
        step = self.script.pop(0)
        if step == "eof":
            self.eof_received = True
        elif isinstance(step, (int, float)):
            self.clock.advance(min(step, seconds))
        else:
            out, err = step
            self.stdout += out
            self.stderr += err


def wait_on_script(channel: FakeChannel, seconds: float) -> None:
    """``Plumbing.wait_readable`` for fake channels."""
    channel.deliver(seconds)


class FakeTransport:
    """A paramiko Transport: key exchange, auth, channels; each step can be told to fail."""

    def __init__(self, clock: FakeClock, sock: Any = None, server_key: str = ED25519_PIN):
        self.clock = clock
        self.sock = sock
        self.server_key = FakeServerKey(server_key)
        self.security = FakeSecurityOptions()
        self.active = True
        self.authenticated = False
        self.keepalive: int | None = None
        self.timeouts: dict[str, float] = {}
        self.handshake_error: BaseException | None = None
        self.auth_error: BaseException | None = None
        self.accept_user = True
        self.channel_errors: list[BaseException] = []  # raised by the next open_channel calls
        self.channel_delay = 0.0  # how long a failing open_channel takes
        self.opened_channels: list[tuple[Any, ...]] = []
        self.session_errors: list[BaseException] = []
        self.session_delay = 0.0
        self.sessions: list[FakeChannel] = []
        self.session_script: list[Any] = []
        self.on_handshake: Callable[[], None] | None = None

    def get_security_options(self) -> FakeSecurityOptions:
        return self.security

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("banner_timeout", "handshake_timeout", "auth_timeout"):
            self.timeouts[name] = value
        super().__setattr__(name, value)

    def start_client(self, timeout: float) -> None:
        self.timeouts["start_client"] = timeout
        if self.on_handshake is not None:
            self.on_handshake()
        if self.handshake_error is not None:
            raise self.handshake_error

    def get_remote_server_key(self) -> FakeServerKey:
        return self.server_key

    def auth_publickey(self, user: str, key: Any) -> list[str]:
        if self.auth_error is not None:
            raise self.auth_error
        self.authenticated = self.accept_user
        return []

    def is_authenticated(self) -> bool:
        return self.authenticated

    def is_active(self) -> bool:
        return self.active

    def set_keepalive(self, seconds: int) -> None:
        self.keepalive = seconds

    def close(self) -> None:
        self.active = False

    def open_channel(
        self, kind: str, dest: tuple[str, int], src: tuple[str, int], timeout: float
    ) -> FakeChannel:
        self.opened_channels.append((kind, dest, src, timeout))
        if self.channel_errors:
            self.clock.advance(self.channel_delay)
            raise self.channel_errors.pop(0)
        return FakeChannel(self.clock, transport=self)

    def open_session(self, timeout: float) -> FakeChannel:
        if self.session_errors:
            self.clock.advance(self.session_delay)
            raise self.session_errors.pop(0)
        channel = FakeChannel(self.clock, list(self.session_script), transport=self)
        self.sessions.append(channel)
        return channel


@dataclass
class FakeNetwork:
    """Plumbing whose sockets are tokens and whose Transports are fakes, listed in creation order.

    A Transport over a tunnel (a VM connection) is configured by ``prepare_vm`` before its handshake.
    """

    clock: FakeClock = field(default_factory=FakeClock)
    timers: FakeTimers = field(default_factory=FakeTimers)
    bastions: list[FakeTransport] = field(default_factory=list)
    vms: list[FakeTransport] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    socket_errors: list[OSError] = field(default_factory=list)
    connects: list[tuple[tuple[str, int], float]] = field(default_factory=list)
    bastion_key: str = ED25519_PIN
    vm_key: str = ED25519_PIN
    prepare_bastion: Callable[[FakeTransport], None] = lambda transport: None
    prepare_vm: Callable[[FakeTransport], None] = lambda transport: None

    def plumbing(self) -> Plumbing:
        return Plumbing(
            open_socket=self.open_socket,
            new_transport=self.new_transport,
            clock=self.clock,
            sleep=self.sleeps.append,
            start_timer=self.timers,
            wait_readable=wait_on_script,
        )

    def open_socket(self, address: tuple[str, int], timeout: float) -> object:
        self.connects.append((address, timeout))
        if self.socket_errors:
            raise self.socket_errors.pop(0)
        return object()

    def new_transport(self, sock: Any) -> paramiko.Transport:
        over_tunnel = type(sock).__name__ == "TunnelSocket"
        transport = FakeTransport(self.clock, sock, self.vm_key if over_tunnel else self.bastion_key)
        (self.vms if over_tunnel else self.bastions).append(transport)
        (self.prepare_vm if over_tunnel else self.prepare_bastion)(transport)
        return transport  # type: ignore[return-value]

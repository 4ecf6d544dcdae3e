"""What the runner reaches sockets, SSH transports, the clock and timers through.

Production uses the real ones; unit tests pass fakes (a paramiko-like Transport, a clock moved by
hand, timers fired by hand) so every layer can be tested without sshd, threads racing or sleeps.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from sysvmdiag.runner.deadline import Clock, StartTimer, start_daemon_timer


def open_tcp(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def wait_readable(channel: paramiko.Channel, seconds: float) -> None:
    """Block until the channel has data on either stream, is closed, or ``seconds`` pass."""
    select.select([channel], [], [], seconds)


@dataclass(frozen=True)
class Plumbing:
    """The runner's ways out to the world, swapped as a whole in unit tests."""

    open_socket: Callable[[tuple[str, int], float], Any] = open_tcp
    new_transport: Callable[[Any], paramiko.Transport] = paramiko.Transport
    clock: Clock = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    start_timer: StartTimer = start_daemon_timer
    wait_readable: Callable[[paramiko.Channel, float], None] = wait_readable

"""HTTP over a raw socket, for tests that send what no HTTP client library would (hostile framing,
duplicate or CR-split headers, slow headers): bytes out, the server's answers parsed back, every read
bounded by a deadline."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Exchange:
    answers: list[Answer] = field(default_factory=list)
    closed: bool = False  # the server closed the connection
    seconds: float = 0.0  # from the first byte sent until the last answer (or the close)
    leftover: bytes = b""


def _parse(buffer: bytes, head_only: bool) -> tuple[Answer | None, bytes]:
    """One answer from the front of ``buffer`` (Content-Length framed, as the server frames them)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None, buffer
    status_line, *lines = buffer[:end].decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = 0 if head_only else int(headers.get("content-length", ["0"])[-1])
    start = end + 4
    if len(buffer) < start + length:
        return None, buffer
    answer = Answer(int(status_line.split()[1]), headers, buffer[start : start + length])
    return answer, buffer[start + length :]


def exchange(
    port: int,
    pieces: list[bytes] | bytes,
    *,
    expect: int = 1,
    bound: float = 10.0,
    pause: float = 0.0,
    head: bool = False,
) -> Exchange:
    """Send ``pieces`` (``pause`` seconds apart), then read until ``expect`` answers arrived and the
    server closed or ``bound`` seconds passed. Never longer than ``bound`` plus the pauses."""
    pieces = [pieces] if isinstance(pieces, bytes) else pieces
    result = Exchange()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=bound) as sock:
        for number, piece in enumerate(pieces):
            if number and pause:
                time.sleep(pause)
            try:
                sock.sendall(piece)
            except OSError:  # the server closed on us (as it may on a hostile request)
                break
        buffer = b""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                result.closed = True
                break
            if not data:
                result.closed = True
                break
            buffer += data
            while True:
                answer, buffer = _parse(buffer, head)
                if answer is None:
                    break
                result.answers.append(answer)
            if len(result.answers) >= expect and not _more_expected(result):
                break
        result.leftover = buffer
    result.seconds = time.monotonic() - started
    return result


def _more_expected(result: Exchange) -> bool:
    """After the expected answers, wait on only to see a close the last answer announced."""
    return (result.answers[-1].header("connection") or "").lower() == "close"


def request(method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A request as bytes, headers exactly as given (no Host or Content-Length added)."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk) + b"0\r\n\r\n"

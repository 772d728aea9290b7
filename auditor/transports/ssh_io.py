"""The SSH transport's time and output bounds: the watchdog that closes a connection whose phase
runs past its deadline, per-phase timings, and draining a channel up to its output limit.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paramiko


class _Watchdog:
    """Closes the connection when the current phase outlives its deadline."""

    def __init__(self, on_expiry: Any) -> None:
        self._on_expiry = on_expiry
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.expired: str | None = None  # the phase that ran out of time
        self.phase = ""
        self.seconds = 0.0

    def arm(self, phase: str, seconds: float) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self.phase, self.seconds = phase, seconds
            self._timer = threading.Timer(seconds, self._fire, args=(phase,))
            self._timer.daemon = True
            self._timer.start()

    def step(self, phase: str) -> None:
        """A new phase under the same deadline."""
        self.phase = phase

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _fire(self, phase: str) -> None:
        with self._lock:
            if self.expired is not None or self._timer is None:
                return
            self.expired = self.phase or phase
        self._on_expiry()


@dataclass
class _Timings:
    """Milliseconds spent in each phase, for -v and --debug-log."""

    phases: dict[str, float] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter)

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = round((now - self._started) * 1000, 1)
        self._started = now


def _drain(channel: paramiko.Channel, stdout: bytearray, stderr: bytearray, limit: int | None) -> int | None:
    """Read what is buffered, at most `limit` (+1, to notice more) bytes per stream; the limit
    when a stream went past it, else None."""
    for ready, recv, buffer in ((channel.recv_ready, channel.recv, stdout),
                                (channel.recv_stderr_ready, channel.recv_stderr, stderr)):
        while ready():
            room = 65536 if limit is None else min(65536, limit + 1 - len(buffer))
            buffer += recv(room)
            if limit is not None and len(buffer) > limit:
                del buffer[limit:]
                return limit
    return None


def _close_quietly(sock: Any) -> None:
    with contextlib.suppress(Exception):  # best effort on an already failed connection
        sock.close()

"""The SSH transport's time and output bounds: the watchdog that closes a connection whose phase
runs past its deadline, per-phase timings, and draining a channel up to its output limit.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import paramiko


class _Deadlines:
    """One thread for every watchdog of the process: it sleeps until the earliest deadline and
    fires those that passed. A thread per armed phase (threading.Timer) cost a thread start, four
    times a host."""

    def __init__(self) -> None:
        self._wake = threading.Condition(threading.Lock())
        # (deadline, order, watchdog, arming); weak, so a finished host's transport is not kept
        self._queue: list[tuple[float, int, weakref.ref[_Watchdog], int]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, watchdog: _Watchdog, arming: int) -> None:
        entry = (time.monotonic() + seconds, next(self._order), weakref.ref(watchdog), arming)
        with self._wake:
            heapq.heappush(self._queue, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ssh-deadlines", daemon=True)
                self._thread.start()
            elif self._queue[0] is entry:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    self._wake.wait(self._queue[0][0] - time.monotonic() if self._queue else None)
                _, _, ref, arming = heapq.heappop(self._queue)
            watchdog = ref()
            if watchdog is not None:
                watchdog._fire(arming)  # outside the lock: closing a connection may take a while


_deadlines = _Deadlines()


def _fresh_deadlines() -> None:
    global _deadlines
    _deadlines = _Deadlines()  # a forked child has no deadline thread, and perhaps a held lock


os.register_at_fork(after_in_child=_fresh_deadlines)


class _Watchdog:
    """Closes the connection when the current phase outlives its deadline."""

    def __init__(self, on_expiry: Any) -> None:
        self._on_expiry = on_expiry
        self._lock = threading.Lock()
        self._arming = 0  # which arm() is current; 0: none (a deadline of an earlier one is stale)
        self._armings = 0
        self.expired: str | None = None  # the phase that ran out of time
        self.phase = ""
        self.seconds = 0.0

    def arm(self, phase: str, seconds: float) -> None:
        with self._lock:
            self._armings += 1
            arming = self._arming = self._armings
            self.phase, self.seconds = phase, seconds
        _deadlines.add(seconds, self, arming)

    def step(self, phase: str) -> None:
        """A new phase under the same deadline."""
        self.phase = phase

    def disarm(self) -> None:
        with self._lock:
            self._arming = 0

    def _fire(self, arming: int) -> None:
        with self._lock:
            if self.expired is not None or arming != self._arming:
                return  # disarmed, or armed again since
            self.expired = self.phase
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

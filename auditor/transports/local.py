"""The machine the auditor runs on, through a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil

from auditor.transports.base import CommandResult, CommandTimeout, Peer, Transport

TERM_GRACE_S = 0.5  # what an aborted batch has to end on TERM, removing its files, before KILL


class LocalTransport(Transport):
    name = "local"

    def __init__(self) -> None:
        self._running: subprocess.Popen[bytes] | None = None

    def connect(self) -> None:
        pass

    @property
    def peer(self) -> Peer:
        return Peer(self.name)

    def run(self, command: str, stdin: bytes, timeout: float, limit: int | None = None) -> CommandResult:
        # A session of its own, so a timeout ends the probe and everything it started.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._running = proc
        try:
            stdout, stderr = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.abort()
            proc.communicate()
            raise CommandTimeout(f"commands did not finish within {timeout:g} s") from None
        finally:
            self._running = None
        # The auditor's own machine is trusted to print what the probes print (each capped on the
        # way out); the limit is applied after the fact here.
        if limit is not None and (len(stdout) > limit or len(stderr) > limit):
            return CommandResult(stdout[:limit], stderr[:limit], None, limit)
        return CommandResult(stdout, stderr, proc.returncode)

    def abort(self) -> None:
        proc = self._running
        if proc is not None and proc.poll() is None:
            # The session's group, and every descendant that left it (setsid, a daemon): one that
            # kept the output pipe open would otherwise hold communicate() long past the deadline.
            descendants: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                descendants = psutil.Process(proc.pid).children(recursive=True)
            # TERM first: the batch's trap then removes its spool directory (KILL would leave it
            # in /dev/shm); KILL whatever is still there after a moment.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + TERM_GRACE_S
            while not all(map(_ended, descendants)) and time.monotonic() < deadline:
                time.sleep(0.01)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            for child in descendants:
                with contextlib.suppress(psutil.Error):
                    child.kill()

    def close(self) -> None:
        pass


def _ended(process: psutil.Process) -> bool:
    """Gone, or a zombie waiting for its parent: it runs nothing more."""
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True

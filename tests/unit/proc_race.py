"""A process that ends while a probe reads one of its /proc files, made to happen every time.

strace holds the probe's first read of /proc/<victim>/<file> for a while (it injects a delay,
never an error); the victim is killed once some process holds that file open, so the kernel's
own read fails with ESRCH, as it does on a busy host when a process exits between a reader's
open and its read."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

HOLD_US = 1_000_000  # how long strace holds the read; the victim is killed well inside it


def awk_paths(where: Path) -> dict[str, str]:
    """PATH values under which `awk` is each awk this machine has (mawk, gawk, nawk, busybox)."""
    found = {}
    for name in ("mawk", "gawk", "nawk", "busybox"):
        if binary := shutil.which(name):
            folder = where / f"awk-{name}"
            folder.mkdir()
            (folder / "awk").symlink_to(binary)  # busybox runs the applet its link is named after
            found[name] = f"{folder}:/usr/local/bin:/usr/bin:/bin"
    return found


def _holder_of(path: str) -> int | None:
    """The pid of a process with `path` open, if any."""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            links = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        if path in links:
            return int(fd_dir.parent.name)
    return None


def run_while_ending(argv: list[str], victim: subprocess.Popen, file: str, env: dict[str, str],
                     log: Path) -> subprocess.CompletedProcess[str]:
    """`argv` run under strace, the victim killed while the first read of its /proc `file` is held.
    Raises AssertionError when no process ever opened that file (the race did not happen)."""
    path = f"/proc/{victim.pid}/{file}"
    seen: list[int] = []
    finished = threading.Event()

    def kill_when_held() -> None:
        while not finished.is_set() and victim.poll() is None:
            if (holder := _holder_of(path)) is not None and holder != victim.pid:
                seen.append(holder)
                victim.kill()
                victim.wait()  # reaped: a zombie's files still read
                return
            finished.wait(0.01)

    killer = threading.Thread(target=kill_when_held)
    killer.start()
    try:
        done = subprocess.run(
            ["strace", "-f", "-qq", "-o", str(log), "-P", path, "-e", "trace=read",
             "-e", f"inject=read:delay_enter={HOLD_US}:when=1", *argv],
            capture_output=True, text=True, timeout=120, env=env, check=False)
    finally:
        finished.set()
        killer.join()
        victim.kill()
        victim.wait()
    assert seen, f"no process opened {path}: the race was not made"
    assert "ESRCH" in log.read_text(), f"the held read of {path} did not fail: {log.read_text()[-500:]}"
    return done

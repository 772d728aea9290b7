"""What makes a scheduled job never run: no cron daemon, systemd not PID 1, and the crontab
files Debian's cron ignores (name, owner, mode, link).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.parsers.schedules.cron import run_parts_runs

CRON_DAEMONS = ("cron", "crond", "fcron")


@dataclass(frozen=True)
class Scheduler:
    """What runs scheduled jobs on a host: PID 1's name and the watched processes running."""

    pid1: str
    processes: frozenset[str]

    @property
    def cron_running(self) -> bool:
        return bool(self.processes & set(CRON_DAEMONS))

    @property
    def systemd_running(self) -> bool:
        return self.pid1 == "systemd"

    def cron_blocker(self) -> str:
        return "" if self.cron_running else "no cron daemon is running"

    def systemd_blocker(self) -> str:
        return "" if self.systemd_running else f"systemd is not running (PID 1 is {self.pid1 or 'unknown'})"


@dataclass(frozen=True)
class FileMeta:
    """A crontab file's `find -printf '%y %Y %u %m'`: type, link target's type, owner, octal mode."""

    kind: str = "f"
    target: str = "f"
    owner: str = "?"
    mode: str = "0"


def cron_file_blocker(path: str, meta: Mapping[str, FileMeta]) -> str:
    """Why Debian's cron ignores a whole crontab file, or "" (each rule seen on cron 3.0pl1-162)."""
    name = path.rsplit("/", 1)[-1]
    info = meta.get(path, FileMeta())
    mode = info.mode
    writable = int(mode, 8) & 0o022 if re.fullmatch(r"[0-7]+", mode) else 0
    if path.startswith("/etc/cron.d/") and not run_parts_runs(name):
        return (f"cron ignores /etc/cron.d/{name}: file names there may hold only letters, digits, "
                "'_' and '-' (no dots)")
    if info.kind == "l" and info.target != "f":
        return f"cron ignores {path}: a link to no regular file"
    if path.startswith("/etc/"):
        if info.owner != "root":
            return f"cron ignores {path}: it belongs to {info.owner}, not root"
        if writable:
            return f"cron ignores {path}: it is group- or other-writable (mode {mode})"
    elif mode != "600":
        return f"cron ignores {path}: a user crontab must have mode 600, not {mode}"
    elif info.owner not in (name, "root"):
        return f"cron ignores {path}: it belongs to {info.owner}, not {name} or root"
    return ""

"""logrotate configuration: which log files are kept how long.

Follows logrotate's own reading order: the main file, with each `include` read in place
(a directory's files in name order, skipping logrotate's taboo extensions), global
directives applying to the blocks after them.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from auditor.parsers.conf import shell_words

PERIOD_DAYS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}
# logrotate 3.21's default tabooext; ".rhn-cfg-tmp-*" is a pattern, the rest are suffixes.
TABOO_SUFFIXES = (",v", ".cfsaved", ".disabled", ".dpkg-bak", ".dpkg-del", ".dpkg-dist", ".dpkg-new",
                  ".dpkg-old", ".dpkg-tmp", ".rpmnew", ".rpmorig", ".rpmsave", ".swp", ".ucf-dist",
                  ".ucf-new", ".ucf-old", "~")
TABOO_INFIX = ".rhn-cfg-tmp-"
UNLIMITED = float("inf")


@dataclass
class Settings:
    rotate: int = 0  # logrotate's default: rotated logs are removed
    period: str | None = None
    maxage: int | None = None
    by_size: bool = False  # size/maxsize make rotation happen sooner than the period

    def copy(self) -> Settings:
        return Settings(self.rotate, self.period, self.maxage, self.by_size)


@dataclass
class Block:
    paths: list[str]
    settings: Settings
    source: str  # file:line where the block starts
    notes: list[str] = field(default_factory=list)

    @property
    def retention_days(self) -> float:
        """Days of rotated logs that are guaranteed to be kept (a lower bound)."""
        s = self.settings
        if s.rotate < 0:
            days = UNLIMITED
        else:
            # Size-triggered rotation can happen on every (daily) logrotate run.
            period = 1.0 if (s.by_size or s.period is None) else PERIOD_DAYS[s.period]
            days = s.rotate * period
        if s.maxage is not None:
            days = min(days, s.maxage)
        return days

    def explain(self) -> str:
        s = self.settings
        if s.rotate < 0:
            text = "rotate -1 (never removed)"
        else:
            basis = "by size or with no period, counted as daily" if (s.by_size or s.period is None) \
                else s.period
            text = f"rotate {s.rotate} × {basis}"
        if s.maxage is not None:
            text += f", maxage {s.maxage}"
        days = self.retention_days
        return f"{text} = {'unlimited' if days == UNLIMITED else f'{days:g} days'}"


@dataclass
class Config:
    blocks: list[Block]
    files_read: list[str]
    problems: list[str]


def _tokens(line: str) -> list[str]:
    # Double backslashes first: the engine renders a non-UTF-8 byte as \xNN, and shlex
    # would take that backslash as an escape and lose it.
    try:
        return shell_words(line.replace("\\", "\\\\"))
    except ValueError:
        return line.split()


def _is_taboo(name: str) -> bool:
    return name.endswith(TABOO_SUFFIXES) or TABOO_INFIX in name


def parse(files: dict[str, str], main: str = "/etc/logrotate.conf") -> Config:
    config = Config([], [], [])
    if main not in files:
        return config
    globals_ = Settings()
    seen: set[str] = set()

    def read(path: str, depth: int) -> None:
        nonlocal globals_
        if path in seen or depth > 10:
            return
        seen.add(path)
        config.files_read.append(path)
        lines = files[path].splitlines()
        pending_paths: list[str] = []
        block: Block | None = None
        in_script = False
        for number, raw in enumerate(lines, 1):
            stripped = raw.strip()
            if in_script:
                in_script = stripped != "endscript"
                continue
            if not stripped or stripped.startswith("#"):
                continue
            if block is None and "{" in stripped:
                before, _, after = stripped.partition("{")
                pending_paths += _tokens(before)
                block = Block(pending_paths, globals_.copy(), f"{path}:{number}")
                pending_paths = []
                stripped = after.strip()
                if not stripped:
                    continue
            if block is not None and stripped.startswith("}"):
                config.blocks.append(block)
                block = None
                continue
            words = _tokens(stripped)
            if not words:
                continue
            target = block.settings if block is not None else globals_
            keyword = words[0]
            if keyword in ("postrotate", "prerotate", "firstaction", "lastaction", "preremove"):
                in_script = True
            elif keyword == "include" and block is None and len(words) > 1:
                include(words[1], depth)
            elif keyword in PERIOD_DAYS:
                target.period = keyword
            elif keyword == "rotate" and len(words) > 1:
                try:
                    target.rotate = int(words[1])
                except ValueError:
                    config.problems.append(f"{path}:{number}: rotate {words[1]!r} is not a number")
            elif keyword == "maxage" and len(words) > 1:
                try:
                    target.maxage = int(words[1])
                except ValueError:
                    config.problems.append(f"{path}:{number}: maxage {words[1]!r} is not a number")
            elif keyword in ("size", "maxsize") or keyword.startswith("size="):
                target.by_size = True
            elif block is None and keyword.startswith("/"):
                pending_paths += words  # a path list spread over lines before its "{"
        if block is not None:
            # logrotate applies a block left open at the end of a file; so do we.
            config.blocks.append(block)
            config.problems.append(f"{block.source}: block is never closed with }}")

    def include(target: str, depth: int) -> None:
        if target in files:
            read(target, depth + 1)
            return
        prefix = target.rstrip("/") + "/"
        members = sorted(p for p in files if p.startswith(prefix) and "/" not in p[len(prefix):])
        for member in members:
            if not _is_taboo(posixpath.basename(member)):
                read(member, depth + 1)

    read(main, 0)
    return config

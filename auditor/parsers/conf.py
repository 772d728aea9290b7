"""Key = value configuration files (systemd units and .conf drop-ins, login.defs), and the
shell-like words of sshd_config and logrotate lines."""

from __future__ import annotations

import fnmatch
import functools
import re
import shlex

from auditor.parsers.files import parse_dump

# journald.conf and its drop-in directories, the main file first (journald.conf(5)).
JOURNALD_CONFIG = ("/etc/systemd/journald.conf", "/usr/lib/systemd/journald.conf.d",
                   "/run/systemd/journald.conf.d", "/etc/systemd/journald.conf.d")
# shlex's (posix) quotes, escape and comment characters, and its whitespace: a line with none
# of the first splits on the second alone into the same words, at a tenth of shlex's cost.
SHLEX_SPECIAL = re.compile(r"['\"\\#]")
SHLEX_WORD = re.compile(r"[^ \t\r\n]+")


def shell_words(line: str) -> list[str]:
    """shlex.split(line, comments=True), ValueError included (an unbalanced quote)."""
    if SHLEX_SPECIAL.search(line) is None:
        return SHLEX_WORD.findall(line)
    return shlex.split(line, comments=True)


@functools.cache
def glob_pattern(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern that matches what any of the fnmatch globs matches (case-sensitive, as
    fnmatchcase); an empty tuple matches nothing."""
    return re.compile("|".join(fnmatch.translate(glob) for glob in globs) or r"(?!)")


def systemd_section(texts: list[str], section: str) -> dict[str, str]:
    """Merge `[section]` keys across files in order: later files override earlier ones."""
    merged: dict[str, str] = {}
    for text in texts:
        current = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1].strip()
            elif current == section and "=" in line:
                key, _, value = line.partition("=")
                merged[key.strip()] = value.strip()
    return merged


def systemd_dropin_order(files: dict[str, str], main: str) -> list[str]:
    """Texts in the order systemd reads them: the main file, then `*.conf` drop-ins sorted
    by file name, where /etc hides /run, which hides /usr/lib, for the same name."""
    rank = {"/etc/": 0, "/run/": 1}
    chosen: dict[str, tuple[int, str]] = {}
    for path, text in files.items():
        name = path.rsplit("/", 1)[-1]
        if path == main or not name.endswith(".conf"):
            continue
        priority = next((r for prefix, r in rank.items() if path.startswith(prefix)), 2)
        if name not in chosen or priority < chosen[name][0]:
            chosen[name] = (priority, text)
    return ([files[main]] if main in files else []) + [chosen[n][1] for n in sorted(chosen)]


# Where systemd looks for system units, first match wins (systemd.unit(5)).
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/lib/systemd/system", "/usr/lib/systemd/system")


def unit_template(name: str) -> str:
    """"pg_dump@15-main.timer" -> "pg_dump@.timer"; other names unchanged."""
    match = re.fullmatch(r"(.+@)[^@]+(\.[a-z]+)", name)
    return match.group(1) + match.group(2) if match else name


def unit_texts(units: dict[str, list[str]], name: str) -> list[str]:
    """A unit's texts from {path: lines}: its main file (the first of UNIT_DIRS that has it,
    else its template's) and drop-ins (the template's and the instance's), in systemd's order."""
    template = unit_template(name)
    main = next((f"{d}/{n}" for n in (name, template) for d in UNIT_DIRS if f"{d}/{n}" in units), "")
    dropins = {p: "\n".join(lines) for p, lines in units.items()
               if p.rsplit("/", 2)[-2] in (f"{name}.d", f"{template}.d") and p.endswith(".conf")}
    files = {**dropins, **({main: "\n".join(units[main])} if main else {})}
    return systemd_dropin_order(files, main)


def whitespace_keys(text: str) -> dict[str, str]:
    """`KEY value` lines as in login.defs; the last one wins, as in shadow-utils."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ") if " " in line else line.partition("\t")
            found[key.strip()] = value.strip()
    return found


_SPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1,
    "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600,
    "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400, "w": 604800,
    "week": 604800, "weeks": 604800, "M": 2629800, "month": 2629800, "months": 2629800,
    "y": 31557600, "year": 31557600, "years": 31557600,
}
_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")


def systemd_timespan_seconds(value: str) -> float | None:
    """'2w 3d', '60days', '5184000' -> seconds; None when it is not a time span."""
    value = value.strip()
    if not value:
        return None
    total, pos = 0.0, 0
    for match in _SPAN_PART.finditer(value):
        if value[pos:match.start()].strip():
            return None
        unit = match.group(2) or "s"
        if unit not in _SPAN_UNITS:
            return None
        total += float(match.group(1)) * _SPAN_UNITS[unit]
        pos = match.end()
    return total if not value[pos:].strip() else None


def journald_settings(dump: str) -> dict[str, str]:
    """The [Journal] settings in force, from a dump of JOURNALD_CONFIG (dump_files_script)."""
    return systemd_section(systemd_dropin_order(parse_dump(dump)[0], JOURNALD_CONFIG[0]), "Journal")

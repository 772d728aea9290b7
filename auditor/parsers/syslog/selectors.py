"""syslog facilities and priorities, and whether a legacy selector (`auth,authpriv.*`,
`*.*;auth.none`, `kern.!debug`) selects a message.
"""

from __future__ import annotations

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "security": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14,
    "clock": 15, **{f"local{n}": 16 + n for n in range(8)},
}
PRIORITIES = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4,
              "warn": 4, "notice": 5, "info": 6, "debug": 7}


def selector_matches(selector: str, facility: str, priority: str = "info") -> bool:
    """Whether a legacy selector (`*.*;auth,authpriv.none`, `auth.=info`, `kern.!debug`)
    selects messages of `facility` at `priority`. Later parts override earlier ones."""
    code = FACILITIES.get(facility.lower())
    level = PRIORITIES[priority.lower()]
    matched = False
    for part in selector.split(";"):
        facilities, dot, wanted = part.strip().rpartition(".")
        if not dot or not facilities:
            continue
        names = [f.strip().lower() for f in facilities.split(",")]
        if "*" not in names and code not in {FACILITIES.get(n) for n in names}:
            continue
        wanted = wanted.strip().lower()
        if wanted == "none":
            matched = False
            continue
        negate = wanted.startswith("!")
        wanted = wanted.lstrip("!")
        exact = wanted.startswith("=")
        wanted = wanted.lstrip("=")
        if wanted == "*":
            hit = True
        elif wanted in PRIORITIES:
            hit = level == PRIORITIES[wanted] if exact else level <= PRIORITIES[wanted]
        else:
            continue
        if negate:
            matched = matched and not hit
        elif hit:
            matched = True
    return matched

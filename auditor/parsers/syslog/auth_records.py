"""Authentication log records: one line (RFC 3164, RFC 3339, short-iso or no timestamp)
read into its time, program, event (sshd, PAM, login, su, sudo), user and source.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                      "Oct", "Nov", "Dec"), 1)}
_RFC3164 = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)? ")
_TIME_ONLY = re.compile(r"(\d\d):(\d\d):(\d\d) ")
# host, busybox syslogd's `facility.priority` (its default format; -S drops it), program[pid]: message
_TAG = re.compile(r"(?:(\S+) )?(?:[a-z0-9]+\.(?:emerg|alert|crit|err|warn|warning|notice|info|debug) )?"
                  r"([A-Za-z0-9_./-]+?)(?:\[(\d+)\])?: (.*)$", re.DOTALL)

# Events, with the fields their message carries.
_EVENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("accepted", re.compile(r"Accepted (?P<method>\S+) for (?P<user>.+?) from (?P<source>\S+) "
                            r"port (?P<port>\d+)")),
    ("failed", re.compile(r"Failed (?P<method>\S+) for (?:invalid user )?(?P<user>.+?) from (?P<source>\S+) "
                          r"port (?P<port>\d+)")),
    ("invalid_user", re.compile(r"Invalid user (?P<user>.*?) from (?P<source>\S+)"
                                r"(?: port (?P<port>\d+))?\s*$")),
    ("failed", re.compile(r"(?:Connection closed by|Disconnected from) (?:authenticating|invalid) user "
                          r"(?P<user>.+?) (?P<source>\S+) port (?P<port>\d+)")),
    ("pam_failure", re.compile(r"pam_unix\((?P<service>[^:)]+):auth\): "
                               r"authentication failure;(?P<fields>.*)$")),
    ("session_opened", re.compile(r"pam_unix\((?P<service>[^:)]+):session\): session opened for user "
                                  r"(?P<user>[^\s(]+)")),
    ("login_failed", re.compile(r"FAILED LOGIN \(\d+\) on '[^']*' (?:from '(?P<source>[^']*)' )?"
                                r"FOR '(?P<user>[^']*)'")),
    ("login_root", re.compile(r"ROOT LOGIN +ON \S+(?: FROM (?P<source>\S+))?")),
    ("su", re.compile(r"(?:FAILED SU )?\(to (?P<target>[^)]+)\) (?P<user>\S+) on \S+")),
    ("sudo", re.compile(r"\s*(?P<user>\S+) : (?:.*; )?(?:PWD=.*; )?USER=(?P<target>\S+) ; COMMAND=")),
    ("sudo_failed", re.compile(r"\s*(?P<user>\S+) : (?:\d+ incorrect password attempts?|"
                               r"user NOT in sudoers|command not allowed)")),
)
# Events of a network login: they must name where the login came from.
NETWORK_EVENTS = frozenset({"accepted", "failed", "invalid_user"})


@dataclass(frozen=True)
class AuthRecord:
    event: str
    program: str | None
    pid: str | None
    service: str  # sshd, login, su, sudo, ... (PAM's service name where PAM logged it)
    has_date: bool
    has_time: bool
    epoch: float | None  # None when the line has no full date, or no year and no reference
    user: str | None
    source: str | None
    port: int | None

    @property
    def network(self) -> bool:
        """A login over the network, which must name its source address."""
        if self.event in NETWORK_EVENTS:
            return True
        return self.event == "pam_failure" and self.service in ("sshd", "sshd-session")

    @property
    def source_is_ip(self) -> bool:
        return self.source is not None and is_ip(self.source)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _offset(text: str | None) -> dt.timezone | None:
    if not text:
        return None
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _timestamp(line: str, now: float | None, utc_offset: int) -> tuple[bool, bool, float | None, str]:
    """(has_date, has_time, epoch, the rest of the line)."""
    local = dt.timezone(dt.timedelta(seconds=utc_offset))
    iso = _ISO.match(line)
    if iso:
        y, mo, d, h, mi, s = (int(g) for g in iso.groups()[:6])
        fraction = float(iso.group(7) or 0)
        try:
            stamp = dt.datetime(y, mo, d, h, mi, s, tzinfo=_offset(iso.group(8)) or local)
        except ValueError:
            return True, True, None, line[iso.end():]
        return True, True, stamp.timestamp() + fraction, line[iso.end():]
    old = _RFC3164.match(line)
    if old and old.group(1) in MONTHS:
        epoch = None
        if now is not None:
            # No year in the record: the latest year that does not put it in the future.
            today = dt.datetime.fromtimestamp(now, local)
            for year in (today.year, today.year - 1):
                try:
                    stamp = dt.datetime(year, MONTHS[old.group(1)], int(old.group(2)), int(old.group(3)),
                                        int(old.group(4)), int(old.group(5)), tzinfo=local)
                except ValueError:
                    continue
                if stamp.timestamp() <= now + 86400:
                    epoch = stamp.timestamp()
                    break
        return True, True, epoch, line[old.end():]
    clock = _TIME_ONLY.match(line)
    if clock:
        return False, True, None, line[clock.end():]
    return False, False, None, line


def _field(fields: str, name: str) -> str | None:
    found = re.search(rf"(?:^|\s){name}=(\S*)", fields)
    return found.group(1) or None if found else None


def parse_auth_record(line: str, now: float | None = None, utc_offset: int = 0) -> AuthRecord | None:
    """One authentication event, or None when the line records no login attempt.

    `now` (epoch seconds) and `utc_offset` (seconds east of UTC) place year-less RFC 3164
    timestamps in time, as the host that wrote them would.
    """
    has_date, has_time, epoch, rest = _timestamp(line.rstrip("\r\n"), now, utc_offset)
    program = pid = None
    message = rest
    tagged = _TAG.match(rest)
    if tagged and not rest.startswith(("Accepted ", "Failed ", "Invalid user ")):
        program, pid, message = tagged.group(2), tagged.group(3), tagged.group(4)
    for event, pattern in _EVENTS:
        anywhere = event in ("pam_failure", "session_opened")  # PAM lines may carry a prefix
        found = pattern.search(message) if anywhere else pattern.match(message)
        if not found:
            continue
        groups = found.groupdict()
        service = groups.get("service") or _service(event, program)
        user, source = groups.get("user"), groups.get("source")
        if event == "pam_failure":
            fields = groups["fields"]
            user, source = _field(fields, "user"), _field(fields, "rhost")
        if event in ("su", "sudo", "sudo_failed") and program not in (None, "su", "sudo"):
            continue
        port = int(groups["port"]) if groups.get("port") else None
        return AuthRecord(event, program, pid, service, has_date, has_time, epoch, user or None,
                          source or None, port)
    return None


def _service(event: str, program: str | None) -> str:
    if event in NETWORK_EVENTS:
        return "sshd"
    if event.startswith("login"):
        return "login"
    if event.startswith("sudo"):
        return "sudo"
    return event if event == "su" else (program or "?")

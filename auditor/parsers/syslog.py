"""syslog: where rsyslog sends a facility, and what an authentication log record says.

Two halves, both pure:

* `parse_rsyslog(files)` reads rsyslog's configuration in its own order (the main file,
  each `$IncludeConfig` / `include(file=...)` read in place, a glob's files in name order):
  legacy selector lines (`auth,authpriv.* /var/log/auth.log`, `&` continuation actions,
  `~` / `stop`), RainerScript `action(...)` objects, `if prifilt("...")` and
  `if $syslogfacility-text == '...'` blocks, and `ruleset(...) { }` blocks. `destinations()`
  then answers "which files does a message of this facility and priority end up in".
  What it does not interpret (other `if` conditions, property filters) is listed in
  `notes`, never silently dropped.
* `parse_auth_record(line)` takes one line of an authentication log — RFC 3164
  (`Nov 21 10:05:01 host sshd[123]: ...`), RFC 3339 (`2026-11-21T10:05:01.123456+00:00 host
  ...`), journalctl's short-iso, or no timestamp at all — and extracts the date and time,
  the program, the event (sshd Accepted/Failed/Invalid user, PAM authentication failures
  and sessions, login, su, sudo), the user and the source address.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "security": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14,
    "clock": 15, **{f"local{n}": 16 + n for n in range(8)},
}
PRIORITIES = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4,
              "warn": 4, "notice": 5, "info": 6, "debug": 7}
DEFAULT_RULESET = "RSYSLOG_DefaultRuleset"
# RainerScript statements that configure rsyslog but route no message.
_CONFIG_OBJECTS = ("module", "global", "input", "template", "main_queue", "parser", "timezone",
                   "lookup_table", "dyn_stats", "license", "percentile_stats", "ratelimit")
_MAX_INCLUDE_DEPTH = 10


# --------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# rsyslog configuration
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: str  # file | dynafile | remote | users | pipe | stop | other
    target: str  # the file, host, template name or module; "" for stop
    source: str  # file:line


@dataclass(frozen=True)
class Rule:
    selector: str  # legacy selector text; "*.*" for an unconditional statement
    actions: tuple[Action, ...]
    ruleset: str
    source: str


@dataclass
class RsyslogConfig:
    rules: list[Rule] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was seen but not interpreted
    bound_rulesets: set[str] = field(default_factory=set)  # rulesets bound to local inputs

    def destinations(self, facility: str, priority: str = "info") -> list[Action]:
        """Actions a local message of this facility and priority reaches, in order, up to
        the first `stop` that catches it."""
        reached: list[Action] = []
        stopped: set[str] = set()
        for rule in self.rules:
            if rule.ruleset in stopped or not self._receives_local(rule.ruleset):
                continue
            if not selector_matches(rule.selector, facility, priority):
                continue
            for action in rule.actions:
                if action.kind == "stop":
                    stopped.add(rule.ruleset)
                    break
                reached.append(action)
        return reached

    def _receives_local(self, ruleset: str) -> bool:
        return ruleset == DEFAULT_RULESET or ruleset in self.bound_rulesets


def _strip_comment(line: str) -> str:
    """The line without a `#` comment outside quotes."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def _depth(text: str) -> int:
    """Open parentheses plus open braces outside quotes."""
    depth, quote = 0, ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
    return depth


def _statements(text: str, path: str) -> list[tuple[str, int]]:
    """(statement, first line number): lines joined while parentheses or braces are open."""
    statements: list[tuple[str, int]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if not buffer:
            start = number
        buffer.append(line)
        joined = "\n".join(buffer)
        if _depth(joined) <= 0:
            statements.append((joined, start))
            buffer = []
    if buffer:
        statements.append(("\n".join(buffer), start))
    return statements


_PARAM = re.compile(r"""([A-Za-z][A-Za-z0-9_.]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s)]+))""")


def _object_params(text: str) -> dict[str, str]:
    """`name(key="value" ...)` -> {key (lower case): value}."""
    return {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
            for m in _PARAM.finditer(text)}


def _legacy_action(text: str, source: str) -> Action:
    text = text.strip()
    if text in ("~", "stop"):
        return Action("stop", "", source)
    if text.startswith("-/") or text.startswith("/"):
        return Action("file", text.lstrip("-").split(";", 1)[0].strip(), source)
    if text.startswith("?"):
        return Action("dynafile", text[1:].split(";", 1)[0].strip(), source)
    if text.startswith("@"):
        return Action("remote", text.lstrip("@").split(";", 1)[0].strip(), source)
    if text.startswith("|"):
        return Action("pipe", text[1:].strip(), source)
    if text.startswith(":omusrmsg:") or text == "*" or re.fullmatch(r"[\w,-]+", text):
        return Action("users", text, source)
    if text.lower().startswith("action("):
        params = _object_params(text)
        kind = params.get("type", "").lower()
        if kind == "omfile":
            if "file" in params:
                return Action("file", params["file"], source)
            return Action("dynafile", params.get("dynafile", ""), source)
        if kind in ("omfwd", "omrelp"):
            return Action("remote", params.get("target", ""), source)
        if kind == "omusrmsg":
            return Action("users", params.get("users", ""), source)
        if kind == "ompipe":
            return Action("pipe", params.get("pipe", ""), source)
        return Action("other", kind or text[:40], source)
    return Action("other", text[:60], source)


def _block_actions(body: str, source: str) -> tuple[list[Action], list[str]]:
    """The actions of a `{ ... }` block in order: action() objects, legacy file actions and
    `stop`; nested conditions are reported, not interpreted."""
    actions: list[Action] = []
    notes: list[str] = []
    index = 0
    while index < len(body):
        rest = body[index:]
        found = re.match(r"\s*(action\s*\(|stop\b|~|-?/\S+|if\b|[^\s]+)", rest)
        if not found:
            break
        token = found.group(1)
        begin = index + found.start(1)
        if token.startswith("action"):
            end = begin + _object_end(body[begin:])
            actions.append(_legacy_action(body[begin:end], source))
            index = end
            continue
        if token in ("stop", "~"):
            actions.append(Action("stop", "", source))
        elif token.startswith(("/", "-/")):
            actions.append(_legacy_action(token, source))
        elif token == "if":
            notes.append(f"{source}: a nested `if` is not interpreted")
            break
        index = begin + len(token)
    return actions, notes


def _object_end(text: str) -> int:
    """Index just past the parenthesised object that starts `text`."""
    depth, quote = 0, ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


_FACILITY_TEST = re.compile(r"""\$syslogfacility-text\s*==\s*["'](\w+)["']""", re.IGNORECASE)


def _condition_selector(condition: str) -> str | None:
    """A RainerScript condition as a legacy selector, when it only tests the facility."""
    condition = condition.strip()
    prifilt = re.fullmatch(r"""prifilt\(\s*["']([^"']+)["']\s*\)""", condition)
    if prifilt:
        return prifilt.group(1)
    tests = _FACILITY_TEST.findall(condition)
    rest = _FACILITY_TEST.sub("", condition)
    if tests and not re.sub(r"\bor\b|[()\s]", "", rest):
        return ",".join(t.lower() for t in tests) + ".*"
    return None


def _include_targets(pattern: str, files: dict[str, str]) -> list[str]:
    if pattern.endswith("/"):
        pattern += "*"
    if any(c in pattern for c in "*?["):
        directory = pattern.rsplit("/", 1)[0] + "/"
        return sorted(p for p in files if fnmatch.fnmatchcase(p, pattern) and "/" not in p[len(directory):])
    return [pattern] if pattern in files else []


def parse_rsyslog(files: dict[str, str], main: str = "/etc/rsyslog.conf") -> RsyslogConfig:
    """rsyslog's rules in the order rsyslog applies them."""
    config = RsyslogConfig()
    if main not in files:
        return config
    seen: set[str] = set()

    def include(pattern: str, depth: int, source: str) -> None:
        targets = _include_targets(pattern, files)
        if not targets:
            config.notes.append(f"{source}: include {pattern} matched no file that could be read")
        for target in targets:
            read(target, depth + 1, DEFAULT_RULESET)

    def read(path: str, depth: int, ruleset: str) -> None:
        if path in seen or depth > _MAX_INCLUDE_DEPTH:
            return
        seen.add(path)
        config.files_read.append(path)
        parse_text(files[path], path, depth, ruleset, 0)

    def parse_text(text: str, path: str, depth: int, ruleset: str, offset: int) -> None:
        previous: str | None = None
        for statement, number in _statements(text, path):
            source = f"{path}:{number + offset}"
            head = statement.split(None, 1)[0] if statement.split() else ""
            lower = statement.lower()
            if statement.startswith("$"):
                if head.lower() == "$includeconfig" and len(statement.split()) > 1:
                    include(statement.split()[1], depth, source)
                continue
            if re.match(r"include\s*\(", lower):
                params = _object_params(statement)
                if "file" in params:
                    include(params["file"], depth, source)
                elif "text" in params:
                    parse_text(params["text"], path, depth, ruleset, number + offset - 1)
                continue
            name = re.match(r"([a-z_]+)\s*\(", lower)
            if name and name.group(1) in _CONFIG_OBJECTS:
                if name.group(1) == "input":
                    params = _object_params(statement)
                    if params.get("type", "").lower() in ("imuxsock", "imjournal") and "ruleset" in params:
                        config.bound_rulesets.add(params["ruleset"])
                continue
            if name and name.group(1) == "ruleset":
                params = _object_params(statement[: _object_end(statement)])
                body = statement[_object_end(statement):].strip()
                if body.startswith("{") and body.endswith("}"):
                    parse_text(body[1:-1], path, depth, params.get("name", "?"), number + offset - 1)
                continue
            if lower.startswith("if ") or lower.startswith("if("):
                condition, then, body = statement[2:].partition("then")
                selector = _condition_selector(condition) if then else None
                if selector is None:
                    config.notes.append(f"{source}: condition `{' '.join(condition.split())[:80]}` "
                                        "is not interpreted")
                    continue
                body = body.strip()
                if body.startswith("{"):
                    actions, notes = _block_actions(body[1:-1], source)
                    config.notes += notes
                else:
                    actions = [_legacy_action(body, source)]
                config.rules.append(Rule(selector, tuple(actions), ruleset, source))
                previous = selector
                continue
            if statement.startswith(":"):
                config.notes.append(f"{source}: property filter `{statement[:60]}` is not interpreted")
                previous = None
                continue
            if statement.startswith("&"):
                if previous is not None:
                    action = _legacy_action(statement[1:], source)
                    config.rules.append(Rule(previous, (action,), ruleset, source))
                continue
            if lower in ("stop", "~"):
                config.rules.append(Rule("*.*", (Action("stop", "", source),), ruleset, source))
                continue
            parts = statement.split(None, 1)
            if len(parts) == 2 and "." in parts[0]:
                previous = parts[0]
                config.rules.append(Rule(parts[0], (_legacy_action(parts[1], source),), ruleset, source))
            else:
                config.notes.append(f"{source}: `{statement[:60]}` is not understood")

    read(main, 0, DEFAULT_RULESET)
    return config


# --------------------------------------------------------------------------
# Authentication log records
# --------------------------------------------------------------------------

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                      "Oct", "Nov", "Dec"), 1)}
_RFC3164 = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)? ")
_TIME_ONLY = re.compile(r"(\d\d):(\d\d):(\d\d) ")
_TAG = re.compile(r"(?:(\S+) )?([A-Za-z0-9_./-]+?)(?:\[(\d+)\])?: (.*)$", re.DOTALL)

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

"""rsyslog's configuration read in rsyslog's own order (includes in place, legacy selector
lines, RainerScript `action(...)`, facility-only `if` blocks, rulesets), and which
actions a message of a facility and priority reaches.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from auditor.parsers.syslog.selectors import selector_matches

DEFAULT_RULESET = "RSYSLOG_DefaultRuleset"
# RainerScript statements that configure rsyslog but route no message.
_CONFIG_OBJECTS = ("module", "global", "input", "template", "main_queue", "parser", "timezone",
                   "lookup_table", "dyn_stats", "license", "percentile_stats", "ratelimit")
_MAX_INCLUDE_DEPTH = 10


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

"""Linux audit rules: `auditctl -l` output and /etc/audit/rules.d syntax.

`parse_rules(text)` reads rules in load order: `-D` deletes what came before, `-W` removes
a watch, `-A` puts a rule first, `-e N` sets the enabled flag (2 = immutable). File watches
are `-w PATH -p PERMS -k KEY`, or the syscall form `-a always,exit -F path=PATH -F perm=wa`.
Recursive (covering everything below) are `-F dir=DIR` and `-w` on a directory (auditctl
loads it as a dir rule); `-F path=` watches that one inode only, even on a directory.

`auditctl -l` prints every simple watch as a `-w` line, whether it was loaded as `-w`,
`-F dir=` or `-F path=` (auditctl 3.0.9 lists all three alike), so `parse_rules(...,
listing=True)` leaves such a rule's `tree` unknown (None); `resolve_listing` takes it from
the rule files where a rule there has the same path. `covering(rules, path)` is the first
rule that records writes and attribute changes to `path` — a watch on the path itself, or
a recursive one on a directory above it — unless a `never` rule on that path comes first.
A rule above the path whose recursion is unknown does not cover it.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field, replace

ALL_PERMS = "rwxa"


@dataclass(frozen=True)
class Rule:
    action: str  # always | never
    path: str  # the watched file or directory ("" for a rule on no path)
    tree: bool | None  # recursive: covers everything below (None: unknown, see resolve_listing)
    perms: str  # subset of rwxa
    key: str
    source: str  # file:line or "auditctl -l:N"


@dataclass
class Rules:
    rules: list[Rule] = field(default_factory=list)
    enabled: int | None = None  # the last -e seen
    problems: list[str] = field(default_factory=list)


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _one_rule(words: list[str], source: str, listing: bool) -> Rule | None:
    """A file rule from one line's words; None for rules on no path (syscalls, exclusions)."""
    action, path, perms, key = "always", "", "", ""
    tree: bool | None = False
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word in ("-w", "-W"):
            # auditctl makes a watch on a directory recursive, and only a directory has
            # something below it; but `auditctl -l` lists -F path= watches as -w too.
            path, tree = value, None if listing else True
        elif word == "-p":
            perms = value
        elif word == "-k":
            key = value
        elif word in ("-a", "-A"):
            action = "never" if "never" in value.split(",") else "always"
            if "exit" not in value.split(","):
                return None
        elif word == "-F":
            name, _, field_value = value.partition("=")
            if name == "path":
                path, tree = field_value, False
            elif name == "dir":
                path, tree = field_value, True
            elif name == "perm":
                perms = field_value
            elif name == "key":
                key = field_value
        if word in ("-w", "-W", "-p", "-k", "-a", "-A", "-F", "-S"):
            index += 2
        else:
            index += 1
    if not path:
        return None
    return Rule(action, _norm(path), tree, perms or ALL_PERMS, key, source)


def parse_rules(text: str, origin: str = "auditctl -l", listing: bool = False) -> Rules:
    """Rules in load order; `origin` names the file for `source`; `listing`: the text is
    `auditctl -l` output, whose `-w` lines do not say whether the watch is recursive."""
    found = Rules()
    for number, raw in enumerate(text.splitlines(), 1):
        words = _tokens(raw.strip())
        if not words or not words[0].startswith("-"):
            continue
        source = f"{origin}:{number}"
        head = words[0]
        if head == "-D":
            found.rules = []
        elif head == "-e" and len(words) > 1:
            if words[1].isdigit():
                found.enabled = int(words[1])
            else:
                found.problems.append(f"{source}: -e {words[1]!r} is not a number")
        elif head == "-W" and len(words) > 1:
            gone = _norm(words[1])
            found.rules = [r for r in found.rules if not (r.path == gone and r.action == "always")]
        elif head in ("-w", "-a", "-A"):
            rule = _one_rule(words, source, listing)
            if rule is not None:
                if head == "-A":
                    found.rules.insert(0, rule)
                else:
                    found.rules.append(rule)
    return found


def resolve_listing(loaded: list[Rule], files: list[Rule]) -> list[Rule]:
    """The loaded rules, each unknown `tree` taken from a rule file's rule on the same path
    (the last one, as a later load of the same watch is refused as a duplicate anyway)."""
    known = {(r.path, r.action): r.tree for r in files if r.tree is not None}
    return [replace(r, tree=known[(r.path, r.action)]) if r.tree is None and (r.path, r.action) in known
            else r for r in loaded]


def covering(rules: list[Rule], path: str, needed: str = "wa") -> tuple[Rule | None, str]:
    """(the rule that records `needed` accesses to `path`, why not when None)."""
    target = _norm(path)
    partial: Rule | None = None
    unsure: Rule | None = None
    for rule in rules:
        below = target.startswith(rule.path.rstrip("/") + "/")
        if below and rule.tree is None:
            unsure = unsure or rule
            continue
        # A recursive watch on a directory above the target covers it; -F path= does not.
        if not (rule.path == target or (below and rule.tree)):
            continue
        if rule.action == "never":
            return None, f"excluded by a never rule ({rule.source})"
        if all(p in rule.perms for p in needed):
            return rule, ""
        partial = partial or rule
    if partial is not None:
        return None, f"watched only for -p {partial.perms} ({partial.source}), not {needed}"
    if unsure is not None:
        return None, (f"only a watch on {unsure.path} ({unsure.source}), which auditctl -l does not show "
                      "to be recursive (it lists -F path= watches as -w too) and no rule file shows either")
    return None, "no watch"

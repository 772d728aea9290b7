"""What a shell command line runs: its simple commands, seen through the wrappers around them.

A scheduled job's command is rarely the program itself: `flock -n /run/x.lock sudo -u
postgres /usr/local/bin/pg-backup >> /var/log/x 2>&1`. `invocations()` splits a command line
at `;`, `&&`, `||`, `|` and `&`, drops redirections and leading `NAME=value` settings, and
unwraps, recursively, `su -c '…'`, `runuser -u user -- cmd` (and `runuser user -c '…'`),
`sudo [-u user] cmd`, `sh|bash|dash -c '…'`, `flock [options] file cmd` (or `-c '…'`),
`nice`, `ionice`, `chronic`, `timeout`, `env`, `nohup`, `setsid`, `exec`, `command`, and
interpreters running a file (`sh /usr/local/bin/x`, `python3 /opt/x.py`). Each result is the
argv of a program that really runs, and the user it runs as when a wrapper says so.

Never executes anything; linear in the length of the command (which is capped), with a
bounded nesting depth.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

MAX_COMMAND_CHARS = 8000  # a longer command is read up to here
MAX_DEPTH = 4  # `su -c "sh -c '…'"` nesting followed this deep
_SEPARATORS = frozenset({";", ";;", "&&", "||", "|", "|&", "&", "(", ")", "{", "}", "!"})
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time",
                       "exec", "command", "nohup", "setsid", "builtin"})
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh", "busybox"})
_INTERPRETERS = frozenset({"python", "python2", "python3", "perl", "ruby", "php"})


@dataclass(frozen=True)
class Invocation:
    """One program a command line runs: its argv, and the user a wrapper runs it as ("" = the job's)."""

    argv: tuple[str, ...]
    user: str = ""

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command[:MAX_COMMAND_CHARS], posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: read it word by word, quotes dropped
        return [word.strip("'\"") for word in command[:MAX_COMMAND_CHARS].split()]


def _simple_commands(tokens: list[str]) -> list[list[str]]:
    """Words of each simple command, without redirections (`2>&1`, `>> file`, `< in`)."""
    commands: list[list[str]] = [[]]
    skip_target = False
    for token in tokens:
        if skip_target:
            skip_target = False
            continue
        if token in _SEPARATORS or token == "\n":
            commands.append([])
        elif token and set(token) <= set("<>&|") and ("<" in token or ">" in token):
            current = commands[-1]
            if current and current[-1].isdigit():
                current.pop()  # the file descriptor of `2> file`
            skip_target = True
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _options(words: list[str], with_value: frozenset[str]) -> int:
    """Index of the first word after the leading options (`--` ends them)."""
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        if words[i] == "--":
            return i + 1
        name = words[i].split("=", 1)[0]
        i += 2 if name in with_value and "=" not in words[i] else 1
    return i


def _option_value(words: list[str], names: tuple[str, ...]) -> str | None:
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return words[i + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word[len(name) + 1:]
    return None


def _unwrap(words: list[str], user: str, depth: int) -> list[Invocation]:
    while words and ("=" in words[0] and not words[0].startswith("=")
                     and words[0].split("=", 1)[0].isidentifier() or words[0] in _KEYWORDS):
        words = words[1:]
    if not words:
        return []
    name = words[0].rsplit("/", 1)[-1]
    rest = words[1:]
    if depth >= MAX_DEPTH:
        return [Invocation(tuple(words), user)]
    if name == "busybox" and rest:
        return _unwrap(rest, user, depth + 1)
    if name in _SHELLS:
        script = _option_value(rest, ("-c",))
        if script is not None:
            return invocations(script, user, depth + 1)
        start = _options(rest, frozenset({"-o", "+o"}))
        return [Invocation(tuple(rest[start:]), user)] if start < len(rest) else []
    if name in _INTERPRETERS or name.startswith(("python3.", "python2.")):
        start = _options(rest, frozenset({"-W", "-X", "-m", "-I"}))
        if start < len(rest) and rest[start].startswith("/") and "-m" not in rest[:start]:
            return [Invocation(tuple(rest[start:]), user)]
        return [Invocation(tuple(words), user)]
    if name == "su" or (name == "runuser" and "-u" not in rest and not any(
            w.startswith("--user") for w in rest)):
        script = _option_value(rest, ("-c", "--command"))
        start = _options([w for w in rest if w != "-"], frozenset({"-c", "--command", "-s", "--shell", "-g",
                                                                  "--group", "-G", "--supp-group", "-w"}))
        plain = [w for w in rest if w != "-"]
        who = plain[start] if start < len(plain) else "root"
        return invocations(script, who, depth + 1) if script is not None else []
    if name == "runuser":
        who = _option_value(rest, ("-u", "--user")) or user
        start = _options(rest, frozenset({"-u", "--user", "-g", "--group", "-G", "--supp-group", "-w"}))
        return _unwrap(rest[start:], who, depth + 1)
    if name == "sudo":
        who = _option_value(rest, ("-u", "--user")) or "root"
        start = _options(rest, frozenset({"-u", "--user", "-g", "--group", "-C", "--close-from", "-D",
                                          "--chdir", "-h", "--host", "-p", "--prompt", "-r", "--role",
                                          "-t", "--type", "-T", "--command-timeout", "-U", "--other-user"}))
        return _unwrap(rest[start:], who, depth + 1)
    if name == "flock":
        script = _option_value(rest, ("-c", "--command"))
        if script is not None:
            return invocations(script, user, depth + 1)
        start = _options(rest, frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}))
        return _unwrap(rest[start + 1:], user, depth + 1)  # the word after the options is the lock
    if name == "timeout":
        start = _options(rest, frozenset({"-k", "--kill-after", "-s", "--signal"}))
        return _unwrap(rest[start + 1:], user, depth + 1)  # the word after the options is the duration
    if name == "nice":
        start = _options(rest, frozenset({"-n", "--adjustment"}))
        return _unwrap(rest[start:], user, depth + 1)
    if name == "ionice":
        if any(w in ("-p", "-P", "-u", "--pid", "--pgid", "--uid") for w in rest):
            return []  # changes a running process, runs nothing
        start = _options(rest, frozenset({"-c", "--class", "-n", "--classdata"}))
        return _unwrap(rest[start:], user, depth + 1)
    if name in ("chronic", "nohup", "setsid", "stdbuf"):
        start = _options(rest, frozenset({"-i", "-o", "-e"} if name == "stdbuf" else set()))
        return _unwrap(rest[start:], user, depth + 1)
    if name == "env":
        start = _options(rest, frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}))
        return _unwrap(rest[start:], user, depth + 1)
    return [Invocation(tuple(words), user)]


def invocations(command: str, user: str = "", depth: int = 0) -> list[Invocation]:
    """Every program `command` runs, wrappers seen through, in order."""
    found: list[Invocation] = []
    for words in _simple_commands(_tokens(command)):
        found += _unwrap(words, user, depth)
    return found

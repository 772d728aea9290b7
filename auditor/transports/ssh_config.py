"""ssh_config(5) resolution as `ssh -G` does it, for the options the SSH transport uses.

paramiko's SSHConfig ignores `Include` and knows nothing of the system-wide file; aliases
defined in an included file then fell through to DNS. Here:

* the user's file (default ~/.ssh/config), then /etc/ssh/ssh_config; a file given with
  --ssh-config replaces both, as `ssh -F` does;
* `Include` with globs (sorted), `~`, and relative paths resolved against ~/.ssh for the user's
  file and /etc/ssh for the system file; an Include inside a Host/Match block applies only when
  that block does, and the block's state is restored after it (readconf.c);
* `Host` patterns with `*`, `?`, `!`; `Match all|host|originalhost|user|localuser` (`Match exec`
  would run a local command: it never matches here);
* the first value obtained wins, IdentityFile accumulates, ProxyJump and ProxyCommand exclude
  each other (whichever comes first), and %-tokens are expanded as ssh(1) expands them.
"""

from __future__ import annotations

import functools
import getpass
import glob
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from auditor.transports.base import TransportError
from auditor.transports.known_hosts import host_matches

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
_MAX_INCLUDE_DEPTH = 16  # readconf.c's READCONF_MAX_DEPTH
_MULTI = {"identityfile", "certificatefile"}
_LIST = {"userknownhostsfile", "globalknownhostsfile"}
# OpenSSH 9.6 refuses these in a host or user name given on the command line: they would reach
# a shell through ProxyCommand's %h / %r. Whitespace and control characters go the same way.
_SHELL_METACHARACTERS = re.compile(r"[\s'`\"$\\;&<>|(){}\x00-\x1f\x7f]")


class SshConfigError(TransportError):
    """An ssh_config file we cannot follow (an Include loop, say)."""


@dataclass(frozen=True)
class _Line:
    keyword: str  # lower case
    args: tuple[str, ...]
    raw: str  # the value as written (ProxyCommand keeps it whole)


@dataclass(frozen=True)
class Resolved:
    """What `ssh -G` would say for one host, with the inventory's values taken first."""

    original: str
    hostname: str
    port: int
    user: str
    identities: tuple[str, ...]  # as configured (or given), tokens and ~ expanded
    proxyjump: str | None
    proxycommand: str | None  # tokens expanded; the host name checked for shell metacharacters
    user_known_hosts: tuple[str, ...]
    global_known_hosts: tuple[str, ...]


def _split(line: str) -> tuple[str, str] | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    match = re.match(r"(\S+?)(?:\s*=\s*|\s+)(.*)$", line)
    if match is None:
        return (line.lower(), "")
    return match.group(1).lower(), match.group(2).strip()


def _args(value: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(value, comments=True))
    except ValueError:
        return tuple(value.split())


def _read(path: Path, base: Path, depth: int = 0) -> list[_Line | tuple[str, list[_Line]]]:
    """The file as lines; an Include becomes ("include", its lines)."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise SshConfigError(f"{path}: Include nested more than {_MAX_INCLUDE_DEPTH} deep (a loop?)")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out: list[_Line | tuple[str, list[_Line]]] = []
    for raw_line in text.splitlines():
        split = _split(raw_line)
        if split is None:
            continue
        keyword, value = split
        if keyword == "include":
            included: list[_Line] = []
            for pattern in _args(value):
                expanded = os.path.expanduser(pattern)
                if not os.path.isabs(expanded):
                    expanded = str(base / expanded)
                for match in sorted(glob.glob(expanded)):
                    included += _flatten(_read(Path(match), base, depth + 1))
            out.append(("include", included))
        else:
            out.append(_Line(keyword, _args(value), value))
    return out


_INCLUDE_START, _INCLUDE_END = "\x00include-start", "\x00include-end"


def _flatten(items: list[_Line | tuple[str, list[_Line]]]) -> list[_Line]:
    flat: list[_Line] = []
    for item in items:
        if isinstance(item, _Line):
            flat.append(item)
        else:
            flat += [_Line(_INCLUDE_START, (), ""), *item[1], _Line(_INCLUDE_END, (), "")]
    return flat


@functools.lru_cache(maxsize=16)
def _lines(path: str, base: str, stamp: tuple[int, int]) -> tuple[_Line, ...]:
    # One parse per file version (the top file's mtime and size), shared by every host's lookup.
    return tuple(_flatten(_read(Path(path), Path(base))))


def _file_lines(path: Path, base: Path) -> tuple[_Line, ...]:
    try:
        stat = path.stat()
    except OSError:
        return ()
    return _lines(str(path), str(base), (stat.st_mtime_ns, stat.st_size))


def config_files(user_config: Path | None) -> list[tuple[Path, Path]]:
    """(file, the folder its relative Includes resolve against), in the order ssh reads them."""
    if user_config is not None:
        return [(user_config, Path.home() / ".ssh")]
    return [(Path.home() / ".ssh" / "config", Path.home() / ".ssh"), (SYSTEM_CONFIG, SYSTEM_CONFIG.parent)]


def _pattern_list_matches(patterns: tuple[str, ...] | list[str], name: str) -> bool:
    return host_matches(",".join(patterns), name)


def _match_criteria(args: tuple[str, ...], host: str, original: str, user: str | None) -> bool:
    """Match criteria we can evaluate without running anything; the rest never match."""
    words = list(args)
    index = 0
    while index < len(words):
        criterion = words[index].lower()
        negated = criterion.startswith("!")
        criterion = criterion.lstrip("!")
        if criterion in ("all", "canonical", "final"):
            result = criterion == "all"
            index += 1
        else:
            if index + 1 >= len(words):
                return False
            value = words[index + 1].split(",")
            index += 2
            if criterion == "host":
                result = _pattern_list_matches(value, host)
            elif criterion == "originalhost":
                result = _pattern_list_matches(value, original)
            elif criterion == "user":
                result = user is not None and _pattern_list_matches(value, user)
            elif criterion == "localuser":
                result = _pattern_list_matches(value, getpass.getuser())
            else:  # exec, localnetwork, tagged...: exec would run a command; none is evaluated
                return False
        if result == negated:
            return False
    return True


def _collect(files: list[tuple[Path, Path]], host: str) -> dict[str, list[str] | str]:
    """The first value of each keyword that applies to `host` (all of IdentityFile's)."""
    found: dict[str, list[str] | str] = {}
    for path, base in files:
        active = True
        saved: list[tuple[bool, bool]] = []  # (active, never_match) around each Include
        never_match = False
        for line in _file_lines(path, base):
            if line.keyword == _INCLUDE_START:
                saved.append((active, never_match))
                never_match = never_match or not active
                continue
            if line.keyword == _INCLUDE_END:
                active, never_match = saved.pop()
                continue
            if line.keyword == "host":
                active = not never_match and _pattern_list_matches(line.args, host)
                continue
            if line.keyword == "match":
                hostname = found.get("hostname")
                active = not never_match and _match_criteria(
                    line.args, str(hostname) if isinstance(hostname, str) else host, host,
                    found.get("user") if isinstance(found.get("user"), str) else None)  # type: ignore[arg-type]
                continue
            if not active or not line.args:
                continue
            keyword = line.keyword
            if keyword in _MULTI:
                existing = found.setdefault(keyword, [])
                assert isinstance(existing, list)
                existing.append(line.args[0])
            elif keyword in ("proxyjump", "proxycommand"):
                if "proxyjump" not in found and "proxycommand" not in found:
                    found[keyword] = line.raw if keyword == "proxycommand" else line.args[0]
            elif keyword in _LIST:
                found.setdefault(keyword, list(line.args))
            else:
                found.setdefault(keyword, line.args[0])
    return found


def _expand(value: str, tokens: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return tokens.get(match.group(1), match.group(0))

    return re.sub(r"%(.)", one, value)


def check_proxy_name(what: str, value: str) -> None:
    """Refuse a host or user name that would carry shell syntax into ProxyCommand."""
    if _SHELL_METACHARACTERS.search(value) or value.startswith("-"):
        raise SshConfigError(
            f"the {what} {value!r} contains shell metacharacters (or starts with '-') and would reach "
            "the local shell through ProxyCommand; OpenSSH refuses such names too: fix the inventory address")


def resolve(host: str, user_config: Path | None, port: int | None = None,
            user: str | None = None) -> Resolved:
    """ssh_config values for `host`; `port` and `user` (from the inventory) win, like `ssh -p/-l`."""
    found = _collect(config_files(user_config), host)
    hostname_pattern = found.get("hostname")
    # Patterns match the name as given (their own letters lowered); the result is lowered, as ssh.c does.
    hostname = (_expand(hostname_pattern, {"h": host, "%": "%"}) if isinstance(hostname_pattern, str)
                else host).lower()
    configured_port = found.get("port")
    final_port = port or (int(configured_port) if isinstance(configured_port, str) and
                          configured_port.isdigit() else 22)
    configured_user = found.get("user")
    local_user = getpass.getuser()
    final_user = user or (configured_user if isinstance(configured_user, str) else local_user)
    home = str(Path.home())
    tokens = {"%": "%", "h": hostname, "p": str(final_port), "r": final_user, "n": host, "d": home,
              "u": local_user, "i": str(os.getuid()), "l": os.uname().nodename.split(".")[0],
              "L": os.uname().nodename.split(".")[0]}
    identities = found.get("identityfile", [])
    assert isinstance(identities, list)
    proxycommand = found.get("proxycommand")
    if isinstance(proxycommand, str) and proxycommand.lower() != "none":
        # ssh(1) checks the names it puts into the command; %h is the HostName (or the alias).
        check_proxy_name("host name", hostname)
        check_proxy_name("host name", host)
        check_proxy_name("user name", final_user)
        proxycommand = _expand(proxycommand, tokens)
    else:
        proxycommand = None
    proxyjump = found.get("proxyjump")
    known = found.get("userknownhostsfile", [])
    global_known = found.get("globalknownhostsfile", [])
    assert isinstance(known, list) and isinstance(global_known, list)
    return Resolved(
        original=host,
        hostname=hostname,
        port=final_port,
        user=final_user,
        identities=tuple(os.path.expanduser(_expand(i, tokens)) for i in identities),
        proxyjump=proxyjump if isinstance(proxyjump, str) and proxyjump.lower() != "none" else None,
        proxycommand=proxycommand,
        user_known_hosts=tuple(os.path.expanduser(_expand(k, tokens)) for k in known if k.lower() != "none"),
        global_known_hosts=tuple(os.path.expanduser(_expand(k, tokens)) for k in global_known
                                 if k.lower() != "none"),
    )

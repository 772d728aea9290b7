"""OpenSSH server configuration: `sshd -T` output, and sshd_config read the way sshd reads it.

sshd_config rules followed here (sshd_config(5), checked against OpenSSH 9.2's sshd -T):
keywords are case-insensitive and separated from their arguments by whitespace or one `=`;
the first value of a keyword wins (list keywords such as AllowUsers accumulate); `Include`
is read in place, its relative paths are relative to /etc/ssh, its globs expand in sorted
order and may match nothing; a `Match` block lasts until the next `Match` or the end of the
file it is in (also an included file), and `Include` inside a Match block belongs to it.
Match blocks are collected with what they set but never evaluated: which connections they
apply to depends on the connection.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field

from auditor.parsers.conf import shell_words

MAIN_CONFIG = "/etc/ssh/sshd_config"
CONFIG_DIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16  # sshd's own limit (SERVCONF_MAX_DEPTH)

# Keywords whose occurrences add up instead of the first one winning.
ACCUMULATING = frozenset({"allowusers", "allowgroups", "denyusers", "denygroups", "acceptenv", "hostkey",
                          "listenaddress", "port", "setenv", "hostcertificate", "include"})
# Old names sshd still accepts, mapped to the name sshd -T prints.
ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication",
           "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
           "hostbasedacceptedkeytypes": "hostbasedacceptedalgorithms",
           "skeyauthentication": "kbdinteractiveauthentication"}

# What OpenSSH 9.2 (Debian 12) uses when sshd_config does not set a keyword, as its sshd -T
# prints it for a config file that sets nothing (sshd -T -f /dev/null). Only used when
# sshd -T itself cannot run; other versions differ in details, and the check says so.
COMPILED_DEFAULTS_VERSION = "OpenSSH_9.2"
COMPILED_DEFAULTS = {
    "permitrootlogin": "without-password",
    "passwordauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "permitemptypasswords": "no",
    "usepam": "no",
    "authenticationmethods": "any",
    "x11forwarding": "no",
    "maxauthtries": "6",
    "logingracetime": "120",
    "gssapikeyexchange": "no",
    "ciphers": "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
               "aes256-gcm@openssh.com",
    "macs": "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
            "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
            "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    "kexalgorithms": "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,"
                     "curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
                     "diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
                     "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256",
    "gssapikexalgorithms": "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,"
                           "gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-",
    "hostkeyalgorithms": "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
                         "ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,"
                         "sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,"
                         "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,"
                         "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                         "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,"
                         "rsa-sha2-256",
}
COMPILED_DEFAULTS["pubkeyacceptedalgorithms"] = COMPILED_DEFAULTS["hostkeyalgorithms"]


@dataclass(frozen=True)
class Setting:
    keyword: str  # lower case, aliases resolved
    value: str  # the arguments joined by one space
    where: str  # "file:line"


@dataclass
class MatchBlock:
    criteria: str
    where: str
    settings: list[Setting] = field(default_factory=list)


@dataclass
class SshdConfig:
    settings: dict[str, list[Setting]] = field(default_factory=dict)  # global, in reading order
    matches: list[MatchBlock] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def first(self, keyword: str) -> Setting | None:
        found = self.settings.get(keyword)
        return found[0] if found else None


def keyword_name(word: str) -> str:
    lower = word.lower()
    return ALIASES.get(lower, lower)


def split_line(line: str) -> tuple[str, list[str]] | None:
    """(keyword, arguments) of one config line; None for a blank or comment line."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    cut = len(text)
    for index, char in enumerate(text):
        if char in " \t=":
            cut = index
            break
    keyword, rest = text[:cut], text[cut:].strip()
    if rest.startswith("="):
        rest = rest[1:].strip()
    try:
        args = shell_words(rest)
    except ValueError:  # an unbalanced quote: sshd refuses the line; keep the raw words
        args = rest.split()
    return keyword, args


def glob_match(path: str, pattern: str) -> bool:
    """glob(3) matching: wildcards never cross a `/`."""
    parts, wanted = path.split("/"), pattern.split("/")
    if len(parts) != len(wanted):
        return False
    return all(fnmatch.fnmatchcase(part, want) for part, want in zip(parts, wanted, strict=True))


def parse_config(files: dict[str, str], main: str = MAIN_CONFIG) -> SshdConfig:
    """sshd_config and what it includes. `files` holds every file the probe could read."""
    config = SshdConfig()
    if main not in files:
        config.problems.append(f"{main} could not be read")
        return config

    def read(path: str, depth: int, outer: MatchBlock | None) -> None:
        config.files_read.append(path)
        current = outer  # a Match block started in this file ends with it
        for number, raw in enumerate(files[path].splitlines(), 1):
            parsed = split_line(raw)
            if parsed is None:
                continue
            word, args = parsed
            keyword = keyword_name(word)
            where = f"{path}:{number}"
            if keyword == "match":
                current = MatchBlock(" ".join(args), where)
                config.matches.append(current)
            elif keyword == "include":
                if depth >= MAX_INCLUDE_DEPTH:
                    config.problems.append(f"{where}: Include nested deeper than {MAX_INCLUDE_DEPTH}")
                    continue
                for pattern in args:
                    full = pattern if pattern.startswith("/") else posixpath.join(CONFIG_DIR, pattern)
                    for included in sorted(p for p in files if glob_match(p, full)):
                        read(included, depth + 1, current)
            else:
                setting = Setting(keyword, " ".join(args), where)
                if current is not None:
                    current.settings.append(setting)
                else:
                    config.settings.setdefault(keyword, []).append(setting)

    read(main, 0, None)
    return config


def parse_sshd_t(text: str) -> dict[str, list[str]]:
    """`sshd -T` output: lower-case keyword -> its values (several for hostkey, port, ...)."""
    values: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        if not keyword.isalnum():
            raise ValueError(f"not sshd -T output: {line[:80]!r}")
        values.setdefault(keyword_name(keyword), []).append(value.strip())
    return values


def resolve_algorithms(configured: str | None, default: str) -> list[str]:
    """An algorithm list as sshd applies it: `+x` appends to the default, `-x` removes
    (wildcards allowed), `^x` puts first, anything else replaces the default."""
    defaults = [a for a in default.split(",") if a]
    if configured is None:
        return defaults
    value = configured.strip()
    if value.startswith("+"):
        extra = [a for a in value[1:].split(",") if a and a not in defaults]
        return defaults + extra
    if value.startswith("-"):
        patterns = [p for p in value[1:].split(",") if p]
        return [a for a in defaults if not any(fnmatch.fnmatchcase(a, p) for p in patterns)]
    if value.startswith("^"):
        first = [a for a in value[1:].split(",") if a]
        return first + [a for a in defaults if a not in first]
    return [a for a in value.split(",") if a]


# --------------------------------------------------------------------------
# The sshd daemons that listen, as the check's probe prints them from /proc (no ps, no ss):
#
#   #daemons
#   #listen tcp 0100007F:0016 12345          a LISTEN socket of /proc/net/tcp{,6}: local address, inode
#   #daemon 812 uid=0 inodes=12345,12346 exe=/usr/sbin/sshd
#   #cmdline sshd: /usr/sbin/sshd -D -f /etc/ssh/x [listener] 0 of 10-100 startups
#   #option -f                                  the arguments given to `sshd -T`, one a line
#   #option /etc/ssh/x
#   port 22 ...                                 its `sshd -T` output (or its error)
#   #sshd-T-rc 0                                or `#not-judged REASON` instead of the two above,
#                                               or `#runs-installed` (no -f or -o, the binary of
#                                               the installed sshd -T above: its sshd -T is that one)
# --------------------------------------------------------------------------

DAEMONS_LINE = "#daemons"
RUNS_INSTALLED_LINE = "#runs-installed"
MAX_DAEMONS = 16  # sshd listeners judged per host; more is reported, not judged


@dataclass
class Daemon:
    """A running sshd with listening sockets, and `sshd -T` run with its own -f/-o options."""

    pid: int
    uid: int | None
    exe: str
    inodes: tuple[int, ...]
    cmdline: str = ""
    options: list[str] = field(default_factory=list)  # "-f", FILE, "-o", "Key=value", ...
    output: list[str] = field(default_factory=list)  # sshd -T's lines (or its error)
    rc: int | None = None
    not_judged: str = ""  # why sshd -T was not run for it
    runs_installed: bool = False  # no -f or -o, same binary: the installed sshd -T stands for its own

    @property
    def config_file(self) -> str:
        """The -f FILE it reads (the last one wins, as in sshd's getopt loop), else the default."""
        files = [self.options[i + 1] for i in range(len(self.options) - 1) if self.options[i] == "-f"]
        return files[-1] if files else MAIN_CONFIG

    @property
    def command_line_options(self) -> list[str]:
        """Its -o options, "Key=value" as given."""
        return [self.options[i + 1] for i in range(len(self.options) - 1) if self.options[i] == "-o"]

    def option_keywords(self) -> set[str]:
        """The keywords its -o options set (lower case, aliases resolved)."""
        found = set()
        for option in self.command_line_options:
            parsed = split_line(option)
            if parsed:
                found.add(keyword_name(parsed[0]))
        return found


@dataclass
class Daemons:
    # socket inode -> (proto, address, port)
    listening: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    daemons: list[Daemon] = field(default_factory=list)

    def endpoints(self, daemon: Daemon) -> list[str]:
        """Where the daemon listens: "0.0.0.0:22", "[::]:2222"."""
        found = []
        for inode in daemon.inodes:
            if inode in self.listening:
                _, address, port = self.listening[inode]
                found.append(f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
        return sorted(set(found))


def split_daemons(text: str) -> tuple[str, str | None]:
    """The probe's output before the daemons section, and the section (None: an older probe)."""
    head, marker, tail = text.partition("\n" + DAEMONS_LINE + "\n")
    if not marker:
        if text.startswith(DAEMONS_LINE + "\n"):
            return "", text[len(DAEMONS_LINE) + 1:]
        return text, None
    return head + "\n", tail


def parse_daemons(section: str) -> Daemons:
    """The daemons section; raises ValueError on a line it cannot read."""
    from auditor.parsers.sockets import proc_net_listener

    found = Daemons()
    current: Daemon | None = None
    for raw in section.splitlines():
        if raw.startswith("#listen "):
            parts = raw.split()
            if len(parts) != 4:
                raise ValueError(f"cannot read the listener line {raw[:80]!r}")
            inode, listener = proc_net_listener(parts[1], parts[2], parts[3])
            found.listening[inode] = (parts[1], listener.address, listener.port)
        elif raw.startswith("#daemon "):
            head, _, exe = raw[len("#daemon "):].partition(" exe=")
            words = head.split()
            fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            try:
                uid = int(fields["uid"]) if fields.get("uid") else None
                current = Daemon(int(words[0]), uid, exe.strip(),
                                 tuple(int(i) for i in fields.get("inodes", "").split(",") if i))
            except (ValueError, IndexError):
                raise ValueError(f"cannot read the daemon line {raw[:80]!r}") from None
            found.daemons.append(current)
        elif current is None:
            if raw.strip():
                raise ValueError(f"unexpected line before the first daemon: {raw[:80]!r}")
        elif raw.startswith("#cmdline "):
            current.cmdline = raw[len("#cmdline "):].strip()
        elif raw.startswith("#option "):
            current.options.append(raw[len("#option "):])
        elif raw == RUNS_INSTALLED_LINE:
            current.runs_installed = True
        elif raw.startswith("#not-judged "):
            current.not_judged = raw[len("#not-judged "):].strip()
        elif raw.startswith("#sshd-T-rc "):
            current.rc = int(raw[len("#sshd-T-rc "):].strip())
        else:
            current.output.append(raw)
    return found

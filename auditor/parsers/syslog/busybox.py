"""Busybox `syslogd` (Alpine's logger, and many appliances'): what each running one writes,
and where.

Busybox syslogd is configured on its command line (Alpine's OpenRC service passes
`SYSLOGD_OPTS` from /etc/conf.d/syslog): `-O FILE` (default /var/log/messages), `-R
HOST[:PORT]` (remote; only remote unless `-L`), `-C[KB]` (a shared-memory ring buffer read
with `logread`, instead of the file), `-s KB` (rotate at this size, default 200, 0 = never)
and `-b N` (rotated files kept, default 1, 0 = none), `-l N` (only priorities more urgent
than N, default 8 = all), `-f FILE` (selector rules, default /etc/syslog.conf when it
exists). Without rules it writes every facility, auth and authpriv included, to the one file.

`SYSLOGD_SCRIPT` prints `# syslogd<TAB>PID<TAB>EXE<TAB>ARG<TAB>ARG...` for every process whose
command name is `syslogd`: comment lines, so that it can ride along in another probe (a ps
listing, whose parser skips comments, or tagged rows read leniently) without a probe of its
own. `parse_syslogd` reads those lines back, with /etc/conf.d/syslog and /etc/syslog.conf
(`CONFIG_FILES`, dumped by the caller's `dump_files` probe) when given.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

CONF_D = "/etc/conf.d/syslog"
RULES = "/etc/syslog.conf"
DEFAULT_FILE = "/var/log/messages"
DEFAULT_ROTATE_KB = 200
DEFAULT_KEEP = 1
CONFIG_FILES = (CONF_D, RULES)
INFO = 6  # syslog priority of sshd's Accepted/Failed lines
ROW = "# syslogd\t"

# Option letters that take a value (the next word, or the rest of this one), as busybox's getopt.
_WITH_VALUE = frozenset("ROslbf")

SYSLOGD_SCRIPT = r"""for d in /proc/[0-9]*; do
  c=; { read -r c <"$d/comm"; } 2>/dev/null
  [ "$c" = syslogd ] || continue
  exe=$(readlink "$d/exe" 2>/dev/null)
  printf '# syslogd\t%s\t%s\t%s\n' "${d#/proc/}" "$exe" "$(tr '\000\t\n' '\t  ' <"$d/cmdline" 2>/dev/null)"
done
"""

# A shell function printing the file each running syslogd writes (-O, else the default), for a
# probe that samples it in the same batch; parse_args reads the same options in Python.
SYSLOGD_FILES_SCRIPT = r"""syslogd_files() {
  for d in /proc/[0-9]*; do
    c=; { read -r c <"$d/comm"; } 2>/dev/null
    [ "$c" = syslogd ] || continue
    tr '\000' '\n' <"$d/cmdline" 2>/dev/null | {
      o=/var/log/messages; want=
      while IFS= read -r a; do
        if [ -n "$want" ]; then o=$a; want=; continue; fi
        case $a in -O) want=1 ;; -O?*) o=${a#-O} ;; -[nLStDK]*O) want=1 ;; -[nLStDK]*O?*) o=${a#*O} ;; esac
      done
      [ "$o" = - ] || printf '%s\n' "$o"; }
  done
}"""


@dataclass(frozen=True)
class Syslogd:
    """One running syslogd and what its command line makes it do."""

    pid: int
    exe: str  # "" when /proc/PID/exe was not readable
    args: tuple[str, ...]  # argv without argv[0]
    file: str = DEFAULT_FILE  # -O
    remote: tuple[str, ...] = ()  # -R
    also_local: bool = False  # -L
    ring_buffer: bool = False  # -C
    rotate_kb: int = DEFAULT_ROTATE_KB  # -s
    keep: int = DEFAULT_KEEP  # -b
    level: int = 8  # -l: only priorities below this one are logged
    rules: str = RULES  # -f

    @property
    def busybox(self) -> bool:
        return posixpath.basename(self.exe) == "busybox"

    @property
    def name(self) -> str:
        return "busybox syslogd" if self.busybox else "syslogd"

    @property
    def writes_file(self) -> bool:
        """Whether it writes its log file (no ring buffer, and not only a remote host)."""
        return not self.ring_buffer and (not self.remote or self.also_local) and self.file != "-"

    @property
    def logs_info(self) -> bool:
        return self.level > INFO

    def rotation(self) -> str:
        """How it rotates its file: "rotates at 200 KB and keeps 1 old copy (-s 200 -b 1)"."""
        if self.rotate_kb <= 0:
            return "never rotates it (-s 0)"
        kept = f"keeps {self.keep} old cop{'y' if self.keep == 1 else 'ies'}" if self.keep else "keeps none"
        return f"rotates it at {self.rotate_kb} KB and {kept} (-s {self.rotate_kb} -b {self.keep})"


def _number(text: str, default: int) -> int:
    return int(text) if text.strip().isdigit() else default


def parse_args(pid: int, exe: str, argv: list[str]) -> Syslogd:
    """A syslogd's settings from its argv (argv[0] first), read as busybox's getopt would."""
    values: dict[str, list[str]] = {}
    flags: set[str] = set()
    words = iter(argv[1:])
    for word in words:
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue
        for index, letter in enumerate(word[1:], 1):
            if letter in _WITH_VALUE:
                value = word[index + 1:] or next(words, "")
                values.setdefault(letter, []).append(value)
                break
            if letter == "C":  # -C[size_kb]: an optional value, attached only
                flags.add("C")
                break
            flags.add(letter)
    last = {k: v[-1] for k, v in values.items()}
    return Syslogd(
        pid=pid, exe=exe, args=tuple(argv[1:]),
        file=last.get("O", DEFAULT_FILE) or DEFAULT_FILE,
        remote=tuple(values.get("R", ())), also_local="L" in flags, ring_buffer="C" in flags,
        rotate_kb=_number(last.get("s", ""), DEFAULT_ROTATE_KB),
        keep=_number(last.get("b", ""), DEFAULT_KEEP),
        level=_number(last.get("l", ""), 8), rules=last.get("f", RULES) or RULES)


@dataclass(frozen=True)
class SyslogdSetup:
    daemons: tuple[Syslogd, ...]
    files: dict[str, str]  # /etc/conf.d/syslog and /etc/syslog.conf, when present

    def options(self) -> str:
        """SYSLOGD_OPTS from /etc/conf.d/syslog ("" when not set)."""
        for line in self.files.get(CONF_D, "").splitlines():
            key, _, value = line.strip().partition("=")
            if key == "SYSLOGD_OPTS":
                return value.strip().strip("\"'")
        return ""


def parse_syslogd(text: str, files: dict[str, str] | None = None) -> SyslogdSetup:
    """The running syslogds from SYSLOGD_SCRIPT's lines in `text` (other lines are ignored),
    with the CONFIG_FILES found in `files` (a dump: path -> content)."""
    daemons = []
    for line in text.splitlines():
        if not line.startswith(ROW):
            continue
        pid, exe, *argv = [*line[len(ROW):].split("\t"), ""]
        if pid.isdigit():
            daemons.append(parse_args(int(pid), exe, [a for a in argv if a != ""]))
    return SyslogdSetup(tuple(daemons), {p: t for p, t in (files or {}).items() if p in CONFIG_FILES})

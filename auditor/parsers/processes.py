"""Process lists: `ps -o ...` output with a header line, and /proc/<pid>/exe links.

`ps_script(names)` prints `ps -ww -eo pid,user:32=USER,comm:64=COMM,args=ARGS`, or, where ps
lacks those options (busybox: "ps: unrecognized option: w") or is missing, the same columns read
from /proc/<pid>/{status,comm,cmdline} (PROC_PS_SCRIPT, POSIX sh and awk only); with `names`
it keeps only the processes whose command name, or whose argv[0]'s base name, is one of
them, and cuts their arguments to argv[0] on the host, since command lines may carry
passwords. `EXE_SCRIPT` prints "pid<TAB>executable" for every process whose exe link is
readable (as root: all of them).

`parse_ps` reads any `ps -o` output with a header: columns are found by the positions of
their header words; right-aligned (numeric) columns end where their header ends, text
columns start where their header starts, and the last column runs to the end of the line.
Lines starting with '#' are comments.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from auditor.parsers.awk import rerun_on_read_error

# ps prints these columns right-aligned (procps-ng); every other column is left-aligned.
RIGHT_ALIGNED = frozenset({
    "PID", "PPID", "PGID", "SID", "TGID", "LWP", "NLWP", "UID", "RUID", "EUID", "SUID", "FUID",
    "GID", "RGID", "EGID", "NI", "PRI", "PSR", "C", "%CPU", "%MEM", "VSZ", "RSS", "SZ", "TIME",
    "ELAPSED", "ETIMES", "TIMES",
})
USER_HEADERS = ("USER", "RUSER", "EUSER", "UNAME")
COMM_HEADERS = ("COMM", "UCOMM", "UCMD")
ARGS_HEADERS = ("ARGS", "CMD")

# The ps columns from /proc, for hosts whose ps cannot print them: uid from status, the kernel's
# command name from comm, the argv (NULs as blanks) from cmdline; "[comm]" for kernel threads as
# ps shows them. One `tr` per process; the user names come from /etc/passwd.
PROC_PS_SCRIPT = r"""for d in /proc/[0-9]*; do
  [ -r "$d/status" ] || continue
  # a process may exit while it is read: 2>/dev/null before each redirection it might fail
  uid=; { while read -r key value _; do [ "$key" = Uid: ] && { uid=$value; break; }
          done <"$d/status"; } 2>/dev/null
  comm=; { read -r comm <"$d/comm"; } 2>/dev/null
  args=$(tr '\000\n\t' '   ' 2>/dev/null <"$d/cmdline")
  printf '%s\t%s\t%s\t%s\n' "${d#/proc/}" "$uid" "$comm" "$args"
done | awk -F '\t' '
BEGIN { while ((getline line < "/etc/passwd") > 0) {
          split(line, f, ":"); if (!(f[3] in user)) user[f[3]] = f[1] }
        printf "%10s %-32s %-64s %s\n", "PID", "USER", "COMM", "ARGS" }
$1 != "" { args = $4; sub(/ +$/, "", args); if (args == "") args = "[" $3 "]"
           printf "%10s %-32s %-64s %s\n", $1, ($2 in user) ? user[$2] : $2, $3, args }'
"""

# GNU find reads each link given (the shell's glob lists the processes: find descends into no
# /proc/<pid> directory) and prints "/proc/<pid><TAB>target", which parse_exe_links reads as
# well as the "pid<TAB>target" lines of the busybox branch. Busybox find has no -printf (it
# prints nothing, and the probe's own shell always has a readable link): `ls -l` prints the
# links there ("... /proc/12/exe -> /sbin/crond").
EXE_SCRIPT = r"""
links=$(find /proc/[0-9]*/exe -maxdepth 0 -lname '?*' -printf '%h\t%l\n' 2>/dev/null)
if [ -n "$links" ]; then
  printf '%s\n' "$links"
else
  ls -l /proc/[0-9]*/exe 2>/dev/null | awk '{ i = index($0, " -> "); if (!i) next
    h = substr($0, 1, i - 1); sub(/.* \/proc\//, "", h); sub(/\/exe$/, "", h)
    if (i + 4 <= length($0)) print h "\t" substr($0, i + 4) }'
fi
exit 0
"""


def ps_script(names: Iterable[str] = ()) -> str:
    """Shell printing the process list; only the `names`, with argv[0] only, when given.

    Names are matched against the command name (which the kernel cuts to 15 characters)
    and argv[0]'s base name; they reach the shell through `shlex.quote`.
    """
    wanted = [n for n in names if n]
    # -ww: never cut lines. Busybox ps has no -o widths or -w: read /proc instead.
    ps = ("{ ps -ww -eo pid,user:32=USER,comm:64=COMM,args=ARGS 2>/dev/null || {\n"
          + PROC_PS_SCRIPT + "}; }")
    if not wanted:
        return ps + "\n"
    names = shlex.quote(" ".join(wanted))
    return ("if [ -r /proc/self/comm ]; then\n"
            + rerun_on_read_error(f"awk -v names={names} {shlex.quote(PROC_DAEMONS_AWK)} /proc/[0-9]*")
            + "\nelse " + ps + " | awk -v names=" + names + r""" '
NR == 1 { c = index($0, "COMM"); a = index($0, "ARGS"); n = split(names, w, " ")
          for (i = 1; i <= n; i++) { ok[w[i]] = 1; ok[substr(w[i], 1, 15)] = 1 }
          print; next }
{ total++
  comm = substr($0, c, a - c); sub(/ +$/, "", comm)
  split(substr($0, a), argv, " "); base = argv[1]; sub(/.*\//, "", base); sub(/:$/, "", base)
  if ((comm in ok) || (base in ok)) print substr($0, 1, a - 1) argv[1] }
END { printf "# %d processes\n", total }'
fi
""")

# The filtered list where /proc is, without ps (~3 ms of host CPU): one awk reads each process's
# comm and cmdline (argv[0]: up to its first NUL, where busybox awk's strings end anyway; its
# first word, as ps's args column split on blanks would give) and, for a named one, its
# effective uid from status; user names from /etc/passwd. The columns and trailer are the ps
# branch's. ARGV is the glob of /proc/<pid> directories; BEGIN reads them and exits (no input).
PROC_DAEMONS_AWK = r"""BEGIN {
  n = split(names, w, " "); for (i = 1; i <= n; i++) { ok[w[i]] = 1; ok[substr(w[i], 1, 15)] = 1 }
  printf "%10s %-32s %-64s %s\n", "PID", "USER", "COMM", "ARGS"
  for (a = 1; a < ARGC; a++) {
    d = ARGV[a]; comm = ""; got = (getline comm < (d "/comm")); close(d "/comm")
    if (got <= 0) continue  # gone, or no process
    total++
    c = ""; getline c < (d "/cmdline"); close(d "/cmdline")
    i = index(c, "\0"); if (i) c = substr(c, 1, i - 1)
    split(c, argv, " "); arg0 = argv[1]; if (arg0 == "") arg0 = "[" comm "]"
    base = arg0; sub(/.*\//, "", base); sub(/:$/, "", base)
    if (!(comm in ok) && !(base in ok)) continue
    uid = ""; f = d "/status"
    while ((getline line < f) > 0) if (line ~ /^Uid:/) { split(line, u, " "); uid = u[3]; break }
    close(f)
    if (!users) { users = 1; while ((getline line < "/etc/passwd") > 0) {
      split(line, p, ":"); if (!(p[3] in user)) user[p[3]] = p[1] } close("/etc/passwd") }
    printf "%10s %-32s %-64s %s\n", substr(d, 7), (uid in user) ? user[uid] : uid, comm, arg0
  }
  printf "# %d processes\n", total
  exit
}"""


# The daemons the built-in checks look for in the process list: auth_logging's loggers, time
# synchronisation and auditd, admin_change_audit's auditd, monitoring's agents and smartd.
# Each of these checks filters `ps` to this whole set (daemons_ps_script), so that their probes
# are one script, which the batch runs once for all three: one `ps` per host, not three. What
# leaves the host is what the three filtered lists held together: these names, argv[0] only.
DAEMONS = frozenset({
    "rsyslogd", "syslog-ng", "systemd-journald", "auditd",
    "chronyd", "ntpd", "openntpd", "systemd-timesyncd", "timesyncd",
    "node_exporter", "prometheus-node-exporter", "zabbix_agentd", "zabbix_agent2", "telegraf",
    "datadog-agent", "agent", "netdata", "nrpe", "collectd", "wazuh-agentd", "ossec-agentd",
    "elastic-agent", "metricbeat", "smartd",
})


def daemons_ps_script(names: Iterable[str] = ()) -> str:
    """ps_script for DAEMONS and `names`: a check's own names are always in its filter; while
    they are all DAEMONS (a check's defaults), its script is the one the others send too."""
    return ps_script(sorted(DAEMONS | {n for n in names if n}))


@dataclass(frozen=True)
class Process:
    pid: int
    user: str = ""
    comm: str = ""  # the kernel's command name (at most 15 characters for user processes)
    args: str = ""  # the command line (or only argv[0], when the probe cut it)
    exe: str = ""  # /proc/<pid>/exe, when readable
    fields: Mapping[str, str] = field(default_factory=dict)  # every column, by header

    @property
    def argv0(self) -> str:
        return self.args.split(" ", 1)[0] if self.args else ""

    @property
    def is_kernel_thread(self) -> bool:
        return self.args.startswith("[") and self.args.endswith("]") and not self.exe

    def names(self) -> set[str]:
        """The names this process goes by: exe and argv[0] base names, and its comm."""
        found = {self.comm} if self.comm else set()
        for path in (self.exe, self.argv0):
            if path:
                found.add(posixpath.basename(path).removesuffix(":"))
        return found


def _columns(header: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of each header word."""
    columns = []
    pos = 0
    for word in header.split():
        start = header.index(word, pos)
        pos = start + len(word)
        columns.append((word, start, pos))
    return columns


def _cut(line: str, columns: list[tuple[str, int, int]]) -> list[str]:
    values = []
    pos = 0
    for index, (name, _start, end) in enumerate(columns):
        if index == len(columns) - 1:
            values.append(line[pos:].strip())
            break
        next_name, next_start, next_end = columns[index + 1]
        if name in RIGHT_ALIGNED:
            stop = end
        elif next_name in RIGHT_ALIGNED:  # the next value may start left of its header
            stop = max(line[:next_end].rstrip().rfind(" ") + 1, pos)
        else:
            stop = next_start
        values.append(line[pos:stop].strip())
        pos = stop
    return values


def parse_ps(text: str) -> list[Process]:
    """Processes from `ps -o` output with a header; ValueError when there is no header or a
    line has no numeric PID."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError("the process list is empty (no ps header)")
    columns = _columns(lines[0])
    names = [name for name, _, _ in columns]
    if "PID" not in names:
        raise ValueError(f"no PID column in the ps header: {lines[0][:80]!r}")
    commands = [i for i, n in enumerate(names) if n == "COMMAND"]
    processes = []
    for line in lines[1:]:
        values = _cut(line, columns)
        row = dict(zip(names, values, strict=True))
        if not row["PID"].isdigit():
            raise ValueError(f"unexpected line in the process list: {line[:80]!r}")

        def first(headers: tuple[str, ...], row: dict[str, str] = row) -> str:
            return next((row[h] for h in headers if h in row), "")

        comm = first(COMM_HEADERS)
        args = first(ARGS_HEADERS)
        # `ps -o comm,args` titles both COMMAND: the first is comm, a last one is args.
        if len(commands) >= 2:
            comm, args = comm or values[commands[0]], args or values[commands[-1]]
        elif commands and commands[0] == len(names) - 1:
            args = args or values[commands[0]]
        elif commands:
            comm = comm or values[commands[0]]
        processes.append(Process(int(row["PID"]), first(USER_HEADERS), comm, args, "", row))
    return processes


def parse_exe_links(text: str) -> dict[int, str]:
    """EXE_SCRIPT lines ("pid<TAB>exe" or "/proc/pid<TAB>exe") -> {pid: executable}; an empty
    target (a link not readable) is skipped, ' (deleted)' (an upgraded binary) is dropped."""
    found: dict[int, str] = {}
    for line in text.splitlines():
        pid, sep, path = line.partition("\t")
        pid = pid.removeprefix("/proc/")
        if sep and pid.isdigit() and path:
            found[int(pid)] = path.removesuffix(" (deleted)")
    return found


def with_exes(processes: list[Process], exes: Mapping[int, str]) -> list[Process]:
    """The processes with their executables filled in, where known."""
    return [replace(p, exe=exes.get(p.pid, p.exe)) for p in processes]

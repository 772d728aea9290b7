"""The backups check's shell: what runs on the host, with secrets masked there."""

from __future__ import annotations

import json
import re

from auditor.check import Params
from auditor.parsers.awk import rerun_on_read_error
from auditor.parsers.credentials import MASK_AWK
from auditor.parsers.files import HEADER, UNREADABLE
from auditor.parsers.schedules import CRON_DAEMONS, HOUSEKEEPING
from auditor.probes import path_args, quote

KNOWN_TOOLS = ("restic", "borg", "borgmatic", "pg_dump", "pg_dumpall", "pg_basebackup", "pg_backupcluster",
               "mysqldump",
               "mariadb-dump", "mariabackup", "xtrabackup", "rsnapshot", "duplicity", "duply",
               "rdiff-backup", "kopia", "autorestic", "resticprofile", "mongodump", "backupninja")
COPY_TOOLS = ("rsync", "tar")  # a backup only when they write to a backup destination
DIRECTOR_DAEMONS = {"bacula-fd": "Bacula", "bareos-fd": "Bareos"}
WATCHED_PROCESSES = (*CRON_DAEMONS, "anacron", "systemd", *DIRECTOR_DAEMONS)
CRONTAB_PATHS = ("/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs", "/var/spool/cron",
                 "/etc/anacrontab")
FUTURE_SLACK_S = 300  # mtimes this far ahead of the host's clock are "in the future"
_WORD_CHARS = "a-z0-9_.-"  # what may not touch a tool name on either side



def _tools(params: Params) -> list[str]:
    extra = [str(t).lower() for t in params.get("tools", []) if str(t).strip()]
    return list(dict.fromkeys([*KNOWN_TOOLS, *COPY_TOOLS, *extra]))


def _tool_alternation(params: Params) -> str:
    return "|".join(re.sub(r"([.\[\](){}*+?|^$\\])", r"\\\1", t) for t in _tools(params))


def _host_tool_pattern(params: Params) -> str:
    """The tool names as a POSIX ERE for awk on the host (awk has no lookarounds)."""
    return f"(^|[^{_WORD_CHARS}])({_tool_alternation(params)})([^{_WORD_CHARS}]|$)"


def _tool_regex(params: Params) -> re.Pattern[str]:
    """The same names as the host's pattern, for the lower-cased command here."""
    return re.compile(f"(?<![{_WORD_CHARS}])({_tool_alternation(params)})(?![{_WORD_CHARS}])")


# Every line leaves the host through the shared deny-by-default masking
# (auditor.parsers.credentials): a record's tag, the file it is about and a line number are
# kept as they are; everything after them (a job line, a script's line) is masked wherever a
# value could be a credential, not only where a known tool takes a password. `emit` is that
# for one line, for the probes whose last awk prints lines of its own too.
_EMIT_AWK = r"""
function emit(line,    keep, rest) {
  keep = ""; rest = line
  if (match(rest, /^(tool|call)\t[^\t]*\t[0-9]+\t/) || match(rest, /^[0-9]+\t/) ||
      match(rest, /^[a-z_]+\t[^\t]*\t/) || match(rest, /^[a-z_]+\t/)) {
    keep = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1) }
  print keep mask_credentials(rest, "***", 1) }
"""


def _masking(program: str = "{ emit($0) }") -> str:
    """The awk every probe's output goes through last: `program` with `emit` (mask, print)."""
    return "LC_ALL=C awk " + quote(MASK_AWK + _EMIT_AWK + program)


MASK_SECRETS = _masking()

# Following a job into the scripts it runs, on the host and read-only: every absolute path a
# job command names (not a redirection target) that is a regular file starting with `#!` is
# read (its first MAX_SCRIPT_BYTES only), and so are the paths that script names: two
# levels. What leaves the host is, per script: that it was read (or could not be, with its
# mode and owner), its lines that mention a tool or backup (numbered, masked like job lines),
# and, at the first level, the paths it names. System housekeeping is not followed.
#   script <path> <level> read | unreadable <mode owner>;  tool <path> <n> <line>
#   call <path> <n> <named path>;  cut <path>;  capped scripts|candidates <n>
# Each level is one `head` over all its scripts and one awk (not one pair per script).
MAX_SCRIPT_BYTES = 262144  # of each script, only this much is read
MAX_SCRIPTS = 64  # scripts read per probe
MAX_CANDIDATES = 2000  # distinct paths taken from job commands
MAX_SCRIPT_LINES = 20  # tool lines sent per script
MAX_CALLS = 16  # paths one script names that are followed

# An awk function filling `out` with the absolute paths a command line names, without the
# targets of redirections and systemd's Exec prefixes (-@+!:); `Q` must hold a single quote.
_PATH_WORDS_AWK = r"""
function path_words(line, out,    s, n, w, i, k) {
  split("", out); s = line
  gsub(/[0-9]*[<>]+&?[ \t]*[^ \t;|&()]*/, " ", s)
  gsub("[" Q "\"`;|&()=]", " ", s)
  n = split(s, w, /[ \t]+/); k = 0
  for (i = 1; i <= n; i++) {
    sub(/^[-@+!:]+\//, "/", w[i])
    if (w[i] ~ /^\/[A-Za-z0-9_.\/+@%-]+$/) out[++k] = w[i]
  }
  return k
}
"""
# Keeps the first MAX_CANDIDATES + 1 distinct paths of a line for follow_scripts (which says
# when there were more); `Q` must hold a single quote.
_CANDIDATES_AWK = r"""
function candidates(line,    k, i) {
  k = path_words(line, cw)
  for (i = 1; i <= k; i++) if (!(cw[i] in candidate) && ncandidates <= @CANDIDATES@) {
    candidate[cw[i]] = 1; ncandidates++
    if (CANDIDATES_TO == "") print cw[i]; else print cw[i] > CANDIDATES_TO } }
"""

FOLLOW = r"""
__read=' '; __n=0; __records=''
__nl='
'
__tab='	'
__ifs=$IFS
# head(1) heads each file it reads with "==> NAME <==": NAME is the path behind a random run of
# "/" and "./" (the same file to the kernel), so that no script's text passes for a header.
{ read -r __u </proc/sys/kernel/random/uuid; } 2>/dev/null || __u=$$
__hp=/./
while [ -n "$__u" ]; do
  case "$__u" in [0-7]*) __hp="$__hp/" ;; [89a-f]*) __hp="$__hp./" ;; esac
  __u=${__u#?}
done
__level() {  # LEVEL ANY CAP PATHS (one a line, distinct): the records of the scripts among PATHS
  # not read yet, read by one head and one awk (CAP: at most so many PATHS, 0: no cap)
  __h=; __hn=; __un=; __k=0
  set -f; IFS=$__nl
  for __p in $4; do
    __k=$((__k + 1))
    if [ "$3" -gt 0 ] && [ "$__k" -gt "$3" ]; then
      __records="${__records}capped	candidates	$3$__nl"; break
    fi
    # /proc and /sys hold no scripts, and reading some of their files takes from the host:
    # /proc/kmsg hands each kernel message to one reader only, and blocks while there is none
    # (skipped by what it is too: a user's crontab may name it as //proc/kmsg or by a link).
    case "$__p" in /proc/*|/sys/*) continue ;; /*) ;; *) continue ;; esac
    [ "$__p" -ef /proc/kmsg ] && continue
    case "${__p##*/}" in @HOUSEKEEPING@) continue ;; esac
    case "$__read" in *" $__p "*) continue ;; esac
    [ -f "$__p" ] || continue
    __read="$__read$__p "
    if [ ! -r "$__p" ]; then __un="$__un$__p$__nl"; continue; fi
    __n=$((__n + 1))
    if [ "$__n" -gt @SCRIPTS@ ]; then __records="${__records}capped	scripts	@SCRIPTS@$__nl"; break; fi
    __h="$__h$__hp${__p#/}$__nl"; __hn="$__hn$__p$__nl"
  done
  IFS=$__ifs; set +f
  [ -n "$__hn$__un" ] || return 0
  __records="$__records$(
    set -f; IFS=$__nl
    {
      for __p in $__un; do printf '%su%s\n' "$__hp" "$__p"; ls -ld -- "$__p" 2>/dev/null; done
      for __p in $__hn; do printf '%sf%s\n' "$__hp" "$__p"; done
      printf '%s\n' "$__hp"
      [ -z "$__h" ] || head -v -c @BYTES@ -- $__h 2>/dev/null
    } | L="$1" ANY="$2" P="$__hp" LC_ALL=C awk '@SCAN@'
  )$__nl"
}
follow_scripts() {  # ANY PATHS (one a line, distinct): read the scripts PATHS name, then those they name
  __level 1 "$1" @CANDIDATES@ "$2"
  __c=
  set -f; IFS=$__nl
  for __r in $__records; do
    case "$__r" in "call$__tab"*) IFS=$__tab; set -- $__r; IFS=$__nl; __c="$__c$4$__nl" ;; esac
  done
  IFS=$__ifs; set +f
  __level 2 no 0 "$__c"
  printf '%s\n' "$__records"
}
"""

# The scan of one level: its input is the unreadable scripts (each a `<P>u<path>` line and its
# `ls -ld` line), the scripts head reads (`<P>f<path>`), a `<P>` line, then head's output:
# each file's first MAX_SCRIPT_BYTES behind its header, with one empty line head puts between
# files (an empty line just before a header is that one, when there is one).
_SCAN_AWK = r"""
BEGIN { Q = sprintf("%c", 39); L = ENVIRON["L"]; P = ENVIRON["P"]; pre = 1 }
@PATH_WORDS@
function unreadable(mode) { printf "script\t%s\t%s\tunreadable\t%s\n", U, L, mode; U = "" }
function take(s,    t, low, k, i) {
  fnr++
  if (fnr == 1 && s !~ /^#!/ && ENVIRON["ANY"] != "yes") { skip = 1; return }
  if (fnr == 1) printf "script\t%s\t%s\tread\n", F, L
  bytes += length(s) + 1; t = s; sub(/^[ \t]+/, "", t)
  if (t == "" || t ~ /^#/) return
  low = tolower(t)
  if ((low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/) && shown < @LINES@) {
    printf "tool\t%s\t%d\t%s\n", F, fnr, substr(t, 1, 500); shown++ }
  if (L == 1 && calls < @CALLS@) {
    k = path_words(t, w)
    for (i = 1; i <= k; i++) if (!(w[i] in named) && w[i] != F && calls < @CALLS@) {
      named[w[i]] = 1; calls++; printf "call\t%s\t%d\t%s\n", F, fnr, w[i] } }
}
function finish(between) {  # the file read so far; `between`: a header follows
  if (!cur) return
  if (between && pend > 0) pend--
  for (; pend > 0 && !skip; pend--) take("")
  if (bytes >= @BYTES@ - 1) printf "cut\t%s\n", F
}
pre && $0 == P { if (U != "") unreadable(""); pre = 0; next }
pre && index($0, P) == 1 {
  if (U != "") unreadable("")
  k = substr($0, length(P) + 1, 1); p = substr($0, length(P) + 2)
  if (k == "u") U = p
  else { files++; header["==> " P substr(p, 2) " <=="] = files; name[files] = p }
  next }
pre { if (U != "") { split($0, m, " "); unreadable(m[1] " " m[3]) } next }
($0 in header) && header[$0] > cur {
  finish(1); cur = header[$0]; F = name[cur]
  fnr = 0; bytes = 0; shown = 0; calls = 0; skip = 0; pend = 0; split("", named); next }
!cur || skip { next }
$0 == "" { pend++; next }
{ for (; pend > 0 && !skip; pend--) take(""); pend = 0; if (!skip) take($0) }
END { if (pre && U != "") unreadable(""); finish(0) }
"""

# The crontab files, as the shell finds them: `r<path>` a regular file to read, `m<path>` one
# masked (a link to /dev/null: named, never read), `u<path>` one the audit user cannot read.
# Each once, /etc/cron.d's and the spools' hidden files too (cron skips them; the check says so).
_CRONTAB_FILES = r"""
__cf=
for __f in @PATHS@; do
  if [ -d "$__f" ]; then set -- "$__f"/* "$__f"/.[!.]*
  elif [ -f "$__f" ]; then set -- "$__f"
  else continue; fi
  for __g; do
    if [ -L "$__g" ] && [ "$__g" -ef /dev/null ]; then __k=m
    elif [ -f "$__g" ]; then if [ -r "$__g" ]; then __k=r; else __k=u; fi
    else continue; fi
    case "$__cf" in *"$__nl"?"$__g$__nl"*) continue ;; esac
    __cf="$__cf$__nl$__k$__g$__nl"
  done
done
"""

# The absolute paths in job lines of the readable crontabs (never environment lines or comments).
_JOB_PATHS = r"""awk '
BEGIN { Q = sprintf("%c", 39)
  for (a = 1; a < ARGC; a++) if (substr(ARGV[a], 1, 1) == "r") {
    f = substr(ARGV[a], 2)
    while ((getline s < f) > 0)
      if (s !~ /^[ \t]*(#|$)/ && s !~ /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/) candidates(s)
    close(f) }
  exit }
@PATH_WORDS@
@CANDIDATES_AWK@'"""

# The last awk of the crontabs probe: every line it is given (anacron, spool, meta and the
# scripts' records) masked as it comes; then each crontab (a header line, as
# auditor.parsers.files dumps them) with the line number of each job line about backups,
# run-parts, anacron or a followed script with tool lines (or one not readable, or one naming
# such a script), and how many job lines the file has; never environment lines.
_CRONTAB_FILTER = r"""
BEGIN { Q = sprintf("%c", 39); for (a = 1; a < ARGC; a++) item[a] = ARGV[a]; items = ARGC - 1; ARGC = 1 }
@PATH_WORDS@
{ emit($0); n = split($0, r, "\t")
  if ((r[1] == "tool" && n >= 2) || (r[1] == "script" && r[4] == "unreadable")) runs[r[2]] = 1
  if (r[1] == "call" && n >= 4) { ncalls++; from[ncalls] = r[2]; to[ncalls] = r[4] } }
function runs_script(line,    k, i) {
  k = path_words(line, w); for (i = 1; i <= k; i++) if (w[i] in runs) return 1
  return 0 }
END {
  for (i = 1; i <= ncalls; i++) if (to[i] in runs) runs[from[i]] = 1
  for (a = 1; a <= items; a++) {
    f = substr(item[a], 2)
    if (substr(item[a], 1, 1) == "u") { emit(@UNREADABLE@ f); continue }
    emit(@HEADER@ f)
    if (substr(item[a], 1, 1) != "r") continue
    line = 0; jobs = 0; shown = 0
    while ((getline s < f) > 0) {
      line++
      if (s ~ /^[ \t]*(#|$)/ || s ~ /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/) continue
      jobs++; low = tolower(s)
      if (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup|run-parts|anacron/ || runs_script(s)) {
        emit(sprintf("%d\t%s", line, substr(s, 1, 2000))); shown++ } }
    close(f)
    if (jobs > 0) emit(sprintf("# auditor: %d job line(s), %d shown", jobs, shown)) } }"""

# Crontab files with their owner and mode (cron ignores some for those), anacron's presence,
# the scripts job lines run, and each file's job lines about backups, run-parts, anacron or
# a followed script (never environment lines).
CRONTABS = r"""
@FOLLOW@
@CRONTAB_FILES@
{
if [ -x /usr/sbin/anacron ]; then printf 'anacron\tyes\n'; else printf 'anacron\tno\n'; fi
s=absent
if [ -d /var/spool/cron/crontabs ]; then
  s=unreadable; [ -r /var/spool/cron/crontabs ] && [ -x /var/spool/cron/crontabs ] && s=readable
fi
printf 'spool\t%s\n' "$s"
__m=$(find /etc/crontab /etc/cron.d /var/spool/cron /etc/anacrontab -maxdepth 2 ! -type d \
  -printf 'meta\t%p\t%y\t%Y\t%u\t%m\n' 2>/dev/null)
if [ -n "$__m" ]; then printf '%s\n' "$__m"
else  # busybox find has no -printf (or there is no crontab): the same fields from test(1) and
  # stat(1); the globs also enter a linked spool (Alpine's /var/spool/cron/crontabs ->
  # /etc/crontabs), as crond does
  for f in /etc/crontab /etc/cron.d/* /var/spool/cron/* /var/spool/cron/*/* /etc/anacrontab; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ -d "$f" ] && [ ! -L "$f" ] && continue
    if [ -f "$f" ]; then t=f; elif [ -d "$f" ]; then t=d; elif [ -e "$f" ]; then t=p; else t=N; fi
    y=$t; [ -L "$f" ] && y=l
    printf 'meta\t%s\t%s\t%s\t' "$f" "$y" "$t"; stat -c '%U	%a' "$f" || echo
  done
fi
__paths=$(set -f; IFS=$__nl; @JOB_PATHS@ $__cf)
follow_scripts no "$__paths"
} | { set -f; IFS=$__nl; @FILTER@ $__cf; }
"""

# Every entry of the run-parts directories (type, executable, readable), and what each
# readable script holds about tools or backup (with the scripts it names). Which run-parts
# runs the directories: Debian's and busybox's (binaries) skip names with a dot; the RHEL
# family's (cronie's crontabs package) is a shell script that runs them (the last awk reads
# its first line).
_RUN_PARTS_KIND = r"""
BEGIN { f = ENVIRON["RUN_PARTS"]; kind = "binary"
  if (f != "" && (getline first < f) > 0 && first ~ /^#!/) kind = "script"
  printf "runparts\t%s\n", kind }
{ emit($0) }"""

RUN_PARTS = r"""
@FOLLOW@
RUN_PARTS=
set -f; IFS=:
for __d in $PATH; do  # as `command -v run-parts` finds it, without a subshell
  __p=${__d:-.}/run-parts
  if [ -f "$__p" ] && [ -x "$__p" ]; then RUN_PARTS=$__p; break; fi
done
IFS=$__ifs; set +f
export RUN_PARTS
{
__files=
for d in /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly; do
  [ -d "$d" ] || continue
  printf 'dir\t%s\n' "$d"
  for f in "$d"/* "$d"/.[!.]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if [ -f "$f" ]; then t=file; elif [ -d "$f" ]; then t=dir; else t=other; fi
    x=no; [ -x "$f" ] && x=yes; r=no; [ -r "$f" ] && r=yes
    printf 'entry\t%s\t%s\t%s\t%s\n' "$f" "$t" "$x" "$r"
    case "${f##*/}" in .*) continue ;; esac  # run-parts never runs hidden files
    [ "$t$r" = fileyes ] && __files="$__files$f$__nl"
  done
done
follow_scripts yes "$__files"
} | @MASK_RUN_PARTS@
exit 0
"""

# Timer units (masked ones named as such), enabled links, the [Timer] keys of timers and
# drop-ins, the Exec lines of the services timers start (and of any that mention a tool or
# backup), the scripts those run, and list-timers when systemd runs. /lib is /usr/lib on
# merged-/usr systems: each real directory once. One awk reads every unit file: its
# arguments are `P<line>` (print it), `T<timer or drop-in>` and then `S<service or drop-in>`;
# it prints the unit lines and gives the paths the Exec lines name on its stderr.
_UNITS_AWK = r"""
BEGIN { Q = sprintf("%c", 39); CANDIDATES_TO = "/dev/stderr"
  for (a = 1; a < ARGC; a++) {
    k = substr(ARGV[a], 1, 1); v = substr(ARGV[a], 2)
    if (k == "P") { print v; split(v, r, "\t"); if (r[1] == "timer" || r[1] == "wants") starts_timer(r[2]) }
    else if (k == "T") timer_keys(v)
    else if (k == "S") execs(v) }
  exit }
@PATH_WORDS@
@CANDIDATES_AWK@
function wants(n) { want[n] = 1; if (n ~ /@./) { sub(/@.*/, "@", n); want[n ".service"] = 1 } }
function starts_timer(path,    n) {
  n = path; sub(/.*\//, "", n); sub(/\.timer$/, "", n); wants(n ".service") }
function timer_keys(f,    s, v) {
  while ((getline s < f) > 0)
    if (s ~ /^[ \t]*(On(Calendar|ActiveSec|BootSec|StartupSec|UnitActiveSec|UnitInactiveSec)|Unit)[ \t]*=/) {
      printf "unit\t%s\t%s\n", f, s
      v = s; sub(/\t.*/, "", v)
      if (v ~ /^[ \t]*Unit[ \t]*=/) { sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v); wants(v) } }
  close(f) }
function execs(f,    s, u, low) {
  u = f; sub(/\.d\/[^\/]*\.conf$/, "", u); sub(/.*\//, "", u)
  while ((getline s < f) > 0)
    if (s ~ /^[ \t]*Exec(Start|StartPre|StartPost)[ \t]*=/) {
      low = tolower(s)
      if ((u in want) || low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/) {
        s = substr(s, 1, 2000); printf "unit\t%s\t%s\n", f, s; candidates(s) } }
  close(f) }
"""

TIMERS = r"""
@FOLLOW@
{
dirs=
for d in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
         /lib/systemd/system /usr/lib/systemd/system; do
  [ -d "$d" ] || continue
  for e in $dirs; do [ "$d" -ef "$e" ] && continue 2; done
  dirs="$dirs $d"
done
__units=; __services=
for d in $dirs; do  # one listing of each directory, in glob order per kind
  __wants=; __timers=; __timer_d=; __service=; __service_d=
  for f in "$d"/*; do
    case "$f" in
      *.timer)
        if [ -L "$f" ] && [ "$f" -ef /dev/null ]; then __units="${__units}Pmasked$__tab$f$__nl"
        elif [ -f "$f" ]; then __units="${__units}Ptimer$__tab$f$__nl"; __timers="${__timers}T$f$__nl"; fi ;;
      *.wants)
        for g in "$f"/*.timer; do
          if [ -e "$g" ] || [ -L "$g" ]; then __wants="${__wants}Pwants$__tab$g$__nl"; fi
        done ;;
      *.timer.d) for g in "$f"/*.conf; do [ -f "$g" ] && __timer_d="${__timer_d}T$g$__nl"; done ;;
      *.service) [ -f "$f" ] && __service="${__service}S$f$__nl" ;;
      *.service.d) for g in "$f"/*.conf; do [ -f "$g" ] && __service_d="${__service_d}S$g$__nl"; done ;;
    esac
  done
  __units="$__units$__wants$__timers$__timer_d"; __services="$__services$__service$__service_d"
done
set -f; IFS=$__nl
{ __paths=$(awk '@UNITS_AWK@' $__units $__services 2>&1 >&3); } 3>&1
IFS=$__ifs; set +f
follow_scripts no "$__paths"
{ read -r __pid1 </proc/1/comm; } 2>/dev/null
if [ "$__pid1" = systemd ] && command -v systemctl >/dev/null; then
  systemctl list-timers --all --no-pager --no-legend 2>/dev/null | sed 's/^/list\t/'
fi
} | @MASK@
exit 0
"""

# What runs jobs: PID 1, and the cron daemons and backup file daemons that are running (one
# awk reads every process's name).
SCHEDULER = ("""
if [ -d /run/systemd/system ]; then __s=yes; else __s=no; fi
""" + rerun_on_read_error(r"""SYSTEMD_DIR=$__s LC_ALL=C awk 'BEGIN {
  p = ""; if ((getline p < "/proc/1/comm") <= 0) p = ""
  printf "pid1\t%s\nsystemd_dir\t%s\n", p, ENVIRON["SYSTEMD_DIR"]
  n = split(@WATCHED@, names, " "); for (i = 1; i <= n; i++) watched[names[i]] = 1
  for (a = 1; a < ARGC; a++) {
    c = ""; if ((getline c < ARGV[a]) > 0 && c in watched) running[c] = 1
    close(ARGV[a]) }
  for (i = 1; i <= n; i++) if (names[i] in running) printf "process\t%s\n", names[i]
  exit }' /proc/[0-9]*/comm""") + """
exit 0
""").replace("@WATCHED@", '"' + " ".join(sorted(WATCHED_PROCESSES)) + '"')


# For each backup path: how many files, and the newest one's time, size and name (never a
# file's content). Unreadable directories are counted, not skipped silently; files dated
# more than FUTURE_SLACK_S ahead of the host's clock are counted apart.
ARTEFACTS = r"""
now=$(date +%s); printf 'now\t%s\n' "$now"
gnu_find=; find / -maxdepth 0 -printf '' >/dev/null 2>&1 && gnu_find=yes
T=$(printf '\t')
for p in @PATHS@; do
  if [ -d "$p" ]; then k=dir; set -- "$p/"
  elif [ -f "$p" ]; then k=file; set -- "$p"
  elif [ -e "$p" ]; then k=other; set -- "$p"
  else printf 'path\t%s\tmissing\n' "$p"; continue; fi
  if [ -n "$gnu_find" ]; then
    find "$@" \( -type d ! -readable -prune -printf 'X\t\t%p\n' \) -o -type f -printf '%T@\t%s\t%p\n' \
      2>/dev/null
  else  # busybox: no -printf, no -readable (unreadable directories go uncounted)
    find "$@" -type f -exec stat -c "%Y$T%s$T%n" {} + 2>/dev/null
  fi | P="$p" K="$k" NOW="$now" awk -F '\t' '
    $1 == "X" { unreadable++; next }
    { files++; t = $1 + 0 }
    t > ENVIRON["NOW"] + @SLACK@ { future++; next }
    newest == "" || t > newest { newest = t; size = $2; name = $3 }
    END { printf "path\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", ENVIRON["P"], ENVIRON["K"], files,
          (newest == "" ? "-" : sprintf("%d", newest)), (size == "" ? "-" : size), future, unreadable, name }'
done
exit 0
""".replace("@SLACK@", str(FUTURE_SLACK_S))


def _follow() -> str:
    skipped = "|".join(sorted(HOUSEKEEPING))
    scan = _SCAN_AWK.replace("@PATH_WORDS@", _PATH_WORDS_AWK)
    return (FOLLOW.replace("@SCAN@", scan).replace("@BYTES@", str(MAX_SCRIPT_BYTES))
            .replace("@SCRIPTS@", str(MAX_SCRIPTS)).replace("@CANDIDATES@", str(MAX_CANDIDATES))
            .replace("@LINES@", str(MAX_SCRIPT_LINES)).replace("@CALLS@", str(MAX_CALLS))
            .replace("@HOUSEKEEPING@", skipped))


def _awk_text(program: str) -> str:
    """An awk program with the shared functions filled in."""
    return (program.replace("@CANDIDATES_AWK@", _CANDIDATES_AWK).replace("@PATH_WORDS@", _PATH_WORDS_AWK)
            .replace("@CANDIDATES@", str(MAX_CANDIDATES)))


def _with_tools(script: str, params: Params) -> str:
    """The probe with the tool pattern exported, the script follower and the masking filled in."""
    text = (script.replace("@FOLLOW@", _follow()).replace("@JOB_PATHS@", _awk_text(_JOB_PATHS))
            .replace("@UNITS_AWK@", _awk_text(_UNITS_AWK))
            .replace("@MASK_RUN_PARTS@", _masking(_RUN_PARTS_KIND)).replace("@MASK@", MASK_SECRETS))
    return f"TOOLS_RE={quote(_host_tool_pattern(params))}; export TOOLS_RE\n" + text


def _crontabs_script(params: Params) -> str:
    listing = _CRONTAB_FILES.replace("@PATHS@", " ".join(quote(p) for p in CRONTAB_PATHS))
    awk_filter = _awk_text(_CRONTAB_FILTER).replace("@HEADER@", json.dumps(HEADER)).replace(
        "@UNREADABLE@", json.dumps(UNREADABLE))
    return _with_tools(CRONTABS.replace("@CRONTAB_FILES@", listing).replace("@FILTER@", _masking(awk_filter)),
                       params)


def _run_parts_script(params: Params) -> str:
    return _with_tools(RUN_PARTS, params)


def _timers_script(params: Params) -> str:
    return _with_tools(TIMERS, params)


def _artefacts_script(params: Params) -> str:
    if not params["paths"]:  # nothing to date: no clock read, no find(1) tried on the host
        return "exit 0"
    return ARTEFACTS.replace("@PATHS@", path_args(params["paths"]))

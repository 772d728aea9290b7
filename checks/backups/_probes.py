"""The backups check's shell: what runs on the host, with secrets masked there."""

from __future__ import annotations

import re

from auditor.check import Params
from auditor.parsers.credentials import MASK_AWK
from auditor.parsers.files import dump_files_script
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
# value could be a credential, not only where a known tool takes a password.
_MASK_PROGRAM = r"""
{ keep = ""; rest = $0
  if (match(rest, /^(tool|call)\t[^\t]*\t[0-9]+\t/) || match(rest, /^[0-9]+\t/) ||
      match(rest, /^[a-z_]+\t[^\t]*\t/) || match(rest, /^[a-z_]+\t/)) {
    keep = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1) }
  print keep mask_credentials(rest, "***", 1) }"""
MASK_SECRETS = "LC_ALL=C awk " + quote(MASK_AWK + _MASK_PROGRAM)

# Prefilters on the host: only lines that may matter leave it, each crontab line prefixed
# with its line number in the file. `$TOOLS_RE` is the ERE of tool names (set by
# `_with_tools`), matched against the lower-cased line; `$SCRIPTS` the followed scripts
# worth a job line (one a line).
_CRONTAB_FILTER = r"""awk '
BEGIN { Q = sprintf("%c", 39); n = split(ENVIRON["SCRIPTS"], a, "\n")
        for (i = 1; i <= n; i++) runs[a[i]] = 1 }
@PATH_WORDS@
function runs_script(line,    k, i, w) {
  k = path_words(line, w); for (i = 1; i <= k; i++) if (w[i] in runs) return 1
  return 0 }
function flush() {
  if (file != "" && jobs > 0) printf "# auditor: %d job line(s), %d shown\n", jobs, shown
  jobs = 0; shown = 0 }
/^### auditor-/ { flush(); file = $0; line = 0; print; next }
{ line++ }
/^[ \t]*(#|$)/ { next }
/^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ { next }
{ jobs++; low = tolower($0)
  if (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup|run-parts|anacron/ || runs_script($0)) {
    printf "%d\t%s\n", line, substr($0, 1, 2000); shown++ } }
END { flush() }'"""

# Following a job into the scripts it runs, on the host and read-only: every absolute path a
# job command names (not a redirection target) that is a regular file starting with `#!` is
# read (its first MAX_SCRIPT_BYTES only), and so are the paths that script names: two
# levels. What leaves the host is, per script: that it was read (or could not be, with its
# mode and owner), its lines that mention a tool or backup (numbered, masked like job lines),
# and, at the first level, the paths it names. System housekeeping is not followed.
#   script <path> <level> read | unreadable <mode owner>;  tool <path> <n> <line>
#   call <path> <n> <named path>;  cut <path>;  capped scripts|candidates <n>
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

FOLLOW = r"""
__read=' '; __n=0; __records=''
__scan() {  # LEVEL PATH ANY: the records of one readable file (ANY=yes: no #! needed)
  head -c @BYTES@ -- "$2" 2>/dev/null | L="$1" F="$2" ANY="$3" LC_ALL=C awk '
    BEGIN { Q = sprintf("%c", 39) }
    @PATH_WORDS@
    NR == 1 && !/^#!/ && ENVIRON["ANY"] != "yes" { exit }
    NR == 1 { printf "script\t%s\t%s\tread\n", ENVIRON["F"], ENVIRON["L"] }
    { bytes += length($0) + 1; line = $0; sub(/^[ \t]+/, "", line) }
    line == "" || line ~ /^#/ { next }
    { low = tolower(line) }
    (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/) && shown < @LINES@ {
      printf "tool\t%s\t%d\t%s\n", ENVIRON["F"], NR, substr(line, 1, 500); shown++ }
    ENVIRON["L"] == 1 && calls < @CALLS@ {
      k = path_words(line, w)
      for (i = 1; i <= k; i++) if (!(w[i] in named) && w[i] != ENVIRON["F"] && calls < @CALLS@) {
        named[w[i]] = 1; calls++; printf "call\t%s\t%d\t%s\n", ENVIRON["F"], NR, w[i] } }
    END { if (bytes >= @BYTES@ - 1) printf "cut\t%s\n", ENVIRON["F"] }'
}
__follow_level() {  # LEVEL ANY PATHS (one a line)
  while IFS= read -r __p; do
    case "$__p" in /*) ;; *) continue ;; esac
    case "${__p##*/}" in @HOUSEKEEPING@) continue ;; esac
    case "$__read" in *" $__p "*) continue ;; esac
    [ -f "$__p" ] || continue
    __read="$__read$__p "
    if [ ! -r "$__p" ]; then
      __records="$__records$(printf 'script\t%s\t%s\tunreadable\t' "$__p" "$1"
        ls -ld -- "$__p" 2>/dev/null | awk '{ printf "%s %s", $1, $3 }')
"
      continue
    fi
    __n=$((__n + 1))
    if [ "$__n" -gt @SCRIPTS@ ]; then __records="${__records}capped	scripts	@SCRIPTS@
"; break; fi
    __records="$__records$(__scan "$1" "$__p" "$2")
"
  done <<__AUDITOR_PATHS__
$3
__AUDITOR_PATHS__
}
follow_scripts() {  # ANY PATHS: read the scripts PATHS name, then the scripts those name
  __c=$(printf '%s\n' "$2" | awk '!seen[$0]++ { if (++n > @CANDIDATES@) { print "capped"; exit } print }')
  case "$__c" in *capped) __records="${__records}capped	candidates	@CANDIDATES@
" ;; esac
  __follow_level 1 "$1" "$__c"
  __follow_level 2 no "$(printf '%s\n' "$__records" | awk -F '\t' '$1 == "call" { print $4 }')"
  printf '%s\n' "$__records"
}
# The scripts worth showing a job line for: those with tool lines, those not readable, and
# those that name one with tool lines.
followed_scripts() {
  printf '%s\n' "$__records" | awk -F '\t' '
    $1 == "tool" || ($1 == "script" && $4 == "unreadable") { hit[$2] = 1 }
    $1 == "call" { n++; from[n] = $2; to[n] = $4 }
    END { for (i = 1; i <= n; i++) if (to[i] in hit) hit[from[i]] = 1
          for (s in hit) print s }'
}
"""

# The absolute paths in job lines of crontab dumps (never environment lines or comments).
_JOB_PATHS = r"""awk '
BEGIN { Q = sprintf("%c", 39) }
@PATH_WORDS@
/^### auditor-/ || /^[ \t]*(#|$)/ || /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ { next }
{ k = path_words($0, w); for (i = 1; i <= k; i++) print w[i] }'"""

# Crontab files with their owner and mode (cron ignores some for those), anacron's presence,
# the scripts job lines run, and each file's job lines about backups, run-parts, anacron or
# a followed script (never environment lines).
CRONTABS = r"""
{
printf 'anacron\t%s\n' "$([ -x /usr/sbin/anacron ] && echo yes || echo no)"
s=absent
if [ -d /var/spool/cron/crontabs ]; then
  s=unreadable; [ -r /var/spool/cron/crontabs ] && [ -x /var/spool/cron/crontabs ] && s=readable
fi
printf 'spool\t%s\n' "$s"
if find /etc -maxdepth 0 -printf '' >/dev/null 2>&1; then
  find /etc/crontab /etc/cron.d /var/spool/cron /etc/anacrontab -maxdepth 2 ! -type d \
    -printf 'meta\t%p\t%y\t%Y\t%u\t%m\n' 2>/dev/null
else  # busybox find has no -printf: the same fields from test(1) and stat(1); the globs also
  # enter a linked spool (Alpine's /var/spool/cron/crontabs -> /etc/crontabs), as crond does
  for f in /etc/crontab /etc/cron.d/* /var/spool/cron/* /var/spool/cron/*/* /etc/anacrontab; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ -d "$f" ] && [ ! -L "$f" ] && continue
    printf '%s\n' "$f"
  done | while IFS= read -r f; do
      if [ -f "$f" ]; then t=f; elif [ -d "$f" ]; then t=d; elif [ -e "$f" ]; then t=p; else t=N; fi
      y=$t; [ -L "$f" ] && y=l
      printf 'meta\t%s\t%s\t%s\t%s\n' "$f" "$y" "$t" "$(stat -c '%U %a' "$f" | tr ' ' '\t')"
    done
fi | sort
@FOLLOW@
follow_scripts no "$({
@DUMP@
} | @JOB_PATHS@)"
SCRIPTS=$(followed_scripts); export SCRIPTS
{
@DUMP@
} | @FILTER@
} | @MASK@
"""

# Every entry of the run-parts directories (type, executable, readable), and what each
# readable script holds about tools or backup (with the scripts it names).
RUN_PARTS = r"""
{
@FOLLOW@
# Which run-parts runs the directories: Debian's and busybox's (binaries) skip names with a dot;
# the RHEL family's (cronie's crontabs package) is a shell script that runs them.
__rp=$(command -v run-parts 2>/dev/null)
if [ -n "$__rp" ] && [ "$(head -c 2 "$__rp" 2>/dev/null)" = '#!' ]; then printf 'runparts\tscript\n'
else printf 'runparts\tbinary\n'; fi
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
    [ "$t$r" = fileyes ] && __files="$__files$f
"
  done
done
follow_scripts yes "$__files"
} | @MASK@
exit 0
"""

# Timer units (masked ones named as such), enabled links, the [Timer] keys of timers and
# drop-ins, the Exec lines of the services timers start (and of any that mention a tool or
# backup), the scripts those run, and list-timers when systemd runs. /lib is /usr/lib on
# merged-/usr systems: each real directory once.
TIMERS = r"""
{
@FOLLOW@
seen=; dirs=
for d in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
         /lib/systemd/system /usr/lib/systemd/system; do
  [ -d "$d" ] || continue
  r=$(readlink -f "$d"); case " $seen " in *" $r "*) continue ;; esac; seen="$seen $r"; dirs="$dirs $d"
done
__timers=$(for d in $dirs; do
  for f in "$d"/*.timer; do
    if [ -L "$f" ] && [ "$(readlink -f "$f")" = /dev/null ]; then printf 'masked\t%s\n' "$f"
    elif [ -f "$f" ]; then printf 'timer\t%s\n' "$f"; fi
  done
  for f in "$d"/*.wants/*.timer; do
    { [ -e "$f" ] || [ -L "$f" ]; } && printf 'wants\t%s\n' "$f"
  done
  set --
  for f in "$d"/*.timer "$d"/*.timer.d/*.conf; do [ -f "$f" ] && set -- "$@" "$f"; done
  [ $# -gt 0 ] && awk '
    /^[ \t]*(On(Calendar|ActiveSec|BootSec|StartupSec|UnitActiveSec|UnitInactiveSec)|Unit)[ \t]*=/ {
      printf "unit\t%s\t%s\n", FILENAME, $0 }' "$@"
done)
printf '%s\n' "$__timers"
SERVICES=$(printf '%s\n' "$__timers" | awk -F '\t' '
  $1 == "timer" || $1 == "wants" { n = $2; sub(/.*\//, "", n); sub(/\.timer$/, "", n); print n ".service"
    if (n ~ /@./) { sub(/@.*/, "@", n); print n ".service" } }
  $1 == "unit" && $3 ~ /^[ \t]*Unit[ \t]*=/ { v = $3; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
    print v; if (v ~ /@./) { sub(/@.*/, "@", v); print v ".service" } }')
export SERVICES
__execs=$(for d in $dirs; do
  set --
  for f in "$d"/*.service "$d"/*.service.d/*.conf; do [ -f "$f" ] && set -- "$@" "$f"; done
  [ $# -gt 0 ] && awk '
    BEGIN { n = split(ENVIRON["SERVICES"], a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    /^[ \t]*Exec(Start|StartPre|StartPost)[ \t]*=/ {
      s = FILENAME; sub(/\.d\/[^\/]*\.conf$/, "", s); sub(/.*\//, "", s); low = tolower($0)
      if ((s in want) || low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/)
        printf "unit\t%s\t%s\n", FILENAME, substr($0, 1, 2000) }' "$@"
done)
printf '%s\n' "$__execs"
follow_scripts no "$(printf '%s\n' "$__execs" | awk '
  BEGIN { Q = sprintf("%c", 39) }
  @PATH_WORDS@
  { sub(/^[^\t]*\t[^\t]*\t/, ""); k = path_words($0, w); for (i = 1; i <= k; i++) print w[i] }')"
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then
  systemctl list-timers --all --no-pager --no-legend 2>/dev/null | sed 's/^/list\t/'
fi
} | @MASK@
exit 0
"""

# What runs jobs: PID 1, and the cron daemons and backup file daemons that are running.
SCHEDULER = r"""
printf 'pid1\t%s\n' "$(cat /proc/1/comm 2>/dev/null)"
printf 'systemd_dir\t%s\n' "$([ -d /run/systemd/system ] && echo yes || echo no)"
cat /proc/[0-9]*/comm 2>/dev/null | sort -u | grep -x -E @WATCHED@ | sed 's/^/process\t/'
exit 0
""".replace("@WATCHED@", quote("|".join(WATCHED_PROCESSES)))

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
    return (FOLLOW.replace("@BYTES@", str(MAX_SCRIPT_BYTES)).replace("@SCRIPTS@", str(MAX_SCRIPTS))
            .replace("@CANDIDATES@", str(MAX_CANDIDATES)).replace("@LINES@", str(MAX_SCRIPT_LINES))
            .replace("@CALLS@", str(MAX_CALLS)).replace("@HOUSEKEEPING@", skipped))


def _with_tools(script: str, params: Params) -> str:
    """The probe with the tool pattern exported, the script follower and the masking filled in."""
    text = script.replace("@FOLLOW@", _follow()).replace("@JOB_PATHS@", _JOB_PATHS)
    return f"TOOLS_RE={quote(_host_tool_pattern(params))}; export TOOLS_RE\n" + text.replace(
        "@PATH_WORDS@", _PATH_WORDS_AWK).replace("@MASK@", MASK_SECRETS)


def _crontabs_script(params: Params) -> str:
    return _with_tools(CRONTABS.replace("@DUMP@", dump_files_script(*CRONTAB_PATHS))
                       .replace("@FILTER@", _CRONTAB_FILTER), params)


def _run_parts_script(params: Params) -> str:
    return _with_tools(RUN_PARTS, params)


def _timers_script(params: Params) -> str:
    return _with_tools(TIMERS, params)


def _artefacts_script(params: Params) -> str:
    return ARTEFACTS.replace("@PATHS@", path_args(params["paths"]))

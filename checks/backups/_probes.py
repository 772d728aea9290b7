"""The backups check's shell: what runs on the host, with secrets masked there."""

from __future__ import annotations

import re

from auditor.check import Params
from auditor.parsers.files import dump_files_script
from auditor.parsers.schedules import CRON_DAEMONS
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


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _secret(*words: str) -> str:
    return "(" + "|".join(_any_case(w) for w in words) + ")"


_VALUE = "('[^']*'|\"[^\"]*\"|[^[:space:];&|]+)"


def _user_password_option(tool: str, options: str, separator: str) -> list[str]:
    """sed arguments masking the password in TOOL's `OPTION user<SEPARATOR>password`
    (curl -u user:pw, lftp -u user,pw, smbclient -U user%pw): in '...', in "..." (up to
    the closing quote, spaces included) or bare (up to a space)."""
    head = f"{tool}[^;&|]*[[:space:]]({options})(=|[[:space:]]*)"
    args = []
    for opening, password in (("'", "[^']*"), ('"', '[^"]*'), ("", "[^[:space:]'\"]+")):
        user = f"[^{separator}[:space:]'\"]*"
        args += ["-e", quote(f"s/({head}{opening}{user}{separator}){password}/\\1***/g")]
    return args



# Runs on the host over every line a probe sends: values of secret-looking settings become ***.
MASK_SECRETS = " ".join([
    "sed -E",
    "-e", quote(f"s/([A-Za-z0-9_]*{_secret('pass', 'secret', 'token', 'key', 'pwd')}[A-Za-z0-9_]*=){_VALUE}"
                "/\\1***/g"),
    "-e", quote(f"s/(--?[A-Za-z0-9_-]*{_secret('pass', 'secret', 'token', 'pwd')}[A-Za-z0-9_-]*)"
                f"(=|[[:space:]]+){_VALUE}/\\1\\3***/g"),
    "-e", quote("s/((mysql|mysqldump|mysqlpump|mariadb|mariadb-dump|mariabackup|xtrabackup)"
                "[^;&|]*[[:space:]]-p)[^[:space:]]+/\\1***/g"),
    "-e", quote("s/(sshpass[[:space:]]+-p[[:space:]]*)[^[:space:]]+/\\1***/g"),
    *_user_password_option("curl", "-u|--user|--proxy-user|-U", ":"),
    *_user_password_option("lftp", "-u|--user", ","),
    *_user_password_option("smbclient", "-U|--user", "%"),
    "-e", quote("s#(://[^/:@[:space:]]+:)[^@/[:space:]]+@#\\1***@#g"),
])

# Prefilters on the host: only lines that may matter leave it, each crontab line prefixed
# with its line number in the file. `$TOOLS_RE` is the ERE of
# tool names (set by `_with_tools`), matched against the lower-cased line.
_CRONTAB_FILTER = r"""awk '
function flush() {
  if (file != "" && jobs > 0) printf "# auditor: %d job line(s), %d shown\n", jobs, shown
  jobs = 0; shown = 0 }
/^### auditor-/ { flush(); file = $0; line = 0; print; next }
{ line++ }
/^[ \t]*(#|$)/ { next }
/^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=/ { next }
{ jobs++; low = tolower($0)
  if (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup|run-parts|anacron/) {
    printf "%d\t%s\n", line, substr($0, 1, 2000); shown++ } }
END { flush() }'"""

# Crontab files with their owner and mode (cron ignores some for those), anacron's presence,
# and each file's job lines about backups, run-parts or anacron (never environment lines).
CRONTABS = r"""
printf 'anacron\t%s\n' "$([ -x /usr/sbin/anacron ] && echo yes || echo no)"
s=absent
if [ -d /var/spool/cron/crontabs ]; then
  s=unreadable; [ -r /var/spool/cron/crontabs ] && [ -x /var/spool/cron/crontabs ] && s=readable
fi
printf 'spool\t%s\n' "$s"
find /etc/crontab /etc/cron.d /var/spool/cron /etc/anacrontab -maxdepth 2 ! -type d \
  -printf 'meta\t%p\t%y\t%Y\t%u\t%m\n' 2>/dev/null | sort
{
@DUMP@
} | @FILTER@ | @MASK@
"""

# Every entry of the run-parts directories (type, executable, readable), and the lines of
# each script that mention a tool or backup.
RUN_PARTS = r"""
for d in /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly; do
  [ -d "$d" ] || continue
  printf 'dir\t%s\n' "$d"
  for f in "$d"/* "$d"/.[!.]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if [ -f "$f" ]; then t=file; elif [ -d "$f" ]; then t=dir; else t=other; fi
    x=no; [ -x "$f" ] && x=yes; r=no; [ -r "$f" ] && r=yes
    printf 'entry\t%s\t%s\t%s\t%s\n' "$f" "$t" "$x" "$r"
    [ "$t$r" = fileyes ] || continue
    awk '/^[ \t]*#/ { next } { low = tolower($0) }
      low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/ {
        printf "line\t%s\t%s\n", FILENAME, substr($0, 1, 500) }' "$f"
  done
done | @MASK@
exit 0
"""

# Timer units (masked ones named as such), enabled links, the [Timer] keys of timers and
# drop-ins, the Exec lines of services that mention a tool or backup, and list-timers
# when systemd runs. /lib is /usr/lib on merged-/usr systems: each real directory once.
TIMERS = r"""
{
seen=
for d in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
         /lib/systemd/system /usr/lib/systemd/system; do
  [ -d "$d" ] || continue
  r=$(readlink -f "$d"); case " $seen " in *" $r "*) continue ;; esac; seen="$seen $r"
  for f in "$d"/*.timer; do
    if [ -L "$f" ] && [ "$(readlink -f "$f")" = /dev/null ]; then printf 'masked\t%s\n' "$f"
    elif [ -f "$f" ]; then printf 'timer\t%s\n' "$f"; fi
  done
  for f in "$d"/*.wants/*.timer; do
    { [ -e "$f" ] || [ -L "$f" ]; } && printf 'wants\t%s\n' "$f"
  done
  set --
  for f in "$d"/*.timer "$d"/*.timer.d/*.conf "$d"/*.service "$d"/*.service.d/*.conf; do
    [ -f "$f" ] && set -- "$@" "$f"
  done
  [ $# -gt 0 ] && awk '
    FILENAME ~ /\.timer(\.d\/[^\/]*\.conf)?$/ {
      if ($0 ~ /^[ \t]*(On(Calendar|ActiveSec|BootSec|StartupSec|UnitActiveSec|UnitInactiveSec)|Unit)[ \t]*=/)
        printf "unit\t%s\t%s\n", FILENAME, $0
      next }
    /^[ \t]*Exec(Start|StartPre|StartPost)[ \t]*=/ {
      low = tolower($0)
      if (low ~ ENVIRON["TOOLS_RE"] || low ~ /backup/)
        printf "unit\t%s\t%s\n", FILENAME, substr($0, 1, 2000) }
  ' "$@"
done
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
for p in @PATHS@; do
  if [ -d "$p" ]; then k=dir; set -- "$p/"
  elif [ -f "$p" ]; then k=file; set -- "$p"
  elif [ -e "$p" ]; then k=other; set -- "$p"
  else printf 'path\t%s\tmissing\n' "$p"; continue; fi
  find "$@" \( -type d ! -readable -prune -printf 'X\t\t%p\n' \) -o -type f -printf '%T@\t%s\t%p\n' \
    2>/dev/null | P="$p" K="$k" NOW="$now" awk -F '\t' '
    $1 == "X" { unreadable++; next }
    { files++; t = $1 + 0 }
    t > ENVIRON["NOW"] + @SLACK@ { future++; next }
    newest == "" || t > newest { newest = t; size = $2; name = $3 }
    END { printf "path\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", ENVIRON["P"], ENVIRON["K"], files,
          (newest == "" ? "-" : sprintf("%d", newest)), (size == "" ? "-" : size), future, unreadable, name }'
done
exit 0
""".replace("@SLACK@", str(FUTURE_SLACK_S))


def _with_tools(script: str, params: Params) -> str:
    return f"TOOLS_RE={quote(_host_tool_pattern(params))}; export TOOLS_RE\n" + script.replace(
        "@MASK@", MASK_SECRETS)


def _crontabs_script(params: Params) -> str:
    return _with_tools(CRONTABS.replace("@DUMP@", dump_files_script(*CRONTAB_PATHS))
                       .replace("@FILTER@", _CRONTAB_FILTER), params)


def _run_parts_script(params: Params) -> str:
    return _with_tools(RUN_PARTS, params)


def _timers_script(params: Params) -> str:
    return _with_tools(TIMERS, params)


def _artefacts_script(params: Params) -> str:
    return ARTEFACTS.replace("@PATHS@", path_args(params["paths"]))

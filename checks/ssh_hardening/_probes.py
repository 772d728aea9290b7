"""The ssh_hardening check's shell: the listening sshd daemons read from /proc, `sshd -T` for each,
and sshd_config with every file it includes.
"""

from __future__ import annotations

import shlex

from auditor.parsers import sshd
from auditor.parsers.awk import rerun_on_read_error
from auditor.parsers.files import HEADER, UNREADABLE
from auditor.parsers.not_a_file import NOT_A_FILE, NOT_A_FILE_SH
from auditor.parsers.sockets import PROC_NET_LISTEN

NO_SSHD = "#no-sshd"
# RHEL-family crypto-policies: the policy's name, and its OpenSSH server back-end.
POLICY_CONFIG = "/etc/crypto-policies/config"
SERVER_BACKEND = "/etc/crypto-policies/back-ends/opensshserver.config"
SSHD_LINE = "#sshd "
RC_LINE = "#sshd-T-rc "
LS_PIDS = 256  # sshd processes whose fd and exe links one `ls -l` lists

# The listeners sshd holds, and the sshd processes holding one: ONE `ls -l` (of LS_PIDS
# processes at most, so that thousands of sessions stay under ARG_MAX) and ONE awk; see
# DAEMONS_SCRIPT. The host's other listeners stay on the host: they are not this check's, and
# each one opened or closed would change the evidence (drift where sshd did not move). The awk
# runs again when a daemon ends as it reads its status (rerun_on_read_error).
_LISTENER_ROWS = rf"""{{ set --; for p in $pids; do
    set -- "$@" "/proc/$p/exe" "/proc/$p/fd"
    if [ $# -ge {2 * LS_PIDS} ]; then ls -l "$@" 2>/dev/null; set --; fi
  done
  if [ $# -gt 0 ]; then ls -l "$@" 2>/dev/null; fi; }} | awk '
  BEGIN {{
    split("tcp tcp6", tables, " ")
    for (t = 1; t <= 2; t++) {{
      f = "/proc/net/" tables[t]; row = 0
      while ((getline line < f) > 0) {{
        split(line, w, " ")
        if (++row > 1 && w[4] == "{PROC_NET_LISTEN}") {{
          listening[w[10]] = "#listen " tables[t] " " w[2] " " w[10]; sockets[++m] = w[10] }}
      }}
      close(f)
    }}
  }}
  /^\/proc\/[0-9]+\/fd:$/ {{ split($0, path, "/"); pid = path[3]; order[++n] = pid; next }}
  match($0, / \/proc\/[0-9]+\/exe -> /) {{
    exe[substr($0, RSTART + 7, RLENGTH - 15)] = substr($0, RSTART + RLENGTH); next }}
  pid != "" && /-> socket:\[[0-9]+\]$/ {{
    s = $NF; gsub(/[^0-9]/, "", s); if (s in listening) inodes[pid] = inodes[pid] "," s }}
  END {{
    for (i = 1; i <= n; i++) if (order[i] in inodes) {{
      k = split(substr(inodes[order[i]], 2), held, ","); for (j = 1; j <= k; j++) sshd[held[j]] = 1 }}
    for (i = 1; i <= m; i++) if (sockets[i] in sshd) print listening[sockets[i]]
    for (i = 1; i <= n; i++) {{  # in the order ls listed them: that of the glob of /proc
      if (!(order[i] in inodes)) continue
      pid = order[i]; uid = ""; f = "/proc/" pid "/status"
      while ((getline line < f) > 0) if (line ~ /^Uid:/) {{ split(line, u, " "); uid = u[2]; break }}
      close(f)
      print pid " " (uid == "" ? "-" : uid) " " substr(inodes[pid], 2) " " exe[pid]
    }}
  }}'"""

# The sshd processes that hold a listening TCP socket, read from /proc only (no ps, no ss):
# /proc/net/tcp{,6} LISTEN inodes, matched to /proc/<pid>/fd/* socket links (root sees every
# process's). The shell picks the processes named sshd (their comm, read by the shell itself);
# ONE `ls -l` lists their fd and exe links and ONE awk prints the listeners and, for each sshd
# holding one, its pid, uid (from its status), inodes and binary (a `ls | sed`, an awk and a
# readlink per process cost ~3 ms each). Each one's arguments come from /proc/<pid>/cmdline: its
# argv (split by tr and awk), or the title sshd gives its listener ("sshd: /usr/sbin/sshd -D -f
# FILE [listener] ..."), whose words the shell splits on blanks (`-o Key value` is joined back).
# POSIX getopts with sshd's own option string picks its -f and -o arguments, and its own binary
# (/proc/<pid>/exe) runs `sshd -T` with them; values pass as separate arguments, never through
# eval. Only a daemon root started is judged: running `sshd -T -f FILE` as root on a file
# another user controls could print that file's lines. Arguments with no `-` followed by an f or
# an o hold no -f or -o (getopts could find neither), so they are not split; a daemon so started
# by the binary that printed the installed configuration would print it again (~15 ms of host
# keys loaded for nothing): `#runs-installed` stands for that `sshd -T`.
DAEMONS_SCRIPT = rf"""
echo '{sshd.DAEMONS_LINE}'
pids=
for d in /proc/[0-9]*; do
  comm=; {{ read -r comm <"$d/comm"; }} 2>/dev/null
  [ "$comm" = sshd ] || continue
  pids="$pids ${{d##*/}}"
done
rows=$({rerun_on_read_error(_LISTENER_ROWS)})
words() {{  # one a line; a listener's title is split by the shell itself, other titles and argv by awk
  case $cmdline in
    "sshd: "*" [listener]"*)
      set -f; set -- $args; set +f
      while [ $# -gt 0 ]; do
        if [ "$1" = -o ] && [ $# -ge 3 ]; then
          case $2 in *=*) ;; *) printf '%s\n%s\n' "$1" "$2 $3"; shift 3; continue ;; esac
        fi
        printf '%s\n' "$1"; shift
      done ;;
    *) tr '\000' '\n' < "/proc/$1/cmdline" | awk '
      NR == 1 && /^sshd: / {{ title = 1; sub(/^sshd: /, ""); sub(/ \[listener\].*$/, "")
        n = split($0, w, " ")
        for (i = 2; i <= n; i++) {{
          if (w[i] == "-o" && i + 2 <= n && w[i + 1] !~ /=/) {{
            print w[i]; print w[i + 1] " " w[i + 2]; i += 2 }}
          else print w[i] }} }}
      NR > 1 && !title {{ print }}' ;;
  esac
}}
options() {{
  OPTIND=1
  while getopts ':46C:Ddeiqrtf:h:k:o:p:QRTc:E:g:' opt; do
    case $opt in f|o) printf '%s\n%s\n' "-$opt" "$OPTARG" ;; esac
  done
}}
judge() {{
  case $cmdline in  # its arguments, past the binary
    "sshd: "*) args=${{cmdline#"sshd: "}}; args=${{args%%" [listener]"*}} ;;
    *) args=$cmdline ;;
  esac
  case $args in *" "*) args=${{args#* }} ;; *) args= ;; esac
  set --
  case $args in
    *-*[fo]*)
      while IFS= read -r w; do [ -n "$w" ] && set -- "$@" "$w"; done <<EOF
$(words "$pid")
EOF
      opts=$(options "$@")
      set --
      while IFS= read -r w; do [ -n "$w" ] && set -- "$@" "$w"; done <<EOF
$opts
EOF
      ;;
    *) if [ "$exe" = "$bin" ]; then echo '{sshd.RUNS_INSTALLED_LINE}'; return; fi ;;
  esac
  for w in "$@"; do printf '#option %s\n' "$w"; done
  out=$("$exe" -T "$@" 2>&1 </dev/null); rc=$?
  printf '%s\n#sshd-T-rc %s\n' "$out" "$rc"
}}
count=0; tab='	'
while IFS= read -r row; do
  case $row in "") continue ;; "#"*) printf '%s\n' "$row"; continue ;; esac
  pid=${{row%% *}}; row=${{row#* }}; uid=${{row%% *}}; row=${{row#* }}; inodes=${{row%% *}}; exe=${{row#* }}
  [ "$uid" != - ] || uid=
  case "$exe" in ""|*" (deleted)") exe=$bin ;; esac
  echo "#daemon $pid uid=$uid inodes=$inodes exe=$exe"
  # The title sshd gives its listener is read by the shell, which drops the NULs that pad it (no
  # tr); a title with a tab, or any other command line, goes through tr (NULs, tabs and newlines
  # become blanks).
  cmdline=; {{ read -r cmdline < "/proc/$pid/cmdline"; }} 2>/dev/null
  case $cmdline in
    *"$tab"*) cmdline=$(tr '\000\n\t' '   ' < "/proc/$pid/cmdline") ;;
    "sshd: "*" [listener] "*) ;;
    *) cmdline=$(tr '\000\n\t' '   ' < "/proc/$pid/cmdline") ;;
  esac
  # The count of logins being authenticated at this instant ("[listener] 0 of 10-100 startups")
  # says nothing of the daemon and would make two looks at the same one differ: cut after it.
  case $cmdline in "sshd: "*" [listener] "*) cmdline="${{cmdline%%" [listener] "*}} [listener]" ;; esac
  echo "#cmdline $cmdline"
  count=$((count + 1))
  if [ "$count" -gt {sshd.MAX_DAEMONS} ]; then echo "#not-judged more than {sshd.MAX_DAEMONS} listeners"
  elif [ "$uid" != 0 ]; then echo "#not-judged started by uid $uid, not root"
  elif [ ! -x "$exe" ]; then echo "#not-judged its binary $exe cannot be run"
  else judge; fi
done <<EOF
$rows
EOF
"""

# Finds sshd (also outside a non-root PATH), prints its path and version, then `sshd -T`
# and its exit code; sshd -T's own error goes to stderr.
SSHD_T = rf"""
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"
bin=""
for p in /usr/sbin/sshd /usr/local/sbin/sshd /sbin/sshd; do
  if [ -x "$p" ]; then bin=$p; break; fi
done
if [ -z "$bin" ]; then p=$(command -v sshd 2>/dev/null); if [ -n "$p" ] && [ -x "$p" ]; then bin=$p; fi; fi
if [ -z "$bin" ]; then echo '{NO_SSHD}'; exit 0; fi
version=$("$bin" -V 2>&1 </dev/null)
version=${{version%%"
"*}}
echo "{SSHD_LINE}$bin $version"
"$bin" -T
echo "{RC_LINE}$?"
{DAEMONS_SCRIPT}
exit 0
"""

# sshd_config and, recursively, every file its Include lines name (globs, relative to
# /etc/ssh), in the files.py dump format. Include arguments are split on blanks. Comment
# lines are blanked on the host (line numbers stay right): whatever someone noted there
# never leaves it. A matched file that cannot be read, and the directory of a glob that
# cannot be listed or searched (the glob then stays literal), are reported unreadable (a
# directory with a trailing /): the files read are then not all that sshd reads. On RHEL-family
# hosts, the crypto-policies state (which policy) and its sshd back-end are dumped too. One awk
# reads each file: its text to the probe's stdout (fd 3), its Include arguments to its stderr,
# which the shell captures (a sed and an awk per file before). A named pipe or a device where
# a file should be (sshd_config, a crypto-policies file: tested with -e) is reported unreadable
# and never opened, which would block; a NOT_A_FILE line after its header, which parse_dump
# skips, says what it is.
SSHD_CONFIG = rf"""
H={shlex.quote(HEADER)}; U={shlex.quote(UNREADABLE)}
exec 3>&1
{NOT_A_FILE_SH}
emit() {{ patterns=; if not_a_file "$1"; then printf '\n%s%s\n{NOT_A_FILE}%s %s\n' "$U" "$1" "$kind" "$1"
  elif [ -r "$1" ]; then printf '\n%s%s\n' "$H" "$1"
    patterns=$(awk '{{ if ($0 ~ /^[[:space:]]*#/) print ""; else print; sub(/^[ \t]+/, "")
      if (tolower($0) ~ /^include([ \t]|=)/) {{
        sub(/^[^ \t=]+[ \t]*=?[ \t]*/, ""); gsub(/"/, ""); print > "/dev/stderr" }} }}' "$1" 2>&1 >&3)
  else printf '\n%s%s\n' "$U" "$1"; fi; }}
todo={sshd.MAIN_CONFIG}; seen=" "; depth=0
[ -e {sshd.MAIN_CONFIG} ] || exit 0
while [ -n "$todo" ] && [ "$depth" -le {sshd.MAX_INCLUDE_DEPTH} ]; do
  next=""
  for f in $todo; do
    case "$seen" in *" $f "*) continue ;; esac
    seen="$seen$f "
    emit "$f"
    set -f
    for pattern in $patterns; do
      case "$pattern" in /*) ;; *) pattern="{sshd.CONFIG_DIR}/$pattern" ;; esac
      set +f
      for g in $pattern; do
        if [ -f "$g" ]; then next="$next $g"
        elif [ ! -e "$g" ]; then d=${{g%/*}}
          if [ -d "$d" ] && {{ [ ! -r "$d" ] || [ ! -x "$d" ]; }}; then printf '\n%s%s/\n' "$U" "$d"; fi
        fi
      done
      set -f
    done
    set +f
  done
  todo=$next; depth=$((depth + 1))
done
for f in {POLICY_CONFIG} {SERVER_BACKEND}; do  # RHEL family: which policy, even if not included
  case "$seen" in *" $f "*) continue ;; esac
  if [ -e "$f" ]; then emit "$f"; fi
done
exit 0
"""

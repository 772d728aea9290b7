"""The ssh_hardening check's shell: the listening sshd daemons read from /proc, `sshd -T` for each,
and sshd_config with every file it includes.
"""

from __future__ import annotations

import shlex

from auditor.parsers import sshd
from auditor.parsers.files import HEADER, UNREADABLE
from auditor.parsers.sockets import PROC_NET_LISTEN, proc_listen_script

NO_SSHD = "#no-sshd"
# RHEL-family crypto-policies: the policy's name, and its OpenSSH server back-end.
POLICY_CONFIG = "/etc/crypto-policies/config"
SERVER_BACKEND = "/etc/crypto-policies/back-ends/opensshserver.config"
SSHD_LINE = "#sshd "
RC_LINE = "#sshd-T-rc "

# The sshd processes that hold a listening TCP socket, read from /proc only (no ps, no ss):
# /proc/net/tcp{,6} LISTEN inodes, matched to /proc/<pid>/fd/* socket links (root sees every
# process's). Each one's arguments come from /proc/<pid>/cmdline: its argv, or the title sshd
# gives its listener ("sshd: /usr/sbin/sshd -D -f FILE [listener] ..."), whose words are split
# on blanks (`-o Key value` is joined back). POSIX getopts with sshd's own option string picks
# its -f and -o arguments, and its own binary (/proc/<pid>/exe) runs `sshd -T` with them; values
# pass as separate arguments, never through eval. Each process's comm is read by the shell itself
# (a `cat` per process cost ~80 ms a host). Only a daemon root started is judged: running
# `sshd -T -f FILE` as root on a file another user controls could print that file's lines.
DAEMONS_SCRIPT = rf"""
echo '{sshd.DAEMONS_LINE}'
listening=" $(awk '$4 == "{PROC_NET_LISTEN}" {{ printf "%s ", $10 }}' /proc/net/tcp /proc/net/tcp6 \
  2>/dev/null)"
{proc_listen_script("tcp tcp6")}words() {{
  tr '\000' '\n' < "/proc/$1/cmdline" | awk '
    NR == 1 && /^sshd: / {{ title = 1; sub(/^sshd: /, ""); sub(/ \[listener\].*$/, ""); n = split($0, w, " ")
      for (i = 2; i <= n; i++) {{
        if (w[i] == "-o" && i + 2 <= n && w[i + 1] !~ /=/) {{
          print w[i]; print w[i + 1] " " w[i + 2]; i += 2 }}
        else print w[i] }} }}
    NR > 1 && !title {{ print }}'
}}
options() {{
  OPTIND=1
  while getopts ':46C:Ddeiqrtf:h:k:o:p:QRTc:E:g:' opt; do
    case $opt in f|o) printf '%s\n%s\n' "-$opt" "$OPTARG" ;; esac
  done
}}
judge() {{
  set --  # the heredoc below is expanded after this: it reads $pid, not $1
  while IFS= read -r w; do [ -n "$w" ] && set -- "$@" "$w"; done <<EOF
$(words "$pid")
EOF
  opts=$(options "$@")
  set --
  while IFS= read -r w; do [ -n "$w" ] && set -- "$@" "$w"; done <<EOF
$opts
EOF
  for w in "$@"; do printf '#option %s\n' "$w"; done
  out=$("$exe" -T "$@" 2>&1); rc=$?
  printf '%s\n#sshd-T-rc %s\n' "$out" "$rc"
}}
count=0
for d in /proc/[0-9]*; do
  comm=; {{ read -r comm <"$d/comm"; }} 2>/dev/null
  [ "$comm" = sshd ] || continue
  inodes=""
  for i in $(ls -l "$d/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
    case "$listening" in *" $i "*) inodes="$inodes,$i" ;; esac
  done
  [ -n "$inodes" ] || continue
  pid=${{d##*/}}
  uid=$(awk '/^Uid:/ {{ print $2 }}' "$d/status" 2>/dev/null)
  exe=$(readlink "$d/exe" 2>/dev/null)
  case "$exe" in ""|*" (deleted)") exe=$bin ;; esac
  echo "#daemon $pid uid=$uid inodes=${{inodes#,}} exe=$exe"
  echo "#cmdline $(tr '\000\n\t' '   ' < "$d/cmdline")"
  count=$((count + 1))
  if [ "$count" -gt {sshd.MAX_DAEMONS} ]; then echo "#not-judged more than {sshd.MAX_DAEMONS} listeners"
  elif [ "$uid" != 0 ]; then echo "#not-judged started by uid $uid, not root"
  elif [ ! -x "$exe" ]; then echo "#not-judged its binary $exe cannot be run"
  else judge; fi
done
"""

# Finds sshd (also outside a non-root PATH), prints its path and version, then `sshd -T`
# and its exit code; sshd -T's own error goes to stderr.
SSHD_T = rf"""
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"
bin=""
for p in /usr/sbin/sshd /usr/local/sbin/sshd /sbin/sshd "$(command -v sshd 2>/dev/null)"; do
  if [ -n "$p" ] && [ -x "$p" ]; then bin=$p; break; fi
done
if [ -z "$bin" ]; then echo '{NO_SSHD}'; exit 0; fi
echo "{SSHD_LINE}$bin $("$bin" -V 2>&1 | head -n 1)"
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
# hosts, the crypto-policies state (which policy) and its sshd back-end are dumped too.
SSHD_CONFIG = rf"""
H={shlex.quote(HEADER)}; U={shlex.quote(UNREADABLE)}
emit() {{ if [ -r "$1" ]; then printf '\n%s%s\n' "$H" "$1"; sed 's/^[[:space:]]*#.*$//' -- "$1"
  else printf '\n%s%s\n' "$U" "$1"; fi; }}
includes() {{ awk '{{ sub(/^[ \t]+/, ""); if (tolower($0) ~ /^include([ \t]|=)/) {{
  sub(/^[^ \t=]+[ \t]*=?[ \t]*/, ""); gsub(/"/, ""); print }} }}' "$1" 2>/dev/null; }}
todo={sshd.MAIN_CONFIG}; seen=" "; depth=0
[ -e {sshd.MAIN_CONFIG} ] || exit 0
while [ -n "$todo" ] && [ "$depth" -le {sshd.MAX_INCLUDE_DEPTH} ]; do
  next=""
  for f in $todo; do
    case "$seen" in *" $f "*) continue ;; esac
    seen="$seen$f "
    emit "$f"
    set -f; patterns=$(includes "$f")
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

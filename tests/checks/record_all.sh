#!/usr/bin/env bash
# Re-records every case under tests/checks/ on this machine, from real artefacts made with
# real tools: password hashes from mkpasswd (package whois) and openssl, shadow files built
# from this machine's /etc/shadow, Debian's own logrotate files (rsyslog's taken from its
# .deb), logs copied from this machine's /var/log and aged with touch -d.
#
#   sudo bash tests/checks/record_all.sh [CASE_NAME_GLOB]
#
# Needs root, Linux mount namespaces, Debian's standard system accounts, and: mkpasswd
# (apt-get install -y whois), openssl, unshare, mount, and apt-get download (for rsyslog's
# logrotate file; or set RSYSLOG_LOGROTATE=/path/to/it). logrotate and systemd-analyze,
# when present, are run in each case's namespace as oracles of what the correct verdict is,
# and what they said goes into the case's `source`. Expectations below are written from
# what is planted, never from what the check says; record.py refuses to write a case whose
# verdict differs from them unless it is marked --xfail with the bug it shows.
#
# Nothing outside a temporary directory and tests/checks/ is written: every planted file is
# bind-mounted read-only in a private mount namespace that record.py creates.
set -euo pipefail

cd "$(dirname "$0")/../.."
ONLY=${1:-*}
W=$(mktemp -d /tmp/auditor-cases.XXXXXX)
trap 'rm -rf "$W"' EXIT
NOW=$(date +%s)
DAY=86400
FAILED=()

for tool in mkpasswd openssl unshare mount; do
  command -v "$tool" >/dev/null || { echo "record_all: $tool is missing (mkpasswd: apt-get install -y whois)" >&2; exit 2; }
done

record() {  # record CHECK CASE ARGS...: one case, unless CASE does not match the glob
  local check=$1 case=$2
  shift 2
  # shellcheck disable=SC2053
  [[ $case == $ONLY ]] || return 0
  echo "=== $check/$case"
  python3 tests/checks/record.py "$check" "$case" "$@" || FAILED+=("$check/$case")
}

ago() { echo "@$((NOW - $1 * DAY))"; }  # a touch -d date $1 days before now

# Every check records its cases in tests/checks/<check_id>/record.sh, sourced here so it
# can use record, ago, $W, $NOW and $DAY, and the helpers of record_lib.sh.
# shellcheck source=tests/checks/record_lib.sh
source tests/checks/record_lib.sh
for script in tests/checks/*/record.sh; do
  # shellcheck source=/dev/null
  source "$script"
done

if [ ${#FAILED[@]} -gt 0 ]; then
  echo "record_all: NOT recorded: ${FAILED[*]}" >&2
  exit 1
fi
echo "record_all: done"

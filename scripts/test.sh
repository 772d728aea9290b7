#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine, then runs it all.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real parts for the integration tests: sshd, sudo (become), logrotate, mkpasswd (whois) and
# argon2 for real hashes, sqlite3 and PostgreSQL application databases and listeners, nginx
# for TLS, rsyslog and auditd for the logging checks, nftables/iptables for firewalls, a real
# monitoring agent (prometheus-node-exporter), smartmontools, cron, cryptsetup-bin, socat
# listeners, iproute2 for network namespaces and veth pairs, redis-server as the Celery broker
# of the distributed-run test, busybox (its sh runs the batch script in a test, as dash and bash
# do), strace (counts the forks the batch wrapper makes), chromium and poppler-utils (print
# report.html to PDF and PNG headless, then count and read its pages), unzip (packs are extracted
# with the real tools and compared with what verify read).
PACKAGES=(openssh-server sudo logrotate whois argon2 sqlite3 postgresql nginx rsyslog auditd nftables
  iptables prometheus-node-exporter smartmontools cron cryptsetup-bin socat iproute2 util-linux procps
  e2fsprogs openssl gnutls-bin redis-server busybox strace chromium poppler-utils unzip)
need=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || need+=("$package")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    # Install only: the tests start their own servers in their own namespaces, so the
    # packages' services must not start on the machine (policy-rc.d says so to invoke-rc.d).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT  # ours only; also when apt-get fails
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "note: not root, cannot install ${need[*]}; tests that need them will be skipped" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -c constraints.txt -e '.[test]'  # the tested versions
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -rs "$@"  # -rs: say why anything was skipped

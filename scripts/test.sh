#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine, then runs it all.
# System packages: real sshd for the integration tests, sudo for `become`, logrotate and
# mkpasswd (whois) for real configuration files and real password hashes.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v /usr/sbin/sshd >/dev/null || need+=(openssh-server)
command -v sudo >/dev/null || need+=(sudo)
command -v logrotate >/dev/null || need+=(logrotate)
command -v mkpasswd >/dev/null || need+=(whois)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: not root, cannot install ${need[*]}; tests that need them will be skipped" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

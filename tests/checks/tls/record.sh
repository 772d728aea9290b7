# Sourced by tests/checks/record_all.sh (uses its $ONLY and FAILED). The tls check's cases
# are recorded against real nginx servers on 127.0.0.1, not in a mount namespace (listening
# sockets are not isolated by one): see tests/checks/tls/record_cases.py.
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  python3 tests/checks/tls/record_cases.py "$ONLY" || FAILED+=("tls/*")
else
  echo "record_all: /usr/sbin/nginx is missing (apt-get install -y nginx): tls cases not recorded" >&2
  FAILED+=("tls/*")
fi

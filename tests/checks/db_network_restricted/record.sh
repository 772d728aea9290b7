# db_network_restricted cases, sourced by tests/checks/record_all.sh (uses $W, $ONLY, FAILED).
# Listeners and firewalls belong to a network namespace, which a mount namespace does not
# isolate, so each case gets a fresh network namespace of its own (`unshare --net`, held by
# a sleep): a real PostgreSQL 15 server (initdb'd once into $W) or socat is started in it,
# nftables/iptables rules are loaded into it with nft -f / iptables, and record.py runs
# inside it (nsenter --net), so ss, nft and iptables-save read that namespace for real.
# Everything started is killed by PID when the case ends; the machine's own network
# namespace, firewall and files are never touched.

PG_BIN=/usr/lib/postgresql/15/bin
DB_PG="$W/pg"

db_pg_init() {  # one cluster for every case; its pg_hba.conf is rewritten per case
  [ -d "$DB_PG/data" ] && return 0
  chmod 711 "$W"
  mkdir -p "$DB_PG/sock" || return 1
  echo "initdb-only-$RANDOM$RANDOM" >"$DB_PG/pw"
  chown -R postgres:postgres "$DB_PG" || return 1
  setpriv --reuid=postgres --regid=postgres --init-groups "$PG_BIN/initdb" -D "$DB_PG/data" \
    --auth=scram-sha-256 --username=postgres --pwfile="$DB_PG/pw" >/dev/null || return 1
  rm -f "$DB_PG/pw"
}

# db_case CASE SETUP RECORD.PY-ARGS...: SETUP runs in the case's network namespace through
# `in_ns CMD...` (foreground) and `in_ns_bg CMD...` (a server; killed at the end).
db_case() {
  local case=$1 setup=$2
  shift 2
  # shellcheck disable=SC2053
  [[ $case == $ONLY ]] || return 0
  echo "=== db_network_restricted/$case"
  (
    set -euo pipefail
    STARTED=()
    # shellcheck disable=SC2317
    stop() { for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
    trap stop EXIT
    unshare --net sleep 3600 &
    HOLDER=$!
    STARTED=("$HOLDER")
    for _ in $(seq 100); do
      [ "$(readlink "/proc/$HOLDER/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
      sleep 0.02
    done
    in_ns() { nsenter --net="/proc/$HOLDER/ns/net" -- "$@"; }
    in_ns_bg() { nsenter --net="/proc/$HOLDER/ns/net" -- "$@" 2>>"$W/servers.log" & STARTED=("$!" "${STARTED[@]}"); }
    listening() {  # listening PORT: wait until something listens on PORT in the namespace
      for _ in $(seq 200); do
        [ -n "$(in_ns ss -H -ltnu "sport = :$1")" ] && return 0
        sleep 0.05
      done
      echo "nothing listens on :$1" >&2
      return 1
    }
    # `set -e` does not apply inside a subshell run with ||: every step says so itself.
    in_ns ip link set lo up || exit 1
    "$setup" || exit 1
    in_ns python3 tests/checks/record.py db_network_restricted "$case" "$@"
  ) || FAILED+=("db_network_restricted/$case")
}

# pg_start LISTEN_ADDRESSES PG_HBA_TEXT: the real server, as user postgres, with that pg_hba.conf.
pg_start() {
  db_pg_init || return 1
  printf '%s' "$2" >"$DB_PG/data/pg_hba.conf" || return 1
  chown postgres:postgres "$DB_PG/data/pg_hba.conf" || return 1
  in_ns_bg setpriv --reuid=postgres --regid=postgres --init-groups "$PG_BIN/postgres" -D "$DB_PG/data" \
    -k "$DB_PG/sock" -c "listen_addresses=$1" -c logging_collector=off
  listening 5432
}

HBA_LOCAL=$'# initdb style: local connections only\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n'
HBA_OPEN=$'local all all scram-sha-256\n# open to the world\nhost all all 0.0.0.0/0 scram-sha-256\nhostssl all all ::/0 scram-sha-256\nhost all all 0.0.0.0 0.0.0.0 md5\nhost sales all 192.168.10.0 255.255.255.0 ldap ldapserver=ldap.example.test ldapbasedn="dc=example,dc=test" ldapbinddn="cn=pg" ldapbindpasswd=Bind-S3cret-Do-Not-Leak\nhost all all samenet scram-sha-256\n'
NFT_ALLOWLIST='table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    ct state invalid drop
    tcp dport 22 accept
    ip saddr 10.213.0.0/16 tcp dport 5432 accept
    ip6 saddr fd00:213::/64 tcp dport 5432 accept
    meta l4proto { icmp, ipv6-icmp } accept
  }
}'

setup_pg_open() { pg_start '*' "$HBA_OPEN"; }
db_case fail_postgres_open_no_firewall setup_pg_open \
  --source "A network namespace of its own with a real PostgreSQL 15 (initdb into a temp dir, postgres -D ... -c listen_addresses='*', so it listens on 0.0.0.0:5432 and [::]:5432) and no firewall rule at all; its pg_hba.conf (read by the server via -D) has host all all 0.0.0.0/0, hostssl all all ::/0, host all all 0.0.0.0 0.0.0.0 md5, an ldap line whose options hold ldapbindpasswd (must never leave the host) and a samenet line" \
  --expect-status fail --expect-summary "postgres listens on 0.0.0.0:5432 and no firewall rule restricts it" \
  --expect-summary "pg_hba.conf admits every address" \
  --expect-value database_listeners=2 --expect-value exposed_listeners=2

setup_pg_nft() {
  pg_start '*' "$HBA_OPEN" || return 1
  printf '%s\n' "$NFT_ALLOWLIST" >"$W/nft.allowlist"
  in_ns nft -f "$W/nft.allowlist"
}
db_case pass_postgres_nft_allowlist setup_pg_nft --oracle "nft list ruleset" \
  --source "As fail_postgres_open_no_firewall (postgres on 0.0.0.0:5432 and [::]:5432, the same open pg_hba.conf), plus an nftables inet filter input chain with policy drop that accepts 5432 only from 10.213.0.0/16 and fd00:213::/64 (lo, established, ssh and ICMP accepted as usual), loaded with nft -f in the namespace" \
  --expect-status pass --expect-summary "2 database listener(s): 0 on loopback only, 2 reachable only from firewall-restricted sources" \
  --expect-value exposed_listeners=0

mkdir -p "$W/mysql.conf.d"
printf '[client]\npassword = Client-S3cret-Do-Not-Leak\n\n[mysqld]\nbind_address = 127.0.0.1 # loopback only\nport=3306\n' >"$W/mysql.conf.d/50-server.cnf"
printf '[mysqld]\n;bind-address = 0.0.0.0\nskip-networking\n' >"$W/mysql.conf.d/60-local.cnf"
printf 'ignored: not a .cnf file\n[mysqld]\nbind-address = 0.0.0.0\n' >"$W/mysql.conf.d/README"
printf '# The MariaDB configuration file\n[client-server]\nport = 3306\n\n!includedir /etc/mysql/conf.d/\n' >"$W/my.cnf"
setup_pg_local() { pg_start '127.0.0.1,::1' "$HBA_LOCAL"; }
db_case pass_postgres_loopback setup_pg_local \
  --plant /etc/mysql/my.cnf="$W/my.cnf" --plant-dir /etc/mysql/conf.d="$W/mysql.conf.d" \
  --source "A network namespace with a real PostgreSQL 15 listening on 127.0.0.1:5432 and [::1]:5432 only (listen_addresses='127.0.0.1,::1'), initdb-style pg_hba.conf (local and loopback lines); no firewall. Planted /etc/mysql/my.cnf (Debian/MariaDB layout: [client-server] port, !includedir /etc/mysql/conf.d/) and conf.d with 50-server.cnf ([client] password, [mysqld] bind_address = 127.0.0.1 with a trailing comment, port=3306), 60-local.cnf (a commented-out bind-address, skip-networking) and a README that is not a .cnf file" \
  --expect-status pass --expect-summary "2 database listener(s): 2 on loopback only"

setup_pg_ipt_open() {
  pg_start '0.0.0.0' "$HBA_LOCAL" || return 1
  in_ns iptables -P INPUT DROP &&
  in_ns iptables -A INPUT -i lo -j ACCEPT &&
  in_ns iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT &&
  in_ns iptables -A INPUT -p tcp --dport 5432 -j ACCEPT &&
  in_ns iptables -A INPUT -s 10.0.0.0/8 -p tcp --dport 5432 -j ACCEPT
}
db_case fail_iptables_accept_before_allowlist setup_pg_ipt_open --oracle "iptables-save" \
  --source "A network namespace with a real PostgreSQL 15 on 0.0.0.0:5432 and iptables (nf_tables backend) INPUT policy DROP whose rules accept lo, established traffic, then tcp dport 5432 from anywhere, and only after that 5432 from 10.0.0.0/8: the first accept lets everyone in" \
  --expect-status fail --expect-summary "postgres listens on 0.0.0.0:5432 and no firewall rule restricts it" \
  --expect-value exposed_listeners=1

setup_pg_ipt_drop() {
  pg_start '0.0.0.0' "$HBA_LOCAL" || return 1
  in_ns iptables -N DB &&
  in_ns iptables -A INPUT -p tcp -m multiport --dports 5432,6432 -j DB &&
  in_ns iptables -A DB -s 10.213.0.0/16 -j RETURN &&
  in_ns iptables -A DB -p tcp -j REJECT --reject-with tcp-reset
}
db_case pass_iptables_chain_reject setup_pg_ipt_drop --oracle "iptables-save" \
  --source "A network namespace with a real PostgreSQL 15 on 0.0.0.0:5432 and iptables INPUT policy ACCEPT that sends tcp ports 5432,6432 (multiport) to a chain DB, which returns 10.213.0.0/16 and rejects everyone else with tcp-reset" \
  --expect-status pass --expect-summary "1 database listener(s): 0 on loopback only, 1 reachable only from firewall-restricted sources"

setup_dual_stack() {
  in_ns_bg socat TCP6-LISTEN:6379,ipv6only=0,fork,reuseaddr EXEC:/bin/true
  listening 6379 || return 1
  printf 'table ip filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n    iifname "lo" accept\n    ip saddr 10.213.0.0/16 tcp dport 6379 accept\n  }\n}\n' >"$W/nft.v4only"
  in_ns nft -f "$W/nft.v4only"
}
db_case fail_dual_stack_ipv6_open setup_dual_stack --oracle "nft list ruleset" \
  --source "A network namespace with socat listening on Redis's port 6379 through an IPv6 socket with ipv6only=0 (ss shows *:6379: IPv4 and IPv6), and an nftables table of family ip (IPv4 only, policy drop) that accepts 6379 only from 10.213.0.0/16; nothing filters IPv6" \
  --expect-status fail --expect-summary "port 6379 (Redis) (socat) listens on *:6379 and no firewall rule restricts it (IPv6)"

setup_web_only() { in_ns_bg socat TCP4-LISTEN:8080,fork,reuseaddr EXEC:/bin/true; listening 8080; }
db_case skip_no_database setup_web_only \
  --source "A network namespace whose only listener is socat on 0.0.0.0:8080 (not a database port or process)" \
  --expect-status skip --expect-summary "no database server listening"

db_case error_not_root_firewall_unreadable setup_pg_nft --run-as nobody \
  --source "As pass_postgres_nft_allowlist (postgres on 0.0.0.0:5432 and [::]:5432 behind an nftables allowlist), run as nobody: ss shows no owning processes, nft and iptables-save are refused" \
  --expect-status error --expect-summary "the firewall could not be read, so who may reach port 5432 (PostgreSQL) on 0.0.0.0:5432"

db_case manual_external_firewall setup_pg_open --param external_firewall=true \
  --source "As fail_postgres_open_no_firewall (postgres on 0.0.0.0:5432 and [::]:5432, no host firewall), with the parameter external_firewall: true (the inventory says a cloud security group guards the host)" \
  --expect-status manual --expect-summary "attach the external firewall's rules"

db_case fail_extra_database_port setup_web_only --param 'extra_databases=["couchbase-server", ":8080"]' \
  --source "As skip_no_database (socat alone on 0.0.0.0:8080, no firewall), with the parameter extra_databases: [couchbase-server, ':8080'], so port 8080 counts as a database" \
  --expect-status fail --expect-summary "port 8080 (a database port) (socat) listens on 0.0.0.0:8080 and no firewall rule restricts it"

# Derived, not recorded: fail_postgres_open_no_firewall with every ss line cut short, as a
# broken or foreign ss would print it.
if [[ garbled_ss_cut == $ONLY ]] && [ -f tests/checks/db_network_restricted/fail_postgres_open_no_firewall.yaml ]; then
  echo "=== db_network_restricted/garbled_ss_cut"
  python3 - <<'PYEOF' || FAILED+=("db_network_restricted/garbled_ss_cut")
import yaml, pathlib, sys
sys.path.insert(0, "tests/checks")
from record import dump_case
here = pathlib.Path("tests/checks/db_network_restricted")
case = yaml.safe_load((here / "fail_postgres_open_no_firewall.yaml").read_text())
out = case["outputs"]["listeners"]
lines = out["stdout"].splitlines()
out["stdout"] = "\n".join(lines[:1] + [ln[:24] for ln in lines[1:]]) + "\n"
case["source"] = ("Derived from fail_postgres_open_no_firewall.yaml: the listeners probe's stdout with every "
                  "line after the #uid line cut to its first 24 characters (the rest of the recording "
                  "unchanged). Original source: " + case["source"])
case["expect"] = {"status": "error", "summary_contains": ["cannot read the ss output"]}
(here / "garbled_ss_cut.yaml").write_text(dump_case(case))
print("wrote", here / "garbled_ss_cut.yaml")
PYEOF
fi

# A blocklist is not a restriction: policy ACCEPT and one banned address still lets the Internet in.
setup_pg_ipt_blocklist() {
  pg_start '0.0.0.0' "$HBA_LOCAL" || return 1
  in_ns iptables -A INPUT -s 203.0.113.7/32 -j DROP
}
db_case fail_iptables_blocklist setup_pg_ipt_blocklist --oracle "iptables-save" \
  --source "A network namespace with a real PostgreSQL 15 on 0.0.0.0:5432 and iptables INPUT policy ACCEPT whose only rule drops one banned address (-s 203.0.113.7/32 -j DROP): every other address, public ones included, may connect" \
  --expect-status fail \
  --expect-summary "postgres listens on 0.0.0.0:5432 and sources outside private networks may reach it: IPv4: any source but 203.0.113.7/32" \
  --expect-value exposed_listeners=1

# An allowlist holding a public network: outside private space, unless allowed_networks names it.
setup_pg_nft_public() {
  pg_start '0.0.0.0' "$HBA_LOCAL" || return 1
  printf 'table inet filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n    iif "lo" accept\n    ct state established,related accept\n    ip saddr { 10.213.0.0/16, 198.51.100.0/24 } tcp dport 5432 accept\n  }\n}\n' >"$W/nft.public"
  in_ns nft -f "$W/nft.public"
}
db_case fail_nft_public_allowlist setup_pg_nft_public --oracle "nft list ruleset" \
  --source "A network namespace with a real PostgreSQL 15 on 0.0.0.0:5432 and an nftables inet input chain with policy drop that accepts 5432 from 10.213.0.0/16 and from the public network 198.51.100.0/24 (lo and established accepted)" \
  --expect-status fail \
  --expect-summary "sources outside private networks may reach it: IPv4: 10.213.0.0/16, 198.51.100.0/24" \
  --expect-value exposed_listeners=1
db_case pass_allowed_networks_param setup_pg_nft_public --oracle "nft list ruleset" \
  --param 'allowed_networks=["10.213.0.0/16", "198.51.100.0/24"]' \
  --source "As fail_nft_public_allowlist (5432 accepted from 10.213.0.0/16 and 198.51.100.0/24 only), with the parameter allowed_networks: [10.213.0.0/16, 198.51.100.0/24] (the office's public network is meant to reach it)" \
  --expect-status pass \
  --expect-summary "1 reachable only from firewall-restricted sources within allowed_networks"

# Derived, not recorded: pass_iptables_chain_reject with the iptables probe's output cut
# before the DB chain's rules and COMMIT and marked truncated, as the 1 MiB probe cap does.
if [[ error_iptables_truncated == $ONLY ]] && [ -f tests/checks/db_network_restricted/pass_iptables_chain_reject.yaml ]; then
  echo "=== db_network_restricted/error_iptables_truncated"
  python3 - <<'PYEOF' || FAILED+=("db_network_restricted/error_iptables_truncated")
import yaml, pathlib, sys
sys.path.insert(0, "tests/checks")
from record import dump_case
here = pathlib.Path("tests/checks/db_network_restricted")
case = yaml.safe_load((here / "pass_iptables_chain_reject.yaml").read_text())
out = case["outputs"]["iptables"]
lines = out["stdout"].splitlines(keepends=True)
out["stdout"] = "".join(lines[:next(i for i, ln in enumerate(lines) if ln.startswith(":DB ")) + 1])
out["truncated"] = True
case["source"] = ("Derived from pass_iptables_chain_reject.yaml: the iptables probe's stdout cut right after "
                  "iptables-save's ':DB - [0:0]' line (before every -A rule and COMMIT) and marked truncated; "
                  "the rest of the recording unchanged (nft -j shows the multiport match only as an xt "
                  "match, so nftables alone proves no restriction). Original source: "
                  + case["source"])
case["expect"] = {"status": "error", "summary_contains": ["the firewall could not be read",
                                                          "cut at the probe size limit"]}
(here / "error_iptables_truncated.yaml").write_text(dump_case(case))
print("wrote", here / "error_iptables_truncated.yaml")
PYEOF
fi

# ufw (Ubuntu's and Debian's firewall front end), the real one: Debian's ufw package (apt-get
# download, unpacked into $W, never installed) run with --rootdir/--datadir on a copy of its
# stock files, inside the case's network namespace: `ufw allow ...` writes user.rules,
# `ufw --force enable` loads before/user/after rules with iptables-restore (the nf_tables
# backend here, as on Ubuntu 22.04+ and Debian 11+), default incoming policy deny.
ufw_tree() {  # ufw_tree DIR: the ufw package's files as its postinst lays them out
  [ -x "$1/usr/sbin/ufw" ] && return 0
  mkdir -p "$1" "$W/ufw.deb" || return 1
  (cd "$W/ufw.deb" && apt-get download -q ufw >/dev/null) || return 1
  dpkg -x "$W"/ufw.deb/ufw_*.deb "$1" || return 1
  cp "$1"/usr/share/ufw/*.rules "$1/usr/share/ufw/ufw.conf" "$1/etc/ufw/"
}
ufw_in_ns() {  # ufw_in_ns ARGS...: the real ufw, on $W/ufw's files, in the case's namespace
  in_ns env PYTHONPATH="$W/ufw/usr/lib/python3/dist-packages" /usr/bin/python3 "$W/ufw/usr/sbin/ufw" \
    --rootdir="$W/ufw" --datadir="$W/ufw.$UFW_CASE" "$@"
}
ufw_case_tree() {  # a fresh writable data tree for one case
  rm -rf "$W/ufw.$UFW_CASE" && mkdir -p "$W/ufw.$UFW_CASE" && cp -a "$W/ufw/etc" "$W/ufw/lib" "$W/ufw.$UFW_CASE/"
}
UFW_SRC="A network namespace of its own with a real PostgreSQL 15 listening on 0.0.0.0:5432 and [::]:5432 (listen_addresses='*', initdb-style pg_hba.conf) and the real ufw 0.36.2 (Debian 12's package, unpacked, run with --rootdir/--datadir on its stock before.rules, after.rules, ufw.conf) enabled in that namespace with its default policy (deny incoming)"
# The case's ufw rules: UFW_CASE names its data tree, UFW_RULES holds one `ufw allow` argument
# list a line (db_case's subshell sees both).
setup_pg_ufw() {
  pg_start '*' "$HBA_LOCAL" || return 1
  ufw_tree "$W/ufw" && ufw_case_tree || return 1
  local rule
  while IFS= read -r rule; do
    # shellcheck disable=SC2086  # each line is a word list on purpose
    ufw_in_ns allow $rule >/dev/null || return 1
  done <<<"$UFW_RULES"
  ufw_in_ns --force enable >/dev/null
}
UFW_CASE=private
UFW_RULES=$'22/tcp\nfrom 10.0.0.0/8 to any port 5432 proto tcp'
db_case pass_ufw_allow_from_private setup_pg_ufw --oracle "iptables-save | grep -E 'INPUT|ufw-user-input'" \
  --source "$UFW_SRC, after 'ufw allow 22/tcp' and 'ufw allow from 10.0.0.0/8 to any port 5432 proto tcp': ufw's user.rules says -A ufw-user-input -p tcp --dport 5432 -s 10.0.0.0/8 -j ACCEPT; IPv6 has no 5432 rule, so the deny policy keeps it out" \
  --expect-status pass --expect-summary "2 database listener(s): 0 on loopback only, 2 reachable only from firewall-restricted sources" \
  --expect-value exposed_listeners=0

UFW_CASE=open
UFW_RULES=$'22/tcp\n5432/tcp'
db_case fail_ufw_allow_postgres_anywhere setup_pg_ufw --oracle "iptables-save | grep -E 'INPUT|ufw-user-input'" \
  --source "$UFW_SRC, after 'ufw allow 22/tcp' and 'ufw allow 5432/tcp' (from anywhere, IPv4 and IPv6): the ordinary way to open a database port with ufw" \
  --expect-status fail --expect-summary "postgres listens on 0.0.0.0:5432 and no firewall rule restricts it" \
  --expect-value exposed_listeners=2

# firewalld (RHEL 8/9, Rocky, Alma, Fedora; Debian and Ubuntu too), the real one: Debian's
# firewalld 1.3.3 with python3-firewall and python3-nftables (apt-get download, unpacked into
# $W, never installed), its nftables backend. Each case writes its zone with the real
# firewall-offline-cmd (--system-config on a copy of the stock /etc/firewalld, --default-config
# on the stock /usr/lib/firewalld), then starts firewalld --nofork in the case's network
# namespace against a private D-Bus system bus (dbus-daemon on a socket in $W), which builds its
# `table inet firewalld` there; record.py reads it while firewalld runs. RHEL's default zone is
# public with ssh, dhcpv6-client and cockpit: cockpit is added to the stock public zone first.
fwd_tree() {  # fwd_tree DIR: the packages' files
  [ -x "$1/usr/sbin/firewalld" ] && return 0
  mkdir -p "$1" "$W/fwd.deb" || return 1
  (cd "$W/fwd.deb" && apt-get download -q firewalld python3-firewall python3-nftables >/dev/null) || return 1
  for deb in "$W"/fwd.deb/*.deb; do dpkg -x "$deb" "$1" || return 1; done
}
fwd_py() { env PYTHONPATH="$W/fwd/usr/lib/python3/dist-packages" /usr/bin/python3 "$@"; }
fwd_zone() {  # fwd_zone CASE firewall-offline-cmd ARGS...: one change to the case's configuration
  local case=$1
  shift
  fwd_py "$W/fwd/usr/bin/firewall-offline-cmd" --system-config "$W/fwd.$case/etc" \
    --default-config "$W/fwd/usr/lib/firewalld" "$@" >/dev/null
}
fwd_start() {  # fwd_start CASE: firewalld with the case's configuration, in the case's namespace
  local case=$1 bus="$W/fwd.$1/bus.sock"
  printf '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n<busconfig><type>system</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth><policy context="default"><allow user="root"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>\n' \
    "$bus" >"$W/fwd.$case/bus.conf"
  in_ns_bg dbus-daemon --config-file="$W/fwd.$case/bus.conf" --nofork --nopidfile
  for _ in $(seq 100); do [ -S "$bus" ] && break; sleep 0.05; done
  in_ns_bg env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$bus" PYTHONPATH="$W/fwd/usr/lib/python3/dist-packages" \
    /usr/bin/python3 "$W/fwd/usr/sbin/firewalld" --nofork --nopid --system-config "$W/fwd.$case/etc" \
    --default-config "$W/fwd/usr/lib/firewalld" --log-target file --log-file "$W/fwd.$case/firewalld.log"
  for _ in $(seq 300); do
    in_ns nft list chain inet firewalld filter_IN_public_allow >/dev/null 2>&1 && sleep 1 && return 0
    sleep 0.1
  done
  echo "firewalld did not build its ruleset: $(tail -3 "$W/fwd.$case/firewalld.log")" >&2
  return 1
}
fwd_case_tree() {  # fwd_case_tree CASE: a copy of the stock /etc/firewalld, RHEL's default zone
  fwd_tree "$W/fwd" || return 1
  rm -rf "$W/fwd.$1" && mkdir -p "$W/fwd.$1" && cp -a "$W/fwd/etc/firewalld" "$W/fwd.$1/etc" || return 1
  fwd_zone "$1" --zone=public --add-service=cockpit
}
FWD_SRC="A network namespace of its own with a real PostgreSQL 15 on 0.0.0.0:5432 and [::]:5432 (listen_addresses='*', initdb-style pg_hba.conf) and the real firewalld 1.3.3 (Debian 12's packages unpacked; FirewallBackend=nftables as on RHEL 8/9) running there with the stock configuration and RHEL's default zone (public: ssh, dhcpv6-client, cockpit; added with firewall-offline-cmd)"
# The case's changes to the stock configuration: firewall-offline-cmd's arguments in FWD_ARGS
# (and, for a second call, FWD_MORE), the case's folder name in FWD_CASE (db_case's subshell
# sees them all).
setup_pg_fwd() {
  pg_start '*' "$HBA_LOCAL" && fwd_case_tree "$FWD_CASE" && fwd_zone "$FWD_CASE" "${FWD_ARGS[@]}" &&
    { [ ${#FWD_MORE[@]} -eq 0 ] || fwd_zone "$FWD_CASE" "${FWD_MORE[@]}"; } && fwd_start "$FWD_CASE"
}
FWD_MORE=()
FWD_CASE=rich
FWD_ARGS=(--zone=public --add-rich-rule='rule family="ipv4" source address="10.0.0.0/8" port port="5432" protocol="tcp" accept')
db_case pass_firewalld_rich_rule_private setup_pg_fwd --oracle "nft list chain inet firewalld filter_IN_public_allow" \
  --source "$FWD_SRC, plus firewall-offline-cmd --zone=public --add-rich-rule='rule family=\"ipv4\" source address=\"10.0.0.0/8\" port port=\"5432\" protocol=\"tcp\" accept' (written to /etc/firewalld/zones/public.xml as firewall-cmd --permanent would): firewalld's table inet firewalld accepts 5432 only from 10.0.0.0/8 and rejects the rest" \
  --expect-status pass --expect-summary "2 database listener(s): 0 on loopback only, 2 reachable only from firewall-restricted sources" \
  --expect-value exposed_listeners=0

FWD_CASE=zone
FWD_ARGS=(--zone=internal --add-source=10.20.0.0/16)
FWD_MORE=(--zone=internal --add-service=postgresql)
db_case pass_firewalld_source_zone setup_pg_fwd --oracle "nft list chain inet firewalld filter_INPUT_ZONES" \
  --source "$FWD_SRC, plus firewall-offline-cmd --zone=internal --add-source=10.20.0.0/16 and --zone=internal --add-service=postgresql: only clients from 10.20.0.0/16 land in the internal zone, which allows PostgreSQL; everyone else is in public, which does not" \
  --expect-status pass --expect-summary "2 database listener(s): 0 on loopback only, 2 reachable only from firewall-restricted sources" \
  --expect-value exposed_listeners=0

FWD_CASE=service
FWD_ARGS=(--zone=public --add-service=postgresql)
FWD_MORE=()
db_case fail_firewalld_public_service setup_pg_fwd --oracle "nft list chain inet firewalld filter_IN_public_allow" \
  --source "$FWD_SRC, plus firewall-offline-cmd --zone=public --add-service=postgresql: the usual way to open PostgreSQL with firewalld, to every address in the default zone" \
  --expect-status fail --expect-summary "postgres listens on 0.0.0.0:5432 and no firewall rule restricts it" \
  --expect-value exposed_listeners=2

"""Database servers can be reached only from the local host or from restricted networks.

Reads: the host's listening TCP and UDP sockets (`ss -H -ltunp`, or /proc/net/{tcp,udp}{,6} with
/proc/<pid>/fd socket links where ss is missing, as on busybox hosts; as root to see which
process owns each). A listener is a database when its process or its port is in
`databases` / `extra_databases` (postgres, mysqld, mariadbd, mongod, redis-server,
memcached, ClickHouse, Elasticsearch/OpenSearch on 9200/9300, Cassandra on 9042, …); a
process on a database's well-known port counts too, whatever its name (a proxy in front of
a database exposes it just the same). Without root ss shows no owners, so databases are then
found by well-known port only, and the result says so. The host firewall: the nftables
ruleset (`nft -j list ruleset`) and iptables-save/ip6tables-save, whatever wrote them:
firewalld's nftables backend (RHEL 8/9: `table inet firewalld`, its zone chains, rich rules
and source zones), ufw's chains (Ubuntu, Debian: ufw-before-input → ufw-user-input, loaded
through iptables-nft), or hand-written rules. What is judged is the ruleset loaded now, not
firewalld's zone XML or ufw's user.rules (saved but not yet loaded rules protect nothing).
PostgreSQL pg_hba.conf `host*` lines, from /etc/postgresql/*/*/, /var/lib/pgsql and the
`-D`/`hba_file` of running postgres processes (a named pipe or a device at one of those
paths is noted, never opened), and MySQL/MariaDB
`bind-address`/`skip-networking` from my.cnf and its !include/!includedir files.

Passes when: every database listens only on loopback (127.0.0.0/8, ::1, or bound to the lo
device), or the host firewall keeps some sources out of the ones that listen on any other
address (0.0.0.0, ::, `*`, a LAN address): every input-hook filter chain is followed for a
new connection to that port (see auditor/parsers/firewall/ for exactly what is
understood; whatever is not understood counts as letting traffic through). `0.0.0.0` is
judged for IPv4, `[::]` for IPv6, `*` for both. Such a listener passes only when every
source the firewall may let in lies within private address space — 10/8, 172.16/12,
192.168/16, 100.64/10 (CGNAT), 169.254/16, 127/8, fc00::/7, fe80::/10, ::1 — or, when the
`allowed_networks` parameter lists CIDRs, within those instead. A blocklist is not a
restriction: dropping one banned address still lets the Internet in.

Fails when: a database listener is exposed; the failure names who may still reach it
("postgres listens on 0.0.0.0:5432 and no firewall rule restricts it", or "... and sources
outside private networks may reach it: IPv4: any source but 203.0.113.7/32"). pg_hba.conf
lines open to every address (0.0.0.0/0, ::/0, `all`, `0.0.0.0 0.0.0.0`) are a failure
reason when a postgres listener is exposed, a detail otherwise; the my.cnf settings are
details.

Error/Manual: with `external_firewall: true` (a cloud security group, a network ACL that
the host cannot show) an exposed listener is `manual` instead, and the rules of that
firewall are the evidence to attach. A firewall that cannot be read (not root, a ruleset
cut at the probe size limit, iptables-save output that does not parse or ends inside a
table) makes an exposed listener an `error`. No database listener → skip.

Secrets: only the address fields of pg_hba.conf (type, database, user, address, mask and
method: options such as ldapbindpasswd never) and the networking keys of my.cnf leave the
host.

Blind spots: databases in other network namespaces (containers) are not seen from the host's
namespace; firewalls outside the host; rules on other hooks (prerouting, netdev ingress);
databases on non-standard ports under unlisted process names.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, first, result
from auditor.parsers import firewall
from auditor.parsers.not_a_file import NOT_A_FILE_SH, read_not_a_file
from auditor.parsers.rows import Row, rows
from auditor.parsers.sockets import (
    PROC_LISTENERS_LINE,
    PROC_LISTENERS_SCRIPT,
    Listener,
    SocketParseError,
    parse_proc_listeners,
    parse_ss,
)
from auditor.probes import effective_uid, shell

UID_LINE = "#uid "
ABSENT = "#absent"
SECTION = "#### "

LISTENERS = rf"""
PATH="$PATH:/usr/sbin:/sbin"
{effective_uid()}
printf '{UID_LINE}%s\n' "$uid"
if command -v ss >/dev/null 2>&1; then ss -H -ltunp; else {PROC_LISTENERS_SCRIPT}
fi
"""

NFTABLES = rf"""
PATH="$PATH:/usr/sbin:/sbin"
if command -v nft >/dev/null 2>&1; then nft -j list ruleset; else echo '{ABSENT}'; fi
"""

# Each tool's output after a "#### <tool> <rc>" line, or "#### <tool> absent".
IPTABLES = rf"""
PATH="$PATH:/usr/sbin:/sbin"
for tool in iptables-save ip6tables-save; do
  if command -v "$tool" >/dev/null 2>&1; then
    out=$("$tool" 2>&1); rc=$?
    printf '{SECTION}%s %s\n%s\n' "$tool" "$rc" "$out"
  else
    printf '{SECTION}%s absent\n' "$tool"
  fi
done
exit 0
"""

# pg_hba.conf files: Debian's and RHEL's places, hba_file in postgresql.conf, and the -D /
# hba_file of running postmasters (processes named postgres whose parent is not: the shell reads
# comm and stat itself, and a postmaster's backends, whose titles hold no arguments, cost no
# `tr | awk` each). Only type, database, user, address (and mask) and method leave the host:
# options such as ldapbindpasswd never do. A FIFO or a device where a postgresql.conf or a
# pg_hba.conf should be is named (NOT_A_FILE), never opened: reading it would block.
PG_HBA = rf"""
{NOT_A_FILE_SH}
exec 3>&1
{{
  for f in /etc/postgresql/*/*/pg_hba.conf /var/lib/pgsql/data/pg_hba.conf \
           /var/lib/pgsql/*/data/pg_hba.conf; do
    [ -e "$f" ] && echo "$f"
  done
  for c in /etc/postgresql/*/*/postgresql.conf; do
    say_not_a_file "$c" >&3 || if [ -r "$c" ]; then
      sed -n "s/^[[:space:]]*hba_file[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$c"
    fi
  done
  for d in /proc/[0-9]*; do
    c=; read -r c <"$d/comm" || continue
    [ "$c" = postgres ] || continue
    ppid=; read -r _ _ _ ppid _ <"$d/stat" || continue
    pc=; read -r pc <"/proc/$ppid/comm"
    [ "$pc" != postgres ] || continue  # a backend: its title replaced the postmaster's arguments
    tr '\0' '\n' <"$d/cmdline" 2>/dev/null | awk '
      d {{ print $0 "/pg_hba.conf"; d = 0; next }}
      $0 == "-D" {{ d = 1; next }}
      /^-D./ {{ print substr($0, 3) "/pg_hba.conf"; next }}
      /^(--|-c)?hba_file=/ {{ sub(/^[^=]*=/, ""); print }}'
  done
}} 2>/dev/null | sort -u | while IFS= read -r f; do
  [ -e "$f" ] || continue
  say_not_a_file "$f" && continue
  if [ ! -r "$f" ]; then echo "#unreadable $f"; continue; fi
  echo "#file $f"
  awk -v F="$f" '{{ sub(/#.*/, "") }}
    $1 ~ /^host/ && NF >= 5 {{
      mask = "-"; method = $5
      if ($4 !~ /\// && ($5 ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/ || $5 ~ /^[0-9a-fA-F]*:[0-9a-fA-F:]*$/)) {{
        mask = $5; method = $6 }}
      printf "%s:%d\t%s\t%s\t%s\t%s\t%s\t%s\n", F, FNR, $1, $2, $3, $4, mask, method }}
    $1 ~ /^include/ {{ printf "%s:%d\t%s\t%s\n", F, FNR, $1, $2 }}' "$f"
done
exit 0
"""

# my.cnf and its !include / !includedir files: only the networking keys, with their group.
MY_CNF = r"""
todo="/etc/my.cnf /etc/mysql/my.cnf"; seen=" "; depth=0
while [ -n "$todo" ] && [ "$depth" -le 8 ]; do
  next=""
  for f in $todo; do
    case "$seen" in *" $f "*) continue ;; esac
    seen="$seen$f "
    [ -f "$f" ] || continue
    if [ ! -r "$f" ]; then echo "#unreadable $f"; continue; fi
    echo "#file $f"
    awk -v F="$f" '{ line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t\r]+$/, "", line) }
      line ~ /^[#;!]/ || line == "" { next }
      line ~ /^\[/ { group = line; gsub(/[][ \t]/, "", group); next }
      { key = line; sub(/[ \t]*=.*/, "", key); key = tolower(key); gsub(/_/, "-", key)
        value = ""
        if (index(line, "=")) { value = line; sub(/^[^=]*=[ \t]*/, "", value); sub(/[ \t]+#.*/, "", value) }
        if (key == "bind-address" || key == "skip-networking" || key == "port")
          printf "%s:%d\t%s\t%s\t%s\n", F, FNR, group, key, value }' "$f"
    for inc in $(awk '/^[ \t]*!include[ \t]/ { print $2 }' "$f"); do next="$next $inc"; done
    for dir in $(awk '/^[ \t]*!includedir[ \t]/ { print $2 }' "$f"); do
      dir=${dir%/}
      for g in "$dir"/*.cnf; do [ -f "$g" ] && next="$next $g"; done
    done
  done
  todo=$next; depth=$((depth + 1))
done
exit 0
"""

DEFAULT_DATABASES = [
    "postgres", "postmaster", "mysqld", "mariadbd", "mongod", "mongos", "redis-server", "valkey-server",
    "keydb-server", "memcached", "clickhouse-serv", "clickhouse", "influxd", "etcd", "cockroach",
    ":5432", ":3306", ":33060", ":27017", ":6379", ":11211", ":9200", ":9300", ":9042", ":8123",
    ":9000", ":5984", ":8086", ":2379", ":1433", ":1521", ":26257", ":28015", ":7687",
]
PORT_PRODUCTS = {5432: "PostgreSQL", 3306: "MySQL/MariaDB", 33060: "MySQL X protocol", 27017: "MongoDB",
                 6379: "Redis", 11211: "memcached", 9200: "Elasticsearch/OpenSearch",
                 9300: "Elasticsearch/OpenSearch transport", 9042: "Cassandra", 8123: "ClickHouse HTTP",
                 9000: "ClickHouse native", 5984: "CouchDB", 8086: "InfluxDB", 2379: "etcd",
                 1433: "SQL Server", 1521: "Oracle", 26257: "CockroachDB", 28015: "RethinkDB", 7687: "Neo4j"}
MYSQL_SERVER_GROUPS = ("mysqld", "server", "mariadb", "mariadbd", "mysqld_safe", "client-server")

CHECK = Check(
    id="db_network_restricted",
    trend_values=("exposed_listeners",),
    title="Database servers are reachable only from loopback or restricted networks",
    claims=("database-network-restricted",),
    controls=("ISO27001:2022 A.8.20", "ISO27001:2022 A.8.22"),
    params=(
        Param("databases", list, DEFAULT_DATABASES,
              "what counts as a database listener: 'process' (any port), ':port' (any process) or "
              "'process:port'"),
        Param("extra_databases", list, [], "more entries like those of databases, added to them"),
        Param("allowed_networks", list, [],
              "CIDR networks (IPv4 and IPv6) the databases may be reached from; empty means private "
              "address space (" + ", ".join(firewall.PRIVATE_NETWORKS) + "). When set it replaces that "
              "default, so list private networks too if they are meant"),
        Param("external_firewall", bool, False,
              "a firewall outside the host (cloud security group, network ACL) guards the databases: "
              "exposed listeners become manual, with that firewall's rules to attach"),
    ),
    probes=(
        shell("listeners", LISTENERS, root=True),
        shell("nftables", NFTABLES, root=True),
        shell("iptables", IPTABLES, root=True),
        shell("pg_hba", PG_HBA, root=True),
        shell("my_cnf", MY_CNF, root=True),
    ),
)


def database_of(listener: Listener, entries: list[str]) -> str | None:
    """Why `listener` is a database ("postgres", "port 5432 (PostgreSQL)"); None if it is not."""
    names = set(listener.process_names)
    for entry in entries:
        name, _, port = entry.partition(":")
        port_ok = not port or (port.isdigit() and int(port) == listener.port)
        if name and name in names and port_ok:
            return name
    for entry in entries:
        name, _, port = entry.partition(":")
        if not name and port.isdigit() and int(port) == listener.port:
            return f"port {listener.port} ({PORT_PRODUCTS.get(listener.port, 'a database port')})"
    return None


class Listeners(NamedTuple):
    uid: str  # the user id ss ran as: without root it sees no owners
    listeners: list[Listener]


def read_listeners(text: str) -> Listeners:
    """The listener probe's output; ValueError says why it cannot be read."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(UID_LINE):
        raise ValueError("the listener probe did not print its user id first")
    body = "\n".join(lines[1:])
    without_ss = len(lines) > 1 and lines[1] == PROC_LISTENERS_LINE  # busybox hosts have no ss
    try:
        parsed = parse_proc_listeners(body) if without_ss else parse_ss(body)
    except SocketParseError as exc:
        raise ValueError(f"cannot read the {'/proc/net' if without_ss else 'ss'} output: {exc}") from exc
    return Listeners(lines[0][len(UID_LINE):].strip(), parsed)


class FirewallReading(NamedTuple):
    rulesets: list[firewall.Ruleset]
    unreadable: list[str]  # why a ruleset could not be read
    notes: list[str]


def read_firewall(out: Outputs) -> FirewallReading:
    found = FirewallReading([], [], [])
    nft = out["nftables"]
    if not nft.ok:
        found.unreadable.append(f"nftables: {nft.failure_reason()}")
    elif nft.truncated:  # a cut ruleset may lack the very rules that let sources in
        found.unreadable.append("nftables: the output was cut at the probe size limit")
    elif nft.stdout.strip() == ABSENT:
        found.notes.append("nft is not installed")
    else:
        try:
            found.rulesets.append(firewall.parse_nft_json(nft.stdout))
        except firewall.FirewallParseError as exc:
            found.unreadable.append(f"nftables: {exc}")
    ipt = out["iptables"]
    if not ipt.ok:
        found.unreadable.append(f"iptables: {ipt.failure_reason()}")
        return found
    if ipt.truncated:
        found.unreadable.append("iptables: the output was cut at the probe size limit")
        return found
    sections = ("\n" + ipt.stdout).split("\n" + SECTION)[1:]
    for section in sections:
        head, _, body = section.partition("\n")
        tool, _, status = head.partition(" ")
        version = 6 if tool.startswith("ip6") else 4
        if status == "absent":
            found.notes.append(f"{tool} is not installed")
        elif status != "0":
            first_line = next((ln for ln in body.splitlines() if ln.strip()), "")
            found.unreadable.append(f"{tool} exited {status}: {first_line.strip()[:160]}")
        else:
            try:
                ruleset = firewall.parse_iptables_save(body, version)
            except firewall.FirewallParseError as exc:
                found.unreadable.append(str(exc))
                continue
            found.rulesets.append(ruleset)
            found.notes.extend(ruleset.notes)
    if not sections:
        found.unreadable.append("iptables: the probe printed no section")
    return found


def _marker(row: Row) -> str | None:
    """The note for a probe's `#file PATH` / `#unreadable PATH` / `#not-a-file KIND PATH` line;
    None for a data row."""
    line = "\t".join((row.tag, *row.fields))
    if (odd := read_not_a_file(line)) is not None:
        return f"{odd}: not read"
    marker, _, path = line.partition(" ")
    return {"#file": f"read {path}", "#unreadable": f"cannot read {path}"}.get(marker)


class HbaReading(NamedTuple):
    open_lines: list[str]  # pg_hba.conf lines open to every address
    notes: list[str]


def _admits_everyone(address: str, mask: str) -> bool:
    if address.lower() == "all":
        return True
    try:
        if mask != "-":  # a netmask of all zeros, in either family
            return int(ipaddress.ip_address(mask)) == 0
        return ipaddress.ip_network(address, strict=False).prefixlen == 0
    except ValueError:  # samehost, samenet, a host name, .domain
        return False


def read_pg_hba(text: str) -> HbaReading:
    """Lines are `where` then the entry's fields (`kind database user address mask method`, or
    `include file`), or `#file`/`#unreadable` markers; any other line is skipped."""
    found = HbaReading([], [])
    for row in rows(text, "pg_hba"):
        where, fields = row.tag, row.fields
        if (note := _marker(row)) is not None:
            found.notes.append(note)
        elif len(fields) == 2 and fields[0].startswith("include"):
            found.notes.append(f"{where}: {fields[0]} {fields[1]} is not followed")
        elif len(fields) == 6 and _admits_everyone(fields[3], fields[4]):
            kind, database, user, address, mask, method = fields
            shown = address if mask == "-" else f"{address} {mask}"
            found.open_lines.append(f"{where}: {kind} {database} {user} {shown} {method}")
    return found


def read_my_cnf(text: str) -> list[str]:
    """The networking keys of my.cnf, with their group and place (`where group key value`)."""
    found = []
    for row in rows(text, "my_cnf"):
        if (note := _marker(row)) is not None:
            if note.startswith("cannot read"):
                found.append(note)
        elif len(row.fields) == 3:
            where, (group, key, value) = row.tag, row.fields
            server = group in MYSQL_SERVER_GROUPS or group.rsplit("-", 1)[0] in MYSQL_SERVER_GROUPS
            found.append(f"my.cnf [{group}] {key}{' = ' + value if value else ''} ({where})"
                         + ("" if server else " — not a server group"))
    return found


def _note_configs(out: Outputs, findings: Findings, hba_fails: bool) -> list[str]:
    """The databases' own network settings: pg_hba.conf lines open to every address (a reason
    to fail when `hba_fails`: an exposed postgres; a detail otherwise) and my.cnf's
    networking keys. Returns the probes that showed something."""
    relied_on = []
    hba = read_pg_hba(out["pg_hba"].stdout) if out["pg_hba"].ok else HbaReading([], [])
    if not out["pg_hba"].ok:
        findings.note(f"pg_hba.conf not read: {out['pg_hba'].failure_reason()}")
    for line in hba.open_lines:
        (findings.fail if hba_fails else findings.note)(f"pg_hba.conf admits every address: {line}")
    if hba.open_lines:
        relied_on.append("pg_hba")
    for note in hba.notes:
        findings.note(note)
    mysql = read_my_cnf(out["my_cnf"].stdout) if out["my_cnf"].ok else [
        f"my.cnf not read: {out['my_cnf'].failure_reason()}"]
    if any("my.cnf [" in m for m in mysql):
        relied_on.append("my_cnf")
    for setting in mysql:
        findings.note(setting)
    return relied_on


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["listeners"]
    try:
        uid, listeners = read_listeners(out.require("listeners").stdout)
    except ValueError as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    entries = list(params["databases"]) + list(params["extra_databases"])
    databases = [(listener, why) for listener in listeners
                 if (why := database_of(listener, entries)) is not None]
    findings = Findings()
    if uid != "0" and not any(listener.processes for listener in listeners):
        findings.note(f"ss ran as uid {uid}, not root: listening processes are not visible, databases "
                      "were recognised by well-known port only")
    if not databases:
        return result(Status.SKIP, f"no database server listening ({len(listeners)} listener(s), none a "
                      "database)", findings.notes, evidence, database_listeners=0, exposed_listeners=0)

    cidrs = list(params["allowed_networks"]) or list(firewall.PRIVATE_NETWORKS)
    permitted_label = "allowed_networks" if params["allowed_networks"] else "private networks"
    try:
        permitted = {v: firewall.network_ranges(cidrs, v) for v in (4, 6)}
    except ValueError as exc:
        findings.unknown(f"allowed_networks holds something that is not a network: {exc}")
        return findings.result(evidence=evidence, ok_summary="")
    rulesets, unreadable, notes = read_firewall(out)
    exposed: list[str] = []
    unknown: list[str] = []
    exposed_postgres = False
    for listener, why in databases:
        label = (f"{why} ({', '.join(listener.process_names)})" if why.startswith("port ")
                 and listener.processes else why)
        where = listener.endpoint if listener.proto == "tcp" else f"{listener.endpoint} ({listener.proto})"
        if listener.loopback_only:
            findings.note(f"{label} listens on {where}: loopback only")
            continue
        reaches = [firewall.allowed_sources(rulesets, listener.port, listener.proto, v)
                   for v in listener.families]
        too_wide = [r for r in reaches if r.outside(permitted[r.version])]
        if not too_wide:
            findings.note(f"{label} listens on {where}; the firewall lets in only " + "; ".join(
                f"IPv{r.version}: {r.describe()} ({', '.join(r.restricting_chains)})" for r in reaches))
            continue
        if unreadable:
            unknown.append(f"{label} on {where}")
            continue
        if not any(r.restricted for r in too_wide):
            open_to = ", ".join(f"IPv{r.version}" for r in too_wide)
            exposed.append(f"{label} listens on {where} and no firewall rule restricts it ({open_to})")
        else:
            exposed.append(f"{label} listens on {where} and sources outside {permitted_label} may reach it: "
                           + "; ".join(f"IPv{r.version}: {r.describe()}" for r in too_wide))
        exposed_postgres = exposed_postgres or "postgres" in listener.process_names or listener.port == 5432
    # Who may reach an exposed database is a fact the host shows, unless a firewall it cannot
    # show guards it: then it is the external firewall's rules that must be attached.
    for text in exposed:
        (findings.manual if params["external_firewall"] else findings.fail)(text)
    if unknown:
        findings.unknown(f"the firewall could not be read, so who may reach {first(unknown)} is unknown: "
                         + "; ".join(unreadable))
    if rulesets or unreadable:
        evidence += ["nftables", "iptables"]
    chains = sum(len(r.base_input_chains()) for r in rulesets)
    findings.note(f"firewall: {chains} input filter chain(s) read"
                  + (f"; {'; '.join(notes)}" if notes else "")
                  + (f"; could not read: {'; '.join(unreadable)}" if unreadable else ""))

    evidence += _note_configs(out, findings, hba_fails=exposed_postgres and not params["external_firewall"])

    local = sum(1 for listener, _ in databases if listener.loopback_only)
    return findings.result(
        evidence=evidence,
        ok_summary=(f"{len(databases)} database listener(s): {local} on loopback only, "
                    f"{len(databases) - local} reachable only from firewall-restricted sources within "
                    f"{permitted_label}"),
        manual_prefix="{n} database listener(s) reachable from any address as far as the host shows; "
                      "attach the external firewall's rules (security group, network ACL) for: ",
        database_listeners=len(databases), exposed_listeners=len(exposed))

"""db_network_restricted end to end: real PostgreSQL servers in test hosts with their own
network namespaces, with and without nftables rules, judged through the CLI.

Each host runs a real PostgreSQL 15 (`postgres -D <a copy of one initdb'd cluster>`, as user
postgres) in its own network and PID namespace; the test machine reaches it over the host's
veth at `<address>:5432`. Connecting from here proves what the planted truth is (open,
blocked, loopback only) before the check's verdict is compared with it.
"""

from __future__ import annotations

import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import (
    HostSpec,
    Planted,
    Service,
    SshdFleet,
    TestHost,
    require_namespace_support,
    require_sshd_support,
)

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_HBA = "/etc/postgresql/15/main/pg_hba.conf"
LDAP_SECRET = "Ldap-Bind-S3cret-7f3a"  # planted in pg_hba.conf options: must never leave the host
OPEN_HBA = ("local all all scram-sha-256\n"
            "host all all 0.0.0.0/0 md5\n"
            "host all all ::/0 md5\n"
            "host sales all 192.168.10.0/24 ldap ldapserver=192.0.2.5 ldapbasedn=\"dc=example,dc=test\" "
            f"ldapbinddn=\"cn=pg\" ldapbindpasswd={LDAP_SECRET}\n")
LOCAL_HBA = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
NFT_ALLOW = """table inet filter {{
  chain input {{
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    tcp dport 22 accept
    ip saddr {allowed} tcp dport 5432 accept
  }}
}}
"""


def _pg_problem() -> str | None:
    if not (PG_BIN / "postgres").exists():
        return f"{PG_BIN}/postgres missing: apt-get install postgresql-15"
    if not Path(PG_HBA).is_file():
        return f"{PG_HBA} missing (Debian's postgresql-15 package creates it)"
    if shutil.which("nft") is None:
        return "nft missing: apt-get install nftables"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[Path]:
    """One initdb'd cluster in a directory the postgres user can reach; hosts get copies."""
    require_sshd_support()
    require_namespace_support()
    if (problem := _pg_problem()) is not None:
        pytest.skip(problem)
    base = Path(tempfile.mkdtemp(prefix="auditor-pg-"))
    try:
        base.chmod(0o711)
        postgres = pwd.getpwnam("postgres")
        password_file = base / "pw"
        password_file.write_text("initdb-only\n")
        shutil.chown(base, postgres.pw_uid, postgres.pw_gid)
        shutil.chown(password_file, postgres.pw_uid, postgres.pw_gid)
        subprocess.run(["setpriv", f"--reuid={postgres.pw_uid}", f"--regid={postgres.pw_gid}",
                        "--init-groups", str(PG_BIN / "initdb"), "-D", str(base / "template"),
                        "--auth=scram-sha-256", "--username=postgres", f"--pwfile={password_file}"],
                       check=True, capture_output=True)
        password_file.unlink()
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def postgres_service(cluster: Path, name: str, listen: str) -> Service:
    """A real postmaster on a fresh copy of the cluster, reading the host's planted pg_hba.conf."""
    data, sockets = cluster / name / "data", cluster / name / "sock"
    sockets.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(cluster / "template"), str(data)], check=True)
    subprocess.run(["chown", "-R", "postgres:postgres", str(cluster / name)], check=True)
    return Service("postgres", (
        "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", str(PG_BIN / "postgres"),
        "-D", str(data), "-k", str(sockets), "-c", f"listen_addresses={listen}", "-c", f"hba_file={PG_HBA}",
    ), ready_path=str(sockets / ".s.PGSQL.5432"))


def hba(text: str) -> Planted:
    postgres = pwd.getpwnam("postgres")
    return Planted(text, mode=0o640, uid=postgres.pw_uid, gid=postgres.pw_gid)


@pytest.fixture(scope="module")
def fleet(sshd_fleet: FleetOpener, cluster: Path) -> Iterator[SshdFleet]:
    with sshd_fleet("dbfleet", namespaces=True) as (fleet, _):
        db_host = {"network_namespace": True, "pid_namespace": True}
        fleet.start(HostSpec("open", files={PG_HBA: hba(OPEN_HBA)},
                             services=(postgres_service(cluster, "open", "*"),), **db_host))
        for name, allowed in (("lan_only", "10.213.0.0/16"), ("one_client", "192.0.2.10"),
                              ("one_client_allowed", "192.0.2.10")):
            fleet.start(HostSpec(name, files={PG_HBA: hba(OPEN_HBA),
                                              "/etc/nftables.conf": NFT_ALLOW.format(allowed=allowed)},
                                 setup=(("nft", "-f", "/etc/nftables.conf"),),
                                 services=(postgres_service(cluster, name, "*"),), **db_host))
        fleet.start(HostSpec("loopback", files={PG_HBA: hba(LOCAL_HBA)},
                             services=(postgres_service(cluster, "loopback", "127.0.0.1"),), **db_host))
        fleet.start(HostSpec("no_db", **db_host))
        yield fleet


def connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.5):
            return True
    except OSError:  # refused (nothing listens) or timed out (dropped by the firewall)
        return False


def audit_databases(fleet: SshdFleet, tmp_path: Path) -> tuple[dict[str, dict], Path]:
    hosts = fleet_hosts(fleet)
    # 192.0.2.10 is not private address space: only this host's inventory says it may connect
    hosts["one_client_allowed"]["vars"] = {"db_network_restricted": {"allowed_networks": ["192.0.2.10/32"]}}
    out = tmp_path / "reports"
    done = audit(write_inventory(tmp_path / "inventory.yaml", hosts), out, "db_network_restricted")
    assert done.result.rc != 0  # some hosts fail
    return done.by_host, out


def host(fleet: SshdFleet, name: str) -> TestHost:
    return next(h for h in fleet.hosts if h.name == name)


def test_the_planted_truth_is_real(fleet: SshdFleet) -> None:
    # Given the hosts as started
    # When the test machine (10.213.x.1 on each veth) connects to their port 5432
    # Then the open and the 10.213.0.0/16 host accept, the one-client and loopback hosts do not
    assert connects(host(fleet, "open").address, 5432)
    assert connects(host(fleet, "lan_only").address, 5432)
    assert not connects(host(fleet, "one_client").address, 5432)
    assert not connects(host(fleet, "one_client_allowed").address, 5432)
    assert not connects(host(fleet, "loopback").address, 5432)
    listening = host(fleet, "loopback").run(["ss", "-H", "-ltn", "sport = :5432"]).stdout
    assert "127.0.0.1:5432" in listening


def test_verdicts_through_the_cli(fleet: SshdFleet, tmp_path: Path) -> None:
    # Given the fleet: open postgres, two firewalled ones, a loopback one, a host without a database
    # When the check runs against all of them through the CLI
    results, out = audit_databases(fleet, tmp_path)
    # Then the open one fails naming the listener and the open pg_hba.conf lines
    assert results["open"]["status"] == "fail"
    assert "postgres listens on 0.0.0.0:5432 and no firewall rule restricts it" in results["open"]["summary"]
    assert any("pg_hba.conf admits every address" in d and "0.0.0.0/0" in d
               for d in results["open"]["details"])
    assert results["open"]["values"]["exposed_listeners"] >= 1  # 0.0.0.0, and [::] where IPv6 is on
    # And the firewalled ones pass, naming who may connect; their open pg_hba lines are details:
    # lan_only's 10.213.0.0/16 is private space, one_client_allowed's public 192.0.2.10 is listed
    # in its allowed_networks
    for name, allowed, within in (("lan_only", "10.213.0.0/16", "private networks"),
                                  ("one_client_allowed", "192.0.2.10/32", "allowed_networks")):
        assert results[name]["status"] == "pass", results[name]
        assert f"reachable only from firewall-restricted sources within {within}" in results[name]["summary"]
        assert any(f"IPv4: {allowed}" in d for d in results[name]["details"])
        assert any("pg_hba.conf admits every address" in d for d in results[name]["details"])
    # And the same firewall without that parameter fails: 192.0.2.10 is not private address space
    assert results["one_client"]["status"] == "fail", results["one_client"]
    assert ("postgres listens on 0.0.0.0:5432 and sources outside private networks may reach it: "
            "IPv4: 192.0.2.10/32") in results["one_client"]["summary"]
    # And the loopback one passes, the one without a database is skipped
    assert results["loopback"]["status"] == "pass"
    assert "1 on loopback only" in results["loopback"]["summary"]
    assert results["no_db"]["status"] == "skip"
    assert "no database server listening" in results["no_db"]["summary"]
    # And the LDAP bind password planted in pg_hba.conf is nowhere in the run folder
    assert_nowhere_in(out, LDAP_SECRET)

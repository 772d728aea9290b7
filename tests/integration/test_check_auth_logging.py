"""auth_logging end to end: real rsyslogd services inside PID-namespaced sshd test hosts,
auth logs of real sshd/PAM/su/sudo records, judged through the CLI.

The records are made at test time by tests/checks/auth_logging/make_auth_logs.py (a real
sshd and rsyslogd in a private namespace, real paramiko logins, one of them an unknown
user whose "name" is a password) and planted as the hosts' /var/log/auth.log. Each host
has its own PID namespace, so `ps` over SSH sees only that host's rsyslogd (or none).
The planted rsyslogd listens on a socket under the host's own /run, never on the
machine's /dev/log, and loads no kernel-log input.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit_fleet, text_written
from tests.integration.sshhosts import (
    HostSpec,
    Planted,
    Service,
    SshdFleet,
    require_sshd_support,
)

pytestmark = pytest.mark.integration

GENERATOR = REPO / "tests" / "checks" / "auth_logging" / "make_auth_logs.py"
sys.path.insert(0, str(GENERATOR.parent))
from make_auth_logs import ALICE_PASSWORD, INVALID_USER, SUDO_SECRET, WRONG_PASSWORD  # noqa: E402

SOCKET = "/run/systemd/journal/syslog"
RSYSLOG_CONF = f"""# rsyslog on a systemd host: journald forwards to this socket
module(load="imuxsock" SysSock.Name="{SOCKET}")
$FileOwner root
$FileGroup adm
$FileCreateMode 0640
$WorkDirectory /var/spool/rsyslog
$IncludeConfig /etc/rsyslog.d/*.conf
*.*;auth,authpriv.none\t\t-/var/log/syslog
"""
ROUTE_AUTH = "# authentication records\nauth,authpriv.*\t\t\t/var/log/auth.log\n"
RSYSLOGD = Service("rsyslogd", ("rsyslogd", "-n", "-f", "/etc/rsyslog.conf", "-i", "/run/rsyslogd.pid"),
                   ready_path=SOCKET)


def rsyslog_host(name: str, auth_log: bytes, route_auth: bool = True, running: bool = True) -> HostSpec:
    return HostSpec(
        name,
        files={
            "/etc/rsyslog.conf": RSYSLOG_CONF,
            "/etc/rsyslog.d/50-auth.conf": ROUTE_AUTH if route_auth else "# nothing here\n",
            "/var/log/auth.log": Planted(auth_log, mode=0o640, gid=4),
            "/var/log/syslog": Planted(b"", mode=0o640, gid=4),
            "/etc/machine-id": Planted(Path("/etc/machine-id").read_bytes(), mtime=1.6e9),
        },
        replace_dirs=("/etc/rsyslog.d", "/var/log", "/run", "/run/systemd/journal"),
        pid_namespace=True,
        services=(RSYSLOGD,) if running else (),
    )


@pytest.fixture(scope="module")
def auth_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    require_sshd_support()
    out = tmp_path_factory.mktemp("auth-logs")
    # Two real runs side by side: sshd at LogLevel INFO, and at ERROR (no Accepted lines).
    runs = [subprocess.Popen([sys.executable, str(GENERATOR), str(out / variant), "--variant", variant],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for variant in ("info", "quiet")]
    for run in runs:
        said, _ = run.communicate(timeout=180)
        if run.returncode != 0:
            pytest.fail(f"make_auth_logs.py failed: {said}")
    return {variant: (out / variant / "auth.log").read_bytes() for variant in ("info", "quiet")}


@pytest.fixture(scope="module")
def fleet(sshd_fleet: FleetOpener, auth_logs: dict[str, bytes]) -> Iterator[SshdFleet]:
    with sshd_fleet("sshfleet", namespaces=True) as (fleet, _):
        fleet.start(rsyslog_host("logged", auth_logs["info"]))
        fleet.start(rsyslog_host("quiet-sshd", auth_logs["quiet"]))
        fleet.start(rsyslog_host("unrouted", auth_logs["info"], route_auth=False))
        fleet.start(rsyslog_host("no-logger", auth_logs["info"], running=False))
        yield fleet


@pytest.fixture(scope="module")
def run(fleet: SshdFleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], Path]:
    tmp = tmp_path_factory.mktemp("auth-run")
    done = audit_fleet(fleet, tmp, "auth_logging")
    assert done.result.rc == 1, done.result.stderr  # some host fails
    return done.by_host, done.run_dir


def test_rsyslog_routing_auth_to_a_file_with_full_records_passes(run: tuple[dict[str, dict], Path],
                                                                   fleet: SshdFleet) -> None:
    # Given a host whose rsyslogd runs and routes auth,authpriv to /var/log/auth.log, full of
    # real sshd, PAM, su and sudo records
    logged = next(h for h in fleet.hosts if h.name == "logged")
    assert "rsyslogd" in logged.run(["ps", "-eo", "comm"]).stdout
    # When auth_logging judges it
    verdict = run[0]["logged"]
    # Then it passes, naming the file and what every record carries
    assert verdict["status"] == "pass", verdict
    assert "rsyslogd → /var/log/auth.log (auth,authpriv)" in verdict["summary"]
    assert "carry the date, time, user and source IP" in verdict["summary"]
    assert verdict["values"]["records_by_service"]["sshd"] >= 10


def test_sshd_below_info_leaves_sessions_without_a_source(run: tuple[dict[str, dict], Path]) -> None:
    # Given a host whose auth.log was written with sshd at LogLevel ERROR (PAM lines only)
    verdict = run[0]["quiet-sshd"]
    # When judged / Then it fails because the logins name no source address
    assert verdict["status"] == "fail", verdict
    assert "login records lack the source IP" in verdict["summary"]


def test_auth_routed_nowhere_fails(run: tuple[dict[str, dict], Path]) -> None:
    # Given rsyslogd running with only the catch-all rule, which excludes auth and authpriv
    verdict = run[0]["unrouted"]
    # Then the check fails and says rsyslog sends them to no file
    assert verdict["status"] == "fail", verdict
    assert "rsyslogd runs but routes auth,authpriv.info to no file" in verdict["summary"]


def test_no_logger_running_fails(run: tuple[dict[str, dict], Path]) -> None:
    # Given good configuration and records, but no syslog daemon running in the host
    verdict = run[0]["no-logger"]
    # Then nothing records new logins: fail
    assert verdict["status"] == "fail", verdict
    assert "no syslog daemon (rsyslogd, syslog-ng) or systemd-journald is running" in verdict["summary"]


def test_no_secret_leaves_the_host(run: tuple[dict[str, dict], Path]) -> None:
    # Given records of an unknown user whose name is a password, alice's passwords, and a
    # real sudo record whose command line carries a password (curl -u admin:...)
    _, run_dir = run
    # When every file of the run folder is read
    everything = text_written(run_dir)
    # Then the typed password and sudo's command lines are masked on the host (who ran sudo,
    # as whom and when stay) and no password appears at all
    assert "Invalid user *** from" in everything
    assert "root : PWD=*** ; USER=nobody ; COMMAND=***" in everything  # masked on the host now
    assert_nowhere_in(run_dir, INVALID_USER, "Tr0ub4dor", ALICE_PASSWORD, WRONG_PASSWORD, SUDO_SECRET,
                      "Sup3rS3cret")

"""admin_change_audit end to end: a real auditd with real watch rules loaded, through the CLI.

Audit rules and the audit daemon are kernel-global and only accepted from the initial PID
namespace, so the fixture runs one real auditd on this machine for the duration of the
module (in a private mount namespace with its own /run and its log in a temp dir), loads
the watches with `auditctl -R`, and afterwards deletes the rules, restores the kernel's
audit settings and kills auditd by its PID. /tmp/auditor-auditd.lock serialises this with
tests/checks/admin_change_audit/record.sh. The "audited" host shares the machine's PID
namespace and sees that auditd and its rules; the "unaudited" host has its own PID
namespace, where no auditd runs and auditctl is refused, so its rule files are judged.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit_fleet
from tests.integration.sshhosts import (
    HostSpec,
    Planted,
    require_sshd_support,
)

pytestmark = pytest.mark.integration

LOCK = Path("/tmp/auditor-auditd.lock")
KEY_NOTE = "audit-pager-token-5d1e"  # a token in a rules comment: must stay on the host
WATCHES = """## Changes to accounts, groups and sudo rights
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-w /etc/shadow -p wa -k identity
-w /etc/gshadow -p wa -k identity
-w /etc/sudoers -p wa -k scope
-w /etc/sudoers.d/ -p wa -k scope
"""
FULL_RULES = f"-D\n-b 8192\n# pager token={KEY_NOTE}\n" + WATCHES
PARTIAL_RULES = f"-D\n# pager token={KEY_NOTE}\n-w /etc/passwd -p wa -k identity\n"
RESTORED = ("enabled", "failure", "rate_limit", "backlog_limit", "backlog_wait_time")
SET_FLAG = {"enabled": "-e", "failure": "-f", "rate_limit": "-r", "backlog_limit": "-b",
            "backlog_wait_time": "--backlog_wait_time"}


def audit_status() -> dict[str, str]:
    said = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in said.splitlines() if " " in line)


@pytest.fixture(scope="module")
def running_auditd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    require_sshd_support()
    for tool in ("auditd", "auditctl", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install auditd)")
    work = tmp_path_factory.mktemp("auditd")
    with open(LOCK, "w") as lock, open(work / "auditd.out", "wb") as log:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            before = audit_status()
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"the kernel refuses audit status requests here: {exc.stderr.strip()}")
        if before.get("pid", "0") != "0":
            pytest.skip(f"an audit daemon (pid {before['pid']}) is already registered with the kernel")
        conf = work / "conf"
        (conf / "plugins.d").mkdir(parents=True)
        text = Path("/etc/audit/auditd.conf").read_text()
        lines = [f"log_file = {work}/audit.log" if ln.startswith("log_file ") else
                 f"plugin_dir = {conf}/plugins.d" if ln.startswith("plugin_dir ") else ln
                 for ln in text.splitlines()]
        (conf / "auditd.conf").write_text("\n".join(lines) + "\n")
        (conf / "auditd.conf").chmod(0o640)
        rules = work / "load.rules"
        rules.write_text(WATCHES)
        daemon = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                                   'mount -t tmpfs tmpfs /run && exec auditd -f -c "$1"', "sh", str(conf)],
                                  stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 10
            while audit_status().get("pid", "0") == "0":
                if daemon.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("auditd could not register with the kernel: "
                                + (work / "auditd.out").read_text()[-500:])
                time.sleep(0.1)
            subprocess.run(["auditctl", "-R", str(rules)], capture_output=True, check=True)
            yield daemon.pid
        finally:
            subprocess.run(["auditctl", "-D"], capture_output=True, check=False)
            for name in RESTORED:
                if name in before:
                    subprocess.run(["auditctl", SET_FLAG[name], before[name]], capture_output=True,
                                   check=False)
            daemon.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.wait(timeout=10)
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()


@pytest.fixture(scope="module")
def run(running_auditd: int, sshd_fleet: FleetOpener) -> Iterator[tuple[dict[str, dict], Path]]:
    with sshd_fleet("audit-run", namespaces=True) as (fleet, tmp):
        fleet.start(HostSpec("audited", files={
            "/etc/audit/rules.d/audit.rules": Planted(FULL_RULES, mode=0o640)},
            replace_dirs=("/etc/audit/rules.d",)))
        fleet.start(HostSpec("unaudited", files={
            "/etc/audit/rules.d/audit.rules": Planted(PARTIAL_RULES, mode=0o640)},
            replace_dirs=("/etc/audit/rules.d",), pid_namespace=True))
        done = audit_fleet(fleet, tmp, "admin_change_audit")
    assert done.result.rc == 1, done.result.stderr  # the unaudited host fails
    yield done.by_host, done.run_dir


def test_loaded_watches_on_every_file_ask_for_the_notification(run: tuple[dict[str, dict], Path],
                                                               running_auditd: int) -> None:
    # Given a real auditd with identity and scope watches loaded into the kernel
    verdict = run[0]["audited"]
    # When admin_change_audit judges the host that sees it
    # Then the recording is confirmed from the loaded rules, and the notification is manual
    assert verdict["status"] == "manual", verdict
    assert "all 6 watched path(s) (keys: identity, scope)" in verdict["summary"]
    assert "attach the alerting rule" in verdict["summary"]
    assert verdict["values"]["rules_loaded_confirmed"] is True
    assert verdict["values"]["auditd_running"] is True
    assert f"audit daemon pid {running_auditd}" in " ".join(verdict["details"])


def test_no_auditd_and_missing_watches_fail_naming_the_files(run: tuple[dict[str, dict], Path]) -> None:
    # Given a host in its own PID namespace: no auditd, auditctl refused, rules.d watching passwd only
    verdict = run[0]["unaudited"]
    # Then it fails for both reasons and names the unwatched files
    assert verdict["status"] == "fail", verdict
    assert verdict["summary"].startswith("auditd is not running")
    assert "5 path(s) not audited for -p wa in /etc/audit/rules.d/*.rules" in verdict["summary"]
    for path in ("/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d"):
        assert path in verdict["values"]["unwatched"]
    assert any("loaded rules could not be confirmed" in d for d in verdict["details"])


def test_no_secret_leaves_the_host(run: tuple[dict[str, dict], Path]) -> None:
    # Given rule files with a token in a comment
    _, run_dir = run
    # When every file of the run folder is read
    # Then the token is not there (the engine's redaction masks token=...)
    assert_nowhere_in(run_dir, KEY_NOTE)


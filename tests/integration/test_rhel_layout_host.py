"""A RHEL-family layout on a real sshd host: password_hashing and backups end to end.

No RHEL userland runs here, so the host is this machine's (Debian 12) with RHEL 9's stock files
planted in its mount namespace, read through the real CLI, SSH and batched probes: authselect's
system-auth and password-auth (sha512; /etc/authselect itself cannot be planted here, so they
are regular files in /etc/pam.d rather than links to it), RHEL 9's login.defs, a shadow file with
sha512crypt hashes and `!!`-locked accounts; cronie's layout: root's crontab in
/var/spool/cron/root (no crontabs/ directory of its own), the crontabs package's /etc/crontab,
cronie-noanacron's /etc/cron.d/dailyjobs (`run-parts /etc/cron.daily` at 04:02 while
/etc/cron.hourly/0anacron is absent) and RHEL's run-parts, a shell script (a stand-in here)
that runs dotted names such as site-backup.sh. Debian's `cron -f` is the cron daemon in the
host's PID namespace (cronie is not packaged for Debian 12). The stock files and their sources:
tests/checks/password_hashing/rhel9/ and tests/checks/backups/rhel/.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec, Planted, Service

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PAM = REPO / "tests" / "checks" / "password_hashing" / "rhel9"
CRON_FILES = REPO / "tests" / "checks" / "backups" / "rhel"
HOUR = 3600
NOW = time.time()
PG_SECRET = "Rhel-Host-Pg-Pw-71"
DAILYJOBS = """# Run the daily, weekly, and monthly jobs if cronie-anacron is not installed
SHELL=/bin/bash
PATH=/sbin:/bin:/usr/sbin:/usr/bin
MAILTO=root

# run-parts
02 4 * * * root [ ! -f /etc/cron.hourly/0anacron ] && run-parts /etc/cron.daily
22 4 * * 0 root [ ! -f /etc/cron.hourly/0anacron ] && run-parts /etc/cron.weekly
42 4 1 * * root [ ! -f /etc/cron.hourly/0anacron ] && run-parts /etc/cron.monthly
"""
RUN_PARTS_STAND_IN = "#!/usr/bin/bash\n# stand-in for the crontabs package's run-parts script\nexit 0\n"
SITE_BACKUP = "#!/bin/sh\nexec tar czf /srv/backup/etc-$(date +%F).tgz /etc\n"
ROOT_CRONTAB = (f"30 2 * * * PGPASSWORD={PG_SECRET} pg_dumpall -h 127.0.0.1 -U postgres | gzip > "
                "/srv/backup/db/all.sql.gz\n")


def sha512crypt(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True,
                          check=True).stdout.strip()


def rhel_shadow() -> str:
    """This machine's accounts (locked), root and rocky with sha512crypt, two RHEL-style `!!` locks."""
    others = [ln for ln in Path("/etc/shadow").read_text().splitlines() if ln and not ln.startswith("root:")]
    return "\n".join([f"root:{sha512crypt('rhel root pw')}:19800:0:99999:7:::", *others,
                      f"rocky:{sha512crypt('rhel admin pw')}:19800:0:99999:7:::",
                      "chrony:!!:19800::::::", "sshd:!!:19800::::::"]) + "\n"


def rhel_host() -> HostSpec:
    files: dict[str, Planted | str | bytes] = {
        "/etc/shadow": Planted(rhel_shadow(), mode=0o600),
        "/etc/login.defs": (PAM / "login.defs").read_text(),
        "/etc/pam.d/system-auth": (PAM / "system-auth").read_text(),
        "/etc/pam.d/password-auth": (PAM / "password-auth").read_text(),
        "/etc/pam.d/passwd": (PAM / "passwd").read_text(),
        "/etc/pam.d/sshd": (PAM / "sshd").read_text(),
        "/etc/crontab": (CRON_FILES / "crontab").read_text(),
        "/etc/cron.d/0hourly": (CRON_FILES / "0hourly").read_text(),
        "/etc/cron.d/dailyjobs": DAILYJOBS,
        "/etc/cron.hourly/.placeholder": "",
        "/etc/cron.daily/site-backup.sh": Planted(SITE_BACKUP, mode=0o755),
        "/usr/bin/run-parts": Planted(RUN_PARTS_STAND_IN, mode=0o755),
        "/var/spool/cron/root": Planted(ROOT_CRONTAB, mode=0o600),
        "/srv/backup/db/all.sql.gz": Planted(b"\x1f\x8b dump", mtime=NOW - 3 * HOUR),
        "/srv/backup/etc-old.tgz": Planted(b"\x1f\x8b old", mtime=NOW - 30 * 24 * HOUR),
    }
    return HostSpec("rhel9", files=files, pid_namespace=True,
                    replace_dirs=("/etc/pam.d", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily",
                                  "/var/spool/cron", "/srv", "/run"),
                    services=(Service("cron", ("cron", "-f"), ready_path="/run/crond.pid"),))


@pytest.fixture(scope="module")
def rhel_runs(sshd_fleet):
    with sshd_fleet("rhel-layout", namespaces=True) as (fleet, tmp):
        fleet.start(rhel_host())
        inventory = write_inventory(tmp / "inventory.yaml",
                                    fleet_hosts(fleet, {"backups": {"paths": ["/srv/backup"]}}))
        hashing = audit(inventory, tmp / "reports-hashing", "password_hashing")
        backups = audit(inventory, tmp / "reports-backups", "backups")
    return hashing, backups


def test_authselect_sha512_and_login_defs_pass(rhel_runs):
    # Given the RHEL 9 host: authselect's system-auth and password-auth with pam_unix sha512,
    # login.defs ENCRYPT_METHOD SHA512, root and rocky with sha512crypt, service accounts locked with !!
    hashing, _ = rhel_runs
    # When password_hashing runs through the CLI over SSH
    got = hashing.by_host["rhel9"]
    # Then it passes, counting the two sha512crypt accounts and naming both authselect files' scheme
    assert got["status"] == "pass", got
    assert "2 account(s) with a password, all salted and slow: 2 sha512crypt" in got["summary"]
    assert got["values"]["pam_unix_schemes"] == {"/etc/pam.d/password-auth": "sha512",
                                                 "/etc/pam.d/system-auth": "sha512"}
    assert "login.defs: ENCRYPT_METHOD SHA512" in "\n".join(got["details"])


def test_cronie_spool_and_dotted_cron_daily_script_pass(rhel_runs):
    # Given root's cronie crontab /var/spool/cron/root running pg_dumpall daily at 02:30, a dotted
    # /etc/cron.daily/site-backup.sh run by cronie-noanacron's dailyjobs through RHEL's run-parts,
    # cron running, and a 3 h old dump
    _, backups = rhel_runs
    got = backups.by_host["rhel9"]
    details = "\n".join(got["details"])
    # Then both jobs are credited: the spool job (attributed to root) and the dotted script
    assert got["status"] == "pass", got
    assert "pg_dumpall in /var/spool/cron/root:1 (user root)" in got["summary"] + details
    assert "tar in /etc/cron.daily/site-backup.sh (run by /etc/cron.d/dailyjobs:7)" in details
    assert "never runs" not in details
    assert got["values"]["jobs_found"] == 2


def test_the_job_password_never_leaves_the_host(rhel_runs):
    # Given the crontab line holding PGPASSWORD=<secret>
    _, backups = rhel_runs
    # Then no file of the run holds it, and the job line shows it masked
    assert_nowhere_in(backups.run_dir, PG_SECRET)
    assert "PGPASSWORD=***" in "\n".join(backups.by_host["rhel9"]["details"])

"""The whole built-in catalogue on an Alpine Linux 3.20 host: a real sshd whose sessions are
chrooted (``ChrootDirectory``) into the unpacked, unmodified Alpine minirootfs, so every probe
runs under busybox ``sh`` with busybox ``ps``/``find``/``stat`` and no ``ss``, ``lsblk`` or
``sshd`` -- the userland issue 12 reported as breaking five of the nine applicable checks.

The host (own mount, PID and network namespaces) unpacks the archive onto a private tmpfs at
/mnt (sshd wants every component of a chroot root-owned and not group/world-writable, which
/tmp is not), mounts /proc and /sys inside the tree and gives it a /dev of its own (a tmpfs
with the machine's null, zero, full, random, urandom and tty bound in: busybox syslogd replaces
/dev/log, which must not be this machine's), and runs Alpine's own busybox ``syslogd`` and
``crond`` from the tree as services, with a busybox ``nc`` listener on 5432. The audit's own
sshd logs to stderr (the harness runs it with ``-e``), so a second real sshd -- this machine's,
outside the tree, its /dev/log bound to the tree's -- serves 127.0.0.1:2222 and logs through
syslog as an Alpine sshd would: one key login as root and one attempt as an unknown user are
made to it before the audit, so busybox syslogd writes real sshd login records to
/var/log/messages. Planted in the tree: a site backup script (``tar``) in root's crontab and its
fresh archive. The archive's sha256 is checked first (tests/../shared/fixtures/README.md gives
it).

``EXPECTED`` below is the per-check record of what each check says on this userland: it is
the source of the README's "Alpine 3.20" column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fleetrun import FleetOpener, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec, Planted, Service

pytestmark = pytest.mark.integration

FIXTURE = Path("/work/shared/fixtures/alpine-minirootfs-3.20.3-x86_64.tar.gz")
FIXTURE_SHA256 = "d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c"
ROOT = "/mnt/alpine"  # inside the host's mount namespace, on a private tmpfs
SYSLOG_SSHD = "/mnt/syslog-sshd"  # the second sshd's keys and configuration, outside the tree

UNPACK = f"""set -e
mount -t tmpfs -o mode=0755 alpine-root /mnt
mkdir -m 0755 {ROOT}
tar -xzf {FIXTURE} -C {ROOT}
chmod 0755 {ROOT}
mount -t proc proc {ROOT}/proc
mount -t sysfs sysfs {ROOT}/sys
mount -t tmpfs -o mode=0755 alpine-dev {ROOT}/dev
for n in null zero full random urandom tty; do touch {ROOT}/dev/$n; mount --bind /dev/$n {ROOT}/dev/$n; done
mkdir -p {ROOT}/var/log {ROOT}/usr/local/sbin {ROOT}/var/backups
printf '%s\n' '#!/bin/sh' 'tar -czf /var/backups/etc.tar.gz -C / etc' > {ROOT}/usr/local/sbin/site-backup
chmod 0755 {ROOT}/usr/local/sbin/site-backup
echo '30 2 * * * /usr/local/sbin/site-backup' >> {ROOT}/etc/crontabs/root
chroot {ROOT} /usr/local/sbin/site-backup
mkdir -m 0700 {SYSLOG_SSHD}
ssh-keygen -q -t ed25519 -N '' -C alpine-syslog-sshd-host -f {SYSLOG_SSHD}/host_key
ssh-keygen -q -t ed25519 -N '' -C alpine-syslog-sshd-client -f {SYSLOG_SSHD}/client_key
cp {SYSLOG_SSHD}/client_key.pub {SYSLOG_SSHD}/authorized_keys
echo "[127.0.0.1]:2222 $(cat {SYSLOG_SSHD}/host_key.pub)" > {SYSLOG_SSHD}/known_hosts
printf '%s\n' 'ListenAddress 127.0.0.1:2222' 'HostKey {SYSLOG_SSHD}/host_key' 'PidFile none' 'UsePAM no' \
  'PermitRootLogin prohibit-password' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' \
  'AuthorizedKeysFile {SYSLOG_SSHD}/authorized_keys' 'StrictModes no' 'SyslogFacility AUTH' 'LogLevel INFO' \
  > {SYSLOG_SSHD}/sshd_config
"""

# The second sshd: this machine's, in a mount namespace of its own where /dev/log is the tree's.
SYSLOG_SSHD_ARGV = ("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                    f"mount --bind {ROOT}/dev/log /dev/log && "
                    f"exec /usr/sbin/sshd -D -f {SYSLOG_SSHD}/sshd_config")
CLIENT = ("ssh", "-F", "/dev/null", "-i", f"{SYSLOG_SSHD}/client_key", "-p", "2222", "-o", "BatchMode=yes",
          "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={SYSLOG_SSHD}/known_hosts",
          "-o", "LogLevel=ERROR")


def _root_shell_passwd() -> str:
    """This machine's /etc/passwd with root's shell set to /bin/sh: sshd runs the account's
    shell inside the chroot, and Alpine has no bash."""
    lines = []
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) >= 7:
            fields[6] = "/bin/sh"
        lines.append(":".join(fields))
    return "\n".join(lines) + "\n"


def alpine_spec(name: str) -> HostSpec:
    return HostSpec(
        name,
        files={"/etc/passwd": Planted(_root_shell_passwd())},
        extra_sshd_config=f"ChrootDirectory {ROOT}\n",
        network_namespace=True,
        pid_namespace=True,
        setup=(("sh", "-c", UNPACK),),
        services=(
            # Alpine's /etc/init.d/syslog runs `syslogd ${SYSLOGD_OPTS}` (busybox-openrc; its
            # /etc/conf.d/syslog sets SYSLOGD_OPTS="-t"); -n keeps it in the foreground here
            Service("syslogd", ("chroot", ROOT, "/sbin/syslogd", "-n", "-t"),
                    ready_path=f"{ROOT}/dev/log"),
            Service("syslog-sshd", SYSLOG_SSHD_ARGV, ready_port=2222),
            Service("crond", ("chroot", ROOT, "/usr/sbin/crond", "-f", "-c", "/etc/crontabs")),
            Service("db", ("chroot", ROOT, "/usr/bin/nc", "-lk", "-p", "5432", "-e", "/bin/cat"),
                    ready_port=5432),
        ),
    )


@pytest.fixture(scope="module")
def results(sshd_fleet: FleetOpener) -> Iterator[dict[str, dict[str, Any]]]:
    if not FIXTURE.is_file():
        pytest.skip(f"{FIXTURE} is missing")
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == FIXTURE_SHA256
    with sshd_fleet("alpine", namespaces=True) as (fleet, tmp):
        host = fleet.start(alpine_spec("alpine"))
        probe = host.run(["chroot", ROOT, "/bin/sh", "-c", "readlink /bin/sh; command -v ss lsblk sshd"])
        assert probe.stdout.split() == ["/bin/busybox"], probe
        # Real sshd login records through busybox syslogd: a key login and an unknown user
        assert host.run([*CLIENT, "root@127.0.0.1", "true"]).returncode == 0
        host.run([*CLIENT, "nosuchuser@127.0.0.1", "true"])
        logged = host.run(["grep", "-c", "sshd", f"{ROOT}/var/log/messages"])
        assert int(logged.stdout or 0) >= 2, logged
        inventory = write_inventory(tmp / "inventory.yaml",
                                    fleet_hosts(fleet, {"backups": {"paths": ["/var/backups"]}}))
        done = audit(inventory, tmp / "reports", None)
        assert done.result.rc in (0, 1), done.result.stderr
        (only,) = done.report["hosts"]
        yield {r["check"]: r for r in only["results"]}


# What each built-in check says on the stock Alpine 3.20 userland above (status, a phrase of
# its summary). Before the portable probes (issue 12 item 5), admin_change_audit, auth_logging
# and monitoring said "the process list is empty (no ps header)" (busybox ps has no -w/-o
# widths) and db_network_restricted "ss: not found".
EXPECTED: dict[str, tuple[str, str]] = {
    # busybox ps fallback: the process list is read from /proc, and no auditd runs here
    "admin_change_audit": ("fail", "auditd is not running"),
    "app_data_encryption": ("skip", "no application database configured"),
    "app_password_hashing": ("skip", "no application database configured"),
    # busybox syslogd writes every facility to /var/log/messages, where sshd's records are read
    # (with busybox's "auth.info" field). Before: "no syslog daemon (rsyslogd, syslog-ng) or
    # systemd-journald is running", a false alarm on every stock Alpine host
    "auth_logging": ("pass", "recorded by busybox syslogd → /var/log/messages (every facility, auth and "
                             "authpriv included); all "),
    # a site script in Alpine's /etc/crontabs/root (reached through the stock link
    # /var/spool/cron/crontabs) runs tar, and its archive is fresh: crontab owner/mode from
    # stat(1) and artefact ages from `find -exec stat` (busybox find has no -printf). Before:
    # "cron ignores /var/spool/cron/crontabs/root: a user crontab must have mode 600, not 0"
    "backups": ("pass", "daily backup job: tar in /var/spool/cron/crontabs/root:9 (user root) through "
                        "/usr/local/sbin/site-backup, daily at 02:30; newest backup is 0.0 h old"),
    "data_residency": ("manual", "DMI names no cloud this check knows"),
    "data_retention": ("skip", "no application table configured"),
    # /proc/net/tcp6 + /proc/<pid>/fd: busybox nc on [::]:5432, its owner named
    "db_network_restricted": ("fail", "port 5432 (PostgreSQL) (nc) listens on [::]:5432"),
    # the chroot's root is a tmpfs: no local disk to judge (lsblk missing, sysfs read)
    "disk_encryption": ("skip", "no file system here is stored on a local disk"),
    # no logrotate in the minirootfs; busybox syslogd's defaults rotate by size (-s 200 -b 1).
    # Before: "no logrotate configuration and journald keeps nothing across reboots"
    "log_retention": ("fail", "rotates it at 200 KB and keeps 1 old copy (-s 200 -b 1): by size alone, "
                              "at most 400 KB, not 60 days"),
    # no systemctl (printf, not busybox echo, for its marker line) and no agent running
    "monitoring": ("fail", "no monitoring agent"),
    "password_hashing": ("pass", "no account has a usable password"),
    # busybox find has no -printf or -readable; the scan lists with -print and tests in the shell.
    # Before: "no log file or shell history found to scan" (find failed; /var/log was not read)
    "passwords_not_logged": ("pass", "scanned 1 file(s) (0 compressed), no password found"),
    "ssh_hardening": ("skip", "no OpenSSH server (sshd) installed"),
    "tls": ("skip", "no TLS endpoint configured"),
}


def test_every_check_runs_on_alpine(results):
    # Given the whole built-in catalogue run against the busybox userland
    # Then every check is there and none failed its batch or read an empty process list
    assert sorted(results) == sorted(EXPECTED)
    for check, got in results.items():
        assert "did not complete" not in got["summary"], (check, got["summary"])
        assert "process list is empty" not in got["summary"], (check, got["summary"])
        assert "not found" not in got["summary"], (check, got["summary"])


@pytest.mark.parametrize("check", sorted(EXPECTED))
def test_each_check_says_what_is_recorded(results, check):
    # Given the check's result on the Alpine host
    got = results[check]
    status, phrase = EXPECTED[check]
    # Then its status and summary are the ones recorded for this userland
    assert (got["status"], phrase in got["summary"]) == (status, True), got["summary"]


def test_the_process_list_comes_from_proc(results):
    # Given busybox ps, which cannot print the columns the checks ask for
    # Then db_network_restricted still names the listener's process, read from /proc/<pid>/fd
    got = results["db_network_restricted"]
    assert "(nc)" in got["summary"], got


def test_sshd_login_records_are_read_from_busybox_syslogd(results):
    # Given the key login and the unknown user's attempt made to the syslog-logging sshd
    got = results["auth_logging"]
    # Then auth_logging read them from /var/log/messages, each with its date, time, user and source IP
    assert got["values"]["records_by_service"].get("sshd", 0) >= 2, got
    assert got["values"]["records_missing_fields"] == 0, got
    assert "sshd) carry the date, time, user and source IP" in got["summary"], got["summary"]


def test_the_oldest_log_and_the_scan_read_busybox_find_and_stat(results):
    # Given busybox find (no -printf, no -readable) and busybox stat
    # Then log_retention found the log file and its age, and passwords_not_logged scanned it
    assert results["log_retention"]["values"]["oldest_log_days"] is not None, results["log_retention"]
    assert results["passwords_not_logged"]["values"]["files_scanned"] >= 1, results["passwords_not_logged"]

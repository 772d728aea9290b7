"""auth_logging's verdicts for the ways busybox syslogd is run (Alpine's logger): its options
decide whether login records are kept on this host at all. The process list is the /proc
reader's header with a `# syslogd` row as SYSLOGD_SCRIPT prints it; the records are what the
records probe printed in an Alpine 3.20 chroot with busybox syslogd running (lines sent with
busybox logger in sshd's format)."""

from __future__ import annotations

import subprocess

import pytest

from auditor.check import Outputs, ProbeOutput, Result, Status
from auditor.engine import registry
from auditor.parsers.files import HEADER
from checks.auth_logging import NOT_LOGINS

PS_HEADER = f"{'PID':>10} {'USER':<32} {'COMM':<64} ARGS\n"
RECORDS = """now\t1796581316
utc_offset\t+0000
machine_id\t
ssh_connection\t
uid\t0
file\t/var/log/auth.log\tmissing
file\t/var/log/secure\tmissing
file\t/var/log/messages\tok\t1796581315
count\t/var/log/messages\t2
rec\t/var/log/messages\tDec  6 18:20:38 vm auth.info sshd[123]: Accepted password for root from 10.0.0.1 \
port 2222 ssh2
rec\t/var/log/messages\tDec  6 18:20:38 vm authpriv.info sshd[123]: pam_unix(sshd:session): session opened \
for user root(uid=0) by (uid=0)
"""
NO_FILE = """now\t1796581316
utc_offset\t+0000
uid\t0
file\t/var/log/auth.log\tmissing
file\t/var/log/secure\tmissing
file\t/var/log/messages\tmissing
"""


def judge(args: str, records: str = RECORDS, config: str = "") -> Result:
    check = registry.load(plugins=False).checks["auth_logging"]
    syslogd = "# syslogd\t5\t/bin/busybox\t" + "\t".join(args.split()) + "\t\n"
    stdouts = {"processes": PS_HEADER + "# 7 processes\n" + syslogd, "rsyslog_conf": config,
               "records": records, "clock": "unknown\n"}
    outputs = Outputs({p.name: ProbeOutput(p.name, stdouts.get(p.name, ""), "", 0, None)
                       for p in check.probes})
    return check.judge(outputs, check.default_params(), crash=True)


def test_stock_alpine_syslogd_records_every_facility_in_var_log_messages():
    # Given busybox syslogd run as Alpine's init script runs it (SYSLOGD_OPTS="-t")
    got = judge("/sbin/syslogd -t")
    # Then the login records in /var/log/messages are the evidence, and the check passes
    assert got.status is Status.PASS, got
    assert "busybox syslogd → /var/log/messages (every facility" in got.summary


@pytest.mark.parametrize(("args", "records", "status", "phrase"), [
    ("/sbin/syslogd -C128", NO_FILE, Status.FAIL, "only in a shared-memory ring buffer (-C"),
    ("/sbin/syslogd -l 5", RECORDS, Status.FAIL, "logs only priorities more urgent than 5 (-l)"),
    ("/sbin/syslogd -R 10.0.0.9:514", NO_FILE, Status.MANUAL, "login records go to 10.0.0.9:514"),
    ("/sbin/syslogd -f /etc/alt-syslog.conf", RECORDS, Status.ERROR,
     "reads its rules from /etc/alt-syslog.conf"),
])
def test_options_that_keep_no_login_record_here(args, records, status, phrase):
    # Given busybox syslogd run with an option that keeps records elsewhere, briefly or not at all
    got = judge(args, records)
    # Then the verdict says so
    assert got.status is status, got
    assert phrase in got.summary, got.summary


def test_syslog_conf_rules_route_auth_like_rsyslog_legacy_lines():
    # Given an /etc/syslog.conf that sends auth and authpriv to their own file, and nothing else
    config = f"\n{HEADER}/etc/syslog.conf\nauth,authpriv.*\t/var/log/auth.log\n"
    got = judge("/sbin/syslogd -t", NO_FILE, config)
    # Then busybox syslogd is credited with that file, which holds no record here
    assert got.status is Status.FAIL, got
    assert "busybox syslogd → /var/log/auth.log (auth,authpriv)" in got.summary
    # And with only *.info;auth.none it routes auth nowhere
    config = f"\n{HEADER}/etc/syslog.conf\n*.info;auth,authpriv.none\t/var/log/messages\n"
    got = judge("/sbin/syslogd -t", RECORDS, config)
    assert "busybox syslogd runs but routes auth,authpriv.info to no file" in got.summary, got.summary


def test_cron_sessions_are_no_logins_on_debian_or_rhel():
    # Given session lines of Debian's cron and RHEL's cronie (crond), and an sshd login
    lines = ["Dec  6 03:10:01 web CRON[4242]: pam_unix(cron:session): session opened for user root(uid=0) by "
             "(uid=0)",
             "Dec  6 03:10:01 rocky crond[812]: pam_unix(crond:session): session opened for user root by "
             "(uid=0)",
             "Dec  6 03:11:07 rocky sshd[990]: Accepted publickey for ops from 10.0.0.7 port 50122 ssh2"]
    # When the records probe's filters run (grep -E, as on the host)
    kept = subprocess.run(["grep", "-a", "-v", "-E", NOT_LOGINS], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, check=False).stdout.splitlines()
    # Then only the sshd login remains
    assert kept == lines[2:]


def test_the_syslogd_row_is_read_from_the_records_as_from_the_process_list_before():
    # Given the same busybox syslogd row where earlier versions put it (the process list) and
    # where the records probe prints it now (the process list is shared with other checks)
    check = registry.load(plugins=False).checks["auth_logging"]
    row = "# syslogd\t5\t/bin/busybox\t/sbin/syslogd\t-t\t\n"
    shapes = {"before": {"processes": PS_HEADER + "# 7 processes\n" + row, "records": RECORDS},
              "today": {"processes": PS_HEADER + "# 7 processes\n", "records": RECORDS + row}}
    results = {}
    for shape, stdouts in shapes.items():
        printed = {**stdouts, "clock": "unknown\n"}
        outputs = Outputs({p.name: ProbeOutput(p.name, printed.get(p.name, ""), "", 0, None)
                           for p in check.probes})
        # When each is judged
        results[shape] = check.judge(outputs, check.default_params(), crash=True)
    # Then both pass with the same summary, naming busybox syslogd's file
    assert results["before"].status is results["today"].status is Status.PASS
    assert results["before"].summary == results["today"].summary
    assert "busybox syslogd → /var/log/messages" in results["today"].summary

"""auditor.parsers.syslog: rsyslog routing and authentication log records.

The record lines below are copied from logs written by a real sshd 9.2, rsyslogd 8.2302,
PAM, su and sudo (tests/checks/auth_logging/make_auth_logs.py), with the invalid user's
name masked as the auth_logging probe masks it.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from auditor.parsers.syslog import parse_auth_record, parse_rsyslog, selector_matches

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(("selector", "facility", "priority", "expected"), [
    ("auth,authpriv.*", "authpriv", "info", True),
    ("auth,authpriv.*", "auth", "debug", True),
    ("*.*;auth,authpriv.none", "auth", "info", False),
    ("*.*;auth,authpriv.none", "kern", "info", True),
    ("*.info;mail.none;authpriv.none;cron.none", "auth", "info", True),
    ("*.info;mail.none;authpriv.none;cron.none", "authpriv", "info", False),
    ("authpriv.warning", "authpriv", "info", False),
    ("authpriv.=info", "authpriv", "info", True),
    ("authpriv.=info", "authpriv", "notice", False),
    ("auth.*;auth.!info", "auth", "info", False),
    ("auth.*;auth.!info", "auth", "err", False),
    ("security.*", "auth", "info", True),
    ("garbage", "auth", "info", False),
])
def test_selector_matches(selector: str, facility: str, priority: str, expected: bool) -> None:
    # Given a legacy selector / When asked about a facility and priority / Then rsyslog's answer
    assert selector_matches(selector, facility, priority) is expected


def targets(config_files: dict[str, str], facility: str = "authpriv") -> list[tuple[str, str]]:
    config = parse_rsyslog(config_files)
    return [(a.kind, a.target) for a in config.destinations(facility)]


def test_debian_style_legacy_rules_with_include() -> None:
    # Given Debian's layout: the main file includes rsyslog.d, which holds the auth rule
    files = {
        "/etc/rsyslog.conf": ("$IncludeConfig /etc/rsyslog.d/*.conf\n"
                              "*.*;auth,authpriv.none\t-/var/log/syslog\n"),
        "/etc/rsyslog.d/50-default.conf": "auth,authpriv.*\t\t/var/log/auth.log\n",
        "/etc/rsyslog.d/README": "auth.* /var/log/not-a-conf-file\n",
    }
    # When authpriv is routed / Then it reaches auth.log only (README is not a .conf)
    assert targets(files) == [("file", "/var/log/auth.log")]
    assert parse_rsyslog(files).files_read == ["/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"]


def test_rainerscript_prifilt_block_and_multiline_action() -> None:
    files = {
        "/etc/rsyslog.conf": ('module(load="imuxsock")\n'
                              'include(file="/etc/rsyslog.d/*.conf" mode="optional")\n'),
        "/etc/rsyslog.d/10-auth.conf": ('if prifilt("auth,authpriv.*") then {\n'
                                        '    action(type="omfile"\n           file="/var/log/secure")\n}\n'),
    }
    assert targets(files) == [("file", "/var/log/secure")]


def test_facility_comparison_condition_and_stop() -> None:
    files = {"/etc/rsyslog.conf": (
        "if $syslogfacility-text == 'authpriv' then {\n"
        "  action(type=\"omfwd\" target=\"10.0.0.9\")\n  stop\n}\n"
        "authpriv.* /var/log/never-reached.log\n"
        "auth.* /var/log/auth-only.log\n")}
    # authpriv goes to the remote host and stops; auth goes on to the file
    assert targets(files, "authpriv") == [("remote", "10.0.0.9")]
    assert targets(files, "auth") == [("file", "/var/log/auth-only.log")]


def test_ampersand_continuation_and_tilde_discard() -> None:
    files = {"/etc/rsyslog.conf": "auth.* /var/log/a.log\n& ~\nauth.* /var/log/b.log\n"}
    assert targets(files, "auth") == [("file", "/var/log/a.log")]


def test_rules_in_an_unbound_ruleset_do_not_see_local_messages() -> None:
    files = {"/etc/rsyslog.conf": ('ruleset(name="remote") {\n  auth,authpriv.* /var/log/remote-auth.log\n}\n'
                                   'input(type="imtcp" port="514" ruleset="remote")\n')}
    assert targets(files) == []
    bound = {"/etc/rsyslog.conf": files["/etc/rsyslog.conf"].replace("imtcp", "imuxsock")}
    assert targets(bound) == [("file", "/var/log/remote-auth.log")]


def test_uninterpreted_conditions_and_missing_includes_are_noted() -> None:
    files = {"/etc/rsyslog.conf": ('if $programname == "sshd" then /var/log/sshd.log\n'
                                   ':msg, contains, "sshd" /var/log/x.log\n'
                                   "$IncludeConfig /etc/rsyslog.d/*.conf\n")}
    notes = parse_rsyslog(files).notes
    assert any("is not interpreted" in n and "$programname" in n for n in notes)
    assert any("property filter" in n for n in notes)
    assert any("matched no file" in n for n in notes)
    assert targets(files) == []


def test_include_cycle_is_read_once() -> None:
    files = {"/etc/rsyslog.conf": "$IncludeConfig /etc/rsyslog.conf\nauth.* /var/log/a.log\n"}
    assert targets(files, "auth") == [("file", "/var/log/a.log")]


def test_no_main_file_routes_nothing() -> None:
    assert targets({}) == []


# -- records ------------------------------------------------------------------------------


def test_rfc3339_accepted_publickey() -> None:
    line = ("2026-11-21T10:45:35.010494+00:00 vm sshd[36]: Accepted publickey for root from 127.0.0.1 "
            "port 51500 ssh2: ED25519 SHA256:fvZvRz/66ThWn2wuz6YaDAGVXS5F33rvFznFWmiOkxc")
    record = parse_auth_record(line, NOW)
    assert record is not None
    assert (record.event, record.user, record.source, record.port, record.pid) == (
        "accepted", "root", "127.0.0.1", 51500, "36")
    assert record.has_date and record.has_time and record.network and record.source_is_ip
    expected = dt.datetime(2026, 11, 21, 10, 45, 35, 10494, tzinfo=dt.UTC).timestamp()
    assert record.epoch == pytest.approx(expected)


def test_rfc3164_failed_password_ipv6_takes_the_year_from_now() -> None:
    record = parse_auth_record(
        "Nov 21 10:46:06 vm sshd[178]: Failed password for root from ::1 port 56392 ssh2", NOW)
    assert record is not None
    assert (record.event, record.user, record.source) == ("failed", "root", "::1")
    assert record.epoch == dt.datetime(2026, 11, 21, 10, 46, 6, tzinfo=dt.UTC).timestamp()
    # A December record read in November is last year's
    december = parse_auth_record(
        "Dec 31 23:59:59 vm sshd[1]: Failed password for root from ::1 port 2 ssh2", NOW)
    assert december is not None and december.epoch == dt.datetime(2025, 12, 31, 23, 59, 59,
                                                                   tzinfo=dt.UTC).timestamp()


def test_rfc3164_with_a_local_offset() -> None:
    record = parse_auth_record("Nov 21 11:46:06 vm sshd[1]: Failed password for x from 10.0.0.1 port 2 ssh2",
                               NOW, utc_offset=3600)
    assert record is not None
    assert record.epoch == dt.datetime(2026, 11, 21, 10, 46, 6, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(("line", "event", "user", "source"), [
    ("Nov 21 10:46:07 vm sshd[163]: Invalid user *** from 127.0.0.1 port 52056", "invalid_user", "***",
     "127.0.0.1"),
    ("Nov 21 10:46:08 vm sshd[163]: Failed password for invalid user *** from 127.0.0.1 port 52056 ssh2",
     "failed", "***", "127.0.0.1"),
    ("Nov 21 10:46:01 vm sshd[141]: Connection closed by authenticating user root 127.0.0.1 port 51516 "
     "[preauth]",
     "failed", "root", "127.0.0.1"),
    ("Nov 21 10:46:05 vm sshd[159]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
     "euid=0 tty=ssh ruser= rhost=127.0.0.1  user=alice", "pam_failure", "alice", "127.0.0.1"),
    ("Nov 21 10:46:07 vm sshd[163]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
     "euid=0 tty=ssh ruser= rhost=127.0.0.1 ", "pam_failure", None, "127.0.0.1"),
    ("Nov 21 10:46:01 vm sshd[34]: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)",
     "session_opened", "root", None),
    ("Nov 21 10:46:12 vm sudo:     root : PWD=/ ; USER=nobody ; COMMAND=/usr/bin/true", "sudo", "root", None),
    ("Nov 21 10:46:12 vm su[183]: (to nobody) root on none", "su", "root", None),
    ("Nov 21 10:46:12 vm login[9]: FAILED LOGIN (1) on '/dev/tty1' FOR 'UNKNOWN', Authentication failure",
     "login_failed", "UNKNOWN", None),
])
def test_record_kinds(line: str, event: str, user: str | None, source: str | None) -> None:
    record = parse_auth_record(line, NOW)
    assert record is not None
    assert (record.event, record.user, record.source) == (event, user, source)


def test_lines_without_a_timestamp_or_tag() -> None:
    # sshd -E writes neither a timestamp nor a program tag; a template can drop the timestamp
    bare = parse_auth_record("Accepted password for alice from 127.0.0.1 port 41636 ssh2")
    assert bare is not None and (bare.event, bare.has_date, bare.has_time, bare.program) == (
        "accepted", False, False, None)
    nostamp = parse_auth_record("vm sshd[151]: Accepted password for alice from 127.0.0.1 port 51524 ssh2")
    assert nostamp is not None and (nostamp.program, nostamp.pid, nostamp.has_date) == ("sshd", "151", False)
    clock = parse_auth_record("10:05:01 vm sshd[1]: Accepted password for alice from 10.0.0.1 port 5 ssh2")
    assert clock is not None and (clock.has_date, clock.has_time) == (False, True)


def test_a_host_name_is_not_an_ip() -> None:
    record = parse_auth_record("Nov 21 10:46:05 vm sshd[1]: pam_unix(sshd:auth): authentication failure; "
                               "logname= uid=0 euid=0 tty=ssh ruser= rhost=gw.example.net  user=alice", NOW)
    assert record is not None and record.source == "gw.example.net" and not record.source_is_ip


@pytest.mark.parametrize("line", [
    "Nov 21 10:46:00 vm sshd[30]: Server listening on ::1 port 45839.",
    "Nov 21 10:46:01 vm sshd[34]: pam_unix(sshd:session): session closed for user root",
    "Nov 21 10:46:07 vm sshd[163]: pam_unix(sshd:auth): check pass; user unknown",
    "Nov 21 09:00:01 vm sshd[9]: Failed password for",
    "",
    "\\xff\\xfe garbage",
])
def test_lines_that_are_no_login_attempt(line: str) -> None:
    assert parse_auth_record(line, NOW) is None


AUTH_CASES = Path(__file__).resolve().parents[2] / "checks" / "auth_logging"


def generator_secrets() -> dict[str, str]:
    """The secrets make_auth_logs.py plants in the records (read from its source, not run)."""
    wanted = ("INVALID_USER", "ALICE_PASSWORD", "WRONG_PASSWORD", "SUDO_SECRET")
    tree = ast.parse((AUTH_CASES / "make_auth_logs.py").read_text())
    return {target.id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets if isinstance(target, ast.Name) and target.id in wanted}


def test_no_recorded_auth_logging_case_holds_a_planted_secret() -> None:
    # Given the recorded auth_logging cases, made from real records that hold a password
    # typed as a user name and one on a sudo command line (curl -u admin:...)
    secrets = generator_secrets()
    assert set(secrets) == {"INVALID_USER", "ALICE_PASSWORD", "WRONG_PASSWORD", "SUDO_SECRET"}
    cases = sorted(AUTH_CASES.glob("*.yaml"))
    text = {case.name: case.read_text(encoding="utf-8") for case in cases}
    # Then the probe masked both on the host: neither is in any case, while the sudo
    # records themselves (who, as whom, when) were kept
    assert cases
    for name, body in text.items():
        for what, secret in secrets.items():
            assert secret not in body, f"{name} holds {what}"
    assert any("COMMAND=***" in body for body in text.values())

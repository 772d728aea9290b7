"""What the terminal shows: the host × check table fits it (as is, transposed, or with numbered
columns); a mistyped flag shows its subcommand's usage; keygen says how to use the key."""

import io

from auditor.check import Status
from auditor.model import CheckInfo, CheckResult, HostReport, RunReport
from auditor.report import console

CHECK_IDS = ("app_password_hashing", "passwords_not_logged", "db_network_restricted", "admin_change_audit")


def report(host_names, check_ids=CHECK_IDS):
    checks = tuple(CheckInfo(cid, cid, (), (), "") for cid in check_ids)
    statuses = list(Status)
    hosts = tuple(
        HostReport(name, "127.0.0.1", "local", True, None, None, {},
                   tuple(CheckResult(cid, cid, statuses[(h + c) % len(statuses)], "s")
                         for c, cid in enumerate(check_ids)), 1.0)
        for h, name in enumerate(host_names))
    return RunReport("r1", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "1", "me@here", "inv.yaml",
                     "0" * 64,
                     checks, hosts, True)


def table(run, width):
    return console.host_check_table(run, colour=False, width=width)


def test_a_table_that_fits_has_hosts_as_rows():
    # Given two hosts and four long check ids (about 100 columns)
    run = report(["web1", "db1"])
    # When the terminal is wide enough
    lines = table(run, 200)
    # Then the hosts are rows and the checks columns, as always
    assert lines[0].split() == ["host", *CHECK_IDS]
    assert lines[1].split() == ["web1", "pass", "fail", "error", "skip"]
    assert lines[2].split() == ["db1", "fail", "error", "skip", "manual"]


def test_a_table_wider_than_the_terminal_is_transposed():
    # Given the same run on an 80-column terminal
    run = report(["web1", "db1"])
    assert max(len(line) for line in table(run, 200)) > 80
    # When the table is printed
    lines = table(run, 80)
    # Then the checks are rows and the hosts columns, and every line fits
    assert lines[0].split() == ["check", "web1", "db1"]
    assert lines[1].split() == ["app_password_hashing", "pass", "fail"]
    assert lines[4].split() == ["admin_change_audit", "skip", "manual"]
    assert max(len(line) for line in lines) <= 80


def test_when_neither_fits_checks_are_numbered_with_a_legend():
    # Given more hosts than fit across and more long checks than fit across
    hosts = [f"host{n:02}" for n in range(12)]
    run = report(hosts)
    # When the table is printed on a 60-column terminal
    lines = table(run, 60)
    # Then the checks are numbered columns, hosts rows, and a legend names each number
    assert lines[0].split() == ["host", "1", "2", "3", "4"]
    assert lines[1].split() == ["host00", "pass", "fail", "error", "skip"]
    legend = lines[lines.index("checks:") + 1:]
    assert [line.split() for line in legend] == [[str(n + 1), "=", cid] for n, cid in enumerate(CHECK_IDS)]
    assert max(len(line) for line in lines) <= 60


def test_the_run_command_fits_its_table_to_columns(tmp_path, cli):
    # Given two local hosts audited by every shipped check (a table over 200 columns wide)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  here:\n    transport: local\n  there:\n    transport: local\n")
    # When the run prints its table for a 120-column terminal
    done = cli("run", "-i", str(inventory), "-o", str(tmp_path / "out"), "--no-history",
               env={"COLUMNS": "120"})
    # Then the table is transposed and no line of it is wider than the terminal
    assert done.rc in (1, 3), done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["check", "here", "there"], done.stdout
    # (a finding on both hosts begins "here, there (2 hosts) ...")
    table_end = next(i for i, ln in enumerate(lines) if ln.split()[0].rstrip(",") in ("here", "there"))
    table_lines = lines[:table_end]
    assert len(table_lines) > 10 and max(len(line) for line in table_lines) <= 120


def test_the_summary_prints_the_fitted_table_first():
    # Given a run whose table is too wide for 80 columns
    run = report(["web1", "db1"])
    out = io.StringIO()
    # When the summary is printed for that width
    console.summary(run, out, colour=False, width=80)
    # Then it starts with the transposed table, followed by the fails and errors and the totals
    lines = out.getvalue().splitlines()
    assert lines[:5] == table(run, 80)
    assert "web1 passwords_not_logged: fail: s" in lines and lines[-1].startswith("2 host(s), ")


def test_a_mistyped_flag_shows_the_subcommands_usage(cli):
    # When a run flag is mistyped
    done = cli("run", "--formt", "json")
    # Then run's own usage and options are shown, not the top-level list of commands
    assert done.rc == 2
    assert done.stderr.startswith("usage: auditor run "), done.stderr
    assert "[--format {table,json,junit,csv,oscal,none}]" in done.stderr
    assert "auditor run: error: unrecognized arguments: --formt json" in done.stderr
    # And so for a nested subcommand
    nested = cli("claims", "show", "--bogus")
    assert nested.rc == 2 and nested.stderr.startswith("usage: auditor claims show "), nested.stderr


def test_keygen_says_how_to_use_the_key(tmp_path, cli):
    # When a key is made somewhere else than the default place
    key = tmp_path / "keys" / "audit signing.pem"
    done = cli("keygen", "--out", str(key))
    # Then the output says how runs sign with it and how a pack is checked against it
    assert done.rc == 0, done.stderr
    fingerprint = done.stdout.split("fingerprint: ")[1].split()[0]
    assert f"auditor run --sign-key '{key}'" in done.stdout
    assert f"export AUDITOR_SIGNING_KEY='{key}'" in done.stdout
    assert f"auditor verify RUN --key-fingerprint {fingerprint}" in done.stdout
    # And a key made in the default place is said to be used by default
    default = cli("keygen", env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert default.rc == 0, default.stderr
    assert "auditor run signs with it by default" in default.stdout


def fleet_with_one_finding(names, summary):
    """Hosts that all fail ssh_hardening the same way, and pass backups."""
    checks = (CheckInfo("ssh_hardening", "SSH", (), (), ""), CheckInfo("backups", "Backups", (), (), ""))
    hosts = tuple(HostReport(name, "127.0.0.1", "local", True, None, None, {},
                             (CheckResult("ssh_hardening", "SSH", Status.FAIL, summary),
                              CheckResult("backups", "Backups", Status.PASS, "fresh")), 1.0)
                  for name in names)
    return RunReport("r1", "t", "t", "1", "me@here", "inv.yaml", "0" * 64, checks, hosts, True)


def test_a_finding_shared_by_100_hosts_prints_once_with_host_ranges_wrapped_to_the_width():
    # Given 100 local hosts (web-01..web-97, db-01..db-03) sharing one long failure
    names = [f"web-{n:02d}" for n in range(1, 98)] + ["db-01", "db-02", "db-03"]
    reason = "PasswordAuthentication is yes in /etc/ssh/sshd_config: " + "weak " * 30
    run = fleet_with_one_finding(names, reason.strip())
    out = io.StringIO()
    # When the summary is printed for 80 columns
    console.summary(run, out, colour=False, width=80)
    lines = out.getvalue().splitlines()
    # Then the finding is printed once, naming the hosts as ranges, and wrapped within 80 columns
    finding = [i for i, line in enumerate(lines) if "ssh_hardening: fail:" in line]
    assert len(finding) == 1
    first = lines[finding[0]]
    assert first == "web-01..web-97, db-01..db-03 (100 hosts) ssh_hardening: fail:"
    continuation = lines[finding[0] + 1:-1]
    assert continuation and all(line.startswith("    ") for line in continuation)
    assert " ".join(line.strip() for line in [first, *continuation]).endswith(reason.strip())
    assert max(len(line) for line in lines[finding[0]:]) <= 80
    assert lines[-1].startswith("100 host(s), ")


def test_different_findings_print_worst_first_and_host_output_cannot_drive_the_terminal():
    # Given two hosts failing one way, a third another way, with an escape sequence in its output
    run = fleet_with_one_finding(["a1", "a2", "b"], "same")
    hosts = list(run.hosts)
    odd = CheckResult("ssh_hardening", "SSH", Status.ERROR, "odd \x1b]0;owned\x07 output")
    hosts[2] = HostReport("b", "127.0.0.1", "local", True, None, None, {}, (odd,), 1.0)
    run = RunReport("r1", "t", "t", "1", "me@here", "inv.yaml", "0" * 64, run.checks, tuple(hosts), True)
    out = io.StringIO()
    # When printed in colour
    console.summary(run, out, colour=True, width=100)
    text = out.getvalue()
    # Then the failure (high) comes before the error, each once, only our own colour codes get through
    # (the host's escape sequence is shown as text, as every report shows it: report/visible.py)
    assert text.index("a1..a2 (2 hosts) ssh_hardening: \033[31mfail\033[0m: same") < text.index(
        "b ssh_hardening: \033[33merror\033[0m: odd \\x1b]0;owned\\x07 output")
    assert "\x07" not in text and "\033]" not in text


def test_in_a_pipe_without_columns_a_finding_stays_on_one_line(monkeypatch):
    # Given output to a pipe (not a terminal) with no $COLUMNS, and a long failure with a line break
    monkeypatch.delenv("COLUMNS", raising=False)
    long_reason = "first part\nweb-09 backups: fail: forged " + "x" * 150
    run = fleet_with_one_finding(["web-01", "web-02"], long_reason)
    out = io.StringIO()
    # When the summary is printed with the width left to the terminal
    console.summary(run, out, colour=False)
    lines = out.getvalue().splitlines()
    # Then the finding is one whole line, for grep, and the forged line is not a line of its own
    found = [line for line in lines if "ssh_hardening: fail:" in line]
    assert found == ["web-01..web-02 (2 hosts) ssh_hardening: fail: first part web-09 backups: fail: forged "
                     + "x" * 150]
    assert not any(line.startswith("web-09") for line in lines)

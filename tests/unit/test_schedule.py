"""The scheduling kit: the printed systemd units pass `systemd-analyze verify`, and the cron
line is read as daily by the project's own cron parser."""

from __future__ import annotations

import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor import schedule
from auditor.parsers import schedules
from tests.conftest import run_cli

HARDENING = ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=read-only",
             "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX")


def a_user() -> str:
    """An existing, ordinary system account (systemd-analyze checks that User= exists)."""
    for name in ("www-data", "postgres", "daemon"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("no ordinary system account to name in User=")


def test_systemd_units_verify_and_are_hardened(tmp_path):
    # Given the units printed for a report folder and an inventory
    user = a_user()
    service = run_cli("schedule", "--print", "systemd-service", "-i", "/etc/auditor/inventory.yaml",
                      "-o", "/var/lib/auditor/reports", "--user", user)
    timer = run_cli("schedule", "--print", "systemd-timer")
    weekdays = run_cli("schedule", "--print", "systemd-timer", "--on-calendar", "Mon..Fri 02:30")
    assert service.rc == 0 and timer.rc == 0, service.stderr + timer.stderr
    # Then the service runs auditor quietly as its own user with a read-only system and one writable folder
    text = service.stdout
    assert f"User={user}\n" in text and "ReadWritePaths=/var/lib/auditor/reports\n" in text
    assert all(line in text for line in HARDENING), text
    assert "run --inventory /etc/auditor/inventory.yaml --output /var/lib/auditor/reports --quiet" in text
    # And it "fails" only on a regression, not every night while an old failure persists
    assert " --baseline previous --fail-on new\n" in text
    # And `systemctl stop` interrupts it like Ctrl-C, so a stopped run still writes its partial report
    assert "KillSignal=SIGINT\n" in text
    # And the timer catches up after downtime and spreads its start
    assert "OnCalendar=daily\n" in timer.stdout and "Persistent=true\n" in timer.stdout
    assert "RandomizedDelaySec=30min\n" in timer.stdout
    # And our own timer parser reads the default as daily, and --on-calendar as given
    daily = schedules.timer_schedule(schedules.unit_values([timer.stdout]))
    assert daily.fires_every(24) and daily.describe() == "daily at 00:00"
    custom = schedules.timer_schedule(schedules.unit_values([weekdays.stdout]))
    assert custom.describe() == "on Mon–Fri at 02:30"
    # When systemd-analyze verifies both files
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt install systemd)")
    (tmp_path / "auditor.service").write_text(text)
    (tmp_path / "auditor.timer").write_text(timer.stdout)
    # (a timer of another name must say which service it starts)
    named = weekdays.stdout.replace("[Install]", "[Timer]\nUnit=auditor.service\n\n[Install]")
    (tmp_path / "weekdays.timer").write_text(named)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "auditor.service"),
                           str(tmp_path / "auditor.timer"), str(tmp_path / "weekdays.timer")],
                          capture_output=True, text=True, timeout=60)
    # Then it accepts them without a single complaint (it exits 0 even for ignored settings)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_systemd_analyze_does_complain_about_a_broken_unit(tmp_path):
    # Given the same service with one setting broken: proof that the check above can fail
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = schedule.systemd(schedule.Plan(Path("/i.yaml"), Path("/r"), a_user()))["auditor.service"]
    (tmp_path / "auditor.service").write_text(text.replace("ProtectSystem=strict", "ProtectSystem=bogus"))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "auditor.service")],
                          capture_output=True, text=True, timeout=60)
    assert "bogus" in done.stderr


def test_the_cron_line_is_daily_to_our_own_parser():
    # Given the cron.d text for a daily audit
    done = run_cli("schedule", "--print", "cron", "-i", "/etc/auditor/inv.yaml", "-o", "/var/lib/auditor/r")
    assert done.rc == 0
    jobs, problems = schedules.parse_crontab(done.stdout, "/etc/cron.d/auditor", None)
    # Then it is one job, run as the auditor user, daily, quietly, exiting non-zero only on regressions
    assert problems == [] and len(jobs) == 1
    (job,) = jobs
    assert job.user == "auditor" and job.schedule.fires_every(24)
    assert job.schedule.describe() == "daily at 02:17" and job.command.startswith("/")
    assert " run --inventory /etc/auditor/inv.yaml --output /var/lib/auditor/r --quiet " in job.command
    assert job.command.endswith(" --baseline previous --fail-on new")
    # And its output is not redirected: cron mails what --quiet prints (nothing when all is well)
    assert ">" not in job.command


def test_paths_are_quoted_for_systemd_and_the_shell():
    # Given paths with a space, a percent sign and a dollar
    plan = schedule.Plan(Path("/srv/my audits/inv%1.yaml"), Path("/srv/out$dir"), "auditor",
                         binary="/opt/a/auditor")
    service = schedule.systemd(plan)["auditor.service"]
    line = schedule.cron(plan).splitlines()[-1]
    # Then systemd sees % and $ doubled and the spaced path quoted; cron sees % escaped and sh-quoting
    assert '"/srv/my audits/inv%%1.yaml"' in service and "ReadWritePaths=/srv/out$$dir" in service
    assert "'/srv/my audits/inv\\%1.yaml'" in line and "'/srv/out$dir'" in line
    job = schedules.parse_cron_line(line, "/etc/cron.d/auditor", None)
    assert job is not None and "/srv/my audits/inv%1.yaml" in job.command


@pytest.mark.parametrize(("args", "message"), [
    (("--print", "cron", "--on-calendar", "Mon 02:00"), "for cron use one of"),
    (("--print", "systemd", "--user", "root; rm -rf /"), "not a valid user name"),
    (("--print", "systemd", "--on-calendar", "daily\nExecStartPre=/bin/sh"), "not a systemd calendar"),
    (("--print", "systemd", "--binary", "venv/bin/auditor"), "absolute path"),
    (("--print", "cron", "--notify", "webhook:https://h.example.test/a b"), "space or a control"),
    (("--print", "notify-env",), "needs the targets"),
])
def test_bad_schedule_options_are_usage_errors(args, message):
    done = run_cli("schedule", *args)
    assert done.rc == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_binary_and_notify_targets_reach_the_units_without_leaking_the_secret(tmp_path):
    # Given a schedule with an explicit program and two alert targets, one with a secret path
    program = tmp_path / "opt" / "auditor"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    hook = "webhook:https://hooks.example.test/services/T0/B0/Planted-Hook-Token-7"
    mail = "smtp://mail.example.test:25?to=ops@example.test&from=auditor@example.test"
    args = ("-i", "/etc/auditor/inv.yaml", "-o", "/var/lib/auditor/r", "--binary", str(program),
            "--notify", hook, "--notify", mail)
    service = run_cli("schedule", "--print", "systemd-service", *args)
    env = run_cli("schedule", "--print", "notify-env", *args)
    cron = run_cli("schedule", "--print", "cron", *args)
    assert service.rc == 0 and env.rc == 0 and cron.rc == 0, service.stderr + env.stderr + cron.stderr
    # Then ExecStart runs that program, and the targets are in an environment file, not in the unit
    unit, env_file = service.stdout, env.stdout
    assert "--print notify-env" in service.stderr and "Planted-Hook-Token-7" not in service.stderr
    assert f"ExecStart={program} run " in unit
    assert "EnvironmentFile=/etc/auditor/notify.env\n" in unit and "Planted-Hook-Token-7" not in unit
    assert f"AUDITOR_NOTIFY={hook} {mail}\n" in env_file and "0600" in env_file
    # And the cron file carries them as an environment line, and says to keep it 0600
    assert f"AUDITOR_NOTIFY={hook} {mail}\n" in cron.stdout and "0600" in cron.stdout
    jobs, problems = schedules.parse_crontab(cron.stdout, "/etc/cron.d/auditor", None)
    assert problems == [] and jobs[0].command.startswith(f"{program} run ")
    # When systemd-analyze verifies the unit
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    user = a_user()
    text = unit.replace("User=auditor", f"User={user}").replace("Group=auditor", f"Group={user}")
    (tmp_path / "auditor.service").write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "auditor.service")],
                          capture_output=True, text=True, timeout=60)
    # Then the EnvironmentFile= line is accepted (systemd resolves it only when the service starts)
    assert done.returncode == 0 and "EnvironmentFile" not in done.stderr, done.stderr


def test_a_run_takes_its_alert_targets_from_the_environment(tmp_path):
    # Given the targets in $AUDITOR_NOTIFY, as the unit's environment file sets them, and a bad one
    from tests.unit.test_history import audit, make_workspace
    work = make_workspace(tmp_path)
    done, run_dir = audit(work, env={"AUDITOR_NOTIFY": "smtp://mail.example.test:25?to=nobody"})
    # Then the run refuses it before auditing, saying where it came from
    assert done.rc == 2 and run_dir is None and "$AUDITOR_NOTIFY" in done.stderr, done.stderr

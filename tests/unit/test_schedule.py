"""The scheduling kit: the printed systemd units pass `systemd-analyze verify`, and the cron
line is read as daily by the project's own cron parser."""

from __future__ import annotations

import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.parsers import schedules
from auditor.tracking import schedule
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


def an_inventory(folder: Path) -> Path:
    """An inventory the schedule can load (it is read at schedule time): one SSH host."""
    path = folder / "inventory.yaml"
    path.write_text("hosts:\n  web1: {address: 127.0.0.1, port: 2299}\n")
    return path


def test_systemd_units_verify_and_are_hardened(tmp_path):
    # Given the units printed for a report folder and an inventory
    user = a_user()
    inv = an_inventory(tmp_path)
    service = run_cli("schedule", "--print", "systemd-service", "-i", str(inv),
                      "-o", "/var/lib/auditor/reports", "--user", user)
    timer = run_cli("schedule", "--print", "systemd-timer")
    weekdays = run_cli("schedule", "--print", "systemd-timer", "--on-calendar", "Mon..Fri 02:30")
    assert service.rc == 0 and timer.rc == 0, service.stderr + timer.stderr
    # Then the service runs auditor quietly as its own user with a read-only system and one writable folder
    text = service.stdout
    assert f"User={user}\n" in text and "ReadWritePaths=/var/lib/auditor/reports\n" in text
    assert all(line in text for line in HARDENING), text
    assert f"run --inventory {inv} --output /var/lib/auditor/reports --quiet" in text
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
    text = schedule.systemd(schedule.UnitPlan(Path("/i.yaml"), Path("/r"), a_user()))["auditor.service"]
    (tmp_path / "auditor.service").write_text(text.replace("ProtectSystem=strict", "ProtectSystem=bogus"))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "auditor.service")],
                          capture_output=True, text=True, timeout=60)
    assert "bogus" in done.stderr


def test_the_cron_line_is_daily_to_our_own_parser(tmp_path):
    # Given the cron.d text for a daily audit
    inv = an_inventory(tmp_path)
    done = run_cli("schedule", "--print", "cron", "-i", str(inv), "-o", "/var/lib/auditor/r")
    assert done.rc == 0
    jobs, problems = schedules.parse_crontab(done.stdout, "/etc/cron.d/auditor", None)
    # Then it is one job, run as the auditor user, daily, quietly, exiting non-zero only on regressions
    assert problems == [] and len(jobs) == 1
    (job,) = jobs
    assert job.user == "auditor" and job.schedule.fires_every(24)
    assert job.schedule.describe() == "daily at 02:17" and job.command.startswith("/")
    assert f" run --inventory {inv} --output /var/lib/auditor/r --quiet " in job.command
    assert job.command.endswith(" --baseline previous --fail-on new")
    # And its output is not redirected: cron mails what --quiet prints (nothing when all is well)
    assert ">" not in job.command


def test_paths_are_quoted_for_systemd_and_the_shell():
    # Given paths with a space, a percent sign and a dollar
    plan = schedule.UnitPlan(Path("/srv/my audits/inv%1.yaml"), Path("/srv/out$dir"), "auditor",
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
    (("--print", "systemd-timer", "--on-calendar", "dialy"), "dialy"),
    (("--print", "systemd", "-i", "/nonexistent/inv.yaml"), "/nonexistent/inv.yaml: file not found"),
    (("--print", "cron", "--policy", "no-such-policy"), "--policy no-such-policy: no claims file"),
    (("--print", "cron", "--waivers", "/nonexistent/w.yaml"), "/nonexistent/w.yaml: waivers file not found"),
    (("--print", "cron", "--sign-key", "/nonexistent/k.pem"), "--sign-key /nonexistent/k.pem: no such file"),
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
    args = ("-i", str(an_inventory(tmp_path)), "-o", "/var/lib/auditor/r", "--binary", str(program),
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


def test_policy_waivers_and_checks_reach_the_run_and_a_broken_file_is_refused_now(tmp_path):
    # Given a claims file, a waivers file and a checks folder next to an inventory
    from tests.unit.test_diff import AGE_POLICY
    from tests.unit.test_history import make_workspace
    work = make_workspace(tmp_path)
    (work / "pol.yaml").write_text(AGE_POLICY)
    (work / "my waivers.yaml").write_text("waivers:\n")
    (work / "key.pem").write_text("a key\n")
    args = ("-i", str(work / "inv.yaml"), "-o", "/var/lib/auditor/r", "--checks-dir", str(work / "checks"),
            "--waivers", str(work / "my waivers.yaml"), "--sign-key", str(work / "key.pem"))
    # When the service and the cron line are printed with them, and with a shipped set by name
    service = run_cli("schedule", "--print", "systemd-service", "--policy", str(work / "pol.yaml"), *args)
    cron = run_cli("schedule", "--print", "cron", "--policy", "apifonica", *args)
    assert service.rc == 0 and cron.rc == 0, service.stderr + cron.stderr
    # Then the nightly run gets each of them, by absolute path and quoted for systemd and for sh
    assert (f"--policy {work / 'pol.yaml'} --waivers \"{work / 'my waivers.yaml'}\" "
            f"--checks-dir {work / 'checks'} --sign-key {work / 'key.pem'} --quiet") in service.stdout
    job = schedules.parse_crontab(cron.stdout, "/etc/cron.d/auditor", None)[0][0]
    assert f"--policy apifonica --waivers '{work / 'my waivers.yaml'}' --checks-dir" in job.command
    # And the service warns that the local hosts lose sudo and that /tmp is private to the unit
    assert "alpha, beta use transport: local" in service.stderr and "NoNewPrivileges" in service.stderr
    assert "PrivateTmp=yes" in service.stderr and str(work / "inv.yaml") in service.stderr
    assert f"alpha: vars.age_file.path {work / 'alpha.age'}" in service.stderr
    # (cron has neither restriction)
    assert "NoNewPrivileges" not in cron.stderr and "PrivateTmp" not in cron.stderr
    # When the claims file is broken, Then the schedule is refused with file:line, exit 2
    (work / "pol.yaml").write_text(AGE_POLICY.replace("checks: {age_file: {}}", "checks: {age_fil: {}}"))
    broken = run_cli("schedule", "--print", "cron", "--policy", str(work / "pol.yaml"), *args)
    assert broken.rc == 2 and "pol.yaml:6:" in broken.stderr, broken.stderr
    assert "Traceback" not in broken.stderr


def test_a_calendar_word_systemd_does_not_know_is_refused_without_systemd_analyze(tmp_path):
    # Given a PATH without systemd-analyze
    bare = {"PATH": str(tmp_path)}
    # When a misspelt shorthand and real expressions are scheduled
    typo = run_cli("schedule", "--print", "systemd-timer", "--on-calendar", "dialy", env=bare)
    good = [run_cli("schedule", "--print", "systemd-timer", "--on-calendar", when, env=bare)
            for when in ("daily", "Weekly", "Mon..Fri 02:30", "*-*-* 03:00")]
    # Then the typo is refused with the list of accepted words, and the others pass
    assert typo.rc == 2 and "minutely, hourly, daily" in typo.stderr, typo.stderr
    assert [done.rc for done in good] == [0, 0, 0, 0], [done.stderr for done in good]


def test_trust_and_timestamp_flags_reach_the_nightly_run_and_bad_ones_are_refused_now(tmp_path):
    # Given a pinned signer, a trusted-signers file and a TSA URL with a percent-escape
    from auditor.cli import parser as flags
    inventory = an_inventory(tmp_path)
    signers = tmp_path / "trusted signers"
    signers.write_text("# none yet\n")
    pin = "SHA256:" + "A" * 43
    url = "https://tsa.example/tsr?x=%41"
    trust = ("-i", str(inventory), "-o", "/var/lib/auditor/r", "--timestamp-url", url,
             "--key-fingerprint", pin, "--trusted-signers", str(signers))
    # When the unit and the cron line are printed with them
    service = run_cli("schedule", "--print", "systemd-service", *trust)
    cron = run_cli("schedule", "--print", "cron", *trust)
    assert service.rc == 0 and cron.rc == 0, service.stderr + cron.stderr
    # Then systemd gets them with % doubled, cron with % escaped, and the command parses as `auditor run`
    assert f'--timestamp-url "{url.replace("%", "%%")}" --key-fingerprint {pin}' in service.stdout
    assert f'--trusted-signers "{signers}"' in service.stdout
    job = schedules.parse_crontab(cron.stdout, "/etc/cron.d/auditor", None)[0][0]
    assert url.replace("%", "\\%") in cron.stdout and f"--timestamp-url '{url}'" in job.command
    command = schedule.UnitPlan(inventory, Path("/r"), timestamp_url=url, key_fingerprints=(pin,),
                                trusted_signers=(signers,), binary="/usr/bin/auditor").command()
    parsed = flags.build().parse_args(command[1:])
    assert (parsed.timestamp_url, parsed.key_fingerprint, parsed.trusted_signers) == (url, [pin], [signers])
    # When the URL is not http(s) or the signers file is missing, Then the schedule is refused now (exit 2)
    for bad in (("--timestamp-url", "ftp://tsa.example/"), ("--trusted-signers", str(tmp_path / "missing"))):
        refused = run_cli("schedule", "--print", "cron", "-i", str(inventory), *bad)
        assert refused.rc == 2 and bad[1] in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

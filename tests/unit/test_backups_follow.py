"""The backups check follows a job into the scripts it runs: the host half (a POSIX sh
function, run here under dash, bash and busybox sh over real files) and what the check makes
of recorded outputs (system housekeeping is never a backup candidate)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from auditor.parsers.credentials import mask_credentials
from auditor.parsers.schedules import is_housekeeping
from checks.backups._probes import MAX_CALLS, MAX_SCRIPT_BYTES, MAX_SCRIPTS, _with_tools
from checks.backups._reading import Discovered, read_scripts
from tests.unit.test_check_cases import CASES_DIR, run_case

SHELLS = [pytest.param(argv, id=argv[0]) for argv in (["dash"], ["bash", "--posix"], ["busybox", "sh"])
          if shutil.which(argv[0])]
PARAMS = {"tools": [], "paths": ["/srv/backup"]}


def follow(shell: list[str], *paths: Path | str) -> str:
    """The probes' follower run under `shell` over `paths`, masked as on a host."""
    script = _with_tools('{\n@FOLLOW@\nfollow_scripts no "$1"\n} | @MASK@', PARAMS)
    done = subprocess.run([*shell, "-c", script, "follow", "\n".join(map(str, paths))],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def plant(path: Path, text: str | bytes, mode: int = 0o755) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("shell", SHELLS)
def test_a_wrapper_and_the_script_it_names_are_read_masked(tmp_path, shell):
    # Given a wrapper that logs somewhere and runs a second script, which runs mysqldump with a password
    second = plant(tmp_path / "dump-all",
                   "#!/bin/sh\nmysqldump -uroot -pS3cret-9 --all-databases > /srv/backup/a\n")
    wrapper = plant(tmp_path / "shop-backup",
                    f"#!/bin/sh\n# comment naming /etc/passwd\nexec {second} 2>> {tmp_path}/log\n")
    # When the follower reads the wrapper
    out = follow(shell, wrapper)
    # Then both scripts are read (levels 1 and 2), the call is recorded, and the password is masked
    assert f"script\t{wrapper}\t1\tread" in out and f"script\t{second}\t2\tread" in out
    assert f"call\t{wrapper}\t3\t{second}" in out and f"call\t{wrapper}\t3\t{tmp_path}/log" not in out
    assert f"tool\t{second}\t2\tmysqldump -uroot -p*** --all-databases > /srv/backup/a" in out
    assert "S3cret-9" not in out and "/etc/passwd" not in out


@pytest.mark.parametrize("shell", SHELLS)
def test_secrets_in_other_languages_scripts_are_masked(tmp_path, shell):
    # Given a Python wrapper holding a backup password in assignments and a mapping, on lines about backup
    wrapper = plant(tmp_path / "backup.py", "#!/usr/bin/python3\nbackup_password = 'Py-Secret-4'\n"
                    'BACKUP = {"passphrase": "Py-Secret-5", "repo": "/srv/backup/restic"}\n'
                    "backup_token: Py-Secret-6\n")
    # When the follower reads it
    out = follow(shell, wrapper)
    # Then the lines leave the host with every value masked (the shared rules keep a value's quotes)
    assert "backup_password = '***'" in out and '"passphrase": "***"' in out and "backup_token: ***" in out
    assert "Py-Secret" not in out


JOB_SECRETS = {
    "mysqldump -u root -pS3cret db | gzip > /srv/backup/db.sql.gz": "S3cret",
    "PGPASSWORD=x pg_dump -h 127.0.0.1 shop > /srv/backup/shop.sql": "PGPASSWORD=x ",
    "AWS_SECRET_ACCESS_KEY=Aws-Sec-31 restic -r s3:s3.example.net/bucket --password-file /root/.restic-pw "
    "backup /srv": "Aws-Sec-31",
    "restic -r s3:https://s3.example.net/bucket --password Rst-Pw-77 backup /srv": "Rst-Pw-77",
    "borg create --rsh 'ssh -i /root/.ssh/id' ssh://backup:Borg-Url-5@10.0.0.9/repo::x /srv": "Borg-Url-5",
    "curl -H 'Authorization: Bearer Tok-Bearer-8' -T /srv/backup/a.tgz https://x/": "Tok-Bearer-8",
    "rclone copy /srv/backup remote: --s3-secret-access-key Rcl-Sec-9": "Rcl-Sec-9",
    "tar czf /srv/backup/a.tgz /etc && gpg --batch --passphrase G-Pass-10 -c /srv/backup/a.tgz": "G-Pass-10",
}


@pytest.mark.parametrize("shell", SHELLS)
def test_job_lines_leave_the_host_deny_by_default(tmp_path, shell):
    # Given a root crontab whose jobs carry credentials in every usual way (some no rule named before)
    crontab = "".join(f"{n} 1 * * * {job}\n" for n, job in enumerate(JOB_SECRETS))
    lines = "".join(f"{n + 1}\t{line}" for n, line in enumerate(crontab.splitlines(keepends=True)))
    # When the job lines go through the probes' masking filter on the host
    script = _with_tools("printf '%s' \"$1\" | @MASK@", PARAMS)
    done = subprocess.run([*shell, "-c", script, "mask", lines], capture_output=True, text=True, timeout=60,
                          check=False)
    # Then no secret leaves it, each line keeps its number and its tool, and Python's twin agrees
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for job, secret in JOB_SECRETS.items():
        assert secret not in out, job
    for tool in ("mysqldump", "pg_dump", "restic", "borg create", "tar czf", "--password-file"):
        assert tool in out
    numbers = [line.split("\t", 1)[0] for line in out.splitlines()]
    assert numbers == [str(n + 1) for n in range(len(JOB_SECRETS))]
    twin = [f"{n + 1}\t{mask_credentials(line)[0]}" for n, line in enumerate(crontab.splitlines())]
    assert out.splitlines() == twin


@pytest.mark.parametrize("shell", SHELLS)
def test_binaries_housekeeping_and_missing_paths_are_not_read(tmp_path, shell):
    # Given a binary, a script named like Debian's dpkg-db-backup, and a path that does not exist
    binary = plant(tmp_path / "backup-blob", Path("/bin/true").read_bytes())
    housekeeping = plant(tmp_path / "dpkg-db-backup", "#!/bin/sh\ntar cf /var/backups/x /etc\n")
    # When the follower is given them
    out = follow(shell, binary, housekeeping, tmp_path / "missing", "relative/path")
    # Then none leaves a record
    assert out.strip() == ""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("shell", SHELLS)
def test_files_of_proc_and_sys_a_job_names_are_never_opened(tmp_path, shell):
    # Given a job that names /proc/kmsg (a reader takes each kernel message from rsyslog, and
    # blocks while there is none) and a /sys file, and kmsg again by other spellings and a link
    script = _with_tools('{\n@FOLLOW@\nfollow_scripts no "$1"\n} | @MASK@', PARAMS)
    (tmp_path / "messages").symlink_to("/proc/kmsg")
    log = tmp_path / "strace"
    # When the follower is given them (strace lists every file it opens)
    done = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e", "trace=openat,open",
                           "-e", "signal=none", *shell, "-c", script, "follow",
                           f"/proc/kmsg\n/sys/kernel/uevent_seqnum\n//proc/kmsg\n/./proc/kmsg\n/dev/../proc/kmsg\n"
                           f"{tmp_path}/messages"],
                          capture_output=True, text=True, timeout=20, check=False)
    # Then neither was opened, and neither leaves a record
    assert done.returncode == 0, done.stderr
    opened = log.read_text()
    assert "kmsg" not in opened and "uevent_seqnum" not in opened and done.stdout.strip() == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_reads_are_bounded(tmp_path, shell):
    # Given a script far longer than the probe reads, whose tool line is past the cap; a script naming
    # more scripts than are followed; and more scripts than one probe reads
    padding = "echo padding\n" * (MAX_SCRIPT_BYTES // 10)
    huge = plant(tmp_path / "huge", "#!/bin/sh\n" + padding + "borg create x\n")
    named = [plant(tmp_path / f"named{i}", "#!/bin/sh\nrestic backup /srv\n") for i in range(MAX_CALLS + 5)]
    caller = plant(tmp_path / "caller", "#!/bin/sh\n" + "".join(f"{p}\n" for p in named))
    many = [plant(tmp_path / f"many{i}", "#!/bin/sh\ntrue\n") for i in range(MAX_SCRIPTS + 5)]
    # When the follower is given them
    out = follow(shell, huge, caller, *many)
    records = [line.split("\t") for line in out.splitlines() if line]
    # Then the huge one is cut (its borg line never read), calls stop at MAX_CALLS, and reading stops
    # at MAX_SCRIPTS scripts, saying so
    assert ["cut", str(huge)] in records and "borg" not in out
    assert sum(r[0] == "call" for r in records) == MAX_CALLS
    assert sum(r[0] == "script" for r in records) == MAX_SCRIPTS
    assert ["capped", "scripts", str(MAX_SCRIPTS)] in records
    found = Discovered()
    read_scripts(out, "crontabs", found)
    assert found.scripts[str(huge)].cut
    assert any(f"looked at only the first {MAX_SCRIPTS} scripts" in u for u in found.unreadable)


@pytest.mark.parametrize("name", ["dpkg-db-backup.timer", "/usr/libexec/dpkg/dpkg-db-backup",
                                  "e2scrub_all_cron", "logrotate", "man-db.service", "apt-compat",
                                  "/etc/cron.daily/passwd", "sysstat-collect@x.service"])
def test_system_housekeeping_is_recognised(name):
    assert is_housekeeping(name)


@pytest.mark.parametrize("name", ["shop-backup", "backup", "pg_dump@main.timer", "restic.service",
                                  "borgmatic"])
def test_site_jobs_are_not_housekeeping(name):
    assert not is_housekeeping(name)


def recorded(case: str) -> dict:
    return yaml.safe_load((CASES_DIR / "backups" / f"{case}.yaml").read_text())


def test_debian_housekeeping_is_never_listed_as_a_backup_candidate():
    # Given Debian 12's own cron.daily/dpkg and dpkg-db-backup.timer, which keep copies in /var/backups
    case = recorded("fail_no_job_debian_default")
    assert "dpkg-db-backup" in case["outputs"]["timers"]["stdout"]
    # When the check judges the recorded outputs
    result = run_case("backups", case)
    # Then neither is listed as "mentions backup but runs no known backup tool"
    assert not [d for d in result.details if "mentions backup" in d], result.details


def test_the_evidence_quotes_the_job_line_and_the_tool_line_of_the_script():
    # Given the recorded wrapper case of the issue
    result = run_case("backups", recorded("pass_wrapper_script_tar"))
    details = "\n".join(result.details)
    # Then the details carry the job's command and the script line that runs tar
    assert "job: /usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1" in details
    assert 'found in /usr/local/sbin/shop-backup:6: tar czf "$DEST/shop-$(date +%F).tgz" -C /srv shop' \
        in details


def test_an_unreadable_script_without_paths_is_an_error_not_a_pass():
    # Given the unreadable-script case, but no backup paths configured
    case = recorded("pass_unreadable_script_fresh_artefacts")
    case["params"] = {"paths": []}
    case["outputs"]["artefacts"]["stdout"] = "now\t1795258400\n"
    # When it is judged
    result = run_case("backups", case)
    # Then the check cannot tell, and says what to do
    assert result.status.value == "error", result
    assert "which was not read" in result.summary and "become: sudo" in result.summary

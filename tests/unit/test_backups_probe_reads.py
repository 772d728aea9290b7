"""The backups probes read many files per process: one head and one awk per level of scripts
followed, one awk over every unit file and one over every crontab. Run here under dash, bash
and busybox sh over real files: what they give is what reading each file alone gives, no
file's text can pass for another's, and the timers and crontabs probes see what they saw
before (drop-ins, masked units, enabled links, templates; masked, unreadable, empty and
hidden crontabs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.parsers.files import HEADER, UNREADABLE
from checks.backups._probes import (
    CRONTAB_PATHS,
    MAX_SCRIPT_BYTES,
    SCHEDULER,
    WATCHED_PROCESSES,
    _crontabs_script,
    _timers_script,
    _with_tools,
)
from checks.backups._reading import Discovered, read_scripts

SHELLS = [pytest.param(argv, id=argv[0]) for argv in (["dash"], ["bash", "--posix"], ["busybox", "sh"])
          if shutil.which(argv[0])]
PARAMS = {"tools": [], "paths": ["/srv/backup"]}


def run(shell: list[str], script: str, *args: str, prefix: list[str] | None = None) -> str:
    done = subprocess.run([*(prefix or []), *shell, "-c", script, "probe", *args], capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8", "replace")


def follow(shell: list[str], any_file: str, *paths: Path | str, prefix: list[str] | None = None) -> str:
    script = _with_tools(f'{{\n@FOLLOW@\nfollow_scripts {any_file} "$1"\n}} | @MASK@', PARAMS)
    return run(shell, script, "\n".join(map(str, paths)), prefix=prefix)


def records(out: str) -> set[str]:
    return {line for line in out.splitlines() if line}


def plant(path: Path, text: str | bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


SHAPES = {
    "plain": "#!/bin/sh\nrestic backup /srv\n",
    "no-final-newline": "#!/bin/sh\nrsync -a /srv /srv/backup",
    "trailing-blank-lines": "#!/bin/sh\npg_dump shop > /srv/backup/shop.sql\n\n\n",
    "empty": "",
    "only-a-newline": "\n",
    "blank-first-line": "\nborg create /srv/backup::x /srv\n",
    "crlf": "#!/bin/sh\r\nrestic backup\r\n",
    "cut-mid-line": "#!/bin/sh\n" + "echo backup padding\n" * (MAX_SCRIPT_BYTES // 20) + "borg create late\n",
    "one-long-line": "#!/bin/sh\n" + "x" * (MAX_SCRIPT_BYTES + 10) + "\nborg create late\n",
    "exactly-the-cap": "#!/bin/sh\n" + "#" * (MAX_SCRIPT_BYTES - 11) + "\n",
    "wrapper": "#!/bin/sh\nexec /usr/local/sbin/not-there \"$@\"\n/srv/backup/run\n",
}


@pytest.mark.parametrize("any_file", ["no", "yes"])
@pytest.mark.parametrize("shell", SHELLS)
def test_scripts_read_together_give_what_each_gives_alone(tmp_path, shell, any_file):
    # Given scripts of every awkward shape: no final newline, blank lines at the end, empty, a
    # blank first line, CRLF, longer than the cap (cut mid-line, or one line longer than it),
    # one of exactly the cap, one that names paths, and a binary
    paths = [plant(tmp_path / name, text) for name, text in SHAPES.items()]
    paths.append(plant(tmp_path / "binary", Path("/bin/true").read_bytes()))
    # When the follower reads them all in one go, and each alone
    together = records(follow(shell, any_file, *paths))
    alone = set().union(*(records(follow(shell, any_file, p)) for p in paths))
    # Then the records are the same, the cut ones say so, and only files starting with `#!` count
    # as scripts unless any file does (run-parts runs any executable)
    assert together == alone
    assert f"cut\t{tmp_path}/cut-mid-line" in together and f"cut\t{tmp_path}/one-long-line" in together
    assert "borg create late" not in "\n".join(together)
    read = {r.split("\t")[1].rsplit("/", 1)[1] for r in together if r.startswith("script\t")}
    shebang = {name for name, text in SHAPES.items() if text.startswith("#!")}
    anything = {"blank-first-line", "only-a-newline", "binary"}
    assert read == (shebang | anything if any_file == "yes" else shebang)


@pytest.mark.parametrize("shell", SHELLS)
def test_no_script_passes_its_text_off_as_the_next_ones(tmp_path, shell):
    # Given a script whose text holds what head prints before a file (the next script's name
    # as given, and as the probe's own header would look without its random part)
    second = plant(tmp_path / "second", "#!/bin/sh\necho nightly\n")
    first = plant(tmp_path / "first", f"#!/bin/sh\necho backup\n\n==> {second} <==\n\n"
                  f"==> /./{str(second)[1:]} <==\n"
                  "restic backup /forged\n")
    # When the follower reads both
    out = records(follow(shell, "no", first, second))
    # Then every line stays the first script's, and the second has only its own
    assert f"tool\t{first}\t7\trestic backup /forged" in out
    assert not [r for r in out if r.startswith(f"tool\t{second}\t")]
    assert f"script\t{second}\t1\tread" in out


def _without_file_access_override() -> list[str] | None:
    """A prefix that runs a command as root without CAP_DAC_OVERRIDE (so that a file's mode
    binds root too), or None where that cannot be done here."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize("shell", SHELLS)
def test_unreadable_scripts_are_named_with_their_mode_and_owner(tmp_path, shell):
    # Given a wrapper the audit user can read, which runs a script it cannot, and a second one
    # it cannot read either, next to a readable script
    prefix = _without_file_access_override()
    if prefix is None:
        pytest.skip("needs root and setpriv to take away the file access override")
    if shell[0] == "busybox":
        pytest.skip("busybox test(1) takes uid 0 for able to read any file, with or without the override")
    tmp_path.chmod(0o755)
    hidden = plant(tmp_path / "hidden", "#!/bin/sh\nrestic backup\n", 0o700)
    os.chown(hidden, 4321, 4321)
    other = plant(tmp_path / "other", "#!/bin/sh\nborg create x\n", 0o700)
    os.chown(other, 4321, 4321)
    wrapper = plant(tmp_path / "wrapper", f"#!/bin/sh\n{hidden}\n")
    readable = plant(tmp_path / "readable", "#!/bin/sh\ntar czf /srv/backup/a.tgz /etc\n")
    # When the follower reads them without the override
    out = records(follow(shell, "no", wrapper, other, readable, prefix=prefix))
    # Then both unreadable scripts are named with ls's mode and owner, at their level
    assert f"script\t{other}\t1\tunreadable\t-rwx------ 4321" in out
    assert f"script\t{hidden}\t2\tunreadable\t-rwx------ 4321" in out
    assert f"tool\t{readable}\t2\ttar czf /srv/backup/a.tgz /etc" in out
    found = Discovered()
    read_scripts("\n".join(sorted(out)), "crontabs", found)
    assert not found.scripts[str(hidden)].readable and found.scripts[str(readable)].readable


def _rooted(script: str, root: Path, *paths: str) -> str:
    """The probe with the system paths it reads moved under `root` (in one pass, longest first)."""
    pattern = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    return re.sub(pattern, lambda m: f"{root}{m.group(0)}", script)


UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/lib/systemd/system", "/usr/lib/systemd/system")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_timers_probe_reads_units_drop_ins_links_and_the_scripts_they_run(tmp_path, shell):
    # Given unit directories with a timer whose drop-in moves it and whose service's drop-in
    # runs a site script, a masked timer, an enabled template instance, a timer that is not
    # enabled, a service that mentions a tool without a timer, and /lib linked to /usr/lib
    etc, lib = tmp_path / "etc/systemd/system", tmp_path / "usr/lib/systemd/system"
    script = plant(tmp_path / "sbin/site-backup", "#!/bin/sh\nrestic backup /srv --password Pw-Unit-1\n")
    plant(etc / "site.timer", "[Unit]\nDescription=x\n[Timer]\nOnCalendar=weekly\nUnit=site-run.service\n",
          0o644)
    plant(etc / "site.timer.d/override.conf", "[Timer]\nOnCalendar=\nOnCalendar=*-*-* 03:00\n", 0o644)
    plant(etc / "site-run.service", "[Service]\nExecStart=/bin/true\n", 0o644)
    plant(etc / "site-run.service.d/run.conf", f"[Service]\nExecStart=\nExecStart=-{script} --now\n", 0o644)
    (etc / "timers.target.wants").mkdir()
    (etc / "timers.target.wants/site.timer").symlink_to(etc / "site.timer")
    (etc / "timers.target.wants/pg_dump@15-main.timer").symlink_to(lib / "pg_dump@.timer")
    (etc / "old.timer").symlink_to("/dev/null")
    plant(lib / "pg_dump@.timer", "[Timer]\nOnCalendar=daily\n", 0o644)
    plant(lib / "pg_dump@.service", "[Service]\nExecStart=/usr/bin/pg_backupcluster %i createdump\n", 0o644)
    plant(lib / "idle.timer", "[Timer]\nOnBootSec=1h\n", 0o644)
    plant(lib / "idle.service", "[Service]\nExecStart=/usr/bin/true\n", 0o644)
    plant(lib / "stray.service", "[Service]\nExecStart=/usr/bin/borg create z\nExecStop=/bin/true\n", 0o644)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/systemd").symlink_to(tmp_path / "usr/lib/systemd")
    # When the timers probe runs over them
    out = records(run(shell, _rooted(_timers_script(PARAMS), tmp_path, *UNIT_DIRS)))
    # Then units, drop-ins, links and the script are there once each, the secret masked
    assert f"timer\t{etc}/site.timer" in out and f"masked\t{etc}/old.timer" in out
    assert f"timer\t{tmp_path}/lib/systemd/system/idle.timer" in out
    assert not [r for r in out if f"{tmp_path}/usr/lib/" in r]  # the same directory, read once
    assert f"wants\t{etc}/timers.target.wants/pg_dump@15-main.timer" in out
    assert f"unit\t{etc}/site.timer.d/override.conf\tOnCalendar=*-*-* 03:00" in out
    assert f"unit\t{etc}/site.timer\tUnit=site-run.service" in out
    # (the shared masking may take a long path after `ExecStart=` for a value: the line is there)
    dropin = f"unit\t{etc}/site-run.service.d/run.conf\t"
    assert [r for r in out if r.startswith(dropin) and r.endswith(" --now")]
    assert f"unit\t{etc}/site-run.service\tExecStart=/bin/true" in out
    lib_dir = f"{tmp_path}/lib/systemd/system"
    assert f"unit\t{lib_dir}/pg_dump@.service\tExecStart=/usr/bin/pg_backupcluster %i createdump" in out
    assert f"unit\t{lib_dir}/stray.service\tExecStart=/usr/bin/borg create z" in out
    assert f"unit\t{lib_dir}/idle.service\tExecStart=/usr/bin/true" in out  # idle.timer starts it
    assert not [r for r in out if "ExecStop" in r]
    assert f"script\t{script}\t1\tread" in out
    assert f"tool\t{script}\t2\trestic backup /srv --password ***" in out and "Pw-Unit-1" not in "".join(out)


@pytest.mark.parametrize("shell", SHELLS)
def test_the_crontabs_probe_dumps_every_crontab_once_with_its_job_lines(tmp_path, shell):
    # Given crontabs of every kind: a job running a wrapper, secrets, environment lines, a file
    # without a final newline, an empty one, a hidden one, one masked by a link to /dev/null,
    # a dangling link, a directory, and a user crontab
    script = plant(tmp_path / "sbin/nightly",
                   "#!/bin/sh\nmysqldump -uroot -pCron-Pw-2 shop > /srv/backup/a\n")
    plant(tmp_path / "etc/crontab",
          "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n", 0o644)
    cron_d = tmp_path / "etc/cron.d"
    plant(cron_d / "site", f"PASSWORD=Env-Pw-3\n# {script}\n30 2 * * * root {script} >> /var/log/x 2>&1\n"
          "0 1 * * * root /bin/true\n", 0o644)
    plant(cron_d / "nonl", "1 1 * * * root restic backup", 0o644)
    plant(cron_d / "empty", "", 0o644)
    plant(cron_d / ".hidden", "1 1 * * * root borg create x\n", 0o644)
    (cron_d / "masked").symlink_to("/dev/null")
    (cron_d / "dangling").symlink_to("/nonexistent-auditor-target")
    (cron_d / "subdir").mkdir()
    plant(tmp_path / "var/spool/cron/crontabs/alice", "0 3 * * * /usr/bin/borgmatic\n", 0o600)
    # When the crontabs probe runs over them
    probe = _rooted(_crontabs_script(PARAMS), tmp_path, *CRONTAB_PATHS, "/usr/sbin/anacron")
    out = run(shell, probe)
    lines = out.splitlines()
    # Then each crontab is dumped once, in the order cron.d lists them, with its job lines about
    # backups, run-parts or the followed script, numbered, and masked; never environment lines
    dumped = [line.split(" ", 2)[2] for line in lines if line.startswith("### auditor-")]
    in_order = ("/etc/crontab", "/etc/cron.d/empty", "/etc/cron.d/masked", "/etc/cron.d/nonl",
                "/etc/cron.d/site", "/etc/cron.d/.hidden", "/var/spool/cron/crontabs/alice")
    assert dumped == [f"{tmp_path}{p}" for p in in_order]
    site = out.split(f"{HEADER}{cron_d}/site\n", 1)[1].split("### auditor-", 1)[0]
    assert site == (f"3\t30 2 * * * root {script} >> /var/log/x 2>&1\n"
                    "# auditor: 2 job line(s), 1 shown\n")
    assert "1\t1 1 * * * root restic backup\n# auditor: 1 job line(s), 1 shown" in out
    assert f"tool\t{script}\t2\tmysqldump -uroot -p*** shop > /srv/backup/a" in out
    assert "Cron-Pw-2" not in out and "Env-Pw-3" not in out and UNREADABLE not in out
    assert "anacron\tno" in lines and "spool\treadable" in lines
    meta = sorted(line.split("\t")[1:3] for line in lines if line.startswith("meta\t"))
    assert [f"{cron_d}/dangling", "l"] in meta and [f"{cron_d}/masked", "l"] in meta
    assert [f"{cron_d}/site", "f"] in meta and [f"{tmp_path}/var/spool/cron/crontabs/alice", "f"] in meta


@pytest.mark.parametrize("shell", SHELLS)
def test_the_scheduler_probe_names_pid_1_and_the_watched_daemons_running(shell):
    # Given this machine's processes (read before and after: some may come and go meanwhile)
    before = _watched_running()
    # When the scheduler probe lists them
    lines = run(shell, SCHEDULER).splitlines()
    after = _watched_running()
    # Then PID 1, /run/systemd/system and the watched daemons running here are named, sorted
    assert lines[0] == "pid1\t" + Path("/proc/1/comm").read_text().strip()
    assert lines[1] == "systemd_dir\t" + ("yes" if os.path.isdir("/run/systemd/system") else "no")
    processes = [line.split("\t", 1)[1] for line in lines[2:]]
    assert processes == sorted(processes)
    assert [line.split("\t")[0] for line in lines[2:]] == ["process"] * len(processes)
    assert before & after <= set(processes) <= before | after


def _watched_running() -> set[str]:
    names = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            names.add(comm.read_text().strip())
        except OSError:
            continue
    return names & set(WATCHED_PROCESSES)

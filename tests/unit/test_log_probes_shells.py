"""The log checks' probes (passwords_not_logged's scan, log_retention's on_disk, auth_logging's
syslogd lines) give the same answer under dash and bash with GNU tools and under busybox sh
with nothing but busybox applets on PATH (Alpine's userland: find without -printf or
-readable, busybox stat, grep, awk, sort, head). Real files in a temporary directory, real
shells; a process named syslogd stands in for a running busybox syslogd."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.engine import registry
from auditor.parsers.syslog import busybox
from auditor.probes import CLOCK_SH, effective_uid
from checks.auth_logging import read_records
from checks.log_retention import LOGROTATE_INCLUDES, read_on_disk
from checks.passwords_not_logged import read_scan

GNU_PATH = "/usr/local/bin:/usr/bin:/bin"
# The applets the probes call; busybox sh finds nothing else on PATH.
APPLETS = ("sh", "find", "grep", "awk", "sort", "head", "stat", "date", "id", "tr", "readlink", "printf",
           "cat", "gzip", "xz", "bzip2", "cut", "wc", "ls", "sed", "mkdir")


@pytest.fixture(scope="module")
def shells(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[str], str]]:
    """(label, shell argv, PATH): dash and bash with GNU tools, busybox sh with busybox applets."""
    found = [(name, [name], GNU_PATH) for name in ("dash", "bash") if shutil.which(name)]
    if box := shutil.which("busybox"):
        applets = tmp_path_factory.mktemp("busybox-applets")
        for applet in APPLETS:
            (applets / applet).symlink_to(box)
        found.append(("busybox", [box, "sh"], str(applets)))
    if len(found) < 2:
        pytest.skip("fewer than two of dash, bash and busybox are installed")
    return found


def _run(argv: list[str], path: str, script: str) -> str:
    done = subprocess.run([*argv, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "LC_ALL": "C"}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _probe(check_id: str, probe: str, **params: Any) -> str:
    check = registry.load(plugins=False).checks[check_id]
    return next(p for p in check.probes if p.name == probe).render({**check.default_params(), **params})


def test_the_password_scan_reads_the_same_files_and_lines_everywhere(shells, tmp_path):
    # Given a log directory with a plain log, a rotated gzip, a file over the size cap, a binary
    # database and a nested directory
    logs = tmp_path / "log"
    (logs / "app").mkdir(parents=True)
    (logs / "auth.log").write_text("Dec  6 10:00:00 vm app: login password=hunter2xyz ok\nnothing here\n")
    with gzip.open(logs / "app" / "app.log.1.gz", "wt") as rotated:
        rotated.write("curl -u admin:S3cretPass https://example.test/\n")
    (logs / "big.log").write_text("x" * 1_200_000 + "\nmysql -u root -pTopSecret1 shop\n")
    (logs / "wtmp").write_bytes(b"\0password=binary\0")
    script = _probe("passwords_not_logged", "scan", paths=[str(logs)], histories=False, max_file_mb=1)
    # When the scan runs under each shell and tool set
    scans = {label: _run(argv, path, script) for label, argv, path in shells}
    # Then all agree, line for line
    first = next(iter(scans.values()))
    assert all(out == first for out in scans.values()), scans
    # And they found the plain and the gzip finding, cut the big file, and skipped wtmp
    scan = read_scan(first)
    assert scan.totals is not None
    assert (scan.totals.files, scan.totals.compressed, scan.totals.cut) == (3, 1, 1)
    assert sorted(scan.per_file) == [str(logs / "app" / "app.log.1.gz"), str(logs / "auth.log")]
    assert scan.cut == [str(logs / "big.log")]
    assert "hunter2xyz" not in first and "S3cretPass" not in first


def test_the_oldest_logs_are_read_the_same_everywhere(shells, tmp_path):
    # Given five log files with known modification times, an empty one and lastlog
    logs = tmp_path / "log"
    logs.mkdir()
    now = int(time.time())
    for name, days in (("a.log", 1), ("b.log", 40), ("c.log", 90), ("d.log", 10), ("e.log", 70)):
        (logs / name).write_text("entry\n")
        os.utime(logs / name, (now - days * 86400, now - days * 86400))
    (logs / "empty.log").touch()
    (logs / "lastlog").write_text("fixed-size database\n")
    os.utime(logs / "lastlog", (now - 900 * 86400, now - 900 * 86400))
    script = _probe("log_retention", "on_disk", log_dirs=[str(logs)])
    # When the probe runs under each shell and tool set
    disks = [read_on_disk(_run(argv, path, script)) for _, argv, path in shells]
    # Then each counts the five logs and names the three oldest, oldest first, to the second
    for disk in disks:
        assert disk.files == "5"
        assert [(f.path.rsplit("/", 1)[-1], f.mtime) for f in disk.oldest] == [
            ("c.log", now - 90 * 86400), ("e.log", now - 70 * 86400), ("b.log", now - 40 * 86400)]


@pytest.fixture
def fake_syslogd(tmp_path: Path) -> Iterator[Path]:
    """A process whose command name is `syslogd` and whose argv carries busybox syslogd's options."""
    target = tmp_path / "spool" / "messages"
    code = "import ctypes, time; ctypes.CDLL(None).prctl(15, b'syslogd', 0, 0, 0); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code, "-n", "-O", str(target), "-s", "50", "-b", "3",
                                "-R", "logs.example:514", "-L"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{process.pid}/comm").read_text().strip() != "syslogd":
            assert time.monotonic() < deadline, "the stand-in never renamed itself"
            time.sleep(0.05)
        yield target
    finally:
        process.kill()
        process.wait()


def test_a_running_syslogd_and_its_file_are_read_the_same_everywhere(shells, fake_syslogd):
    # Given a process named syslogd run with -O FILE -s 50 -b 3 -R HOST -L
    script = busybox.SYSLOGD_FILES_SCRIPT + "\nsyslogd_files\n" + busybox.SYSLOGD_SCRIPT
    for label, argv, path in shells:
        # When the records probe's file finder and the command-line rows run
        out = _run(argv, path, script)
        # Then the finder prints its -O file, and the rows read back as its settings
        assert str(fake_syslogd) in out.splitlines(), (label, out)
        (daemon,) = [d for d in busybox.parse_syslogd(out).daemons if d.file == str(fake_syslogd)]
        assert (daemon.rotate_kb, daemon.keep, daemon.remote, daemon.also_local) == (
            50, 3, ("logs.example:514",), True), (label, daemon)
        assert daemon.writes_file


@pytest.mark.parametrize(("argv", "expected"), [
    (["syslogd"], {"file": "/var/log/messages", "rotate_kb": 200, "keep": 1, "writes_file": True}),
    (["syslogd", "-t"], {"file": "/var/log/messages", "writes_file": True}),
    (["syslogd", "-nO", "/srv/log/all", "-s0"], {"file": "/srv/log/all", "rotate_kb": 0}),
    (["syslogd", "-R", "10.0.0.9"], {"remote": ("10.0.0.9",), "writes_file": False}),
    (["syslogd", "-R10.0.0.9:5140", "-L"], {"remote": ("10.0.0.9:5140",), "writes_file": True}),
    (["syslogd", "-C128"], {"ring_buffer": True, "writes_file": False}),
    (["syslogd", "-l", "5"], {"level": 5, "logs_info": False}),
    (["syslogd", "-f", "/etc/alt.conf"], {"rules": "/etc/alt.conf"}),
])
def test_busybox_syslogd_options(argv: list[str], expected: dict[str, object]):
    # Given a busybox syslogd command line
    # When it is read as busybox's getopt reads it
    daemon = busybox.parse_args(1, "/bin/busybox", argv)
    # Then its file, rotation, remote hosts and buffers are as busybox syslogd(8) documents
    assert {key: getattr(daemon, key) for key in expected} == expected
    assert daemon.busybox and daemon.name == "busybox syslogd"


def test_the_host_age_is_read_by_one_stat_and_a_log_name_cannot_forge_it(shells, tmp_path):
    # Given a log whose path holds a newline and a forged host-age line dating the host in the future
    logs = tmp_path / "log"
    forged = logs / "x\n@ 9999999999 9999999999 " / "etc" / "machine-id"
    forged.parent.mkdir(parents=True)
    forged.write_text("entry\n")
    script = _probe("log_retention", "on_disk", log_dirs=[str(logs)])
    machine_id = Path("/etc/machine-id")
    for label, argv, path in shells:
        # When the on_disk probe runs
        out = _run(argv, path, script)
        disk = read_on_disk(out)
        facts = dict(line.split("\t", 1) for line in out.splitlines() if line.count("\t") == 1)
        # Then the host's clock, /etc/machine-id's mtime and the root's birth are the real ones
        assert abs(float(facts["now"]) - time.time()) < 60, (label, out)
        if machine_id.exists():
            assert facts["machine_id"] == str(int(machine_id.stat().st_mtime)), (label, out)
            assert disk.host_birth is not None and disk.host_birth < 9999999999, (label, out)
        assert "root_birth" in facts, (label, out)


def test_the_uid_and_the_deadline_clock_are_read_without_a_process(shells):
    # Given the shell that reads the effective uid and the one that reads a seconds clock
    script = (f"{effective_uid()}\n{CLOCK_SH}\n"
              "clock; a=$now; clock; printf '%s %s %s\\n' \"$uid\" \"$a\" \"$now\"")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    for label, argv, path in shells:
        # When they run
        uid, first, second = _run(argv, path, script).split()
        # Then the uid is `id -u`'s, and the clock counts whole seconds of uptime, never backwards
        assert int(uid) == os.geteuid(), label
        assert 0 <= int(second) - int(first) <= 1 and abs(int(first) - uptime) < 60, label


def test_logrotate_includes_are_read_by_the_shell_as_awk_read_them(shells, tmp_path):
    # Given a logrotate.conf with include lines: indented, tab-separated, commented out, and last
    # without a newline
    conf = tmp_path / "logrotate.conf"
    conf.write_text("weekly\n  include /etc/a.d\ninclude\t/etc/b extra\n#include /no\nrotate 4\n"
                    "include /last")
    script = LOGROTATE_INCLUDES.replace("/etc/logrotate.conf", str(conf))
    for label, argv, path in shells:
        # When the shell reads them
        # Then it names what awk '$1 == "include" {print $2}' names
        assert _run(argv, path, script).split() == ["/etc/a.d", "/etc/b", "/last"], label
def test_the_records_probe_samples_masks_and_reads_syslogd_the_same_everywhere(shells, fake_syslogd):
    # Given the file a running syslogd writes, holding login records, a cron session (not a
    # login), a password typed at the user prompt and a sudo command line with a password
    fake_syslogd.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "Dec  6 18:20:38 vm auth.info sshd[123]: Accepted password for root from 10.0.0.1 port 2222 ssh2",
        "Dec  6 18:20:39 vm authpriv.info CRON[77]: pam_unix(cron:session): session opened for user "
        "root(uid=0)",
        "Dec  6 18:20:40 vm auth.info sshd[124]: Invalid user Hunter2pass from 10.0.0.2 port 4000",
        "Dec  6 18:20:41 vm authpriv.notice sudo: bob : TTY=pts/0 ; PWD=/ ; USER=root ; "
        "COMMAND=/usr/bin/curl -u a:S3cret",
        "Dec  6 18:20:42 vm daemon.info ntpd[5]: not a login",
    ]
    fake_syslogd.write_text("\n".join(lines) + "\n")
    check = registry.load(plugins=False).checks["auth_logging"]
    params = {**check.default_params(), "auth_logs": [str(fake_syslogd.parent / "missing.log")]}
    script = next(p for p in check.probes if p.name == "records").render(params)
    seen = []
    for label, argv, path in shells:
        # When the records probe runs
        out = _run(argv, path, script)
        found = read_records(out)
        # Then the facts are read, the file the syslogd writes is sampled (the cron session
        # dropped, the typed password and the sudo command masked), and its `# syslogd` row reads
        # back as the daemon
        assert found.facts["uid"] == str(os.getuid()) and found.facts["now"].isdigit(), (label, out)
        assert found.facts["utc_offset"][:1] in "+-" and len(found.facts["utc_offset"]) == 5, label
        assert found.files[str(fake_syslogd.parent / "missing.log")].state == "missing"
        assert found.files[str(fake_syslogd)].state == "ok" and found.counts[str(fake_syslogd)] == 3, label
        sampled = found.lines[str(fake_syslogd)]
        assert "Hunter2pass" not in out and "S3cret" not in out and "Invalid user *** from" in sampled[1]
        assert sampled[2].endswith("COMMAND=***"), (label, sampled)
        (daemon,) = [d for d in busybox.parse_syslogd(out).daemons if d.file == str(fake_syslogd)]
        assert daemon.remote == ("logs.example:514",), label
        seen.append((found.files[str(fake_syslogd)], sampled))
    # And every shell read the same
    assert all(one == seen[0] for one in seen), seen


def _records_with_journal_at(journal: Path, journalctl_log: Path) -> tuple[str, str]:
    """The records probe reading `journal` for /var/log/journal (no /run/log/journal), and a PATH
    whose journalctl notes its call in `journalctl_log` and prints one login record."""
    check = registry.load(plugins=False).checks["auth_logging"]
    params = {**check.default_params(), "auth_logs": [str(journal.parent / "missing.log")]}
    script = next(p for p in check.probes if p.name == "records").render(params)
    script = script.replace("/var/log/journal", str(journal))
    script = script.replace("/run/log/journal", str(journal / "none"))
    bin_dir = journal.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "journalctl"
    fake.write_text(f"#!/bin/sh\necho called >>{journalctl_log}\n"
                    "echo '2026-12-06T18:20:38+0000 vm sshd[1]: Accepted publickey for root "
                    "from 10.0.0.1 port 2 ssh2'\n")
    fake.chmod(0o755)
    return script, str(bin_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="the journal is skipped for root only")
def test_root_with_no_journal_file_gets_the_empty_sample_without_journalctl(shells, tmp_path):
    # Given a journal directory with a machine-id subdirectory but no journal file in it
    journal = tmp_path / "journal"
    (journal / "0123456789abcdef").mkdir(parents=True)
    called = tmp_path / "called"
    script, bin_dir = _records_with_journal_at(journal, called)
    for label, argv, path in shells:
        # When the records probe runs as root
        out = _run(argv, f"{bin_dir}:{path}", script)
        # Then journalctl is not run, and the journal's rows are what sample prints for no line
        assert not called.exists(), label
        empty = _run(argv, f"{bin_dir}:{path}",
                     script.replace("\nexit 0", "") + "\nsample journal </dev/null")
        assert [ln for ln in out.splitlines() if "\tjournal\t" in ln] == ["count\tjournal\t0"], (label, out)
        assert empty.endswith("count\tjournal\t0\n"), (label, empty)
        assert read_records(out).counts["journal"] == 0, label


def test_a_journal_file_or_a_user_who_may_not_read_it_all_runs_journalctl(shells, tmp_path):
    # Given a journal directory holding a journal file
    journal = tmp_path / "journal"
    (journal / "0123456789abcdef").mkdir(parents=True)
    (journal / "0123456789abcdef" / "system.journal").write_bytes(b"LPKSHHRH")
    called = tmp_path / "called"
    script, bin_dir = _records_with_journal_at(journal, called)
    for label, argv, path in shells:
        # When the records probe runs
        called.unlink(missing_ok=True)
        out = _run(argv, f"{bin_dir}:{path}", script)
        # Then journalctl ran and its login record is sampled
        assert called.read_text() == "called\n", label
        assert read_records(out).counts["journal"] == 1, (label, out)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_root_without_file_access_override_runs_journalctl_on_an_unreadable_journal_dir(shells, tmp_path):
    # Given a journal subdirectory root cannot search without CAP_DAC_*: a file may hide in it
    journal = tmp_path / "journal"
    (journal / "0123456789abcdef").mkdir(parents=True, mode=0o000)
    called = tmp_path / "called"
    script, bin_dir = _records_with_journal_at(journal, called)
    drop = [str(shutil.which("setpriv")), "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search", "--"]
    try:
        for label, argv, path in shells:
            # When the records probe runs as that root
            called.unlink(missing_ok=True)
            _run([*drop, *argv], f"{bin_dir}:{path}", script)
            # Then journalctl is run (and would say on stderr what it could not read)
            assert called.read_text() == "called\n", label
    finally:
        (journal / "0123456789abcdef").chmod(0o755)

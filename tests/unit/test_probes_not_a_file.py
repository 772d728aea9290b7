"""Probes that read a configuration or a log at a path tested only with -r/-e (or taken from a
bare glob) never open a named pipe (FIFO) or a device found there. Opening a FIFO for reading
blocks until a writer comes, and reading a terminal blocks until someone types: the probe ran
into its deadline (150 s), lost what it had printed, and its check said `error`. Now the probe
names what it found (`#not-a-file KIND PATH`, or its own row) and the check reports that.

Each probe runs for real under dash, bash and busybox sh with only busybox applets (the shells
of the other probe tests), its fixed paths rewritten into a temporary directory as those tests
do. The FIFOs are real (os.mkfifo); the device is a real terminal, a pty's slave held open for
the whole test, linked from the path; a process named syslogd or postgres stands in for a
running daemon. A probe that blocks is killed, with its children, after BLOCKED_S."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.check import Outputs, ProbeOutput, Result, Status
from auditor.engine import registry
from auditor.parsers import sshd
from auditor.parsers.files import parse_dump
from checks.auth_logging import read_records
from checks.db_network_restricted import read_pg_hba
from checks.ssh_hardening import SSHD_CONFIG
from checks.ssh_hardening._probes import POLICY_CONFIG, SERVER_BACKEND
from tests.unit.test_log_probes_shells import shells  # noqa: F401  (a fixture: dash, bash, busybox)

# Every probe here ends in well under a second; one that blocked ran until its deadline.
BLOCKED_S = 20
PS_HEADER = f"{'PID':>10} {'USER':<32} {'COMM':<64} ARGS\n# 1 processes\n"  # the /proc reader's
AUTHSELECT_CONF = "/etc/authselect/authselect.conf"


def _run(argv: list[str], path: str, script: str) -> str:
    """The script's stdout; fails the test if it has not ended after BLOCKED_S (its whole process
    group is then killed: a grep blocked on a FIFO would outlive the shell)."""
    process = subprocess.Popen([*argv, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={"PATH": path, "LC_ALL": "C"}, start_new_session=True)
    try:
        out, err = process.communicate(timeout=BLOCKED_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{argv[0]}: the probe still ran after {BLOCKED_S} s: it opened a FIFO or a device")
    assert process.returncode == 0, (argv, err)
    return out


@pytest.fixture
def terminal() -> Iterator[str]:
    """The path of a real terminal device (a pty's slave): reading it blocks until a line is typed."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def _named_process(comm: str, *argv: str) -> subprocess.Popen[bytes]:
    """A process whose command name is `comm`, run with `argv`, once /proc shows the name."""
    code = f"import ctypes, time; ctypes.CDLL(None).prctl(15, {comm.encode()!r}, 0, 0, 0); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code, *argv])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{process.pid}/comm").read_text().strip() != comm:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"the {comm} stand-in never renamed itself")
        time.sleep(0.05)
    return process


def _judge(check_id: str, stdouts: dict[str, str]) -> Result:
    check = registry.load(plugins=False).checks[check_id]
    outputs = Outputs({p.name: ProbeOutput(p.name, stdouts.get(p.name, ""), "", 0, None)
                       for p in check.probes})
    return check.judge(outputs, check.default_params(), crash=True)


def _probe(check_id: str, probe: str, moved: dict[str, Path] | None = None, **params: object) -> str:
    """The probe's script, each fixed path in `moved` rewritten to its stand-in."""
    check = registry.load(plugins=False).checks[check_id]
    script = next(p for p in check.probes if p.name == probe).render({**check.default_params(), **params})
    for fixed, stand_in in (moved or {}).items():
        script = script.replace(fixed, str(stand_in))
    return script


def test_login_defs_that_is_a_fifo_or_a_device_is_named_not_read(shells, tmp_path, terminal):  # noqa: F811
    # Given the login_defs probe reading tmp/login.defs instead of /etc/login.defs
    defs = tmp_path / "login.defs"
    script = _probe("password_hashing", "login_defs", {"/etc/login.defs": defs})
    regular = tmp_path / "real.defs"
    regular.write_text("ENCRYPT_METHOD YESCRYPT\n")
    for label, argv, path in shells:
        for make, expected in (
            (lambda: os.mkfifo(defs), f"#not-a-file fifo {defs}\n"),
            (lambda: defs.symlink_to(terminal), f"#not-a-file device {defs}\n"),
            # a link to a regular file is read; a link to /dev/null is read, as the empty file it is
            (lambda: defs.symlink_to(regular), "ENCRYPT_METHOD YESCRYPT\n"),
            (lambda: defs.symlink_to("/dev/null"), ""),
            (lambda: None, "#absent\n"),
        ):
            defs.unlink(missing_ok=True)
            make()
            # When the probe runs
            out = _run(argv, path, script)
            # Then it ends at once and says what it found
            assert out == expected, (label, out)
    # And a FIFO there makes the check `error`, naming it: what scheme new passwords get is unknown
    os.mkfifo(defs)
    pam = "/etc/pam.d/common-password:password pam_unix.so yescrypt\n"
    got = _judge("password_hashing", {"login_defs": _run(*shells[0][1:], script), "pam_unix": pam})
    assert got.status is Status.ERROR, got
    assert got.summary.startswith(f"{defs} is a named pipe (FIFO), not a regular file: not read"), got.summary


def test_pam_d_reads_its_regular_files_and_names_a_fifo_or_a_device(shells, tmp_path, terminal):  # noqa: F811
    # Given a pam.d with a service file, a link to one elsewhere, a masked service (a link to
    # /dev/null), a directory, a FIFO and a link to a terminal; and authselect.conf a FIFO
    pam = tmp_path / "pam.d"
    pam.mkdir()
    (pam / "common-password").write_text("password [success=1 default=ignore] pam_unix.so obscure yescrypt\n")
    (tmp_path / "elsewhere").write_text("password required pam_unix.so md5\n")
    (pam / "linked").symlink_to(tmp_path / "elsewhere")
    (pam / "masked").symlink_to("/dev/null")
    (pam / "subdir").mkdir()
    os.mkfifo(pam / "zz-fifo")
    (pam / "tty").symlink_to(terminal)
    authselect = tmp_path / "authselect.conf"
    os.mkfifo(authselect)
    script = _probe("password_hashing", "pam_unix", {AUTHSELECT_CONF: authselect, "/etc/pam.d": pam})
    outputs = []
    for label, argv, path in shells:
        # When the pam_unix probe runs
        out = _run(argv, path, script)
        # Then it ends at once: the regular files' pam_unix lines, and the FIFOs and the device named
        assert out.splitlines() == [
            f"#not-a-file device {pam}/tty",
            f"#not-a-file fifo {pam}/zz-fifo",
            f"{pam}/common-password:password [success=1 default=ignore] pam_unix.so obscure yescrypt",
            f"{pam}/linked:password required pam_unix.so md5",
            f"#not-a-file fifo {authselect}",
        ], (label, out)
        outputs.append(out)
    # And the check (reading the output with the host's own paths) fails on the weak scheme it
    # read, and names what it could not read
    host = outputs[0].replace(str(authselect), AUTHSELECT_CONF).replace(str(pam), "/etc/pam.d")
    got = _judge("password_hashing", {"login_defs": "ENCRYPT_METHOD YESCRYPT\n", "pam_unix": host})
    assert got.status is Status.FAIL, got
    assert "/etc/pam.d/linked: pam_unix hashes new passwords with md5" in got.summary, got.summary
    unknown = "not a regular file: not read, so the pam_unix options it may set are unknown"
    assert f"/etc/pam.d/zz-fifo is a named pipe (FIFO), {unknown}" in got.details, got.details
    assert f"/etc/pam.d/tty is a device, {unknown}" in got.details
    assert f"{AUTHSELECT_CONF} is a named pipe (FIFO), not a regular file: not read, so the authselect " \
           "profile is not named" in got.details
    # And without the weak file, what could not be read makes it `error`, not `pass`
    without = "\n".join(ln for ln in host.splitlines() if "/linked:" not in ln)
    got = _judge("password_hashing", {"login_defs": "ENCRYPT_METHOD YESCRYPT\n", "pam_unix": without})
    assert got.status is Status.ERROR and "zz-fifo is a named pipe (FIFO)" in got.summary, got


def test_auth_logs_and_a_syslogd_target_that_are_fifos_or_devices_are_named_not_read(
        shells, tmp_path, terminal):  # noqa: F811
    # Given auth logs: a FIFO, a readable log whose .1 rotation is a link to a terminal, and a
    # running syslogd writing to a terminal (-O /dev/pts/N, as to /dev/console)
    fifo, secure = tmp_path / "auth.log", tmp_path / "secure"
    os.mkfifo(fifo)
    secure.write_text("Dec  6 18:20:38 vm sshd[123]: Accepted password for root from 10.0.0.1 port 22 ssh2\n")
    (tmp_path / "secure.1").symlink_to(terminal)
    script = _probe("auth_logging", "records", auth_logs=[str(fifo), str(secure)])
    syslogd = _named_process("syslogd", "-n", "-O", terminal)
    mine = (str(fifo), str(secure), f"{secure}.1", terminal)
    try:
        for label, argv, path in shells:
            # When the records probe runs
            out = _run(argv, path, script)
            found = read_records(out)
            # Then it ends at once: the log read, the FIFO and the devices named with what they are
            assert {p: (f.state, f.detail) for p, f in found.files.items() if p in mine} == {
                str(fifo): ("not-a-file", "fifo"), str(secure): ("ok", str(int(secure.stat().st_mtime))),
                f"{secure}.1": ("not-a-file", "device"), terminal: ("not-a-file", "device")}, (label, out)
            assert found.counts[str(secure)] == 1 and terminal not in found.counts, (label, out)
    finally:
        syslogd.kill()
        syslogd.wait()
    # And when the syslogd's terminal is where every record goes (no log file read), the check
    # asks for the records from where that output is kept instead of failing for want of them
    rows = [ln for ln in out.splitlines()
            if not ln.startswith(("file\t", "count\t", "rec\t", "# syslogd\t")) or terminal in ln]
    got = _judge("auth_logging", {"processes": PS_HEADER, "records": "\n".join(rows) + "\n"})
    assert got.status is Status.MANUAL, got
    assert got.summary.startswith(f"no login record was read here: {terminal} is a device, not a regular "
                                  "file"), got.summary


def test_postgres_configs_that_are_fifos_or_devices_are_named_not_read(shells, tmp_path, terminal):  # noqa: F811
    # Given Debian's layout with a postgresql.conf that is a FIFO, one naming an hba_file that is
    # a link to a terminal, a pg_hba.conf admitting everyone and one that is a FIFO; and a running
    # postmaster whose -D holds a pg_hba.conf that is a FIFO
    etc = tmp_path / "etc" / "postgresql"
    (etc / "15" / "main").mkdir(parents=True)
    (etc / "16" / "main").mkdir(parents=True)
    hba_dev = tmp_path / "hba-dev"
    hba_dev.symlink_to(terminal)
    (etc / "15" / "main" / "postgresql.conf").write_text(f"hba_file = '{hba_dev}'\n")
    (etc / "15" / "main" / "pg_hba.conf").write_text("host all all 0.0.0.0/0 scram-sha-256\n")
    os.mkfifo(etc / "16" / "main" / "postgresql.conf")
    os.mkfifo(etc / "16" / "main" / "pg_hba.conf")
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "pg_hba.conf")
    script = _probe("db_network_restricted", "pg_hba",
                    {"/etc/postgresql": etc, "/var/lib/pgsql": tmp_path / "pgsql"})
    postmaster = _named_process("postgres", "-D", str(data))
    try:
        for label, argv, path in shells:
            # When the pg_hba probe runs
            out = _run(argv, path, script)
            # Then it ends at once: the readable file read, each FIFO and the device named (the
            # lines of this test's paths: another postmaster on this machine has its own)
            lines = [ln for ln in out.splitlines() if str(tmp_path) in ln]
            assert lines == [
                f"#not-a-file fifo {etc}/16/main/postgresql.conf",
                f"#not-a-file fifo {data}/pg_hba.conf",
                f"#file {etc}/15/main/pg_hba.conf",
                f"{etc}/15/main/pg_hba.conf:1\thost\tall\tall\t0.0.0.0/0\t-\tscram-sha-256",
                f"#not-a-file fifo {etc}/16/main/pg_hba.conf",
                f"#not-a-file device {hba_dev}",
            ], (label, out)
    finally:
        postmaster.kill()
        postmaster.wait()
    # And the check's reading notes each one, beside the line open to everyone
    hba = read_pg_hba(out)
    assert hba.open_lines == [f"{etc}/15/main/pg_hba.conf:1: host all all 0.0.0.0/0 scram-sha-256"]
    assert f"{etc}/16/main/pg_hba.conf is a named pipe (FIFO), not a regular file: not read" in hba.notes
    assert f"{hba_dev} is a device, not a regular file: not read" in hba.notes, hba.notes


def test_sshd_config_and_crypto_policies_that_are_fifos_or_devices_are_unreadable(
        shells, tmp_path, terminal):  # noqa: F811
    # Given the sshd_config probe reading tmp/ssh and tmp's crypto-policies files
    etc = tmp_path / "ssh"
    etc.mkdir()
    main, policy, backend = etc / "sshd_config", tmp_path / "policy", tmp_path / "backend"
    script = (SSHD_CONFIG.replace(sshd.MAIN_CONFIG, str(main)).replace(sshd.CONFIG_DIR, str(etc))
              .replace(POLICY_CONFIG, str(policy)).replace(SERVER_BACKEND, str(backend)))
    real = tmp_path / "real_config"
    real.write_text("PermitRootLogin no\n")
    # (sshd_config a FIFO, the policy a terminal, the back-end masked; then the back-end a FIFO,
    # sshd_config a link to a regular file, the policy a terminal)
    scenarios = [({main: None, policy: terminal, backend: "/dev/null"}, {str(backend): "\n"}),
                 ({main: real, policy: terminal, backend: None}, {str(main): "PermitRootLogin no\n"})]
    for label, argv, path in shells:
        for links, expected in scenarios:
            for p, target in links.items():
                p.unlink(missing_ok=True)
                if target is None:
                    os.mkfifo(p)
                else:
                    p.symlink_to(target)
            # When the probe runs
            out = _run(argv, path, script)
            # Then it ends at once; the FIFO and the terminal are unreadable, each named with what it
            # is; a link to a regular file is read and a link to /dev/null reads empty, as before
            files, unreadable = parse_dump(out)
            fifo = next(p for p, target in links.items() if target is None)
            assert files == expected and unreadable == sorted([str(fifo), str(policy)]), (label, out)
            assert f"#not-a-file fifo {fifo}" in out.splitlines(), (label, out)
            assert f"#not-a-file device {policy}" in out.splitlines(), (label, out)


def test_a_logrotate_conf_that_is_a_fifo_is_named_and_logrotate_d_still_read(shells, tmp_path):  # noqa: F811
    # Given logrotate.conf a FIFO, and a block in logrotate.d
    conf, confd = tmp_path / "logrotate.conf", tmp_path / "logrotate.d"
    os.mkfifo(conf)
    confd.mkdir()
    (confd / "app").write_text("/var/log/app.log {\n  daily\n  rotate 90\n}\n")
    script = _probe("log_retention", "logrotate", {"/etc/logrotate.conf": conf, "/etc/logrotate.d": confd})
    for label, argv, path in shells:
        # When the logrotate probe runs
        out = _run(argv, path, script)
        # Then it ends at once, naming the FIFO before the dump of what it could read
        assert out.splitlines()[0] == f"#not-a-file fifo {conf}", (label, out)
        assert parse_dump(out) == ({str(confd / "app"): "/var/log/app.log {\n  daily\n  rotate 90\n}\n"}, [])
    # And the check cannot tell the defaults the other blocks inherit: `error`, naming the FIFO
    now = int(time.time())
    disk = (f"now\t{now}\nmachine_id\t{now - 86400}\nroot_birth\t\nfiles\t1\n"
            f"file\t{now - 3600}\t/var/log/app.log\n")
    got = _judge("log_retention", {"logrotate": out, "on_disk": disk})
    assert got.status is Status.ERROR, got
    assert got.summary.startswith(f"{conf} is a named pipe (FIFO), not a regular file: not read"), got.summary

"""Probes whose awk reads /proc/<pid> files, when a process ends between that awk's open and its
read (the read fails with ESRCH; mawk and gawk then end with status 2, busybox awk reads on).
On a busy host this ended one process list in a few hundred, and monitoring, auth_logging and
admin_change_audit all said `error` (CI, 7 December). The race is made to happen each time (see
proc_race); each probe runs under every awk this machine has, with real processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.parsers.awk import rerun_on_read_error
from auditor.parsers.processes import daemons_ps_script, parse_ps
from auditor.parsers.sockets import PROC_LISTENERS_SCRIPT, parse_proc_listeners
from checks.backups._probes import SCHEDULER
from tests.unit.proc_race import awk_paths, run_while_ending

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


@pytest.fixture
def awks(tmp_path: Path) -> dict[str, str]:
    found = awk_paths(tmp_path)
    if "mawk" not in found and "gawk" not in found:
        pytest.skip("neither mawk nor gawk (the awks that end on a read error) is installed")
    return found


def _named(where: Path, name: str, *args: str) -> subprocess.Popen:
    """A process whose kernel name (comm) is `name`: sleep, started through a link so named."""
    link = where / name
    if not link.exists():
        link.symlink_to(shutil.which("sleep") or "/bin/sleep")
    return subprocess.Popen([str(link), *args])


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.kill()
        process.wait()


@pytest.mark.parametrize("file", ["comm", "cmdline", "status"])
def test_the_process_list_is_whole_when_a_process_ends_as_it_is_read(file, awks, started, tmp_path):
    for label, path in awks.items():
        # Given two processes named like a monitoring agent, the first to end while the process
        # list reads its comm, cmdline or status (the last is read for a named process only)
        victim = _named(tmp_path, "telegraf", "300")
        survivor = _named(tmp_path, "telegraf", "300")
        started += [victim, survivor]
        # When the shared process list runs
        done = run_while_ending(["sh", "-c", daemons_ps_script()], victim, file,
                                {"PATH": path, "LC_ALL": "C"}, tmp_path / f"strace-{label}")
        # Then it ends well, with one header and one count, and the other process listed
        assert done.returncode == 0, (label, done.stderr)
        assert done.stdout.count("PID ") == 1 and done.stdout.count(" processes\n") == 1, (label, done.stdout)
        listed = {p.pid: p for p in parse_ps(done.stdout)}
        assert listed[survivor.pid].comm == "telegraf", label
        if label != "busybox":  # its getline returned -1 and it read on; the others read /proc again
            assert victim.pid not in listed, label
        survivor.kill()
        survivor.wait()


def test_the_scheduler_probe_sees_a_cron_daemon_when_another_ends_as_it_is_read(awks, started, tmp_path):
    for label, path in awks.items():
        # Given a process named anacron that ends while the backups' scheduler probe reads its
        # name, and a cron daemon started after it
        victim = _named(tmp_path, "anacron", "300")
        survivor = _named(tmp_path, "fcron", "300")
        started += [victim, survivor]
        # When the probe runs
        done = run_while_ending(["sh", "-c", SCHEDULER], victim, "comm", {"PATH": path, "LC_ALL": "C"},
                                tmp_path / f"strace-{label}")
        # Then it ends well, saying PID 1 once and that fcron runs
        assert done.returncode == 0, (label, done.stderr)
        lines = done.stdout.splitlines()
        assert sum(line.startswith("pid1\t") for line in lines) == 1, (label, done.stdout)
        assert "process\tfcron" in lines, (label, done.stdout)
        survivor.kill()
        survivor.wait()


LISTEN = ("import socket,sys;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
          "print(s.getsockname()[1],flush=True);sys.stdin.read()")


def _listener() -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-c", LISTEN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def test_the_proc_listeners_keep_their_owners_when_one_ends_as_it_is_read(awks, started, tmp_path):
    for label, path in awks.items():
        # Given two processes listening on loopback, the first to end while the listeners'
        # probe (hosts without ss) reads its name
        victim, _ = _listener()
        survivor, port = _listener()
        started += [victim, survivor]
        # When the probe runs
        done = run_while_ending(["sh", "-c", PROC_LISTENERS_SCRIPT], victim, "comm",
                                {"PATH": path, "LC_ALL": "C"}, tmp_path / f"strace-{label}")
        # Then it ends well, and the other listener is there with its owner
        assert done.returncode == 0, (label, done.stderr)
        listeners = parse_proc_listeners(done.stdout)
        (mine,) = [lsn for lsn in listeners if lsn.proto == "tcp" and lsn.port == port]
        assert [pid for _, pid in mine.processes] == [survivor.pid], label
        survivor.kill()
        survivor.wait()


def test_an_awk_that_keeps_failing_is_tried_four_times_and_says_why(tmp_path):
    # Given an awk that can never read its input (a directory: mawk ends on the read error)
    mawk = shutil.which("mawk")
    if mawk is None:
        pytest.skip("mawk is not installed")
    runs = tmp_path / "runs"
    script = rerun_on_read_error(f"echo run >>{runs}; {mawk} '{{ print }}' {tmp_path}")
    # When it runs
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    # Then it ran three times quietly and a fourth in the open: the status and words are awk's, once
    assert runs.read_text().splitlines() == ["run"] * 4
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{Path(mawk).name}: read error (Is a directory)"]

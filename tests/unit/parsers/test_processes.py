"""auditor.parsers.processes on real process lists: the recorded monitoring cases and live
processes started by the tests themselves (a copy of sleep under an odd name)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.parsers import processes as ps

CASES = Path(__file__).resolve().parents[2] / "checks" / "monitoring"


def recorded(case: str, probe: str) -> str:
    data: dict[str, Any] = yaml.safe_load((CASES / f"{case}.yaml").read_text(encoding="utf-8"))
    return str(data["outputs"][probe]["stdout"])


def sh(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def odd_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real sleep whose executable is named 'my agent x' (a space in comm and argv[0])."""
    program = tmp_path / "my agent x"
    shutil.copy("/bin/sleep", program)
    child = subprocess.Popen([str(program), "30"])
    try:
        for _ in range(100):  # until exec has happened
            if Path(f"/proc/{child.pid}/comm").read_text().strip() == "my agent x":
                break
            time.sleep(0.01)
        yield child, program
    finally:
        child.kill()
        child.wait()


def test_recorded_filtered_list_and_exe_links_merge():
    # Given the process list and exe links recorded in a PID namespace running node_exporter
    listed = ps.parse_ps(recorded("pass_node_exporter", "processes"))
    exes = ps.parse_exe_links(recorded("pass_node_exporter", "executables"))
    # When they are merged
    merged = ps.with_exes(listed, exes)
    # Then the exporter is there with its comm cut by the kernel and its full executable
    exporter = next(p for p in merged if p.comm == "prometheus-node")
    assert exporter.exe == "/usr/bin/prometheus-node-exporter"
    assert "prometheus-node-exporter" in exporter.names()
    assert exporter.args == "/usr/bin/prometheus-node-exporter"  # cut to argv[0] on the host


def test_columns_with_spaces_are_cut_by_header_position(odd_process):
    # Given a real process whose comm and argv[0] hold spaces
    child, program = odd_process
    # When the unfiltered process list is parsed
    found = {p.pid: p for p in ps.parse_ps(sh(ps.ps_script()))}
    # Then its comm and args are whole, and this test's own process is right too
    assert found[child.pid].comm == "my agent x"
    assert found[child.pid].args == f"{program} 30"
    me = found[os.getpid()]
    assert me.comm == Path("/proc/self/comm").read_text().strip() or me.comm.startswith("python")
    assert me.user


def test_filtered_list_keeps_only_named_processes_and_only_argv0(tmp_path):
    # Given a real process named 'acme-probe', started with arguments
    program = tmp_path / "acme-probe"
    shutil.copy("/bin/sleep", program)
    child = subprocess.Popen([str(program), "31"])
    try:
        time.sleep(0.1)
        # When the list is filtered on the host by that name
        text = sh(ps.ps_script(["acme-probe"]))
    finally:
        child.kill()
        child.wait()
    listed = ps.parse_ps(text)
    # Then only it is there, with argv[0] and no argument, and the trailer counts the rest
    assert [(p.pid, p.args) for p in listed] == [(child.pid, str(program))]
    assert text.rstrip().splitlines()[-1].endswith("processes")


def test_numeric_columns_around_text_columns():
    # Given real `ps -o pid,ppid,user,etimes,comm,args` output (two COMMAND headers)
    listed = ps.parse_ps(sh("ps -eo pid,ppid,user,etimes,comm,args"))
    me = next(p for p in listed if p.pid == os.getpid())
    # Then numeric columns, comm and args land where they belong
    assert me.fields["PPID"] == str(os.getppid())
    assert me.fields["ELAPSED"].isdigit()
    assert me.args.split()[0].endswith(("python", "python3", "python3.11")) or "pytest" in me.args


def test_deleted_executable_keeps_its_path(tmp_path):
    # Given a real process whose executable was removed after it started (an upgrade)
    program = tmp_path / "upgraded-agent"
    shutil.copy("/bin/sleep", program)
    child = subprocess.Popen([str(program), "32"])
    try:
        time.sleep(0.1)
        program.unlink()
        links = ps.parse_exe_links(sh(ps.EXE_SCRIPT))
    finally:
        child.kill()
        child.wait()
    # Then the exe link is read without its ' (deleted)' suffix
    assert links[child.pid] == str(program)


def test_no_header_is_an_error():
    # Given what the probe printed when ps could not run (recorded)
    with pytest.raises(ValueError, match="no ps header"):
        ps.parse_ps(recorded("error_ps_unusable", "processes"))


def _daemon_list_branches() -> tuple[str, str]:
    """The filtered list's /proc awk branch and its ps branch, each as a script of its own."""
    script = ps.ps_script(["chronyd", "rsyslogd", "my agent x", "zabbix_agentd"])
    then, _, rest = script.partition("\nelse ")
    return then.removeprefix("if [ -r /proc/self/comm ]; then"), rest.rsplit("\nfi", 1)[0]


def _program(pid: int) -> str:
    """The base name of the program `pid` runs now ("" when it cannot be read)."""
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


@pytest.fixture
def daemons(tmp_path: Path, odd_process: tuple[subprocess.Popen[bytes], Path]) -> Iterator[set[int]]:
    """Named processes as the shared list meets them: one by its path, one with a title
    ("rsyslogd: main", argv[0] with a blank), one with a secret argument run by nobody when the
    tests run as root, and one whose comm differs from its argv[0] (matched by argv[0] alone)."""
    # The programs sit where nobody may run them (pytest's folders are root's alone: a program
    # there never ran as nobody, and the list held only its zombie).
    where = Path(tempfile.mkdtemp(prefix="auditor-daemons-", dir="/tmp"))
    where.chmod(0o755)
    chronyd, rsyslogd, zabbix = (where / n for n in ("chronyd", "rsyslogd", "zabbix_agentd"))
    for program in (rsyslogd, zabbix):
        shutil.copy("/bin/sleep", program)
    shutil.copy("/bin/sh", chronyd)  # a shell takes the secret argument (sleep refused it and ended)
    nobody = ([str(shutil.which("setpriv")), "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
              if os.geteuid() == 0 and shutil.which("setpriv") else [])
    children = [
        # its own session, so that its sleep ends with it; `; :` keeps the shell from exec-ing sleep
        subprocess.Popen([*nobody, str(chronyd), "-c", "sleep 30; :", "chronyd", "--password=S3cret"],
                         start_new_session=True),
        subprocess.Popen(["bash", "-c", f"exec -a 'rsyslogd: main' {rsyslogd} 30"]),
        subprocess.Popen(["bash", "-c", f"exec -a {zabbix} sleep 30"]),
    ]
    try:
        # Popen returns after the first exec (setpriv, bash); wait for the programs themselves
        final = dict(zip((c.pid for c in children), ("chronyd", "rsyslogd", "sleep"), strict=True))
        deadline = time.monotonic() + 10
        while any(_program(pid) != name for pid, name in final.items()):
            assert time.monotonic() < deadline, {pid: _program(pid) for pid in final}
            time.sleep(0.01)
        yield {odd_process[0].pid, *(c.pid for c in children)}
    finally:
        os.killpg(children[0].pid, signal.SIGKILL)
        for child in children:
            child.kill()
            child.wait()
        shutil.rmtree(where)


def test_the_proc_awk_lists_the_named_daemons_as_the_ps_branch_does(daemons, tmp_path):
    # Given the filtered list's two branches: one awk over /proc, and ps with its filter
    by_awk, by_ps = _daemon_list_branches()
    gnu = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    shells: list[tuple[list[str], dict[str, str]]] = [(["dash"], gnu), (["bash"], gnu)]
    if box := shutil.which("busybox"):  # busybox's awk (its strings end at a NUL), the system's ps
        for applet in ("sh", "awk"):
            (tmp_path / applet).symlink_to(box)
        shells.append(([box, "sh"], {**gnu, "PATH": f"{tmp_path}:/usr/bin:/bin"}))
    seen = []
    for shell, env in shells:
        # When each branch runs
        listed = []
        for script in (by_awk, by_ps):
            out = subprocess.run([*shell, "-c", script], capture_output=True, text=True, check=True,
                                 env=env, timeout=60).stdout
            assert out.rstrip().splitlines()[-1].endswith("processes") and "S3cret" not in out
            listed.append({(p.pid, p.user, p.comm, p.args) for p in ps.parse_ps(out) if p.pid in daemons})
        # Then both list the four processes alike: user, comm and argv[0]'s first word
        assert listed[0] == listed[1] and len(listed[0]) == 4, (shell, listed)
        seen.append(listed[0])
    # And every shell lists the same
    assert all(one == seen[0] for one in seen), seen

"""The process probes that fork less on the host: auth_logging, monitoring and
admin_change_audit share one `ps` script (the batch runs it once), the executables probe has
find read the links the shell's glob lists, and monitoring's units probe formats systemctl's
lines with the shell's read; the clock probe asks timedatectl only where systemd runs, and
the uid is read by the shell. Real shells, this machine's /proc, stand-in commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.check import Check, Params
from auditor.engine import batch, registry
from auditor.parsers import processes as ps
from auditor.probes import effective_uid
from checks.monitoring import read_units

SHELLS = [[path] for name in ("dash", "bash") if (path := shutil.which(name))]
if box := shutil.which("busybox"):
    SHELLS.append([box, "sh"])


def _check(check_id: str) -> Check:
    return registry.load(plugins=False).checks[check_id]


def _script(check_id: str, probe: str, params: Params | None = None) -> str:
    check = _check(check_id)
    probe_of = next(p for p in check.probes if p.name == probe)
    return probe_of.render({**check.default_params(), **(params or {})})


SHARING = ("auth_logging", "monitoring", "admin_change_audit")


def test_the_three_process_probes_are_one_script_that_the_batch_runs_once():
    # Given the three checks' process probes with their default parameters
    scripts = [_script(check_id, "processes") for check_id in SHARING]
    # When the batch is built from them
    probes = [batch.PlannedProbe(f"{check_id}.processes", script, root=False, ok_rc=(0,))
              for check_id, script in zip(SHARING, scripts, strict=True)]
    planned = batch.build(probes, sudo=False)
    # Then they are one script, run once, and `ps` appears once in the batch
    assert len(set(scripts)) == 1
    assert len(set(planned.runs)) == 1
    assert planned.script.count(b"ps -ww -eo") == 1


def test_every_name_a_check_looks_for_is_in_its_filter_shared_or_not():
    # Given monitoring with an extra agent of the inventory's
    custom = _script("monitoring", "processes", {"agents": ["my-agentd"]})
    # Then its own script keeps every shared name and adds the agent (so it runs on its own)
    assert "my-agentd" in custom and custom != _script("auth_logging", "processes")
    for name in ps.DAEMONS:
        assert name in custom
    # And the names each check judges are in the shared filter
    from checks import auth_logging, monitoring
    judged = {*auth_logging.LOGGERS, *auth_logging.TIME_SYNC, "auditd",
              *monitoring._program_names(monitoring.CHECK.default_params())}
    assert judged <= ps.DAEMONS


def test_the_shared_list_keeps_only_the_named_daemons_with_argv0_only(tmp_path):
    # Given a running process named like a watched daemon, with a secret on its command line
    exe = tmp_path / "chronyd"
    shutil.copy("/bin/dash" if shutil.which("dash") else "/bin/sh", exe)
    process = subprocess.Popen([str(exe), "-c", "sleep 30; :", "--password=S3cret"])
    try:
        # When the shared probe runs
        out = subprocess.run(["/bin/sh", "-c", _script("admin_change_audit", "processes")],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    finally:
        process.kill()
        process.wait()
    # Then the daemon is listed by argv[0] alone, and this test's own python is not listed
    listed = {p.pid: p for p in ps.parse_ps(out)}
    assert listed[process.pid].args == str(exe) and "S3cret" not in out
    assert os.getpid() not in listed


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: os.path.basename(s[-1]))
def test_the_executables_probe_reads_the_links_of_every_process(shell):
    # Given this machine's processes, their exe links as Python reads them before and after the
    # probe (other processes start, exec and end meanwhile: only the steady ones are compared)
    before = _readable_exe_links()
    links = ps.parse_exe_links(subprocess.run([*shell, "-c", ps.EXE_SCRIPT], capture_output=True, text=True,
                                              check=True, timeout=60).stdout)
    after = _readable_exe_links()
    steady = {pid: path for pid, path in before.items() if after.get(pid) == path}
    # Then every steady process is there, as readlink gives it, this one included
    assert links[os.getpid()] == steady[os.getpid()]
    assert {pid: links.get(pid) for pid in steady} == steady


def _readable_exe_links() -> dict[int, str]:
    readable = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                readable[int(entry.name)] = os.readlink(entry / "exe").removesuffix(" (deleted)")
            except OSError:
                continue
    return readable


def test_the_busybox_branch_of_the_executables_probe_reads_the_same_links(tmp_path):
    # Given busybox's applets alone on PATH (its find has no -printf: the ls branch)
    box = shutil.which("busybox")
    if box is None:
        pytest.skip("busybox is not installed")
    for applet in ("find", "ls", "awk"):
        (tmp_path / applet).symlink_to(box)
    env = {"PATH": str(tmp_path), "LC_ALL": "C"}
    # When both branches run
    busybox_links = ps.parse_exe_links(subprocess.run([box, "sh", "-c", ps.EXE_SCRIPT], capture_output=True,
                                                      text=True, check=True, timeout=60, env=env).stdout)
    gnu_links = ps.parse_exe_links(subprocess.run(["/bin/sh", "-c", ps.EXE_SCRIPT], capture_output=True,
                                                  text=True, check=True, timeout=60).stdout)
    # Then the processes both saw have the same executables
    both = set(busybox_links) & set(gnu_links)
    assert os.getpid() in both
    assert {pid: busybox_links[pid] for pid in both} == {pid: gnu_links[pid] for pid in both}


def test_old_and_new_executables_lines_parse_alike():
    # Given the lines of the probe before ("pid<TAB>exe") and today ("/proc/pid<TAB>exe")
    old = "12\t/usr/sbin/smartd\n13\t/usr/bin/agent (deleted)\n"
    new = "/proc/12\t/usr/sbin/smartd\n/proc/13\t/usr/bin/agent (deleted)\n/proc/2\t\n"
    # Then both read as the same links
    expected = {12: "/usr/sbin/smartd", 13: "/usr/bin/agent"}
    assert ps.parse_exe_links(old) == ps.parse_exe_links(new) == expected


SYSTEMCTL_LINES = ("prometheus-node-exporter.service enabled enabled\n"
                   "smartd.service                   alias   -\n"
                   "\n"
                   "smartmontools.service            masked-runtime enabled\n")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: os.path.basename(s[-1]))
def test_the_units_probe_reads_systemctl_as_the_awk_did(shell, tmp_path):
    # Given a stand-in systemctl printing unit files as `list-unit-files --no-legend` does
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\nprintf '%s' '" + SYSTEMCTL_LINES + "'\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LC_ALL": "C"}
    script = _script("monitoring", "units")
    before = "\n".join(["command -v systemctl >/dev/null 2>&1 && "
                        "systemctl | awk '{ print \"unit\\t\" $1 \"\\t\" $2 }'"])
    # When the probe runs, and the awk it replaced reads the same lines
    got = read_units(subprocess.run([*shell, "-c", script], capture_output=True, text=True, check=True,
                                    timeout=60, env=env).stdout)
    awk = read_units(subprocess.run([*shell, "-c", before], capture_output=True, text=True, check=True,
                                    timeout=60, env=env).stdout)
    # Then the unit states are the same
    assert got.states == {k: v for k, v in awk.states.items() if k}
    assert got.states["smartmontools.service"] == "masked-runtime" and got.systemctl


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: os.path.basename(s[-1]))
def test_the_clock_probe_asks_timedatectl_only_on_a_system_booted_with_systemd(shell, tmp_path):
    # Given a stand-in timedatectl that would say the clock is synchronised
    fake = tmp_path / "timedatectl"
    fake.write_text("#!/bin/sh\necho yes\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LC_ALL": "C"}
    # When the clock probe runs
    out = subprocess.run([*shell, "-c", _script("auth_logging", "clock")], capture_output=True, text=True,
                         check=True, timeout=60, env=env).stdout
    # Then it asked timedatectl where systemd runs (sd_booted), and says unknown elsewhere
    assert out == ("yes\n" if Path("/run/systemd/system").is_dir() else "unknown\n")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: os.path.basename(s[-1]))
def test_probes_read_their_uid_without_id(shell, tmp_path):
    # Given the probes that report the uid they ran as, with no `id` on PATH
    env = {"PATH": str(tmp_path), "LC_ALL": "C"}
    for script in (effective_uid("uid") + '\necho "uid $uid"',):
        # When they run
        out = subprocess.run([*shell, "-c", script], capture_output=True, text=True, check=False, timeout=60,
                             env=env).stdout
        # Then the shell read it from /proc/self/status
        assert out == f"uid {os.geteuid()}\n"
    kernel = subprocess.run([*shell, "-c", _script("admin_change_audit", "kernel")], capture_output=True,
                            text=True, check=True, timeout=60, env=env).stdout
    assert kernel.splitlines()[0] == f"#uid {os.geteuid()}"

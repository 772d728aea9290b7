"""ssh_hardening's listening-daemons shell (one `ls -l` and one awk for every sshd process, no
second `sshd -T` for a daemon that runs the installed configuration) under dash, bash and
busybox sh with only busybox applets. Two real processes named sshd hold real listening
sockets on loopback: one started with no -f or -o, one with both, each with argv[0]
/usr/sbin/sshd (the executable is this machine's Python, through a link named sshd)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from auditor.parsers import sshd
from checks.ssh_hardening import DAEMONS_SCRIPT
from checks.ssh_hardening._probes import LS_PIDS
from tests.unit.proc_race import awk_paths, run_while_ending

GNU_PATH = "/usr/local/bin:/usr/bin:/bin"
APPLETS = ("sh", "ls", "awk", "tr")  # what the daemons shell calls
# Listens on loopback, says its port, and waits for its stdin to close.
LISTEN = ("import socket,sys;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
          "print(s.getsockname()[1],flush=True);sys.stdin.read()")


def _shells(applets: Path) -> list[tuple[str, list[str], str]]:
    found = [(name, [name], GNU_PATH) for name in ("dash", "bash") if shutil.which(name)]
    if box := shutil.which("busybox"):
        for applet in APPLETS:
            (applets / applet).symlink_to(box)
        found.append(("busybox", [box, "sh"], str(applets)))
    return found


class Fake(NamedTuple):
    process: subprocess.Popen[str]
    port: int


@pytest.fixture
def daemons() -> Iterator[tuple[Path, Fake, Fake]]:
    """(the executable, a daemon with no options, a daemon with -f and -o), both listening."""
    # No `-` in the directory's name: the path is one of the quiet daemon's arguments.
    where = Path(tempfile.mkdtemp(prefix="sshdfake", dir="/tmp"))
    exe = Path(os.path.realpath(sys.executable))
    (where / "sshd").symlink_to(exe)  # the kernel names the process after the link: comm "sshd"
    (where / "listen.py").write_text(LISTEN + "\n")
    started: list[Fake] = []
    try:
        for args in ([str(where / "listen.py")],
                     ["-c", LISTEN, "-D", "-f", "/etc/ssh/sshd_config_internal", "-o", "Port=2222"]):
            process = subprocess.Popen(["/usr/sbin/sshd", *args], executable=where / "sshd", text=True,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       env={"PYTHONHOME": sys.base_prefix})  # not found from a link
            assert process.stdout is not None
            started.append(Fake(process, 0))
            started[-1] = Fake(process, int(process.stdout.readline()))
        yield exe, started[0], started[1]
    finally:
        for fake in started:
            fake.process.kill()
            fake.process.wait()
        shutil.rmtree(where)


def _run(argv: list[str], path: str, script: str) -> str:
    done = subprocess.run([*argv, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "LC_ALL": "C"}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _ours(text: str, pids: set[int]) -> list[str]:
    """The probe's lines about the test's daemons (this machine may run other sshd listeners)."""
    kept, mine = [], False
    for line in text.splitlines():
        if line.startswith("#daemon "):
            mine = int(line.split()[1]) in pids
        if mine:
            kept.append(line)
    return kept


def test_each_listening_sshd_is_read_alike_in_every_shell(daemons, tmp_path):
    exe, quiet, loud = daemons
    shells = _shells(tmp_path)
    if len(shells) < 2:
        pytest.skip("fewer than two of dash, bash and busybox are installed")
    # Given the two daemons, and the installed configuration's binary being the quiet one's
    script = f"bin={exe}\n{DAEMONS_SCRIPT}"
    pids = {quiet.process.pid, loud.process.pid}
    # When the daemons shell runs under each shell and tool set
    outputs = {label: _run(argv, path, script) for label, argv, path in shells}
    # Then all agree on the two daemons, line for line
    first = _ours(next(iter(outputs.values())), pids)
    assert all(_ours(out, pids) == first for out in outputs.values()), outputs
    found = {d.pid: d for d in sshd.parse_daemons(sshd.split_daemons(next(iter(outputs.values())))[1] or "")
             .daemons}
    parsed = sshd.parse_daemons("\n".join(first))
    assert [d.pid for d in parsed.daemons] == sorted(pids, key=str)
    # And each is named with its listening socket, its uid and its binary
    for fake in (quiet, loud):
        daemon = found[fake.process.pid]
        assert daemon.exe == str(exe) and daemon.uid == os.getuid()
        assert len(daemon.inodes) == 1
    listeners = sshd.parse_daemons(sshd.split_daemons(next(iter(outputs.values())))[1] or "")
    assert f"127.0.0.1:{quiet.port}" in listeners.endpoints(found[quiet.process.pid])
    if os.getuid() != 0:  # sshd -T runs for root's daemons only
        assert all("not root" in found[pid].not_judged for pid in pids)
        return
    # And the one with no -f or -o, run by the installed binary, gets no sshd -T of its own
    assert found[quiet.process.pid].runs_installed and found[quiet.process.pid].rc is None
    assert found[quiet.process.pid].options == []
    # And the other one's -f and -o are passed to its own binary's -T (Python's, which refuses it)
    assert found[loud.process.pid].options == ["-f", "/etc/ssh/sshd_config_internal", "-o", "Port=2222"]
    assert not found[loud.process.pid].runs_installed and found[loud.process.pid].rc not in (None, 0)


def test_a_daemon_of_another_binary_with_no_option_still_runs_its_own_sshd_t(daemons, tmp_path):
    exe, quiet, _ = daemons
    if os.getuid() != 0:
        pytest.skip("sshd -T runs for root's daemons only")
    # Given the installed configuration's sshd being another binary than the daemon's
    script = f"bin=/usr/sbin/sshd\n{DAEMONS_SCRIPT}"
    # When the daemons shell runs
    found = {d.pid: d for d in sshd.parse_daemons(sshd.split_daemons(_run(["sh"], GNU_PATH, script))[1] or "")
             .daemons}
    # Then the daemon's own binary ran -T (what it prints may differ from the installed one's)
    daemon = found[quiet.process.pid]
    assert not daemon.runs_installed and daemon.rc is not None and daemon.options == []
    assert daemon.exe == str(exe)


def test_a_listener_line_of_the_old_probe_and_the_marker_parse():
    # Given the daemons section as the probe printed it before `#runs-installed`, and as it prints it now
    old = ("#listen tcp 00000000:0016 11\n#daemon 7 uid=0 inodes=11 exe=/usr/sbin/sshd\n"
           "#cmdline sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups \nport 22\n#sshd-T-rc 0\n")
    new = old.replace("port 22\n#sshd-T-rc 0\n", "#runs-installed\n")
    # When both are parsed
    before, after = sshd.parse_daemons(old).daemons[0], sshd.parse_daemons(new).daemons[0]
    # Then both name the same daemon with no options; only the new one says it ran no sshd -T
    assert (before.pid, before.options, before.rc, before.runs_installed) == (7, [], 0, False)
    assert (after.pid, after.options, after.rc, after.runs_installed) == (7, [], None, True)
    assert after.output == [] and after.cmdline == before.cmdline


@pytest.mark.parametrize("title", [
    "sshd: /usr/sbin/sshd -D -f /etc/ssh/x -o Ciphers aes128-ctr -o Port=2 -p 22 [listener] 0 of 10-100 x",
    "sshd: /usr/sbin/sshd -D  -oMaxAuthTries=3 -o Banner [listener] 1 of 10-100 startups",
    "sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups",
])
def test_a_listener_title_is_split_by_the_shell_as_awk_splits_it(title, tmp_path):
    # Given a listener's title as /proc/<pid>/cmdline holds it (one argument, then NUL padding)
    (tmp_path / "cmdline").write_bytes(title.encode() + b"\0")
    # The probe's words() reads /proc/$1/cmdline: a relative $1 reaches the file written here
    where = os.path.relpath(tmp_path, "/proc")
    args = title.removeprefix("sshd: ").split(" [listener]")[0].partition(" ")[2]
    for label, argv, path in _shells(tmp_path):
        # When words() splits it by the shell (a title with [listener]) and by awk (any other)
        script = (f"{DAEMONS_SCRIPT}\nargs='{args}'\ncmdline='{title}'\necho +++\nwords {where}\n"
                  f"echo ---\ncmdline=argv\nwords {where}\n")
        by_shell, _, by_awk = _run(argv, path, script).partition("+++\n")[2].partition("---\n")
        # Then both give the same words, one a line, with `-o Key value` joined back
        assert by_shell == by_awk, label
        assert by_awk.splitlines() == _expected_words(args), label


def _expected_words(args: str) -> list[str]:
    words, found = args.split(), []
    while words:
        if words[0] == "-o" and len(words) >= 3 and "=" not in words[1]:
            found += ["-o", f"{words[1]} {words[2]}"]
            words = words[3:]
        else:
            found.append(words.pop(0))
    return found


def test_sshd_processes_are_listed_in_bounded_ls_calls_with_the_same_result(daemons):
    exe, quiet, loud = daemons
    # Given the daemons shell as it is, and with one process per ls (as past LS_PIDS processes)
    whole = f"bin={exe}\n{DAEMONS_SCRIPT}"
    limit = f"-ge {2 * LS_PIDS} ]"
    assert limit in whole
    one_by_one = whole.replace(limit, "-ge 2 ]")
    # When both run
    pids = {quiet.process.pid, loud.process.pid}
    # Then they name the same daemons, in the same order, alike
    assert _ours(_run(["sh"], GNU_PATH, one_by_one), pids) == _ours(_run(["sh"], GNU_PATH, whole), pids)
    assert len(_ours(_run(["sh"], GNU_PATH, whole), pids)) > 2


def test_only_the_listeners_sshd_holds_leave_the_host(daemons, tmp_path):
    exe, quiet, loud = daemons
    # Given a listener on loopback that no sshd holds (this test's own), beside the two daemons
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        # When the daemons shell runs under each shell
        script = f"bin={exe}\n{DAEMONS_SCRIPT}"
        outputs = {label: _run(argv, path, script) for label, argv, path in _shells(tmp_path)}
    for label, out in outputs.items():
        listening = sshd.parse_daemons(sshd.split_daemons(out)[1] or "").listening
        ports = {found_port for _, _, found_port in listening.values()}
        # Then the daemons' listeners are there and the other one is not (it is not this
        # check's, and each one opened or closed elsewhere would change the evidence)
        assert {quiet.port, loud.port} <= ports and port not in ports, (label, out)
        held = {int(i) for line in out.splitlines() if line.startswith("#daemon ")
                for i in line.split("inodes=")[1].split()[0].split(",") if i}
        assert set(listening) <= held, (label, out)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_daemon_that_ends_as_its_status_is_read_leaves_the_other_listed(daemons, tmp_path):
    exe, quiet, loud = daemons
    awks = awk_paths(tmp_path)
    if "mawk" not in awks and "gawk" not in awks:
        pytest.skip("neither mawk nor gawk (the awks that end on a read error) is installed")
    # Given the quiet daemon ending while the probe's awk reads its status (mawk and gawk end
    # on that read error: before, no daemon was listed and ssh_hardening said `error`)
    label, path = next((name, awks[name]) for name in ("mawk", "gawk") if name in awks)
    # When the daemons shell runs
    done = run_while_ending(["sh", "-c", f"bin={exe}\n{DAEMONS_SCRIPT}"], quiet.process, "status",
                            {"PATH": path, "LC_ALL": "C"}, tmp_path / "strace")
    # Then it ends well, and the loud daemon is listed with its listener, the quiet one not at all
    assert done.returncode == 0, (label, done.stderr)
    found = {d.pid: d for d in sshd.parse_daemons(sshd.split_daemons(done.stdout)[1] or "").daemons}
    assert loud.process.pid in found and quiet.process.pid not in found, done.stdout
    assert len(found[loud.process.pid].inodes) == 1


# Listens on loopback, says its port and sleeps: read from stdin, where a program whose only
# argument is a title finds its code.
TITLED = ("import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
          "print(s.getsockname()[1],flush=True);time.sleep(60)")


@pytest.mark.parametrize("title", [
    "sshd: /usr/sbin/sshd -D -f /etc/ssh/x -o Port=2 [listener] 0 of 10-100 startups",
    "sshd: /usr/sbin/sshd -D -o Banner=/etc/a\tb [listener] 0 of 10-100 startups",  # a tab: tr
])
def test_a_listener_title_is_read_by_the_shell_as_tr_read_it(title, tmp_path):
    # Given a process named sshd whose whole command line is a listener's title, as sshd sets it
    where = tmp_path / "bin"
    where.mkdir()
    (where / "sshd").symlink_to(os.path.realpath(sys.executable))
    process = subprocess.Popen([title], executable=where / "sshd", text=True, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env={"PYTHONHOME": sys.base_prefix})
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(TITLED)
        process.stdin.close()
        int(process.stdout.readline())
        # (the count of logins in progress after "[listener]" is cut: it only says when we looked)
        with_tr = title.replace("\t", " ").split(" [listener] ")[0] + " [listener]"
        assert Path(f"/proc/{process.pid}/cmdline").read_text() == title + "\0"
        for label, argv, path in _shells(tmp_path):
            # When the daemons shell runs
            out = _run(argv, path, f"bin=/usr/sbin/sshd\n{DAEMONS_SCRIPT}")
            (daemon,) = [d for d in sshd.parse_daemons(sshd.split_daemons(out)[1] or "").daemons
                         if d.pid == process.pid]
            # Then its command line is the title, as tr made it (NULs, tabs as blanks, trimmed), up to
            # "[listener]"
            assert daemon.cmdline == with_tr.strip(), (label, daemon.cmdline)
            if os.getuid() == 0 and "-f" in title:
                # And its -f and -o are read from it
                assert daemon.options == ["-f", "/etc/ssh/x", "-o", "Port=2"], (label, daemon.options)
    finally:
        process.kill()
        process.wait()

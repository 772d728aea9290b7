"""Probes rewritten to fork less on the host give what the per-item form gave: the fscrypt
probe's one lsattr per file system, and the facts probe's shell reads. They run under dash,
bash and busybox sh on this machine's real files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from auditor.check import ProbeOutput
from auditor.engine.plan import FACTS_SCRIPT, parse_facts
from checks.disk_encryption import MAX_TOP_ENTRIES, TOP_ENTRIES

SHELLS = [shell for shell in (["dash"], ["bash"], ["busybox", "sh"]) if shutil.which(shell[0])]


def _run(shell: list[str], script: str) -> str:
    return subprocess.run([*shell, "-c", script], capture_output=True, check=True, timeout=60).stdout.decode()


def _flags_one_by_one(entry: Path) -> str:
    """What the probe printed before: one `lsattr -d` per entry."""
    if entry.is_symlink():
        return "L"
    done = subprocess.run(["lsattr", "-d", "--", str(entry)], capture_output=True, check=False)
    return done.stdout.decode().split(" ", 1)[0] if done.returncode == 0 and done.stdout else "?"


@pytest.mark.skipif(shutil.which("lsattr") is None, reason="lsattr (e2fsprogs) is not installed")
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_one_lsattr_per_file_system_gives_each_entry_its_own_flags(shell, tmp_path):
    # Given a top level with files, directories, hidden names, blanks, a backslash, a leading
    # dash, a newline in a name, a link, a dangling link, a FIFO and a socket (lsattr fails on
    # the last two, so the lines after them must still land on the right entries)
    top = tmp_path / "top"
    top.mkdir()
    for name in ("a", "b c", "-dash", ".hid", "..dd", "back\\slash", "new\nline", "z"):
        (top / name).write_text("x")
    (top / "d").mkdir()
    (top / "link").symlink_to("a")
    (top / "dangling").symlink_to("/nonexistent-auditor-target")
    os.mkfifo(top / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(top / "sock"))
        # When the probe's function lists it
        out = _run(shell, TOP_ENTRIES + f"top_entries '{top}'\n")
    # Then every entry has the flags lsattr gives it alone, in the shell's glob order
    lines = out.split(f"{top}\t")[1:]
    got = {line.split("\t", 1)[1].rstrip("\n"): line.split("\t", 1)[0] for line in lines}
    expected = {p.name: _flags_one_by_one(p) for p in top.iterdir()}
    assert got == expected
    assert got["fifo"] == got["sock"] == "?" and got["link"] == got["dangling"] == "L"


@pytest.mark.skipif(shutil.which("lsattr") is None, reason="lsattr (e2fsprogs) is not installed")
def test_a_top_level_past_the_limit_is_cut_one_entry_past_it(tmp_path):
    # Given more top-level entries than are judged
    for i in range(MAX_TOP_ENTRIES + 50):
        (tmp_path / f"f{i:04d}").write_text("")
    # When the probe's function lists them
    out = _run(["/bin/sh"], TOP_ENTRIES + f"top_entries '{tmp_path}'\n")
    # Then it stops one line past the limit, each line an entry of its own
    lines = out.splitlines()
    assert len(lines) == MAX_TOP_ENTRIES + 1
    assert [line.rsplit("\t", 1)[1] for line in lines] == [f"f{i:04d}" for i in range(MAX_TOP_ENTRIES + 1)]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_the_facts_probe_reads_what_the_commands_would_print(shell):
    # Given the facts probe, which reads the hostname and os-release itself
    out = _run(shell, FACTS_SCRIPT)
    # When its output is parsed
    facts = parse_facts(ProbeOutput("_host.facts", out, "", 0, None, False, (0,)))
    # Then each fact is what the command for it prints here
    def command(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    assert facts["hostname"] == Path("/proc/sys/kernel/hostname").read_text().strip()
    assert facts["kernel"] == command("uname", "-sr") and facts["arch"] == command("uname", "-m")
    assert facts["user"] == command("id", "-un") and facts["uid"] == command("id", "-u")
    pretty = command("sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\"")
    assert facts["os"] == pretty
    assert facts["clock_utc"].endswith("Z")

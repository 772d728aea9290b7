"""The /proc readers behind the portable probes (issue 12 item 5): the process list where ps
cannot print the checks' columns (busybox), and listening sockets where ss is missing. The
scripts run under this machine's /bin/sh on its real /proc."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
from pathlib import Path

import pytest

from auditor.parsers.processes import EXE_SCRIPT, PROC_PS_SCRIPT, parse_exe_links, parse_ps
from auditor.parsers.sockets import PROC_LISTENERS_SCRIPT, SocketParseError, parse_proc_listeners


def _sh(script: str) -> str:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_the_proc_process_list_reads_as_ps_output():
    # Given the /proc reader run on this machine
    # When its output is parsed as a ps listing
    processes = {p.pid: p for p in parse_ps(_sh(PROC_PS_SCRIPT))}
    # Then this test's own process is there, with its user, command name and argv
    me = processes[os.getpid()]
    assert me.user == pwd.getpwuid(os.getuid()).pw_name
    assert me.args == " ".join(Path(f"/proc/{os.getpid()}/cmdline").read_text().split("\0")[:-1])
    assert me.comm == Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_the_exe_links_are_read():
    # Given the executables probe
    links = parse_exe_links(_sh(EXE_SCRIPT))
    # Then this process's interpreter is named
    assert os.path.basename(links[os.getpid()]).startswith("python")


def test_a_listener_and_its_owner_are_read_from_proc():
    # Given a TCP socket this process holds open in LISTEN state
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        # When the /proc reader runs
        listeners = parse_proc_listeners(_sh(PROC_LISTENERS_SCRIPT))
    # Then the listener is there, on loopback, owned by this process
    (mine,) = [lsn for lsn in listeners if lsn.proto == "tcp" and lsn.port == port]
    assert mine.address == "127.0.0.1" and mine.loopback_only
    assert [pid for _, pid in mine.processes] == [os.getpid()]


def test_a_garbled_proc_listener_line_is_a_named_error():
    # Given output with a cut listener line
    # Then parsing says which line
    with pytest.raises(SocketParseError, match="line 2"):
        parse_proc_listeners("#proc-net-listeners\n#listen tcp 0100007F\n")

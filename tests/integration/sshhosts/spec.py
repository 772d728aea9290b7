"""The harness's public data types and constants: what a test host looks like (``HostSpec``,
``Planted``, ``Service``) and what a running one is (``TestHost``).
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
STOCK_SSHD_CONFIG = "/etc/ssh/sshd_config"  # where a stock daemon reads its configuration
LOOPBACK = "127.0.0.1"
ROOT_USER = "root"
READY_TIMEOUT_S = 10.0
SERVICE_READY_TIMEOUT_S = 15.0
SETUP_TIMEOUT_S = 60.0
STOP_GRACE_S = 3.0
# Another process can grab the probed free port before sshd binds it.
PORT_ATTEMPTS = 5
POLL_INTERVAL_S = 0.005
LOG_TAIL_LINES = 25
PROBE_BANNER = b"SSH-2.0-sshhosts_readiness_probe\r\n"

# Network-namespace hosts: one random /30 of this range each, sshd on port 22.
NETNS_RANGE = ipaddress.IPv4Network("10.213.0.0/16")
NETNS_SSH_PORT = 22
VETH_PREFIX = "sshh"  # + 8 random hex digits: 12 characters, under IFNAMSIZ
VETH_INSIDE = "eth0"
# Another pytest process may pick the same name or subnet at the same moment.
VETH_ATTEMPTS = 20
# What commands the harness starts inside a host see, instead of the test's environment.
STOCK_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}
# Written by the in-namespace shell once the planted files are mounted.
MOUNTED_MARKER = b"mounted\n"
_CLONE_NEWNET = 0x40000000

_HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Planted:
    """One planted file."""

    content: str | bytes
    mode: int = 0o644
    mtime: float | None = None  # epoch seconds; None = now
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Service:
    """A real server started inside a test host's namespaces, before sshd, as root.

    ``argv`` must stay in the foreground (``nginx -g 'daemon off;'``,
    ``rsyslogd -n``, ``cron -f``).  Its stdout and stderr go to
    ``<host dir>/<name>.log``.  ``start()`` waits until a TCP connect to the
    host's ``address:ready_port`` succeeds (made inside the host's network
    namespace when it has one; for a server bound to loopback only, a connect
    to 127.0.0.1 or ::1 there counts), or until ``ready_path`` exists as the
    host sees it, for at most ``ready_timeout`` seconds; with neither, the
    service only has to be still running once sshd is up.  ``env`` is added to
    ``STOCK_ENV``.
    """

    name: str
    argv: tuple[str, ...]
    ready_port: int | None = None
    ready_path: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    ready_timeout: float = SERVICE_READY_TIMEOUT_S


@dataclass
class HostSpec:
    """What one test host looks like.

    ``files`` maps an absolute path on the host to its content.  ``replace_dirs``
    lists directories whose whole content is replaced by the planted files
    under them.  ``extra_sshd_config`` is added to the generated sshd_config:
    lines before its first ``Match`` go *before* the harness defaults (sshd
    keeps the first value it reads, so they can override them), ``Match``
    blocks go at the end.  ``network_namespace``, ``pid_namespace``, ``setup``
    and ``services`` are described in the module docstring.  ``stock_daemon``:
    sshd starts as a distribution starts it, ``sshd -D`` reading
    /etc/ssh/sshd_config (the generated config bind-mounted there, inside the
    host's mount namespace), not ``-f <config>``: what the process-walking
    probes then see is a stock daemon.
    """

    name: str
    files: dict[str, Planted | str | bytes] = field(default_factory=dict)
    replace_dirs: tuple[str, ...] = ()
    extra_sshd_config: str = ""
    network_namespace: bool = False
    pid_namespace: bool = False
    setup: tuple[tuple[str, ...], ...] = ()
    services: tuple[Service, ...] = ()
    stock_daemon: bool = False


@dataclass(frozen=True)
class TestHost:
    """A running test host."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    address: str
    port: int
    pid: int  # the sshd listener, as seen from the test machine (PID 1 inside a pid namespace)
    root_dir: Path  # planted /etc/login.defs lives at root_dir / "etc/login.defs"
    host_public_key: str  # "ssh-ed25519 AAAA..."
    log_path: Path  # sshd's stderr
    startup_seconds: float
    network_namespace: bool = False
    pid_namespace: bool = False
    service_pids: dict[str, int] = field(default_factory=dict, hash=False)  # as seen from the machine

    @property
    def known_hosts_line(self) -> str:
        return f"{_known_hosts_name(self.address, self.port)} {self.host_public_key}"

    def run(self, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root inside all of the host's namespaces; never raises on exit codes."""
        return subprocess.run(
            [*_nsenter(self.pid, self.network_namespace, self.pid_namespace), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env=STOCK_ENV,
            timeout=timeout,
            check=False,
        )


class SshdStartError(RuntimeError):
    """A host did not come up; the message carries the tail of the relevant log."""


def _known_hosts_name(address: str, port: int) -> str:
    # OpenSSH and paramiko look up port 22 without brackets.
    return address if port == NETNS_SSH_PORT else f"[{address}]:{port}"


def _nsenter(pid: int, network: bool, pids: bool) -> list[str]:
    """The command prefix that runs a command inside all of ``pid``'s host namespaces."""
    return ["nsenter", "-t", str(pid), "-m", *(["-n"] if network else []), *(["-p"] if pids else []), "--"]

"""Real OpenSSH test hosts for integration tests.

Each test host is one ``/usr/sbin/sshd -D -e -f <config>`` process.  By default it
listens on 127.0.0.1:<free port> and is started inside its own private mount
namespace::

    setpriv --pdeathsig KILL -- \\
        unshare --mount --propagation private \\
                [--net] [--pid --fork --kill-child --mount-proc] -- \\
        sh -c 'set -e; mount --bind ...; echo mounted; read go; exec /usr/sbin/sshd -D -e -f cfg'

Inside that namespace the planted files are bind-mounted over the real paths,
so every command run over SSH on the host sees the planted ``/etc/shadow``,
``/etc/login.defs``, ``/var/log/`` ... instead of the machine's own.  The
mounts are private to the namespace and vanish with its last process; the
harness never writes the machine's real files.  Paths that are *not* planted
are the machine's real ones, though: a command run over SSH (as root) that
writes there changes the real machine.

Between ``mounted`` and ``go`` the harness prepares the host from outside
(in this order), then lets the shell exec sshd:

* ``network_namespace=True``: the host gets a network namespace of its own
  (``unshare --net``; it dies with its last process, so nothing can outlive the
  host).  A veth pair joins it to the test machine: ``sshh<random>`` here,
  ``eth0`` inside, a random free /30 of 10.213.0.0/16 (the machine side gets the
  first address, the host the second: ``TestHost.address``).  Loopback is up
  inside; there is no default route, no NAT and no forwarding, so the host can
  reach nothing but the test machine's end of its veth.  sshd listens on
  ``<address>:22`` only.  Servers bound to 0.0.0.0 inside are reachable from
  the test machine at ``<address>:<port>`` and not on its 127.0.0.1; firewall
  rules loaded inside affect only the host.  The host gets a fresh sysfs (as
  ``ip netns exec`` does), so ``/sys/class/net`` lists its own interfaces; the
  machine's sysfs submounts (``/sys/fs/cgroup``) are not there.  The veth pair
  is deleted when the host stops (and goes with the namespace in any case).
* ``pid_namespace=True``: the host gets its own PID namespace and its own
  ``/proc``, so ``ps``, ``pgrep``, ``/proc/*`` and ``ss -p`` over SSH see only
  the host's processes (sshd is PID 1 there).  When that PID 1 dies, the kernel
  kills everything in the namespace.
* ``setup`` commands run as root inside all of the host's namespaces (a
  non-zero exit fails ``start()`` with its output), then each ``Service`` is
  started there, in order, and waited for (``ready_port``/``ready_path``);
  its stdout and stderr go to ``<host dir>/<service>.log``.
* ``TestHost.run(argv)`` runs a command the same way after start-up
  (``nsenter -t <sshd> -m [-n] [-p]``).

Commands started by the harness inside a host (setup, services, ``run``) get a
stock environment (``STOCK_ENV`` plus the service's ``env``), not the test's.

Planting rules (see ``HostSpec``):

* A planted file outside every ``replace_dirs`` entry is bind-mounted over an
  existing regular file.  Bind mounts need an existing target, so if the real
  path does not exist a ``ValueError`` asks you to list its parent directory in
  ``replace_dirs`` instead.
* A directory listed in ``replace_dirs`` is replaced by a fresh directory that
  holds only the planted files under it (list a nested directory too, e.g.
  ``/var/log/journal``, to get it as an empty directory).  Replacing ``/run``
  is fine: the harness recreates the empty ``/run/sshd`` that sshd needs.
* Only root logs in (with ``client_key``).  With ``UsePAM no`` sshd refuses
  public-key logins to accounts whose shadow password field starts with ``!``
  (locked) or whose account expiry date has passed.  A planted ``/etc/shadow``
  that would do that to root raises ``ValueError``: the harness never rewrites
  planted evidence behind the test's back.  Likewise a planted ``/etc/passwd``
  must keep a usable root entry.
* The test sshd reads only its own generated config, so planting
  ``/etc/ssh/sshd_config`` is safe (it is just evidence for the checks).
* sshd records logins in ``/var/log/wtmp`` and ``/var/log/lastlog`` only for
  sessions with a pty; plain ``exec`` sessions (what paramiko's
  ``exec_command`` uses) leave planted log files untouched.

Usage::

    require_sshd_support()            # pytest.skip()s without root / sshd
    require_namespace_support()       # ... and without netns/veth/pidns, for hosts using them
    with SshdFleet(tmp_path) as fleet:
        host = fleet.start(HostSpec("web1", files={"/etc/login.defs": "..."}))
        db = fleet.start(HostSpec("db1", network_namespace=True, pid_namespace=True,
                                  services=(Service("listener", ("socat", ...), ready_port=5432),)))
        ...  # connect to host.address:host.port as root with fleet.client_key,
             # trusting fleet.known_hosts

Every started process is killed (and waited for) by ``SshdFleet.stop`` /
``__exit__``: the host's processes are found by their mount namespace, which
everything the harness starts in a host joins (the harness holds it open until
then, so its id cannot pass to another test process's host).  An ``atexit`` hook is the
safety net for fleets that were never closed, and ``--pdeathsig KILL`` covers a
test process that dies outright (it reaches sshd and every service process the
harness started; with ``pid_namespace=True`` also everything they forked, as
the namespace dies with its PID 1; use it for services that fork workers).
"""


from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import functools
import ipaddress
import os
import pwd
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

SSHD = Path("/usr/sbin/sshd")
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


# --------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------


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
    and ``services`` are described in the module docstring.
    """

    name: str
    files: dict[str, Planted | str | bytes] = field(default_factory=dict)
    replace_dirs: tuple[str, ...] = ()
    extra_sshd_config: str = ""
    network_namespace: bool = False
    pid_namespace: bool = False
    setup: tuple[tuple[str, ...], ...] = ()
    services: tuple[Service, ...] = ()


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


# --------------------------------------------------------------------------
# Environment support
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def sshd_support_problem() -> str | None:
    """Why real sshd test hosts cannot run here, or None if they can."""
    if not sys.platform.startswith("linux"):
        return "sshd test hosts need Linux mount namespaces"
    if os.geteuid() != 0:
        return "sshd test hosts need root (sshd, unshare --mount, bind mounts)"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not found; install openssh-server"
    for tool in ("unshare", "nsenter", "mount", "ssh-keygen", "sh"):
        if shutil.which(tool) is None:
            return f"'{tool}' not found on PATH"
    try:
        pwd.getpwnam("sshd")
    except KeyError:
        return "privilege-separation user 'sshd' missing; install openssh-server"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"unshare --mount does not work here: {probe.stderr.strip()}"
    return None


def require_sshd_support() -> None:
    """``pytest.skip`` with a clear reason when sshd test hosts cannot run."""
    _skip_if("real sshd test hosts unavailable", sshd_support_problem())


@functools.lru_cache(maxsize=1)
def namespace_support_problem() -> str | None:
    """Why hosts with network/PID namespaces cannot run here, or None if they can."""
    problem = sshd_support_problem()
    if problem is not None:
        return problem
    if shutil.which("ip") is None:
        return "'ip' not found on PATH; install iproute2"
    if _libc_setns() is None:
        return "libc has no setns(); service readiness cannot be probed inside a network namespace"
    # Everything below happens in throwaway namespaces: the machine is not touched.
    probe = subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "--net", "--pid", "--fork",
            "--kill-child", "--mount-proc", "--", "sh", "-c",
            "ip link set lo up && ip link add sshhprobe0 type veth peer name sshhprobe1",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return (
            "network/PID namespaces or veth pairs do not work here "
            f"(unshare --net --pid, ip link add type veth): {probe.stderr.strip()}"
        )
    return None


def require_namespace_support() -> None:
    """``pytest.skip`` with a clear reason when hosts with network/PID namespaces cannot run."""
    _skip_if("namespaced sshd test hosts unavailable", namespace_support_problem())


def _skip_if(what: str, problem: str | None) -> None:
    if problem is not None:
        import pytest  # only needed under pytest; keeps the harness importable

        pytest.skip(f"{what}: {problem}", allow_module_level=True)


@functools.lru_cache(maxsize=1)
def _sshd_version() -> tuple[int, int]:
    result = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stdout + result.stderr)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@functools.lru_cache(maxsize=1)
def _libc_setns() -> Callable[[int, int], int] | None:
    libc = ctypes.CDLL(None, use_errno=True)
    setns: Callable[[int, int], int] | None = getattr(libc, "setns", None)
    return setns


# --------------------------------------------------------------------------
# Process bookkeeping (shared by all fleets, so atexit can clean up)
# --------------------------------------------------------------------------


@dataclass
class _Running:
    popen: subprocess.Popen[bytes]  # setpriv/unshare; sshd itself unless pid_namespace
    mnt_ns: str | None  # "mnt:[4026532177]" once known (and pinned by mnt_ns_fd)
    inner_pid: int | None = None  # the shell that becomes sshd (PID 1 of a pid namespace)
    pid_ns: str | None = None  # "pid:[4026532180]" of a pid-namespace host
    veth: str | None = None  # the machine's end of the host's veth pair
    helpers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # services
    mnt_ns_fd: int | None = None


_registry_lock = threading.Lock()
_running: dict[int, _Running] = {}  # launcher pid -> record
_owned_dirs: set[Path] = set()


def _namespace(pid: int, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:  # gone, or a zombie (zombies have no namespaces left)
        return None


def _mount_namespace(pid: int) -> str | None:
    return _namespace(pid, "mnt")


def _pin_mount_namespace(record: _Running, pid: int) -> None:
    """Record ``pid``'s mount namespace as the host's, and hold it open until the host is swept.

    The kernel hands a freed namespace's inode number to the next namespace
    anyone creates; another test process's new host could otherwise take the
    number while our sweep still looks for it.  Before unshare(2) has run, the
    child is in *our* namespace; treating that as the host's namespace would
    make cleanup kill the whole machine, so it is not recorded.
    """
    if record.mnt_ns_fd is not None:
        return
    try:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # gone, or a zombie
        return
    namespace = f"mnt:[{os.fstat(fd).st_ino}]"
    if namespace == _mount_namespace(os.getpid()):
        os.close(fd)
        return
    record.mnt_ns, record.mnt_ns_fd = namespace, fd


def _namespace_members(mnt_ns: str) -> set[int]:
    """PIDs living in a host's private mount namespace.

    sshd's per-connection children call setsid() and get re-parented when the
    listener dies, so neither the process group nor the parent link finds
    them; the namespace does, and only our own processes can be in it
    (services and setup commands join it through nsenter, and so does unshare
    itself when it forks a pid namespace's PID 1).
    """
    members: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _mount_namespace(int(entry)) == mnt_ns:
            members.add(int(entry))
    return members


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (this kernel has no /proc/<pid>/task/<pid>/children)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat_line.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _delete_link(name: str) -> None:
    # Deleting one end of a veth pair deletes both, at once (a dying network
    # namespace would remove them too, but asynchronously).
    subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)


def _terminate(record: _Running, grace: float = STOP_GRACE_S) -> None:
    """Remove the veth pair, SIGTERM the host's processes, SIGKILL them after ``grace``.

    In a pid namespace only the processes inside get SIGTERM: the ``unshare``
    and ``nsenter`` parents outside exit by themselves once their child is gone.
    Killing such a parent first would hand its child's zombie to the machine's
    init, and the namespace's PID 1 cannot finish dying until init reaps it.
    """
    if record.veth is not None:
        _delete_link(record.veth)
        record.veth = None
    _pin_mount_namespace(record, record.popen.pid)  # no-op once pinned
    popens = [record.popen, *record.helpers]
    signalled: set[int] = set()

    def remaining() -> set[int]:
        return _namespace_members(record.mnt_ns) if record.mnt_ns else set()

    def inside(pid: int) -> bool:
        return record.pid_ns is None or _namespace(pid, "pid") == record.pid_ns

    if record.pid_ns is None:
        for popen in popens:
            popen.send_signal(signal.SIGTERM)  # no-op once reaped: safe from PID reuse
    deadline = time.monotonic() + grace
    while True:
        members = remaining()
        for pid in members - signalled:  # also catches children forked meanwhile
            if inside(pid):
                _signal(pid, signal.SIGTERM)
            signalled.add(pid)
        if all(popen.poll() is not None for popen in popens) and not members:
            break
        if time.monotonic() >= deadline:
            for popen in popens:
                popen.send_signal(signal.SIGKILL)
            for pid in members:
                _signal(pid, signal.SIGKILL)
            break
        time.sleep(POLL_INTERVAL_S)

    for popen in popens:
        popen.wait()
    # Killed session processes are reaped by init, not by us; wait until they
    # have at least turned into zombies (they then leave the namespace).
    deadline = time.monotonic() + grace
    while (members := remaining()) and time.monotonic() < deadline:
        for pid in members:
            _signal(pid, signal.SIGKILL)
        time.sleep(POLL_INTERVAL_S)
    if record.mnt_ns_fd is not None:
        os.close(record.mnt_ns_fd)
        record.mnt_ns, record.mnt_ns_fd = None, None


def _cleanup_at_exit() -> None:
    with _registry_lock:
        records = list(_running.values())
        _running.clear()
        dirs = list(_owned_dirs)
        _owned_dirs.clear()
    for record in records:
        with contextlib.suppress(Exception):  # best effort: keep cleaning the rest
            _terminate(record)
    for directory in dirs:
        shutil.rmtree(directory, ignore_errors=True)


atexit.register(_cleanup_at_exit)


# --------------------------------------------------------------------------
# Planning a host's file system view
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    files: dict[str, Planted]
    replace_dirs: tuple[str, ...]  # sorted parents-first, includes nested ones
    mounted_dirs: tuple[str, ...]  # replace_dirs not inside another one
    mounted_files: tuple[str, ...]  # planted files outside every replace_dir
    made_dirs: tuple[str, ...]  # empty directories sshd needs, inside a replace_dir


def _normalise_path(path: str, what: str) -> str:
    if not path.startswith("/") or os.path.normpath(path) != path or path.startswith("//"):
        raise ValueError(f"{what} {path!r} must be an absolute, normalised path")
    if path == "/":
        raise ValueError(f"{what} cannot be '/'")
    return path


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _as_text(content: str | bytes) -> str:
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _check_root_can_log_in(files: dict[str, Planted]) -> None:
    shadow = files.get("/etc/shadow")
    if shadow is not None:
        today = int(time.time() // 86400)
        for line in _as_text(shadow.content).splitlines():
            fields = line.split(":")
            if fields[0] != ROOT_USER:
                continue
            password = fields[1] if len(fields) > 1 else ""
            if password.startswith("!"):
                raise ValueError(
                    "planted /etc/shadow locks root (password field starts with '!'); "
                    "sshd with UsePAM=no then refuses the harness's public-key login. "
                    "Plant root as e.g. 'root:*:...' or '$6$...' and put locked "
                    "accounts under other user names."
                )
            expire = fields[7].strip() if len(fields) > 7 else ""
            if expire.lstrip("-").isdigit() and int(expire) != -1 and int(expire) < today:
                raise ValueError(
                    f"planted /etc/shadow expires root's account (field 8 = {expire}, "
                    f"today = {today}); sshd would refuse the harness's login as root."
                )
    passwd = files.get("/etc/passwd")
    if passwd is not None:
        for line in _as_text(passwd.content).splitlines():
            fields = line.split(":")
            if fields[0] == ROOT_USER and len(fields) >= 7:
                if fields[2] != "0" or fields[6].endswith(("nologin", "false")):
                    raise ValueError(
                        "planted /etc/passwd gives root a non-zero uid or no login "
                        "shell; the harness logs in as root to run commands."
                    )
                return
        raise ValueError("planted /etc/passwd has no root entry; the harness logs in as root.")




def _plan(spec: HostSpec, needed_by_sshd: tuple[str, ...], dirs_for_sshd: tuple[str, ...]) -> _Plan:
    """Check and lay out the planted view.

    ``needed_by_sshd`` must stay the machine's own; ``dirs_for_sshd`` are empty
    directories sshd needs, recreated when a ``replace_dirs`` entry hides them.
    """
    replace_dirs = sorted(
        {_normalise_path(d, "replace_dirs entry") for d in spec.replace_dirs},
        key=lambda d: (d.count("/"), d),
    )
    for directory in replace_dirs:
        for needed in needed_by_sshd:
            if _is_within(needed, directory):
                raise ValueError(
                    f"replace_dirs entry {directory!r} would hide {needed}, which sshd "
                    "needs; replace a narrower directory."
                )
    made_dirs = tuple(
        d for d in dirs_for_sshd if any(_is_within(d, r) for r in replace_dirs) and d not in replace_dirs
    )
    mounted_dirs = tuple(
        d for d in replace_dirs if not any(_is_within(d, o) for o in replace_dirs if o != d)
    )
    for directory in mounted_dirs:
        if not os.path.isdir(directory):
            raise ValueError(
                f"replace_dirs entry {directory!r} is not an existing directory on this "
                "machine (a bind mount needs one); list its parent in replace_dirs instead."
            )

    files: dict[str, Planted] = {}
    for raw_path, value in spec.files.items():
        path = _normalise_path(raw_path, "planted file")
        files[path] = value if isinstance(value, Planted) else Planted(value)

    mounted_files: list[str] = []
    for path in sorted(files):
        if path in replace_dirs:
            raise ValueError(f"{path!r} is both a planted file and a replace_dirs entry")
        if any(_is_within(path, d) for d in (*dirs_for_sshd, *made_dirs)):
            raise ValueError(f"cannot plant {path!r}: sshd needs {path!r}'s directory for itself")
        if any(_is_within(path, d) for d in replace_dirs):
            continue  # staged inside the fresh directory
        if not os.path.isfile(path):
            parent = os.path.dirname(path)
            raise ValueError(
                f"cannot plant {path!r}: it is not an existing regular file on this "
                f"machine, and bind mounts need an existing target. Add its parent "
                f"directory {parent!r} to HostSpec.replace_dirs to plant it there."
            )
        mounted_files.append(path)
    for path in files:
        for other in files:
            if other != path and _is_within(other, path):
                raise ValueError(f"planted file {path!r} is also the parent of {other!r}")

    _check_root_can_log_in(files)
    return _Plan(files, tuple(replace_dirs), mounted_dirs, tuple(mounted_files), made_dirs)


def _stage(plan: _Plan, root_dir: Path) -> None:
    """Write the planted tree under ``root_dir`` (mirroring absolute paths)."""
    root_dir.mkdir(parents=True)
    for directory in plan.replace_dirs:  # parents first
        staged = root_dir / directory.lstrip("/")
        staged.mkdir(parents=True, exist_ok=True)
        # Keep the real directory's owner and mode: checks may look at them.
        try:
            real = os.stat(directory)
            mode, uid, gid = stat.S_IMODE(real.st_mode), real.st_uid, real.st_gid
        except FileNotFoundError:
            mode, uid, gid = 0o755, 0, 0
        os.chown(staged, uid, gid)
        os.chmod(staged, mode)
    for directory in plan.made_dirs:
        staged = root_dir / directory.lstrip("/")
        staged.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o755)  # sshd refuses a privilege-separation dir others can write
    for path, planted in plan.files.items():
        staged = root_dir / path.lstrip("/")
        staged.parent.mkdir(parents=True, exist_ok=True)
        data = planted.content.encode() if isinstance(planted.content, str) else planted.content
        staged.write_bytes(data)
        os.chown(staged, planted.uid, planted.gid)
        os.chmod(staged, planted.mode)  # after chown: chown clears setuid bits
        if planted.mtime is not None:
            os.utime(staged, (planted.mtime, planted.mtime))


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _generate_key(path: Path, comment: str) -> str:
    """Make an ed25519 key pair (OpenSSH format, no passphrase); return the public key."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    key_type, key_data = path.with_name(path.name + ".pub").read_text().split()[:2]
    return f"{key_type} {key_data}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _known_hosts_name(address: str, port: int) -> str:
    # OpenSSH and paramiko look up port 22 without brackets.
    return address if port == NETNS_SSH_PORT else f"[{address}]:{port}"


def _nsenter(pid: int, network: bool, pids: bool) -> list[str]:
    """The command prefix that runs a command inside all of ``pid``'s host namespaces."""
    return ["nsenter", "-t", str(pid), "-m", *(["-n"] if network else []), *(["-p"] if pids else []), "--"]


def _config_value(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\n'):
        raise ValueError(f"path unusable in sshd_config: {text!r}")
    return f'"{text}"'


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {log_path})"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or f"({log_path.name} is empty)"


def _listener_inode(pid: int, address: str, port: int) -> str | None:
    """Socket inode of the TCP listener on address:port in ``pid``'s network namespace."""
    wanted = f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"  # as /proc/net/tcp spells it
    try:
        with open(f"/proc/{pid}/net/tcp") as table:
            rows = table.readlines()[1:]
    except OSError:  # pid gone
        return None
    for row in rows:
        cols = row.split()
        if cols[1] == wanted and cols[3] == "0A":  # 0A = LISTEN
            return cols[9]
    return None


def _listener_inodes(pid: int, port: int) -> set[str]:
    """Inodes of TCP listeners on ``port`` (any address, IPv4 or IPv6) in ``pid``'s network namespace."""
    inodes: set[str] = set()
    for table_name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table_name}") as table:
                rows = table.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[1].endswith(f":{port:04X}") and cols[3] == "0A":
                inodes.add(cols[9])
    return inodes


def _owns_socket(pid: int, inode: str) -> bool:
    target = f"socket:[{inode}]"
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _serves_banner(address: str, port: int, deadline: float) -> bool:
    """Connect once and check for an SSH-2.0 banner."""
    timeout = max(0.05, min(2.0, deadline - time.monotonic()))
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            if conn.recv(256).startswith(b"SSH-2.0-"):
                # Closing without a banner of our own makes sshd log an error.
                conn.sendall(PROBE_BANNER)
                return True
    except OSError:  # refused (not listening yet) or timed out
        pass
    return False


def _socket_in_netns(pid: int, family: socket.AddressFamily) -> socket.socket:
    """A TCP socket that belongs to ``pid``'s network namespace.

    A socket stays in the namespace it was made in; setns(2) moves only the
    calling thread, so a short-lived thread joins the namespace to make it.
    """
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            setns = _libc_setns()
            if setns is None:
                raise OSError("libc has no setns()")
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into pid {pid}'s network namespace: {os.strerror(errno)}")
            finally:
                os.close(fd)
            made.append(socket.socket(family, socket.SOCK_STREAM))
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    thread = threading.Thread(target=make, name=f"sshhosts-netns-{pid}", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def _atomic_write(path: Path, text: str) -> None:
    # Readers (paramiko in another thread) never see a half-written file.
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _ipv4_addresses() -> list[tuple[str, ipaddress.IPv4Interface]]:
    """(interface, address/prefix) of every IPv4 address on the test machine."""
    listing = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True)
    found: list[tuple[str, ipaddress.IPv4Interface]] = []
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            found.append((fields[1], ipaddress.IPv4Interface(fields[3])))
    return found


def _random_free_subnet() -> ipaddress.IPv4Network:
    used = [interface.network for _, interface in _ipv4_addresses()]
    for _ in range(1000):
        offset = 4 * secrets.randbelow(NETNS_RANGE.num_addresses // 4)
        subnet = ipaddress.IPv4Network((int(NETNS_RANGE.network_address) + offset, 30))
        if not any(subnet.overlaps(network) for network in used):
            return subnet
    raise SshdStartError(f"no free /30 left in {NETNS_RANGE} on this machine")


# --------------------------------------------------------------------------
# The fleet
# --------------------------------------------------------------------------


def _with_stock_shell_rc(spec: HostSpec) -> HostSpec:
    """Give root an empty ~/.bashrc inside the host unless the test plants its own.

    Debian's bash reads ~/.bashrc even for an sshd command; this machine's runs
    `pyenv init`, which costs ~200 ms per exec and can stall on a stale rehash lock.
    Test hosts should behave like stock servers.
    """
    bashrc = "/root/.bashrc"
    if bashrc in spec.files or not Path(bashrc).is_file():
        return spec
    if any(_is_within(bashrc, d) for d in spec.replace_dirs):
        return spec
    return dataclasses.replace(spec, files={**spec.files, bashrc: ""})


def _check_services(spec: HostSpec) -> None:
    seen: set[str] = set()
    for service in spec.services:
        if not _HOST_NAME_RE.match(service.name) or service.name == "sshd":
            raise ValueError(
                f"service name {service.name!r} must match {_HOST_NAME_RE.pattern} and not be 'sshd'"
            )
        if service.name in seen:
            raise ValueError(f"two services of host {spec.name!r} are named {service.name!r}")
        seen.add(service.name)
        if not service.argv:
            raise ValueError(f"service {service.name!r} has an empty argv")
        if service.ready_path is not None:
            _normalise_path(service.ready_path, f"ready_path of service {service.name!r}")
    for command in spec.setup:
        if not command:
            raise ValueError(f"host {spec.name!r} has an empty setup command")


class SshdFleet:
    """A set of sshd test hosts sharing one client key and one known_hosts file.

    ``with SshdFleet(tmp_path) as fleet:`` -- all files live in a fresh
    directory under ``workdir`` (default: the system temp dir) that is removed
    on exit unless ``keep_workdir`` is set.  ``start`` may be called from any
    thread; the parent-death safety signal is armed only for the main thread,
    because Linux sends it when the *thread* that started sshd exits.
    """

    def __init__(self, workdir: Path | None = None, *, keep_workdir: bool = False) -> None:
        problem = sshd_support_problem()
        if problem is not None:
            raise RuntimeError(f"cannot run sshd test hosts: {problem}")
        self.dir = Path(tempfile.mkdtemp(prefix="sshd-fleet-", dir=workdir))
        self.keep_workdir = keep_workdir
        if not keep_workdir:
            with _registry_lock:
                _owned_dirs.add(self.dir)
        self._lock = threading.Lock()
        self._hosts: dict[str, TestHost] = {}
        self._reserved: set[str] = set()  # names being started right now
        self._closed = False

        self.client_key = self.dir / "client_ed25519"
        client_public = _generate_key(self.client_key, "sshhosts-client")
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.write_text(client_public + "\n")
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.host_public_key = _generate_key(self.host_key, "sshhosts-fleet-host")
        self.known_hosts = self.dir / "known_hosts"
        self._write_known_hosts()
        self._impostor_public_key: str | None = None
        # The package normally creates sshd's privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)

    # -- context manager -------------------------------------------------

    def __enter__(self) -> SshdFleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every host this fleet started and remove its directory."""
        with self._lock:
            self._closed = True
            hosts = list(self._hosts.values())
        errors: list[BaseException] = []
        for host in hosts:
            try:
                self.stop(host)
            except Exception as error:  # keep stopping the others
                errors.append(error)
        if not self.keep_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)
            with _registry_lock:
                _owned_dirs.discard(self.dir)
        if errors:
            raise errors[0]

    # -- hosts -----------------------------------------------------------

    @property
    def hosts(self) -> list[TestHost]:
        with self._lock:
            return list(self._hosts.values())

    def start(self, spec: HostSpec, *, own_host_key: bool = False) -> TestHost:
        """Start one host; ``own_host_key`` gives it a host key no other host has."""
        if not _HOST_NAME_RE.match(spec.name):
            raise ValueError(f"host name {spec.name!r} must match {_HOST_NAME_RE.pattern}")
        _check_services(spec)
        if spec.network_namespace or spec.pid_namespace:
            problem = namespace_support_problem()
            if problem is not None:
                raise RuntimeError(f"cannot run namespaced sshd test hosts: {problem}")
        with self._lock:
            if self._closed:
                raise RuntimeError("fleet is closed")
            if spec.name in self._hosts or spec.name in self._reserved:
                raise ValueError(f"a host named {spec.name!r} is already running")
            self._reserved.add(spec.name)
        try:
            host = self._start(spec, own_host_key)
        finally:
            with self._lock:
                self._reserved.discard(spec.name)
        with self._lock:
            closed = self._closed
            if not closed:
                self._hosts[host.name] = host
                self._write_known_hosts()
        if closed:  # close() ran meanwhile and will not know about this host
            self.stop(host)
            raise RuntimeError("fleet was closed while the host was starting")
        return host

    def _start(self, spec: HostSpec, own_host_key: bool) -> TestHost:
        began = time.monotonic()
        host_dir = self.dir / "hosts" / spec.name
        spec = _with_stock_shell_rc(spec)
        plan = _plan(
            spec,
            needed_by_sshd=(str(self.dir), str(SSHD), "/etc/passwd"),
            dirs_for_sshd=("/run/sshd",),
        )
        shutil.rmtree(host_dir, ignore_errors=True)  # an earlier run of this name
        root_dir = host_dir / "root"
        _stage(plan, root_dir)

        host_key, public_key = self.host_key, self.host_public_key
        if own_host_key:
            host_key = host_dir / "ssh_host_ed25519_key"
            public_key = _generate_key(host_key, f"sshhosts-{spec.name}-host")

        config_path = host_dir / "sshd_config"
        log_path = host_dir / "sshd.log"
        mounts = [(root_dir / d.lstrip("/"), d) for d in plan.mounted_dirs]
        mounts += [(root_dir / f.lstrip("/"), f) for f in plan.mounted_files]
        # The shell mounts, reports, waits for the harness to prepare the host
        # (network, setup, services, sshd_config), then becomes sshd.  The TERM
        # trap matters as PID 1 of a pid namespace, which ignores signals it has
        # no handler for.  A network namespace gets its own sysfs, as with
        # `ip netns exec`, so that /sys/class/net lists the host's interfaces.
        fresh_sysfs = ["mount -t sysfs sysfs /sys"] if spec.network_namespace else []
        script = "; ".join(
            ["set -e", "trap 'exit 143' TERM", *fresh_sysfs]
            + [f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in mounts]
            + ["echo mounted", "exec >&2", "read go", "exec </dev/null"]
            + [f"exec {shlex.quote(str(SSHD))} -D -e -f {shlex.quote(str(config_path))}"]
        )
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if spec.network_namespace:
            unshare.append("--net")
        if spec.pid_namespace:
            # --kill-child: if unshare dies, PID 1 and with it the whole namespace die.
            unshare += ["--pid", "--fork", "--kill-child", "--mount-proc"]
        command = [*unshare, "--", "sh", "-c", script]
        if _can_arm_pdeathsig():
            # If the test process dies without running atexit, sshd dies too.
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]

        attempts = 1 if spec.network_namespace else PORT_ATTEMPTS
        for _ in range(attempts):
            record = self._spawn(command, log_path)
            try:
                started = self._prepare_and_exec(
                    spec, record, host_dir, config_path, log_path, host_key
                )
            except BaseException:
                self._forget(record)
                raise
            if started is not None:
                break
            self._forget(record)  # lost the port to someone else: try another
        else:
            raise SshdStartError(
                f"sshd for host {spec.name!r} could not bind a free port in "
                f"{attempts} attempts; last log:\n{_log_tail(log_path)}"
            )
        address, port, service_pids = started
        assert record.inner_pid is not None

        return TestHost(
            name=spec.name,
            address=address,
            port=port,
            pid=record.inner_pid,
            root_dir=root_dir,
            host_public_key=public_key,
            log_path=log_path,
            startup_seconds=time.monotonic() - began,
            network_namespace=spec.network_namespace,
            pid_namespace=spec.pid_namespace,
            service_pids=service_pids,
        )

    def _prepare_and_exec(
        self,
        spec: HostSpec,
        record: _Running,
        host_dir: Path,
        config_path: Path,
        log_path: Path,
        host_key: Path,
    ) -> tuple[str, int, dict[str, int]] | None:
        """Bring one spawned host up; None if sshd lost its loopback port to another process."""
        popen = record.popen
        assert popen.stdin is not None and popen.stdout is not None
        _await_marker(spec.name, popen, log_path)
        popen.stdout.close()
        if spec.pid_namespace:
            record.inner_pid = _only_child(spec.name, popen.pid)
            record.pid_ns = _namespace(record.inner_pid, "pid")
        else:
            record.inner_pid = popen.pid  # unshare and sh exec into sshd
        _pin_mount_namespace(record, record.inner_pid)
        if record.mnt_ns is None:
            raise SshdStartError(f"host {spec.name!r} is not in a private mount namespace")

        if spec.network_namespace:
            address, port = _connect_veth(spec.name, record), NETNS_SSH_PORT
        else:
            address, port = LOOPBACK, _free_port()
        for argv in spec.setup:
            _run_setup(spec, record.inner_pid, argv)
        started = [(s, *self._start_service(spec, record, s, address, host_dir)) for s in spec.services]

        config_path.write_text(self._sshd_config(address, port, host_key, spec.extra_sshd_config))
        try:
            popen.stdin.write(b"go\n")
            popen.stdin.close()
        except BrokenPipeError as error:
            raise SshdStartError(
                f"host {spec.name!r} exited before sshd started; log tail:\n{_log_tail(log_path)}"
            ) from error
        if not self._wait_until_ready(spec.name, record, address, port, log_path):
            return None
        for service, _, helper in started:  # e.g. those without a readiness condition
            if helper.poll() is not None:
                raise _service_exited(spec.name, service, helper, host_dir)
        return address, port, {service.name: pid for service, pid, _ in started}

    def _start_service(
        self, spec: HostSpec, record: _Running, service: Service, address: str, host_dir: Path
    ) -> tuple[int, subprocess.Popen[bytes]]:
        """Start ``service`` inside the host and wait until it is ready; return its PID and process."""
        assert record.inner_pid is not None and record.mnt_ns is not None
        log_path = host_dir / f"{service.name}.log"
        command = [*_nsenter(record.inner_pid, spec.network_namespace, spec.pid_namespace), *service.argv]
        if _can_arm_pdeathsig():
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
        with open(log_path, "wb") as log:
            helper = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**STOCK_ENV, **dict(service.env)},
                start_new_session=True,
            )
        with _registry_lock:
            record.helpers.append(helper)

        service_pid: int | None = None if spec.pid_namespace else helper.pid  # nsenter -p forks
        deadline = time.monotonic() + service.ready_timeout
        while True:
            if helper.poll() is not None:
                raise _service_exited(spec.name, service, helper, host_dir)
            if service_pid is None:
                children = _children(helper.pid)
                service_pid = children[0] if children else None
            if service_pid is not None and _service_ready(spec, record, service, address):
                return service_pid, helper
            if time.monotonic() >= deadline:
                raise SshdStartError(
                    f"service {service.name!r} of host {spec.name!r} not ready after "
                    f"{service.ready_timeout:g}s ({_readiness(service)}); log tail:\n{_log_tail(log_path)}"
                )
            time.sleep(POLL_INTERVAL_S)

    def _sshd_config(self, address: str, port: int, host_key: Path, extra: str) -> str:
        extra_lines = extra.splitlines()
        match_at = next(
            (i for i, line in enumerate(extra_lines) if line.strip().lower().startswith("match ")),
            len(extra_lines),
        )
        lines = [
            "# Generated by tests/integration/sshhosts.py",
            *extra_lines[:match_at],  # first value wins in sshd_config
            f"ListenAddress {address}:{port}",
            f"HostKey {_config_value(host_key)}",
            "PidFile none",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            f"AuthorizedKeysFile {_config_value(self.authorized_keys)}",
            "StrictModes no",
            "MaxSessions 50",
            "MaxStartups 200",
            "PrintMotd no",
            "PrintLastLog no",
            "LogLevel ERROR",
        ]
        if _sshd_version() >= (9, 8):
            # Newer sshd throttles a source address that drops connections
            # early; every test client comes from the same address.
            lines.append("PerSourcePenalties no")
        lines += extra_lines[match_at:]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _spawn(command: list[str], log_path: Path) -> _Running:
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # carries only the "mounted" marker
                stderr=log,
                start_new_session=True,  # terminal Ctrl-C goes to pytest, which cleans up
            )
        record = _Running(popen=popen, mnt_ns=None)
        with _registry_lock:
            _running[popen.pid] = record
        return record

    @staticmethod
    def _forget(record: _Running) -> None:
        _terminate(record)
        for pipe in (record.popen.stdin, record.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with _registry_lock:
            _running.pop(record.popen.pid, None)

    @staticmethod
    def _wait_until_ready(name: str, record: _Running, address: str, port: int, log_path: Path) -> bool:
        """True once our sshd serves its banner; False if it lost the port race."""
        popen = record.popen
        assert record.inner_pid is not None
        sshd_pid = record.inner_pid
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if popen.poll() is not None or _mount_namespace(sshd_pid) is None:
                popen.wait()
                log = _log_tail(log_path)
                if "Address already in use" in log:
                    return False
                raise SshdStartError(
                    f"sshd for host {name!r} exited with status {popen.returncode} before "
                    f"accepting connections; log tail:\n{log}"
                )
            # Probe only a listener our sshd owns: a stranger who won the
            # port race may accept connections and never send a banner.
            inode = _listener_inode(sshd_pid, address, port)
            if (
                inode is not None
                and _owns_socket(sshd_pid, inode)
                and _serves_banner(address, port, deadline)
            ):
                break
            time.sleep(POLL_INTERVAL_S)
        else:
            raise SshdStartError(
                f"sshd for host {name!r} not ready on {address}:{port} after "
                f"{READY_TIMEOUT_S:.0f}s; log tail:\n{_log_tail(log_path)}"
            )

        # The shell exec'd into sshd, so the PID we hold must be sshd itself.
        exe = os.readlink(f"/proc/{sshd_pid}/exe")
        if Path(exe) != SSHD.resolve():
            raise SshdStartError(f"pid {sshd_pid} for host {name!r} runs {exe}, not {SSHD}")
        return True

    def stop(self, host: TestHost) -> None:
        """Kill the host's processes and remove its veth; its mounts go with its namespace."""
        with _registry_lock:
            launcher = next((pid for pid, r in _running.items() if r.inner_pid == host.pid), None)
            record = _running.get(launcher) if launcher is not None else None
        if record is not None:
            _terminate(record)
            with _registry_lock:
                _running.pop(record.popen.pid, None)
        with self._lock:
            if self._hosts.get(host.name) == host:
                del self._hosts[host.name]
                self._write_known_hosts()

    # -- client-side data ------------------------------------------------

    def inventory_hosts(self) -> dict[str, dict[str, object]]:
        """Running hosts in the shape of inventory entries."""
        return {
            host.name: {
                "address": host.address,
                "port": host.port,
                "user": ROOT_USER,
                "identity_file": str(self.client_key),
                "transport": "ssh",
            }
            for host in self.hosts
        }

    def known_hosts_without(self, *hosts: TestHost) -> Path:
        """A known_hosts file listing every running host except ``hosts``."""
        left_out = {host.name for host in hosts}
        path = self.dir / f"known_hosts.without-{'-'.join(sorted(left_out))}"
        _atomic_write(
            path, "".join(f"{h.known_hosts_line}\n" for h in self.hosts if h.name not in left_out)
        )
        return path

    def known_hosts_with_changed_key(self, host: TestHost) -> Path:
        """A known_hosts file where ``host`` is pinned to a key no host serves."""
        with self._lock:
            if self._impostor_public_key is None:
                self._impostor_public_key = _generate_key(self.dir / "impostor_ed25519", "impostor")
            impostor = self._impostor_public_key
        lines = [
            dataclasses.replace(h, host_public_key=impostor).known_hosts_line
            if h.name == host.name
            else h.known_hosts_line
            for h in self.hosts
        ]
        path = self.dir / f"known_hosts.changed-{host.name}"
        _atomic_write(path, "".join(f"{line}\n" for line in lines))
        return path

    def _write_known_hosts(self) -> None:  # caller holds self._lock (or is __init__)
        _atomic_write(
            self.known_hosts, "".join(f"{h.known_hosts_line}\n" for h in self._hosts.values())
        )


# --------------------------------------------------------------------------
# Start-up steps
# --------------------------------------------------------------------------


def _can_arm_pdeathsig() -> bool:
    return threading.current_thread() is threading.main_thread() and shutil.which("setpriv") is not None


def _await_marker(name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until the in-namespace shell has mounted the planted files."""
    assert popen.stdout is not None
    fd = popen.stdout.fileno()
    received = b""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not received.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SshdStartError(
                f"host {name!r} did not mount its planted files within {READY_TIMEOUT_S:.0f}s; "
                f"log tail:\n{_log_tail(log_path)}"
            )
        chunk = os.read(fd, 64)
        if not chunk:  # the shell exited: a mount failed
            raise SshdStartError(
                f"host {name!r} failed before sshd started (exit status {popen.wait()}); "
                f"log tail:\n{_log_tail(log_path)}"
            )
        received += chunk
    if received != MOUNTED_MARKER:
        raise SshdStartError(f"host {name!r}: unexpected start-up output {received!r}")


def _only_child(name: str, launcher_pid: int) -> int:
    """PID 1 of a host's pid namespace: the one child of its ``unshare --fork``."""
    children = _children(launcher_pid)
    if len(children) != 1:
        raise SshdStartError(f"host {name!r}: expected one child of unshare, found {children}")
    return children[0]


def _connect_veth(name: str, record: _Running) -> str:
    """Join the host's network namespace to the machine by a veth pair; return the host's address."""
    assert record.inner_pid is not None
    last_error = ""
    for _ in range(VETH_ATTEMPTS):
        subnet = _random_free_subnet()
        outside, inside = subnet[1], subnet[2]
        link = f"{VETH_PREFIX}{secrets.token_hex(4)}"
        added = subprocess.run(
            ["ip", "link", "add", link, "type", "veth", "peer", "name", VETH_INSIDE,
             "netns", str(record.inner_pid)],
            capture_output=True, text=True, check=False,
        )
        if added.returncode != 0:
            last_error = added.stderr.strip()
            if "exists" in last_error:
                continue  # another process took this name just now
            raise SshdStartError(f"host {name!r}: cannot create a veth pair: {last_error}")
        record.veth = link
        _ip_batch(name, [], f"addr add {outside}/30 dev {link}\nlink set {link} up\n")
        clashes = [
            iface for iface, address in _ipv4_addresses()
            if iface != link and address.network.overlaps(subnet)
        ]
        if clashes:  # someone configured the same subnet at the same moment
            _delete_link(link)
            record.veth = None
            last_error = f"{subnet} also on {', '.join(clashes)}"
            continue
        _ip_batch(
            name,
            ["nsenter", "-t", str(record.inner_pid), "-n", "--"],
            f"addr add {inside}/30 dev {VETH_INSIDE}\nlink set {VETH_INSIDE} up\nlink set lo up\n",
        )
        return str(inside)
    raise SshdStartError(f"host {name!r}: no free veth name/subnet in {VETH_ATTEMPTS} attempts: {last_error}")


def _ip_batch(name: str, prefix: list[str], commands: str) -> None:
    done = subprocess.run(
        [*prefix, "ip", "-batch", "-"], input=commands, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SshdStartError(
            f"host {name!r}: network set-up failed ({commands.strip()!r}): {done.stderr.strip()}"
        )


def _run_setup(spec: HostSpec, inner_pid: int, argv: tuple[str, ...]) -> None:
    try:
        done = subprocess.run(
            [*_nsenter(inner_pid, spec.network_namespace, spec.pid_namespace), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env=STOCK_ENV,
            timeout=SETUP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise SshdStartError(
            f"setup command {shlex.join(argv)} of host {spec.name!r} did not finish in {SETUP_TIMEOUT_S:g}s"
        ) from error
    if done.returncode != 0:
        raise SshdStartError(
            f"setup command {shlex.join(argv)} of host {spec.name!r} exited with status "
            f"{done.returncode}; output:\n{done.stdout}{done.stderr}"
        )


def _service_ready(spec: HostSpec, record: _Running, service: Service, address: str) -> bool:
    assert record.inner_pid is not None and record.mnt_ns is not None
    if service.ready_path is not None:
        # /proc/<pid>/root resolves paths in that process's mount namespace.
        return os.path.lexists(f"/proc/{record.inner_pid}/root{service.ready_path}")
    if service.ready_port is None:
        return True
    # Connect only once the host has a listener on the port (cheap to read); on
    # the shared loopback of a host without a network namespace, only a
    # listener of the host's own processes counts.
    inodes = _listener_inodes(record.inner_pid, service.ready_port)
    if not spec.network_namespace:
        members = _namespace_members(record.mnt_ns)
        inodes = {inode for inode in inodes if any(_owns_socket(pid, inode) for pid in members)}
    if not inodes:
        return False
    # A server bound to loopback only (a database done right) is ready too.
    for target in dict.fromkeys((address, LOOPBACK, "::1")):
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        try:
            probe = (
                _socket_in_netns(record.inner_pid, family)
                if spec.network_namespace
                else socket.socket(family, socket.SOCK_STREAM)
            )
        except OSError:  # e.g. IPv6 disabled
            continue
        with probe:
            probe.settimeout(1.0)
            try:
                probe.connect((target, service.ready_port))
                return True
            except OSError:
                continue
    return False


def _readiness(service: Service) -> str:
    if service.ready_path is not None:
        return f"waiting for {service.ready_path}"
    return f"waiting for TCP port {service.ready_port}"


def _service_exited(
    host_name: str, service: Service, helper: subprocess.Popen[bytes], host_dir: Path
) -> SshdStartError:
    return SshdStartError(
        f"service {service.name!r} of host {host_name!r} exited with status {helper.wait()}; "
        f"log tail:\n{_log_tail(host_dir / f'{service.name}.log')}"
    )

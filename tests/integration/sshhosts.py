"""Real OpenSSH test hosts for integration tests.

Each test host is one ``/usr/sbin/sshd -D -e -f <config>`` process listening on
127.0.0.1:<free port>.  It is started inside its own private mount namespace::

    setpriv --pdeathsig KILL -- \\
        unshare --mount --propagation private -- \\
        sh -c 'set -e; mount --bind ...; exec /usr/sbin/sshd -D -e -f cfg'

Inside that namespace the planted files are bind-mounted over the real paths,
so every command run over SSH on the host sees the planted ``/etc/shadow``,
``/etc/login.defs``, ``/var/log/`` ... instead of the machine's own.  The
mounts are private to the namespace and vanish with its last process; the
harness never writes the machine's real files.  Paths that are *not* planted
are the machine's real ones, though: a command run over SSH (as root) that
writes there changes the real machine.

Planting rules (see ``HostSpec``):

* A planted file outside every ``replace_dirs`` entry is bind-mounted over an
  existing regular file.  Bind mounts need an existing target, so if the real
  path does not exist a ``ValueError`` asks you to list its parent directory in
  ``replace_dirs`` instead.
* A directory listed in ``replace_dirs`` is replaced by a fresh directory that
  holds only the planted files under it (list a nested directory too, e.g.
  ``/var/log/journal``, to get it as an empty directory).
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
    with SshdFleet(tmp_path) as fleet:
        host = fleet.start(HostSpec("web1", files={"/etc/login.defs": "..."}))
        ...  # connect to host.address:host.port as root with fleet.client_key,
             # trusting fleet.known_hosts

Every started process is killed (and waited for) by ``SshdFleet.stop`` /
``__exit__``; an ``atexit`` hook is the safety net for fleets that were never
closed, and ``--pdeathsig KILL`` covers a test process that dies outright.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import os
import pwd
import re
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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

SSHD = Path("/usr/sbin/sshd")
LOOPBACK = "127.0.0.1"
ROOT_USER = "root"
READY_TIMEOUT_S = 10.0
STOP_GRACE_S = 3.0
# Another process can grab the probed free port before sshd binds it.
PORT_ATTEMPTS = 5
POLL_INTERVAL_S = 0.005
LOG_TAIL_LINES = 25
PROBE_BANNER = b"SSH-2.0-sshhosts_readiness_probe\r\n"

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


@dataclass
class HostSpec:
    """What one test host looks like.

    ``files`` maps an absolute path on the host to its content.  ``replace_dirs``
    lists directories whose whole content is replaced by the planted files
    under them.  ``extra_sshd_config`` is added to the generated sshd_config:
    lines before its first ``Match`` go *before* the harness defaults (sshd
    keeps the first value it reads, so they can override them), ``Match``
    blocks go at the end.
    """

    name: str
    files: dict[str, Planted | str | bytes] = field(default_factory=dict)
    replace_dirs: tuple[str, ...] = ()
    extra_sshd_config: str = ""


@dataclass(frozen=True)
class TestHost:
    """A running test host."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    address: str
    port: int
    pid: int  # the sshd listener (unshare and sh exec into it)
    root_dir: Path  # planted /etc/login.defs lives at root_dir / "etc/login.defs"
    host_public_key: str  # "ssh-ed25519 AAAA..."
    log_path: Path  # sshd's stderr
    startup_seconds: float

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.address}]:{self.port} {self.host_public_key}"


class SshdStartError(RuntimeError):
    """sshd did not come up; the message carries the tail of its log."""


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
    for tool in ("unshare", "mount", "ssh-keygen", "sh"):
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
    problem = sshd_support_problem()
    if problem is not None:
        import pytest  # only needed under pytest; keeps the harness importable

        pytest.skip(f"real sshd test hosts unavailable: {problem}", allow_module_level=True)


@functools.lru_cache(maxsize=1)
def _sshd_version() -> tuple[int, int]:
    result = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stdout + result.stderr)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# --------------------------------------------------------------------------
# Process bookkeeping (shared by all fleets, so atexit can clean up)
# --------------------------------------------------------------------------


@dataclass
class _Running:
    popen: subprocess.Popen[bytes]
    mnt_ns: str | None  # "mnt:[4026532177]" once known


_registry_lock = threading.Lock()
_running: dict[int, _Running] = {}  # sshd pid -> record
_owned_dirs: set[Path] = set()


def _mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:  # gone, or a zombie (zombies have no namespaces left)
        return None


def _private_namespace(pid: int) -> str | None:
    """``pid``'s mount namespace, or None while it still shares ours.

    Before unshare(2) has run, the child is in *our* namespace; treating that
    as the host's namespace would make cleanup kill the whole machine.
    """
    ns = _mount_namespace(pid)
    return ns if ns is not None and ns != _mount_namespace(os.getpid()) else None


def _namespace_members(mnt_ns: str) -> set[int]:
    """PIDs living in a host's private mount namespace.

    sshd's per-connection children call setsid() and get re-parented when the
    listener dies, so neither the process group nor the parent link finds
    them; the namespace does, and only our own processes can be in it.
    """
    members: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _mount_namespace(int(entry)) == mnt_ns:
            members.add(int(entry))
    return members


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _terminate(record: _Running, grace: float = STOP_GRACE_S) -> None:
    """SIGTERM the sshd and everything in its namespace, SIGKILL after ``grace``."""
    popen = record.popen
    signalled: set[int] = set()

    if record.mnt_ns is not None and record.mnt_ns == _mount_namespace(os.getpid()):
        record.mnt_ns = None  # never sweep our own namespace

    def remaining() -> set[int]:
        return _namespace_members(record.mnt_ns) if record.mnt_ns else set()

    popen.send_signal(signal.SIGTERM)  # no-op once reaped: safe from PID reuse
    deadline = time.monotonic() + grace
    while True:
        members = remaining()
        for pid in members - signalled:  # also catches children forked meanwhile
            _signal(pid, signal.SIGTERM)
            signalled.add(pid)
        if popen.poll() is not None and not members:
            break
        if time.monotonic() >= deadline:
            popen.send_signal(signal.SIGKILL)
            for pid in members:
                _signal(pid, signal.SIGKILL)
            break
        time.sleep(POLL_INTERVAL_S)

    popen.wait()
    # Killed session processes are reaped by init, not by us; wait until they
    # have at least turned into zombies (they then leave the namespace).
    deadline = time.monotonic() + grace
    while (members := remaining()) and time.monotonic() < deadline:
        for pid in members:
            _signal(pid, signal.SIGKILL)
        time.sleep(POLL_INTERVAL_S)


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


def _plan(spec: HostSpec, needed_by_sshd: tuple[str, ...]) -> _Plan:
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
    return _Plan(files, tuple(replace_dirs), mounted_dirs, tuple(mounted_files))


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


def _config_value(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\n'):
        raise ValueError(f"path unusable in sshd_config: {text!r}")
    return f'"{text}"'


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no sshd log)"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "(sshd log is empty)"


def _listener_inode(port: int) -> str | None:
    """Socket inode of the TCP listener on 127.0.0.1:port, from /proc/net/tcp."""
    wanted = f"0100007F:{port:04X}"  # little-endian 127.0.0.1
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            cols = row.split()
            if cols[1] == wanted and cols[3] == "0A":  # 0A = LISTEN
                return cols[9]
    return None


def _owns_socket(pid: int, inode: str) -> bool:
    target = f"socket:[{inode}]"
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _serves_banner(port: int, deadline: float) -> bool:
    """Connect once and check for an SSH-2.0 banner."""
    timeout = max(0.05, min(2.0, deadline - time.monotonic()))
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as conn:
            if conn.recv(256).startswith(b"SSH-2.0-"):
                # Closing without a banner of our own makes sshd log an error.
                conn.sendall(PROBE_BANNER)
                return True
    except OSError:  # refused (not listening yet) or timed out
        pass
    return False


def _atomic_write(path: Path, text: str) -> None:
    # Readers (paramiko in another thread) never see a half-written file.
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
        plan = _plan(spec, needed_by_sshd=(str(self.dir), str(SSHD), "/run/sshd", "/etc/passwd"))
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
        script = "; ".join(
            ["set -e"]
            + [f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in mounts]
            + [f"exec {shlex.quote(str(SSHD))} -D -e -f {shlex.quote(str(config_path))}"]
        )
        command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            # If the test process dies without running atexit, sshd dies too.
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]

        for _ in range(PORT_ATTEMPTS):
            port = _free_port()
            config_path.write_text(self._sshd_config(port, host_key, spec.extra_sshd_config))
            record = self._spawn(command, log_path)
            try:
                ready = self._wait_until_ready(spec.name, record, port, log_path)
            except BaseException:
                self._forget(record)
                raise
            if ready:
                break
            self._forget(record)  # lost the port to someone else: try another
        else:
            raise SshdStartError(
                f"sshd for host {spec.name!r} could not bind a free port in "
                f"{PORT_ATTEMPTS} attempts; last log:\n{_log_tail(log_path)}"
            )

        return TestHost(
            name=spec.name,
            address=LOOPBACK,
            port=port,
            pid=record.popen.pid,
            root_dir=root_dir,
            host_public_key=public_key,
            log_path=log_path,
            startup_seconds=time.monotonic() - began,
        )

    def _sshd_config(self, port: int, host_key: Path, extra: str) -> str:
        extra_lines = extra.splitlines()
        match_at = next(
            (i for i, line in enumerate(extra_lines) if line.strip().lower().startswith("match ")),
            len(extra_lines),
        )
        lines = [
            "# Generated by tests/integration/sshhosts.py",
            *extra_lines[:match_at],  # first value wins in sshd_config
            f"ListenAddress {LOOPBACK}:{port}",
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
            # early; every test client comes from 127.0.0.1.
            lines.append("PerSourcePenalties no")
        lines += extra_lines[match_at:]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _spawn(command: list[str], log_path: Path) -> _Running:
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # terminal Ctrl-C goes to pytest, which cleans up
            )
        record = _Running(popen=popen, mnt_ns=None)
        with _registry_lock:
            _running[popen.pid] = record
        return record

    @staticmethod
    def _forget(record: _Running) -> None:
        if record.mnt_ns is None:
            record.mnt_ns = _private_namespace(record.popen.pid)
        _terminate(record)
        with _registry_lock:
            _running.pop(record.popen.pid, None)

    @staticmethod
    def _wait_until_ready(name: str, record: _Running, port: int, log_path: Path) -> bool:
        """True once our sshd serves its banner; False if it lost the port race."""
        popen = record.popen
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if record.mnt_ns is None:
                # Record it early so a failed start still sweeps the namespace.
                record.mnt_ns = _private_namespace(popen.pid)
            if popen.poll() is not None:
                log = _log_tail(log_path)
                if "Address already in use" in log:
                    return False
                raise SshdStartError(
                    f"sshd for host {name!r} exited with status {popen.returncode} before "
                    f"accepting connections; log tail:\n{log}"
                )
            # Probe only a listener our sshd owns: a stranger who won the
            # port race may accept connections and never send a banner.
            inode = _listener_inode(port)
            if (
                inode is not None
                and _owns_socket(popen.pid, inode)
                and _serves_banner(port, deadline)
            ):
                break
            time.sleep(POLL_INTERVAL_S)
        else:
            raise SshdStartError(
                f"sshd for host {name!r} not ready on {LOOPBACK}:{port} after "
                f"{READY_TIMEOUT_S:.0f}s; log tail:\n{_log_tail(log_path)}"
            )

        # unshare and sh exec'd into sshd, so the PID we hold must be sshd
        # itself, in a mount namespace of its own.
        exe = os.readlink(f"/proc/{popen.pid}/exe")
        if Path(exe) != SSHD.resolve():
            raise SshdStartError(f"pid {popen.pid} for host {name!r} runs {exe}, not {SSHD}")
        record.mnt_ns = _private_namespace(popen.pid)
        if record.mnt_ns is None:
            raise SshdStartError(f"sshd for host {name!r} is not in a private mount namespace")
        return True

    def stop(self, host: TestHost) -> None:
        """Kill the host's sshd and its sessions; its mounts go with its namespace."""
        with _registry_lock:
            record = _running.get(host.pid)
        if record is not None:
            _terminate(record)
            with _registry_lock:
                _running.pop(host.pid, None)
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
            f"[{h.address}]:{h.port} {impostor}" if h.name == host.name else h.known_hosts_line
            for h in self.hosts
        ]
        path = self.dir / f"known_hosts.changed-{host.name}"
        _atomic_write(path, "".join(f"{line}\n" for line in lines))
        return path

    def _write_known_hosts(self) -> None:  # caller holds self._lock (or is __init__)
        _atomic_write(
            self.known_hosts, "".join(f"{h.known_hosts_line}\n" for h in self._hosts.values())
        )

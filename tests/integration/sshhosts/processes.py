"""Process bookkeeping, shared by all fleets so that ``atexit`` can clean up: every host's
launcher, its pinned mount namespace, and how its processes are found and terminated.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .spec import POLL_INTERVAL_S, STOP_GRACE_S


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

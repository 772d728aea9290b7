"""Environment support: can real sshd test hosts (and namespaced ones) run on this machine?
``require_*`` skip the calling test with the reason when they cannot.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

from .spec import SSHD


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

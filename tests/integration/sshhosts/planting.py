"""Planning a host's file-system view: check a ``HostSpec``'s planted files and replaced
directories, and stage them in the host's folder for the in-namespace bind mounts.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from .spec import _HOST_NAME_RE, ROOT_USER, HostSpec, Planted


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

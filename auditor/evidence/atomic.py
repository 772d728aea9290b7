"""Every file a run writes goes through here: whole or not at all, with modes the umask cannot change.

A file is written under a temporary name in its own folder, flushed to the disk (fsync), then
renamed over its final name (`os.replace`, atomic on POSIX). A reader, a crash or a full disk
therefore never finds a truncated file under the final name, and a failed write removes its
temporary file. A run's evidence files are the exception (`create_all`): made new under their
final names in the run's own fresh folder, not flushed one by one, and the whole file system
flushed once (`sync_filesystem`) before the manifest, the run's commit point, lists them.
Modes are set on the open descriptor (`fchmod`), so `umask 000` cannot make evidence
world-writable and `umask 077` cannot hide a report from the run folder's group.

A full disk or quota (ENOSPC, EDQUOT) raises `NoSpaceError`, naming the folder, what was being
written and the space it needed; a run turns it into one line and an incomplete run.

JSON is written with `allow_nan=False`: a NaN or an infinity (a hostile host can print `nan` where
a number is expected) is written as `null`, named in the warning the writer prints, never as the
non-standard constants that strict JSON readers refuse.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import json
import math
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from auditor.errors import warn
from auditor.evidence import jsontext

FOLDER_MODE = 0o750  # run and evidence folders: the owner writes, its group may read
FILE_MODE = 0o640  # reports, evidence, manifest, signature, packs
KEY_MODE = 0o600  # private keys
_FULL = (errno.ENOSPC, errno.EDQUOT)
TEMPORARY_SUFFIX = ".partial"  # a temporary file is ".<name>.<random>.partial"


class NoSpaceError(Exception):
    """The disk (or the quota) holding `folder` is full: `what` needed `needed` bytes there."""

    def __init__(self, folder: Path, what: str, needed: int, note: str = "") -> None:
        super().__init__(folder, what, needed, note)
        self.folder, self.what, self.needed, self.note = folder, what, needed, note
        self.free = free_bytes(folder)

    def __str__(self) -> str:
        free = f", {size_text(self.free)} free there" if self.free is not None else ""
        return (f"no space left in {self.folder}: {self.what} needs {size_text(self.needed)}{free}"
                f"{self.note}; free some space or write the run elsewhere (--output)")


def free_bytes(folder: Path) -> int | None:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def size_text(count: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def block_size(folder: Path) -> int:
    """The unit the file system gives space in (a 10-byte file takes a whole block)."""
    try:
        return max(1, os.statvfs(folder).f_frsize)
    except OSError:
        return 4096


def space_for(folder: Path, sizes: list[int]) -> int:
    """What files of these sizes take on the disk holding `folder` (each rounded up to a block)."""
    block = block_size(folder)
    return sum(-(-size // block) * block for size in sizes)


def full_disk(exc: OSError) -> bool:
    return exc.errno in _FULL


def make_folder(path: Path, mode: int = FOLDER_MODE, new: bool = False) -> Path:
    """`path` and its missing parents, each with `mode` whatever the umask; an existing folder is
    left as it is (it may be the user's own). `new`: FileExistsError when `path` exists already."""
    if new and path.exists():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by another thread or process
        except OSError as exc:
            if full_disk(exc):
                needed = block_size(folder.parent)
                raise NoSpaceError(folder.parent, f"making {folder.name}", needed) from None
            raise
        os.chmod(folder, mode)  # mkdir's mode is filtered by the umask; this is not
    return path


_tag_prefix = secrets.token_hex(4)  # this process's: other writers cannot foresee its names
_tags = itertools.count()


def _new_tag_prefix() -> None:
    global _tag_prefix
    _tag_prefix = secrets.token_hex(4)


os.register_at_fork(after_in_child=_new_tag_prefix)  # a forked worker must not repeat its parent's


def _temporary_tag() -> str:
    """Unique in this process without a getrandom(2) per file (next() on a count is atomic)."""
    return f"{_tag_prefix}{next(_tags):x}"


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _Temporary:
    """A new file beside `path` under a temporary name (never an existing name, never through a
    symlink) with `mode` whatever the umask; `flush` puts it on the disk, `commit` gives it
    `path`'s name, `discard` removes it. A full disk raises NoSpaceError with `needed(bytes
    written so far)`."""

    def __init__(self, path: Path, mode: int, needed: Callable[[int], int]) -> None:
        self.path, self.needed, self.written = path, needed, 0
        self.temporary = path.parent / f".{path.name}.{_temporary_tag()}{TEMPORARY_SUFFIX}"
        try:
            self.fd: int | None = os.open(self.temporary, _CREATE, mode)
        except OSError as exc:
            if full_disk(exc):
                raise self.no_space(exc) from None
            raise
        try:
            os.fchmod(self.fd, mode)
        except BaseException:
            self.discard()
            raise

    def flush(self) -> None:
        """fsync, then close (on an error the size written is kept for a full disk's message)."""
        fd = self.fd
        if fd is None:
            return
        os.fsync(fd)
        self.fd = None
        os.close(fd)

    def commit(self, exclusive: bool = False) -> None:
        if exclusive:  # link(2) refuses an existing name, atomically; the temporary name then goes
            os.link(self.temporary, self.path)
            os.unlink(self.temporary)
        else:
            os.replace(self.temporary, self.path)

    def discard(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.written = os.fstat(self.fd).st_size
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)

    def no_space(self, exc: BaseException) -> BaseException:
        """A full disk's OSError as NoSpaceError naming this file; any other exception as it is."""
        if isinstance(exc, OSError) and full_disk(exc):
            folder = self.path.parent
            needed = space_for(folder, [self.needed(self.written)])
            return NoSpaceError(folder, f"writing {self.path.name}", needed)
        return exc


@contextlib.contextmanager
def _replacing(path: Path, mode: int, needed: Callable[[int], int], exclusive: bool = False,
               sync_folder: bool = False) -> Iterator[int]:
    """A new temporary file beside `path` (see _Temporary) as a descriptor to write; when the block
    ends without error it is flushed to the disk and takes `path`'s name, else it is removed.
    `exclusive`: never over an existing file (FileExistsError). `sync_folder`: also flush the
    folder, so the new name itself survives a power cut (the manifest: written last, it makes the
    run's earlier renames durable)."""
    temporary = _Temporary(path, mode, needed)
    try:
        assert temporary.fd is not None
        yield temporary.fd
        temporary.flush()
        temporary.commit(exclusive)
        if sync_folder:
            _sync(path.parent)
    except BaseException as exc:
        temporary.discard()
        failure = temporary.no_space(exc)
        if failure is not exc:
            raise failure from None
        raise


def _write_whole(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_bytes(path: Path, data: bytes, mode: int = FILE_MODE, exclusive: bool = False,
                sync_folder: bool = False) -> None:
    """Write `data` as `path`, atomically: complete under its final name, or not there at all
    (`exclusive`, `sync_folder`: see `_replacing`)."""
    with _replacing(path, mode, _whole_size(len(data)), exclusive, sync_folder) as fd:
        _write_whole(fd, data)


def _whole_size(size: int) -> Callable[[int], int]:
    return lambda _: size


def create_all(folder: Path, files: Sequence[tuple[str, bytes]],
               mode: int = FILE_MODE) -> list[os.stat_result]:
    """Each (name, data) as a new file in `folder`, straight under its final name and not flushed:
    for a run's evidence, which `sync_filesystem` then flushes at once before the manifest that
    lists it is written (see store.Ledger). Never over an existing name, never through a symlink,
    never into a folder that is a symlink (each file is opened relative to the folder, opened
    with O_NOFOLLOW); `mode` whatever the umask. Returns each file's stat as written.

    A file under its final name may thus be cut short by a crash: the run's manifest is what
    says a file is whole, and a run folder without one is refused by `verify`. On an error the
    files this call made are removed (a full disk raises NoSpaceError)."""
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    made: list[str] = []
    stats: list[os.stat_result] = []
    name, data = "", b""
    try:
        for name, data in files:
            fd = os.open(name, _CREATE, mode, dir_fd=folder_fd)
            made.append(name)
            try:
                os.fchmod(fd, mode)
                _write_whole(fd, data)
                stats.append(os.fstat(fd))
            finally:
                os.close(fd)
    except BaseException as exc:
        for done in made:
            with contextlib.suppress(OSError):
                os.unlink(done, dir_fd=folder_fd)
        if isinstance(exc, OSError) and full_disk(exc):
            raise NoSpaceError(folder, f"writing {name}", space_for(folder, [len(data)])) from None
        raise
    finally:
        os.close(folder_fd)
    return stats


def sync_filesystem(folder: Path, written: Callable[[], Iterable[Path]]) -> None:
    """Everything written to the file system that holds `folder` flushed to the disk: one syncfs(2)
    (a host's 45 evidence files then cost no fsync each: about half their writing CPU at -j 16,
    bench/atomic_writes.py). Where there is no syncfs (not Linux) or it fails, each of the files
    `written()` names and its folder are fsync'ed instead: the same guarantee, one file at a time;
    an error there is raised."""
    if _syncfs_ok(folder):
        return
    folders: set[Path] = set()
    for path in written():
        _sync(path, os.O_NOFOLLOW)
        folders.add(path.parent)
    for parent in sorted(folders):
        _sync(parent)


def _syncfs_ok(folder: Path) -> bool:
    call = _syncfs()
    if call is None:
        return False
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bool(call(fd) == 0)  # since Linux 5.8 it also reports a writeback error: then fsync each
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2), or None where there is none (the os module has only sync(2))."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: only a run that wrote evidence pays for the import

    try:
        call: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return call


@contextlib.contextmanager
def streamed(path: Path, mode: int = FILE_MODE) -> Iterator[TextIO]:
    """A UTF-8 text file written as it is made (line ends as given), atomically like
    `write_bytes`: under its final name once the block ends without error, else not there at all.
    For the reports of a large run, which need not be held whole in memory. A full disk raises
    NoSpaceError with what was written so far as the space needed: a lower bound."""
    with _replacing(path, mode, lambda written: written + 1) as fd, \
            open(fd, "w", encoding="utf-8", newline="", closefd=False) as out:
        yield out


def dump_json(make: Callable[[], Any], out: TextIO, where: str, **options: Any) -> None:
    """`make()`'s value as JSON written to `out` as it is encoded (lists may be generators, so a
    large document is never whole in memory), then a newline. A number JSON cannot hold (NaN,
    infinity) is, as in `json_text`, written as null with a warning: the rare document that has
    one is rewritten whole from a fresh `make()` (so `out` must be a file that can seek)."""
    start = out.tell()
    try:
        jsontext.dump(make(), out, allow_nan=False, **options)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        out.seek(start)
        out.truncate()
        jsontext.dump(_finite_warned(make(), where), out, allow_nan=False, **options)
    out.write("\n")


def _sync(path: Path, flags: int = os.O_DIRECTORY) -> None:
    """fsync of a folder, or with `flags` O_NOFOLLOW of a file (never through a symlink)."""
    fd = os.open(path, os.O_RDONLY | flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str, mode: int = FILE_MODE) -> None:
    """UTF-8, line ends as given (a CSV's CRLF stays CRLF)."""
    write_bytes(path, text.encode("utf-8"), mode)


def write_json(path: Path, value: Any, mode: int = FILE_MODE, **options: Any) -> bytes:
    """`value` as JSON (`json_text` with `options`) plus a newline; returns the bytes written."""
    data = json_bytes(value, str(path), **options)
    write_bytes(path, data, mode)
    return data


def json_bytes(value: Any, where: str, **options: Any) -> bytes:
    """What `write_json` writes: `json_text` with `options`, a newline, UTF-8."""
    return (json_text(value, where=where, **options) + "\n").encode("utf-8")


def json_text(value: Any, where: str = "JSON", **options: Any) -> str:
    """json.dumps that never writes NaN or Infinity: a non-finite number becomes null, and the
    warning names where (`where`: the file) and at which keys."""
    try:
        return _dumps(value, **options)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
    return _dumps(_finite_warned(value, where), **options)


_JSONTEXT_OPTIONS = {"indent", "sort_keys", "default", "ensure_ascii"}


def _dumps(value: Any, **options: Any) -> str:
    """json.dumps(allow_nan=False); indented non-ASCII text (evidence records, reports) through the
    faster `jsontext`, which writes the same bytes."""
    if options.get("ensure_ascii") is False and options.get("indent") and set(options) <= _JSONTEXT_OPTIONS:
        return jsontext.dumps(value, options["indent"], options.get("sort_keys", False),
                              options.get("default"), allow_nan=False)
    return json.dumps(value, allow_nan=False, **options)


def _finite_warned(value: Any, where: str) -> Any:
    """`value` with each NaN or infinity replaced by None, and a warning naming `where` and the keys."""
    replaced: list[str] = []
    finite = _finite(value, "$", replaced)
    warn(f"{where}: {len(replaced)} number(s) that JSON cannot hold (NaN or infinity) written as null: "
         + ", ".join(replaced[:5]) + (" …" if len(replaced) > 5 else ""))
    return finite


def _finite(value: Any, at: str, replaced: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        replaced.append(at)
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{at}.{k}", replaced) for k, v in value.items()}
    if isinstance(value, (list, tuple, Iterator)):
        return [_finite(v, f"{at}[{i}]", replaced) for i, v in enumerate(value)]
    return value


def leftovers(folder: Path) -> Iterator[Path]:
    """Temporary files a killed writer left under `folder` (a full disk removes its own)."""
    return (p for p in folder.rglob(f".*{TEMPORARY_SUFFIX}") if p.is_file())

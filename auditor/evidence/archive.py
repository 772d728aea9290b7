"""Reading a pack archive exactly as `tar -xzf` and `unzip` would extract it, or refusing it.

An auditor who receives a pack verifies it and then extracts it with the system tools, so
what `verify` checks must be the bytes those tools produce, and a crafted archive must not
be able to hang the verifier, fill its memory or make it read something other than what
`tar`/`unzip` read. The reader is therefore strict where the formats leave room:

- the format comes from the leading magic bytes (gzip `1f 8b`, zip `PK 03 04`), never the name;
- expansion is streamed and bounded (`Limits`: total and per-member bytes, member count,
  compression ratio, path depth and length) before anything is held in memory;
- a tar.gz is one gzip member holding one POSIX (ustar/pax) or plain GNU tar: nothing after
  the gzip stream (a second member, appended bytes), nothing but zeros after tar's end
  blocks, a valid checksum on every header, only regular files and directories, no
  set-user-ID/set-group-ID/sticky file, only the pax keywords our writer and GNU tar agree
  on; Python's `tarfile` stops silently at a bad header where GNU tar skips ahead and
  extracts more, so this is read here, not with `tarfile`;
- a zip has its members back to back from offset 0 up to the central directory, then the
  (zip64) end records with the end record as its last 22 bytes (no prepended, hidden,
  overlapping or trailing data), each local header agreeing with its central directory
  entry, stored or deflated, unencrypted, no data descriptors, names flagged UTF-8 unless
  ASCII, no extra field that gives `unzip` another name (Info-ZIP's Unicode path field), no
  symlink, device or set-user-ID mode, each deflate stream ending exactly at its declared
  size and CRC-32 (read here: `zipfile` stops at the declared size);
- names are canonical relative paths (a leading `./` aside) without control, bidi or
  backslash characters, each once: no duplicates (the last one wins on extraction), no two
  that differ only in case or Unicode normalisation (one overwrites the other on macOS and
  Windows), no file that is also a directory.

Refusals name the member (escaped, as JSON escapes it) and the rule or bound.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from auditor.errors import InputError

MiB = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_BLOCK = 512  # a tar header or data block
_CHUNK = 1 << 16  # read and decompress this much at a time


@dataclass(frozen=True)
class Limits:
    """How far a pack archive may expand before it is refused (all bounds inclusive).

    The contents are held in memory (re-judging needs them), so the total is sized for the
    largest run the design plans for in one pack (10,000 hosts: ~1.2 GB of evidence in ~450,000
    files, docs/architecture.md) and the ratio keeps a small file from getting there: memory
    is at most 200 times the archive's size, and a bomb is stopped after 16 MiB."""

    total_bytes: int = 4096 * MiB  # all members' contents together
    member_bytes: int = 256 * MiB  # one member (report.html is ~1 KB a host)
    members: int = 1_000_000
    ratio: int = 200  # expanded : compressed; packs measure 3-5:1 (bench/pack_verify.py), a bomb ~1000:1
    ratio_floor: int = 16 * MiB  # the ratio is judged only beyond this much expanded
    depth: int = 32  # path components
    name_bytes: int = 1024  # one member's path, UTF-8
    pax_bytes: int = 64 * 1024  # one pax extended header


LIMITS = Limits()


class PackError(InputError):
    """A path that is not a pack at all (no manifest, unreadable archive)."""


class ArchiveRefused(PackError):
    """An archive that is hostile, ambiguous or too large to verify; the message says why."""


@dataclass(frozen=True)
class Member:
    name: str  # as extracted, "/"-separated, without a directory's trailing "/"
    data: bytes | None  # None: a directory


def quoted(name: str) -> str:
    """A member name as a message shows it: quoted, every control, bidi or non-ASCII character
    escaped, so a name can neither drive the terminal nor pass for another."""
    return json.dumps(name)


def read(path: Path, limits: Limits = LIMITS) -> list[Member]:
    """Every member of a tar.gz or zip pack, as `tar -xzf` / `unzip` would extract it."""
    with path.open("rb") as raw:
        magic = raw.read(4)
        size = os.fstat(raw.fileno()).st_size  # of the file opened, whatever the path names now
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            members = list(_tar_members(_Gunzip(raw, limits), limits))
        elif magic == ZIP_MAGIC:
            members = _zip_members(raw, size, limits)
        elif _ends_like_zip(raw, size):
            raise ArchiveRefused("data precedes the zip's first member (a self-extractor or a polyglot); "
                                 "tools skip or read it differently")
        else:
            raise PackError(f"not a readable tar.gz or zip archive: it starts with {magic!r}, neither gzip "
                            f"({GZIP_MAGIC!r}) nor zip ({ZIP_MAGIC!r})")
    members = [Member(name, m.data) for m in members if (name := _without_dot_prefix(m.name))]
    _check_names(members, limits)
    return members


def _without_dot_prefix(name: str) -> str:
    """`./x` is `x` to every tool (`tar czf pack.tar.gz .` writes such names, and `./` itself)."""
    while name.startswith("./"):
        name = name[2:]
    return "" if name == "." else name


def _amount(size: int) -> str:
    for unit, name in ((MiB, "MiB"), (1024, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def _refuse_ratio(expanded: int, compressed: int, limits: Limits, where: str) -> None:
    if expanded > limits.ratio_floor and expanded > limits.ratio * max(compressed, 1):
        raise ArchiveRefused(f"{where} expands more than {limits.ratio}:1 ({expanded} bytes from "
                             f"{compressed}); the bound for a compression ratio is {limits.ratio}:1 beyond "
                             f"{_amount(limits.ratio_floor)} (a compression bomb?)")


def _ends_like_zip(raw: BinaryIO, size: int) -> bool:
    raw.seek(max(size - _END.size, 0))
    return raw.read(4) == b"PK\x05\x06"


def refuse_size(name: str, size: int, total: int, limits: Limits) -> None:
    """Refuse a member of `size` bytes that brings the pack to `total` beyond `limits`."""
    if size > limits.member_bytes:
        raise ArchiveRefused(f"member {quoted(name)} is {size} bytes, over the bound of "
                             f"{_amount(limits.member_bytes)} for one member")
    if total > limits.total_bytes:
        raise ArchiveRefused(f"member {quoted(name)} takes the pack to {total} bytes, over the bound of "
                             f"{_amount(limits.total_bytes)} for all members")


def refuse_count(count: int, limits: Limits) -> None:
    if count > limits.members:
        raise ArchiveRefused(f"more than {limits.members} members, the bound for one pack")


# --------------------------------------------------------------------------
# tar.gz
# --------------------------------------------------------------------------


class _Gunzip:
    """The decompressed bytes of a file holding exactly one gzip member, read on demand."""

    def __init__(self, raw: BinaryIO, limits: Limits) -> None:
        self._raw, self._limits = raw, limits
        self._inflate = zlib.decompressobj(wbits=31)  # gzip framing: header, CRC-32 and length checked
        self._buffer = bytearray()
        self.expanded = 0
        self.position = 0  # bytes of the tar stream handed out so far
        self._consumed = 0  # compressed bytes read so far: a bomb shows its ratio early
        # headers and padding of the allowed members on top of their contents
        self._cap = limits.total_bytes + limits.members * 3 * _BLOCK + limits.pax_bytes

    def read(self, size: int) -> bytes:
        """`size` bytes, fewer only at the end of the gzip stream."""
        while len(self._buffer) < size and not self._inflate.eof:
            data = self._inflate.unconsumed_tail
            if not data:
                data = self._raw.read(_CHUNK)
                self._consumed += len(data)
            try:  # with no input left, this flushes what zlib still holds
                out = self._inflate.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise ArchiveRefused(f"the gzip stream is corrupt ({exc}); gzip -d fails on it") from None
            if not (data or out or self._inflate.eof):
                raise ArchiveRefused("the gzip stream is cut short (gzip -d fails on it)")
            self.expanded += len(out)
            self._buffer += out
            _refuse_ratio(self.expanded, self._consumed, self._limits, "the gzip stream")
            if self.expanded > self._cap:
                raise ArchiveRefused(f"the gzip stream expands to more than {self._cap} bytes, the bound for "
                                     f"{_amount(self._limits.total_bytes)} of contents in "
                                     f"{self._limits.members} members")
            if self._inflate.eof and (self._inflate.unused_data or self._raw.read(1)):
                raise ArchiveRefused("data follows the gzip stream (a second gzip member or appended bytes): "
                                     "gzip -d would read or reject it, so the pack is ambiguous")
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.position += len(taken)
        return taken


_TAR_KINDS = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device",
              b"4": "a block device", b"6": "a FIFO", b"7": "a contiguous file", b"g": "a pax global header",
              b"L": "a GNU long name (over 100 bytes: re-pack with `tar --format=posix`)",
              b"K": "a GNU long link name", b"S": "a GNU sparse file"}
# pax keywords GNU tar and this reader read the same way; others (linkpath, hdrcharset, GNU.sparse.*,
# vendor keys) could change the name or the contents one tool extracts
_PAX_KEYWORDS = frozenset({"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"})


def _tar_members(stream: _Gunzip, limits: Limits) -> Iterator[Member]:
    pax: dict[str, str] | None = None
    count = total = 0
    while True:
        header = stream.read(_BLOCK)
        if len(header) < _BLOCK:
            raise ArchiveRefused("the tar archive ends without its end-of-archive blocks (cut short?)")
        if header == bytes(_BLOCK):
            if pax is not None:
                raise ArchiveRefused("a pax extended header is followed by the end of the archive")
            _tar_end(stream)
            return
        offset = stream.position - _BLOCK  # for messages only
        _check_tar_header(header, offset)
        kind, size = header[156:157], _octal(header[124:136], "size", offset)
        if kind == b"x":
            if pax is not None:
                raise ArchiveRefused("two pax extended headers in a row; tools merge them differently")
            if size > limits.pax_bytes:
                raise ArchiveRefused(f"a pax extended header of {size} bytes, over the bound of "
                                     f"{limits.pax_bytes} bytes")
            pax = _pax_records(_read_padded(stream, size))
            continue
        name = _tar_name(header, pax or {})
        if pax and "size" in pax:
            size = int(pax["size"])
        pax = None
        count += 1
        refuse_count(count, limits)
        if kind in (b"0", b"\0"):
            if name.endswith("/"):
                raise ArchiveRefused(f"member {quoted(name)} is a file whose name ends in '/'; "
                                     "tools read it as a directory")
            total += size
            refuse_size(name, size, total, limits)
            _refuse_special_bits(name, _octal(header[100:108], "mode", offset))
            yield Member(name, _read_padded(stream, size))
        elif kind == b"5":
            if size:
                raise ArchiveRefused(f"member {quoted(name)} is a directory with {size} bytes of contents")
            yield Member(name[:-1] if name.endswith("/") else name, None)
        else:
            what = _TAR_KINDS.get(kind, f"of tar type {kind!r}")
            raise ArchiveRefused(f"member {quoted(name)} is {what}; a pack holds only regular files")


def _refuse_special_bits(name: str, mode: int) -> None:
    """`tar -x` run as root restores a file's set-user-ID, set-group-ID and sticky bits (and its
    owner): a pack's files never need them, and a file extracted setuid-root is a way in. (A
    set-group-ID directory, as in a shared group folder, is harmless and allowed.)"""
    if mode & 0o7000:
        raise ArchiveRefused(f"member {quoted(name)} has the mode {mode:#o} (set-user-ID, set-group-ID or "
                             "sticky); extracting it as root would keep them")


def _tar_end(stream: _Gunzip) -> None:
    """After the first zero block: a second one, then nothing but zero padding to the end."""
    if stream.read(_BLOCK) != bytes(_BLOCK):
        raise ArchiveRefused("a lone zero block is followed by more data; GNU tar stops there, other tools "
                             "read on, so the pack is ambiguous")
    while chunk := stream.read(_CHUNK):
        if chunk.count(0) != len(chunk):
            raise ArchiveRefused("data follows the tar end-of-archive blocks; `tar -i` would extract it")


def _check_tar_header(header: bytes, offset: int) -> None:
    # GNU tar's own format (`tar czf`) is read alike when the field that is ustar's name prefix and
    # GNU's times and sparse map is empty; its long names ('L') are refused below
    gnu_plain = header[257:265] == b"ustar  \0" and not header[345:500].strip(b"\0")
    if header[257:265] != b"ustar\x0000" and not gnu_plain:
        raise ArchiveRefused(f"the tar header at byte {offset} is neither POSIX ustar/pax nor plain GNU "
                             f"(magic {header[257:265]!r}); tools read old formats differently")
    stored = _octal(header[148:156], "checksum", offset)
    if stored != sum(header[:148]) + 8 * 0x20 + sum(header[156:]):
        raise ArchiveRefused(f"the tar header at byte {offset} has a wrong checksum; Python's tarfile stops "
                             "there, GNU tar skips it and reads on")


def _octal(field: bytes, what: str, offset: int) -> int:
    """A tar number as GNU tar reads it: leading spaces, octal digits, then NULs or spaces."""
    digits = field.lstrip(b" ").rstrip(b"\0 ")
    if not digits or digits.strip(b"01234567"):
        raise ArchiveRefused(f"the tar header at byte {offset} has a {what} field that is not an octal "
                             f"number ({field!r})")
    return int(digits, 8)


def _tar_name(header: bytes, pax: dict[str, str]) -> str:
    if "path" in pax:
        return pax["path"]
    name, prefix = header[:100].split(b"\0", 1)[0], header[345:500].split(b"\0", 1)[0]
    raw = prefix + b"/" + name if prefix else name
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ArchiveRefused(f"a member's name is not UTF-8 ({raw!r}); tools decode it differently") from None


def _read_padded(stream: _Gunzip, size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size or len(stream.read(-size % _BLOCK)) < -size % _BLOCK:
        raise ArchiveRefused("the tar archive is cut short inside a member")
    return data


def _pax_records(body: bytes) -> dict[str, str]:
    """`LENGTH KEYWORD=VALUE\\n` records, each keyword once and one we read as GNU tar does."""
    records: dict[str, str] = {}
    at = 0
    while at < len(body):
        space = body.find(b" ", at)
        length_text = body[at:space] if space > at else b""
        length = int(length_text) if length_text.isdigit() else 0
        record = body[at:at + length]
        keyword, equals, value = record[len(length_text) + 1:-1].partition(b"=")
        if len(record) != length or length <= len(length_text) + 1 or record[-1:] != b"\n" or not equals:
            raise ArchiveRefused("a pax extended header is malformed")
        try:
            key, text = keyword.decode("ascii"), value.decode()
        except UnicodeDecodeError:
            raise ArchiveRefused("a pax extended header holds a record that is not UTF-8") from None
        if key not in _PAX_KEYWORDS or key in records or not text:
            why = ("twice" if key in records else "with an empty value" if not text
                   else "(not read alike by tools)")
            raise ArchiveRefused(f"a pax extended header holds the keyword {quoted(key)} {why}")
        if key == "size" and not text.isdigit():
            raise ArchiveRefused(f"a pax extended header gives a size that is not a number ({quoted(text)})")
        records[key] = text
        at += length
    return records


# --------------------------------------------------------------------------
# zip
# --------------------------------------------------------------------------

_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END64 = struct.Struct("<4sQ2H2L4Q")  # zip64 end of central directory record, without extensible data
_LOCATOR = struct.Struct("<4sLQL")  # zip64 end of central directory locator
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header
_ZIP_FLAGS = 0x0806  # deflate options and UTF-8 names; encryption, data descriptors and the rest refused
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_EXTRAS = frozenset({0x0001, 0x5455, 0x7875})  # zip64 sizes, timestamps, unix owner: no name, no data


def _zip_members(raw: BinaryIO, size: int, limits: Limits) -> list[Member]:
    raw.seek(max(size - _END.size, 0))
    end = raw.read(_END.size)
    if len(end) < _END.size or not end.startswith(b"PK\x05\x06") or end[-2:] != b"\0\0":
        raise ArchiveRefused("the zip does not end with its end-of-central-directory record (a comment or "
                             "appended data); tools look for the record in different places")
    fields = _END.unpack(end)[1:7]
    cd_end = size - _END.size  # where the central directory must end
    if 0xFFFF in fields[:4] or 0xFFFFFFFF in fields[4:]:  # over 65,535 members: zip64 end records
        fields, cd_end = _zip64_end(raw, cd_end, fields)
    disk, cd_disk, disk_count, count, cd_size, cd_offset = fields
    if disk or cd_disk or disk_count != count or cd_offset + cd_size != cd_end:
        raise ArchiveRefused("the zip's end record does not describe a central directory just before it")
    refuse_count(count, limits)
    if cd_size > count * (46 + limits.name_bytes + 4096):  # an entry, its name, generous extras
        raise ArchiveRefused(f"the zip's central directory takes {cd_size} bytes for {count} members, more "
                             "than names within the bounds need")
    try:  # Python's parser for the central directory; the members are read below, strictly
        with zipfile.ZipFile(raw) as archive:
            infos, start = archive.infolist(), archive.start_dir
    except (zipfile.BadZipFile, NotImplementedError, ValueError) as exc:
        raise ArchiveRefused(f"the zip's central directory is unreadable ({exc})") from None
    if len(infos) != count or start != cd_offset:
        raise ArchiveRefused(f"the zip's end record counts {count} members at byte {cd_offset}, its "
                             f"central directory holds {len(infos)} at byte {start}")
    _refuse_ratio(sum(info.file_size for info in infos), size, limits, "the zip")
    expected_offset = 0  # members back to back from the start: nothing prepended, hidden or shared
    total = 0
    starts: dict[int, int] = {}  # header offset -> where the member's compressed data starts
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != expected_offset:
            raise ArchiveRefused(f"member {quoted(info.orig_filename)} starts at byte "
                                 f"{info.header_offset}, not {expected_offset}: the zip has prepended, "
                                 "hidden or overlapping data")
        total += info.file_size
        refuse_size(info.orig_filename, info.file_size, total, limits)
        refuse_size(info.orig_filename, info.compress_size, 0, limits)
        _refuse_ratio(info.file_size, info.compress_size, limits, f"member {quoted(info.orig_filename)}")
        starts[info.header_offset] = _check_zip_entry(raw, info)
        expected_offset = starts[info.header_offset] + info.compress_size
    if expected_offset != cd_offset:
        raise ArchiveRefused(f"{cd_offset - expected_offset} bytes between the last member and the zip's "
                             "central directory")
    return [_zip_member(raw, info, starts[info.header_offset]) for info in infos]


def _zip64_end(raw: BinaryIO, end_at: int, fields: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The zip64 record's disk numbers, counts, size and offset, and where the record starts: the
    locator just before the end record points at a record just before it, whose values the end
    record's own fields either leave to it (all ones) or repeat."""
    raw.seek(max(end_at - _LOCATOR.size, 0))
    signature, disk, record_at, disks = _LOCATOR.unpack(raw.read(_LOCATOR.size).ljust(_LOCATOR.size, b"\0"))
    raw.seek(record_at)
    record = raw.read(_END64.size).ljust(_END64.size, b"\0")
    head, record_size, _, _, *values = _END64.unpack(record)
    if (signature, disk, disks, head, record_size) != (b"PK\x06\x07", 0, 1, b"PK\x06\x06", _END64.size - 12) \
            or record_at + _END64.size != end_at - _LOCATOR.size:
        raise ArchiveRefused("the zip's zip64 end records are missing, misplaced or carry extensible data")
    sentinels = (0xFFFF,) * 4 + (0xFFFFFFFF,) * 2
    if any(field not in (sentinel, value) for field, sentinel, value in zip(fields, sentinels, values,
                                                                            strict=True)):
        raise ArchiveRefused("the zip's end record and its zip64 end record disagree; tools read one or "
                             "the other")
    return tuple(values), record_at


def _check_zip_entry(raw: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Refuse what `unzip` and Python would read differently; where the member's data starts."""
    name = quoted(info.orig_filename)
    raw.seek(info.header_offset)
    local = raw.read(_LOCAL.size)
    if len(local) < _LOCAL.size:
        raise ArchiveRefused(f"member {name}: its local header is cut short")
    (signature, _, _, flags, method, _, _, crc, compressed, size, name_length,
     extra_length) = _LOCAL.unpack(local)
    local_name, local_extra = raw.read(name_length), raw.read(extra_length)
    encoding = "utf-8" if info.flag_bits & 0x800 else "ascii"
    try:
        central_name = info.orig_filename.encode(encoding)
    except UnicodeEncodeError:
        raise ArchiveRefused(f"member {name}: a non-ASCII name without the UTF-8 flag (as Info-ZIP's zip "
                             "writes them); unzip and Python decode it differently: re-pack with "
                             "`auditor pack --zip`") from None
    if info.orig_filename != info.filename:
        raise ArchiveRefused(f"member {name}: the name holds a NUL or backslash that tools treat differently")
    if info.flag_bits & ~_ZIP_FLAGS or info.compress_type not in _ZIP_METHODS:
        raise ArchiveRefused(f"member {name}: encrypted, with a data descriptor or compressed by method "
                             f"{info.compress_type} (flags {info.flag_bits:#06x}); a pack is stored or "
                             "deflated")
    if (signature, flags, method, crc, compressed, size, local_name) != (
            b"PK\x03\x04", info.flag_bits, info.compress_type, info.CRC, info.compress_size, info.file_size,
            central_name):
        raise ArchiveRefused(f"member {name}: its local header and the central directory disagree "
                             "(name, flags, method, CRC or sizes); tools reading one or the other differ")
    for extra in (info.extra, local_extra):
        _check_zip_extra(extra, name)
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    if not info.is_dir():
        _refuse_special_bits(info.orig_filename, mode)
    file_type = stat.S_IFMT(mode)
    allowed = (0, stat.S_IFDIR) if info.is_dir() else (0, stat.S_IFREG)
    if file_type not in allowed:
        raise ArchiveRefused(f"member {name} has the unix file type {file_type:#o} (a link or a device); "
                             "a pack holds only regular files")
    data_start: int = info.header_offset + _LOCAL.size + name_length + extra_length
    return data_start


def _check_zip_extra(extra: bytes, name: str) -> None:
    at = 0
    while at < len(extra):
        if at + 4 > len(extra):
            raise ArchiveRefused(f"member {name}: a malformed extra field")
        tag, length = struct.unpack_from("<2H", extra, at)
        if tag not in _ZIP_EXTRAS or at + 4 + length > len(extra):
            raise ArchiveRefused(f"member {name}: extra field {tag:#06x} (e.g. Info-ZIP's Unicode path, "
                                 "which gives unzip another name than Python reads)")
        at += 4 + length


def _zip_member(raw: BinaryIO, info: zipfile.ZipInfo, data_start: int) -> Member:
    """The member's bytes as unzip inflates them: the whole compressed stream, which must end exactly
    where the central directory says, give exactly the declared size and CRC-32 (Python's zipfile
    stops at the declared size and would not see a longer stream)."""
    name = quoted(info.filename)
    if info.is_dir():
        if info.file_size or info.compress_size:
            raise ArchiveRefused(f"member {name} is a directory with contents")
        return Member(info.filename[:-1], None)
    raw.seek(data_start)
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    parts: list[bytes] = []
    size, left, pending = 0, info.compress_size, b""
    try:
        while size <= info.file_size:  # one byte past the declared size is enough to refuse
            if not pending and left:
                pending = raw.read(min(left, _CHUNK))
                left -= len(pending)
                if not pending:
                    break  # the file is cut short
            if inflate is None:
                out, pending = pending, b""
            else:  # with no input left this flushes what zlib still holds
                out, pending = inflate.decompress(pending, _CHUNK), inflate.unconsumed_tail
            if not (out or pending or (left and not (inflate and inflate.eof))):
                break
            size += len(out)
            parts.append(out)
    except zlib.error as exc:
        raise ArchiveRefused(f"member {name} is corrupt ({exc})") from None
    data = b"".join(parts)
    ended = inflate is None or (inflate.eof and not inflate.unused_data)
    if size != info.file_size or left or pending or not ended or zlib.crc32(data) != info.CRC:
        raise ArchiveRefused(f"member {name} does not inflate to exactly its {info.file_size} declared bytes "
                             f"and CRC-32 (unzip and Python would extract different bytes)")
    return Member(info.filename, data)


# --------------------------------------------------------------------------
# Names: canonical, within bounds, each once on any filesystem
# --------------------------------------------------------------------------


def _name_problem(name: str, limits: Limits) -> str | None:
    parts = name.split("/")
    if not name or name.startswith("/"):
        return "an absolute or empty path"
    if any(part in ("", ".", "..") for part in parts):
        return "a path with an empty, '.' or '..' component (tools normalise or refuse it differently)"
    if any(unicodedata.category(ch)[0] == "C" or ch == "\\" for ch in name):
        return "a control, format (bidi) or backslash character in the name (unzip rewrites it)"
    if len(parts) > limits.depth:
        return f"{len(parts)} path components, over the bound of {limits.depth}"
    if len(name.encode()) > limits.name_bytes or any(len(p.encode()) > 255 for p in parts):
        return f"a path over the bound of {limits.name_bytes} bytes (or a component over 255)"
    return None


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _check_names(members: list[Member], limits: Limits) -> None:
    """Each member extracts to its own path on every filesystem, and only once."""
    seen: dict[str, str] = {}  # folded name -> name
    files = set()
    for member in members:
        problem = _name_problem(member.name, limits)
        if problem:
            raise ArchiveRefused(f"member {quoted(member.name)}: {problem}")
        folded = _fold(member.name)
        if folded in seen:
            other = seen[folded]
            why = ("appears twice; extraction keeps the last copy, so the pack is ambiguous"
                   if other == member.name else
                   f"and {quoted(other)} differ only in case or Unicode normalisation; a case-insensitive "
                   "filesystem (macOS, Windows) keeps only one")
            raise ArchiveRefused(f"member {quoted(member.name)} {why}")
        seen[folded] = member.name
        if member.data is not None:
            files.add(folded)
    for folded, name in seen.items():
        parent = PurePosixPath(folded).parent
        while parent.parts:
            if parent.as_posix() in files:
                raise ArchiveRefused(f"member {quoted(name)} sits under a member that is a file")
            parent = parent.parent

"""Builders of hostile pack archives: raw tar entries, gzip and zip bytes crafted by hand, and
compression bombs that are small on disk and large expanded without the test compressing the
large side (a deflate block of zeros after a full flush is repeated as it is)."""

from __future__ import annotations

import gzip
import struct
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from auditor.evidence import pack

MiB = 1 << 20
END_BLOCKS = bytes(1024)  # tar's end of archive
RUN = "run-1"  # the run folder every archive here holds


def run_folder(tmp: Path, files: dict[str, bytes] | None = None, hosts: Iterable[str] = ("web1",)) -> Path:
    """An unsigned run folder with a manifest over `files` (default: a report and one evidence file)."""
    run_dir = tmp / RUN
    files = files if files is not None else {"report.json": b'{"hosts": []}\n',
                                             "evidence/web1/probe.json": b'{"stdout": "ok"}\n'}
    for name, data in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(data)
    run = {"id": RUN, "started": "2026-12-01T00:00:00Z", "operator": "tester",
           "hosts": [{"name": name} for name in hosts]}
    pack.write_manifest(run_dir, run, signer=None)
    return run_dir


def folder_entries(run_dir: Path) -> list[tuple[str, bytes]]:
    return [(f"{RUN}/{name}", data) for name, data in pack.folder_files(run_dir)]


def tar_entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, linkname: str = "",
              size: int | None = None) -> bytes:
    """One tar member as Python's pax writer makes it: header(s), data, padding to 512."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = len(data) if size is None else size
    return info.tobuf(tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512)


def tar_of(entries: Iterable[tuple[str, bytes]]) -> bytes:
    return b"".join(tar_entry(name, data) for name, data in entries) + END_BLOCKS


def tgz(tar: bytes) -> bytes:
    return gzip.compress(tar, mtime=0)


# -- bombs ------------------------------------------------------------------------------------


def _zero_block() -> bytes:
    """Raw deflate of 1 MiB of zeros ending in a full flush: valid again after any full flush."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    return squeeze.compress(bytes(MiB)) + squeeze.flush(zlib.Z_FULL_FLUSH)


def deflate_parts(parts: Iterable[bytes | int]) -> tuple[bytes, int, int]:
    """Raw deflate of `parts` (bytes as given, an int as that many MiB of zeros), its CRC-32 and size."""
    zeros, zero_crc_step = _zero_block(), bytes(MiB)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, size = [], 0, 0
    for part in parts:
        if isinstance(part, int):
            out.append(squeeze.flush(zlib.Z_FULL_FLUSH))
            out.append(zeros * part)
            for _ in range(part):
                crc = zlib.crc32(zero_crc_step, crc)
            size += part * MiB
        else:
            out.append(squeeze.compress(part))
            crc, size = zlib.crc32(part, crc), size + len(part)
    out.append(squeeze.flush(zlib.Z_FULL_FLUSH))
    out.append(squeeze.flush(zlib.Z_FINISH))
    return b"".join(out), crc, size


def gzip_bomb(parts: Iterable[bytes | int]) -> bytes:
    body, crc, size = deflate_parts(parts)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<2L", crc, size & 0xFFFFFFFF)


def zip_of(members: Iterable[tuple[str, bytes | int]], declared: dict[str, int] | None = None,
           prefix: bytes = b"", suffix: bytes = b"", local_names: dict[str, str] | None = None,
           extras: dict[str, bytes] | None = None, modes: dict[str, int] | None = None,
           flags: dict[str, int] | None = None, zip64: bool = False) -> bytes:
    """A deflated zip written by hand, so that each field can lie: `declared` sizes, a `prefix` the
    offsets do not count, `suffix` after the end record, a `local_names` that differ from the
    central directory's, `extras` in both headers, unix `modes`, general purpose `flags` (default:
    names are UTF-8), and with `zip64` the end records of an archive of over 65,535 members."""
    declared, local_names, extras, modes = declared or {}, local_names or {}, extras or {}, modes or {}
    flags = flags or {}
    body, central, entries = bytearray(), bytearray(), 0
    for name, content in members:
        entries += 1
        data, crc, size = deflate_parts([content])
        size = declared.get(name, size)
        extra = extras.get(name, b"")
        local_name = local_names.get(name, name).encode()
        offset = len(body)
        flag = flags.get(name, 0x800)
        body += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flag, 8, 0, 0x21, crc, len(data), size,
                            len(local_name), len(extra)) + local_name + extra + data
        mode = modes.get(name, 0o100644)
        central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, flag, 8, 0, 0x21, crc,
                               len(data), size, len(name.encode()), len(extra), 0, 0, 0, mode << 16, offset)
        central += name.encode() + extra
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(body), 0)
    if zip64:
        record_at = len(body) + len(central)
        end = (struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, len(central),
                           len(body))
               + struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
               + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    return prefix + bytes(body) + bytes(central) + end + suffix

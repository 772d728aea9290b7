"""What verify checks is what the system tools extract: a pack is extracted with the real
`tar -xzf` and `unzip` and compared byte for byte with what verify read, and archives those
tools read differently from a naive reader (hidden members, another name, bytes they reject)
are refused (issue 16, class 13)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from auditor.evidence import pack
from tests.conftest import run_cli
from tests.unit.hostile_archives import (
    END_BLOCKS,
    RUN,
    folder_entries,
    run_folder,
    tar_entry,
    tar_of,
    tgz,
    zip_of,
)

pytestmark = pytest.mark.skipif(not (shutil.which("tar") and shutil.which("unzip")),
                                reason="needs tar and unzip (scripts/test.sh installs them)")


def extract(archive: Path, into: Path) -> subprocess.CompletedProcess[str]:
    into.mkdir()
    command = ["unzip", "-q", "-o", str(archive), "-d", str(into)] if archive.suffix == ".zip" else \
        ["tar", "-xzf", str(archive), "-C", str(into)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def extracted_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def verify(path: Path):
    return run_cli("verify", "--allow-unsigned", str(path))


@pytest.mark.parametrize("flag, suffix", [((), ".tar.gz"), (("--zip",), ".zip")])
def test_verify_reads_exactly_the_bytes_tar_and_unzip_extract(tmp_path, flag, suffix):
    # Given a pack written by `auditor pack`, with a file whose name and bytes are not plain ASCII
    run_dir = run_folder(tmp_path, {"report.json": b'{"hosts": []}\n',
                                    "evidence/web1/probe.json": b"\x00\xff\n",
                                    "evidence/h\u00f6st/caf\u00e9.json": "\u00e9t\u00e9\n".encode()})
    archive = tmp_path / f"pack{suffix}"
    assert run_cli("pack", str(run_dir), "-o", str(archive), *flag).rc == 0
    # When the system tool extracts it and verify reads it
    done = extract(archive, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    read = pack.read(archive)
    # Then both hold the same files with the same bytes, and both verify
    assert extracted_files(tmp_path / "out" / RUN) == read.files == dict(pack.folder_files(run_dir))
    assert verify(archive).rc == 0 and verify(tmp_path / "out" / RUN).rc == 0


@pytest.mark.parametrize("command, name, inside", [(["tar", "-czf"], "gnu.tar.gz", False),
                                                   (["tar", "--format=posix", "-czf"], "posix.tar.gz", False),
                                                   (["tar", "-czf"], "dot.tar.gz", True),
                                                   (["zip", "-qr"], "info.zip", False)])
def test_a_pack_repacked_by_the_system_tools_verifies(tmp_path, command, name, inside):
    # Given a run folder packed again by GNU tar (its own format, POSIX, or from inside the folder as
    # `./...`) or Info-ZIP's zip
    if not shutil.which(command[0]):
        pytest.skip(f"needs {command[0]}")
    run_dir = run_folder(tmp_path)
    where, what = (run_dir, ".") if inside else (tmp_path, RUN)
    subprocess.run([*command, str(tmp_path / name), what], cwd=where, check=True, timeout=60)
    # When verify reads it, Then it holds exactly the folder's files and verifies
    assert pack.read(tmp_path / name).files == dict(pack.folder_files(run_dir))
    assert verify(tmp_path / name).rc == 0


def test_a_tar_gz_with_trailing_bytes_fails_in_tar_and_is_refused(tmp_path):
    # Given a good tar.gz with bytes appended after its gzip stream
    archive = tmp_path / "p.tar.gz"
    archive.write_bytes(tgz(tar_of(folder_entries(run_folder(tmp_path)))) + b"appended")
    # When tar extracts it and verify reads it
    done = extract(archive, tmp_path / "out")
    # Then tar fails (gzip: trailing garbage) and verify does not say VERIFIED
    assert done.returncode != 0
    checked = verify(archive)
    assert checked.rc == 1 and "REFUSED" in checked.stdout and "\nVERIFIED" not in checked.stdout


def test_a_tar_gz_with_a_broken_crc_fails_in_tar_and_is_refused(tmp_path):
    # Given a tar.gz whose gzip CRC-32 was changed (Python's tarfile stops before it is checked)
    good = tgz(tar_of(folder_entries(run_folder(tmp_path))))
    archive = tmp_path / "p.tar.gz"
    archive.write_bytes(good[:-8] + struct.pack("<L", zlib.crc32(b"x")) + good[-4:])
    # When tar extracts it, Then tar fails, and verify refuses it
    assert extract(archive, tmp_path / "out").returncode != 0
    assert "the gzip stream is corrupt" in verify(archive).stdout


def test_a_member_hidden_behind_a_broken_header_is_extracted_by_tar_and_refused(tmp_path):
    # Given a pack, a header with a wrong checksum, then a member Python's tarfile never reaches
    body = tar_of(folder_entries(run_folder(tmp_path)))[:-len(END_BLOCKS)]
    broken = bytearray(tar_entry(f"{RUN}/junk"))
    broken[0:4] = b"JUNK"
    archive = tmp_path / "p.tar.gz"
    archive.write_bytes(tgz(body + bytes(broken) + tar_entry(f"{RUN}/hidden.json", b"{}") + END_BLOCKS))
    # When tar extracts it
    extract(archive, tmp_path / "out")
    # Then tar skips the bad header and extracts the hidden member, and verify refuses the pack
    assert (tmp_path / "out" / RUN / "hidden.json").read_bytes() == b"{}"
    checked = verify(archive)
    assert checked.rc == 1 and "has a wrong checksum" in checked.stdout


def test_a_second_tar_after_the_end_blocks_is_read_by_tar_i_and_refused(tmp_path):
    # Given a pack and, in a second gzip member, another tar with one more member
    archive = tmp_path / "p.tar.gz"
    archive.write_bytes(tgz(tar_of(folder_entries(run_folder(tmp_path))))
                        + tgz(tar_of([(f"{RUN}/hidden.json", b"{}")])))
    # When tar extracts it ignoring zero blocks (as `tar -i` or a tape habit does)
    (tmp_path / "out").mkdir()
    subprocess.run(["tar", "-xizf", str(archive), "-C", str(tmp_path / "out")], capture_output=True,
                   timeout=60, check=False)
    # Then the hidden member appears, and verify refuses the pack
    assert (tmp_path / "out" / RUN / "hidden.json").exists()
    checked = verify(archive)
    assert checked.rc == 1 and "data follows the gzip stream" in checked.stdout


def test_a_zip_unicode_path_field_renames_the_file_for_unzip_and_is_refused(tmp_path):
    # Given a zip whose report.json (its name not flagged UTF-8) carries Info-ZIP's Unicode path field
    # naming another file
    entries = folder_entries(run_folder(tmp_path))
    report = f"{RUN}/report.json"
    other = f"{RUN}/evil.json".encode()
    field = struct.pack("<BL", 1, zlib.crc32(report.encode())) + other
    archive = tmp_path / "p.zip"
    archive.write_bytes(zip_of(entries, extras={report: struct.pack("<2H", 0x7075, len(field)) + field},
                               flags={report: 0}))
    # When unzip extracts it
    extract(archive, tmp_path / "out")
    # Then unzip writes the file under the other name, and verify refuses the pack
    out = tmp_path / "out" / RUN
    assert (out / "evil.json").exists() and not (out / "report.json").exists()
    checked = verify(archive)
    assert checked.rc == 1 and "extra field 0x7075" in checked.stdout


def test_a_zip_with_prepended_bytes_is_refused(tmp_path):
    # Given a zip with a shell script in front of it (a self-extractor); unzip finds the members anyway
    archive = tmp_path / "p.zip"
    archive.write_bytes(zip_of(folder_entries(run_folder(tmp_path)), prefix=b"#!/bin/sh\nrm -rf ~\n"))
    done = extract(archive, tmp_path / "out")
    assert "extra bytes at beginning" in done.stderr + done.stdout
    # When verify reads it, Then it refuses it
    checked = verify(archive)
    assert checked.rc == 1 and "data precedes the zip's first member" in checked.stdout

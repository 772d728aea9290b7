"""A hostile evidence pack (issue 16, class 13, and the verify half of 14): compression bombs are
refused within bounded memory, ambiguous archives are refused with the rule they break, the
format comes from the magic bytes, colliding manifest paths are named, and every name verify
prints is escaped."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from auditor.evidence import archive, pack, store
from tests.conftest import REPO, run_cli
from tests.unit.hostile_archives import (
    END_BLOCKS,
    RUN,
    MiB,
    folder_entries,
    gzip_bomb,
    run_folder,
    tar_entry,
    tar_of,
    tgz,
    zip_of,
)

# Runs verify in a fresh interpreter and reports how far its peak RSS grew during the command.
# (VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec, so a child
# would report pytest's own peak.)
MEASURED_VERIFY = """
import re, sys
import auditor.cli.evidence  # imports are not the pack's cost
from auditor.cli.main import main
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
before = peak()
rc = main(["verify", "--allow-unsigned", sys.argv[1]])
print(f"rc={rc} growth_kib={peak() - before}", file=sys.stderr)
"""
SAFETY_DEADLINE = 120  # seconds: only a hang fails this, never a slow machine
RSS_BOUND_KIB = 64 * 1024  # reading 1 GiB into memory, as verify did, grows RSS by over 1 GiB


def measured_verify(path: Path) -> tuple[int, str, int]:
    done = subprocess.run([sys.executable, "-c", MEASURED_VERIFY, str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=SAFETY_DEADLINE, check=False)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rc="), done.stderr
    rc, growth = (int(part.split("=")[1]) for part in last.split())
    return rc, done.stdout, growth


def refusal(path: Path, limits: archive.Limits = archive.LIMITS) -> str:
    with pytest.raises(archive.ArchiveRefused) as refused:
        pack.read(path, limits)
    return str(refused.value)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return run_folder(tmp_path)


# -- compression bombs ------------------------------------------------------------------------


def test_a_gzip_bomb_member_is_refused_before_it_is_expanded(tmp_path):
    # Given a 1 MiB tar.gz whose one member holds 1 GiB of zeros
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip_bomb([tar_entry(f"{RUN}/evidence/big.json", size=1024 * MiB)[:512], 1024,
                                END_BLOCKS]))
    assert bomb.stat().st_size < 2 * MiB
    # When verify reads it
    rc, stdout, growth = measured_verify(bomb)
    # Then it refuses, naming the member and the bound, without holding the gigabyte
    assert rc == 1 and "NOT VERIFIED" in stdout
    assert 'member "run-1/evidence/big.json" is 1073741824 bytes, over the bound of 256 MiB for one member' \
        in stdout
    assert growth < RSS_BOUND_KIB, growth


def test_a_gzip_bomb_of_many_members_is_refused_by_its_ratio(tmp_path):
    # Given a tar.gz of 512 members of 1 MiB of zeros each, every one within the per-member bound
    parts: list[bytes | int] = []
    for index in range(512):
        parts += [tar_entry(f"{RUN}/evidence/{index}.json", size=MiB)[:512], 1]
    bomb = tmp_path / "many.tar.gz"
    bomb.write_bytes(gzip_bomb([*parts, END_BLOCKS]))
    # When verify reads it
    rc, stdout, growth = measured_verify(bomb)
    # Then the compression ratio bound refuses it once 16 MiB have come out
    assert rc == 1 and "the gzip stream expands more than 200:1" in stdout and "compression ratio" in stdout
    assert growth < RSS_BOUND_KIB, growth


def test_a_gzip_bomb_after_the_end_of_the_tar_is_refused(tmp_path, run_dir):
    # Given a valid pack followed, inside the gzip stream, by 1 GiB of zero padding
    bomb = tmp_path / "padded.tar.gz"
    bomb.write_bytes(gzip_bomb([tar_of(folder_entries(run_dir)), 1024]))
    # When verify reads it, Then the ratio bound stops it early
    rc, stdout, growth = measured_verify(bomb)
    assert rc == 1 and "expands more than 200:1" in stdout
    assert growth < RSS_BOUND_KIB, growth


def test_a_zip_bomb_member_is_refused_before_it_is_inflated(tmp_path, run_dir):
    # Given a zip holding the pack and a member of 1 GiB of zeros (1 MiB on disk)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_of([*folder_entries(run_dir), (f"{RUN}/evidence/big.json", 1024)]))
    assert bomb.stat().st_size < 2 * MiB
    # When verify reads it, Then the ratio bound refuses it before anything is inflated
    rc, stdout, growth = measured_verify(bomb)
    assert rc == 1 and "the zip expands more than 200:1" in stdout
    assert growth < RSS_BOUND_KIB, growth


def test_a_zip_member_whose_stream_is_longer_than_declared_is_refused_while_inflating(tmp_path, run_dir):
    # Given a zip member that declares 1 KiB while its deflate stream holds 1 GiB (unzip inflates it all)
    name = f"{RUN}/evidence/web1/probe.json"
    liar = tmp_path / "liar.zip"
    liar.write_bytes(zip_of([*[e for e in folder_entries(run_dir) if e[0] != name], (name, 1024)],
                            declared={name: 1024}))
    # When verify reads it, Then it stops one chunk past the declared size and refuses
    rc, stdout, growth = measured_verify(liar)
    assert rc == 1 and f'member "{name}" does not inflate to exactly its 1024 declared bytes' in stdout
    assert growth < RSS_BOUND_KIB, growth


@pytest.mark.parametrize("bound, limits, needle", [
    ("total", archive.Limits(total_bytes=3 * 1024), "over the bound of 3 KiB for all members"),
    ("members", archive.Limits(members=2), "more than 2 members, the bound for one pack"),
    ("depth", archive.Limits(depth=2), "path components, over the bound of 2"),
    ("name", archive.Limits(name_bytes=20), "a path over the bound of 20 bytes"),
])
def test_every_bound_is_named_when_it_refuses(tmp_path, run_dir, bound, limits, needle):
    # Given a pack within the default bounds, as tar.gz and as zip
    entries = folder_entries(run_dir) + [(f"{RUN}/filler.bin", os.urandom(8192))]
    for path, data in ((tmp_path / "p.tar.gz", tgz(tar_of(entries))), (tmp_path / "p.zip", zip_of(entries))):
        path.write_bytes(data)
        assert pack.read(path).files
        # When it is read with a smaller bound, Then the refusal names that bound
        assert needle in refusal(path, limits), bound


def test_a_member_over_the_per_member_bound_is_named(tmp_path, run_dir):
    # Given a pack whose report.json is larger than the per-member bound allows
    entries = folder_entries(run_dir)
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of(entries)))
    # When it is read with that bound, Then the member and the bound are named
    message = refusal(path, archive.Limits(member_bytes=8))
    assert 'member "run-1/' in message and "for one member" in message


# -- ambiguous tar.gz -------------------------------------------------------------------------


def test_a_pack_written_by_the_tool_reads_back_as_written(tmp_path, run_dir):
    # Given the tool's own tar.gz and zip of a run folder
    for as_zip, name in ((False, "p.tar.gz"), (True, "p.zip")):
        pack.write_archive(run_dir, tmp_path / name, as_zip=as_zip, mtime=0)
        # When they are read, Then they hold exactly the folder's files, and verify
        contents = pack.read(tmp_path / name)
        assert contents.files == dict(pack.folder_files(run_dir)) and pack.verify(contents).intact


@pytest.mark.parametrize("tail, needle", [
    (lambda good: good + b"trailing garbage", "data follows the gzip stream"),
    (lambda good: good + tgz(b"x" * 512), "data follows the gzip stream"),
    (lambda good: good[:-8] + struct.pack("<L", zlib.crc32(b"x")) + good[-4:], "the gzip stream is corrupt"),
    (lambda good: good[:-20], "the gzip stream is cut short"),
])
def test_a_gzip_stream_that_gzip_reads_differently_is_refused(tmp_path, run_dir, tail, needle):
    # Given a good tar.gz with bytes after its gzip stream, a wrong CRC-32 or a cut end
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tail(tgz(tar_of(folder_entries(run_dir)))))
    # When it is read, Then it is refused with the reason
    assert needle in refusal(path)


def test_a_member_listed_twice_is_refused(tmp_path, run_dir):
    # Given a tar.gz whose report.json appears twice (extraction keeps the second)
    entries = folder_entries(run_dir)
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of([*entries, (f"{RUN}/report.json", b"forged")])))
    # When it is read, Then it is refused as ambiguous
    assert 'member "run-1/report.json" appears twice' in refusal(path)


@pytest.mark.parametrize("name, needle", [
    ("/etc/passwd", "an absolute or empty path"),
    (f"{RUN}/../escape.json", "'..' component"),
    (f"{RUN}/./report.json", "'.' or '..' component"),
    (f"{RUN}//report.json", "an empty, '.' or '..' component"),
    (f"{RUN}/evidence\\web1.json", "backslash"),
    (f"{RUN}/evil\x1b]0;owned\x07.json", "a control, format (bidi) or backslash character"),
    (f"{RUN}/\u202enosj.exe", "a control, format (bidi) or backslash character"),
    (f"{RUN}/REPORT.json", 'differ only in case or Unicode normalisation'),
    (f"{RUN}/report.json/inner", "sits under a member that is a file"),
])
def test_a_name_tools_extract_elsewhere_is_refused(tmp_path, run_dir, name, needle):
    # Given a pack with one more member under a hostile name
    entries = [*folder_entries(run_dir), (name, b"{}")]
    for path, data in ((tmp_path / "p.tar.gz", tgz(tar_of(entries))), (tmp_path / "p.zip", zip_of(entries))):
        path.write_bytes(data)
        # When it is read, Then it is refused, and the name is shown escaped
        message = refusal(path)
        assert needle in message, message
        assert not any(ch in message for ch in "\x1b\x07\u202e"), message


def test_a_case_fold_collision_is_refused_even_in_unicode(tmp_path, run_dir):
    # Given two members whose names differ only by Unicode normalisation (NFC vs NFD)
    entries = [*folder_entries(run_dir), (f"{RUN}/caf\u00e9.json", b"1"), (f"{RUN}/cafe\u0301.json", b"2")]
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of(entries)))
    # When it is read, Then it is refused: macOS would keep one file of the two
    assert "differ only in case or Unicode normalisation" in refusal(path)


@pytest.mark.parametrize("kind, what", [
    (tarfile.SYMTYPE, "a symbolic link"), (tarfile.LNKTYPE, "a hard link"), (tarfile.FIFOTYPE, "a FIFO"),
    (tarfile.CHRTYPE, "a character device"), (tarfile.BLKTYPE, "a block device"),
    (tarfile.CONTTYPE, "a contiguous file"),
])
def test_links_devices_and_fifos_are_refused(tmp_path, run_dir, kind, what):
    # Given a pack holding a link, a device or a FIFO
    entry = tar_entry(f"{RUN}/evidence/web1/link.json", kind=kind, linkname="/etc/shadow")
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of(folder_entries(run_dir))[:-len(END_BLOCKS)] + entry + END_BLOCKS))
    # When it is read, Then it is refused, saying what the member is
    assert f"is {what}; a pack holds only regular files" in refusal(path)


def test_setuid_setgid_and_sticky_modes_are_refused(tmp_path, run_dir):
    # Given a tar.gz and a zip each holding a set-user-ID file (tar run as root would keep the bit)
    info = tarfile.TarInfo(f"{RUN}/evidence/web1/sh")
    info.size, info.mode = 2, 0o4755
    tar = tmp_path / "p.tar.gz"
    tar.write_bytes(tgz(tar_of(folder_entries(run_dir))[:-len(END_BLOCKS)] + info.tobuf(tarfile.PAX_FORMAT)
                        + b"#!" + bytes(510) + END_BLOCKS))
    zipped = tmp_path / "p.zip"
    entries = folder_entries(run_dir)
    zipped.write_bytes(zip_of(entries, modes={entries[0][0]: 0o102755}))
    # When they are read, Then both are refused, naming the mode
    assert "has the mode 0o4755 (set-user-ID, set-group-ID or sticky)" in refusal(tar)
    assert "has the mode 0o102755" in refusal(zipped)


def test_a_corrupt_header_hiding_more_members_is_refused(tmp_path, run_dir):
    # Given a pack, then a header with a wrong checksum, then one more member (GNU tar skips the bad
    # header and extracts it; Python's tarfile stops there and never sees it)
    body = tar_of(folder_entries(run_dir))[:-len(END_BLOCKS)]
    broken = bytearray(tar_entry(f"{RUN}/junk"))
    broken[0:4] = b"JUNK"
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(body + bytes(broken) + tar_entry(f"{RUN}/hidden.json", b"{}") + END_BLOCKS))
    # When it is read, Then it is refused at the bad header
    assert "has a wrong checksum" in refusal(path)


@pytest.mark.parametrize("after_end, needle", [
    (tar_entry(f"{RUN}/hidden.json", b"{}") + END_BLOCKS, "data follows the tar end-of-archive blocks"),
    (None, "a lone zero block is followed by more data"),
])
def test_members_after_the_end_of_the_tar_are_refused(tmp_path, run_dir, after_end, needle):
    # Given a pack with a member hidden after its end blocks (`tar -i` reads it), or after one zero block
    body = tar_of(folder_entries(run_dir))
    hidden = tar_entry(f"{RUN}/hidden.json", b"{}")
    raw = body + after_end if after_end is not None else body[:-1024] + bytes(512) + hidden + END_BLOCKS
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(raw))
    # When it is read, Then it is refused
    assert needle in refusal(path)


@pytest.mark.parametrize("pax, needle", [
    ({"linkpath": "/etc/shadow"}, 'the keyword "linkpath" (not read alike by tools)'),
    ({"hdrcharset": "BINARY"}, 'the keyword "hdrcharset"'),
    ({"GNU.sparse.map": "0,1"}, 'the keyword "GNU.sparse.map"'),
])
def test_pax_keywords_that_change_what_is_extracted_are_refused(tmp_path, run_dir, pax, needle):
    # Given a member with a pax keyword tools read differently
    info = tarfile.TarInfo(f"{RUN}/extra.json")
    info.size, info.pax_headers = 2, pax
    entry = info.tobuf(tarfile.PAX_FORMAT) + b"{}" + bytes(510)
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of(folder_entries(run_dir))[:-len(END_BLOCKS)] + entry + END_BLOCKS))
    # When it is read, Then the keyword is named
    assert needle in refusal(path)


def test_gnu_long_names_and_old_formats_are_refused(tmp_path, run_dir):
    # Given a GNU-format tar.gz with a name over 100 bytes (an 'L' record before the member), and a
    # tar.gz whose headers carry no ustar magic (the old format, read differently by tools)
    long_name = f"{RUN}/evidence/{'h' * 120}/probe.json"
    gnu = tmp_path / "gnu.tar.gz"
    with tarfile.open(gnu, "w:gz", format=tarfile.GNU_FORMAT) as handle:
        for name, data in [*folder_entries(run_dir), (long_name, b"{}")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    header = bytearray(tar_entry(f"{RUN}/old.json", b"{}"))
    header[257:265] = bytes(8)
    header[148:156] = b"%06o\0 " % (sum(header[:148]) + 256 + sum(header[156:]))
    old = tmp_path / "old.tar.gz"
    old.write_bytes(tgz(tar_of(folder_entries(run_dir))[:-len(END_BLOCKS)] + bytes(header) + END_BLOCKS))
    # When they are read, Then each is refused with the reason
    assert "is a GNU long name (over 100 bytes: re-pack with `tar --format=posix`)" in refusal(gnu)
    assert "is neither POSIX ustar/pax nor plain GNU" in refusal(old)


# -- ambiguous zip ----------------------------------------------------------------------------


@pytest.mark.parametrize("build, needle", [
    (lambda e: zip_of(e, prefix=b"#!/bin/sh\nexit 0\n"), "data precedes the zip's first member"),
    (lambda e: zip_of(e, suffix=b"trailing"), "does not end with its end-of-central-directory record"),
    (lambda e: zip_of(e, local_names={e[0][0]: e[0][0].replace("web1", "web2")}),
     "its local header and the central directory disagree"),
    (lambda e: zip_of(e, extras={e[0][0]: struct.pack("<2HB", 0x7075, 5, 1) + b"abcd"}),
     "extra field 0x7075"),
    (lambda e: zip_of(e, modes={e[0][0]: 0o120777}), "has the unix file type 0o120000 (a link or a device)"),
    (lambda e: zip_of([*e, e[0]]), "appears twice"),
])
def test_a_zip_that_unzip_reads_differently_is_refused(tmp_path, run_dir, build, needle):
    # Given a zip with prepended or trailing bytes, a local header at odds with the central directory,
    # an Info-ZIP Unicode path (unzip extracts under that name), a symlink mode, or a name twice
    path = tmp_path / "p.zip"
    path.write_bytes(build(folder_entries(run_dir)))
    # When it is read, Then it is refused with the reason
    message = refusal(path)
    assert needle in message, message


def test_a_zip_whose_members_overlap_is_refused(tmp_path, run_dir):
    # Given a zip whose central directory points two entries at one local header (an overlapping bomb)
    good = zip_of(folder_entries(run_dir))
    central = good.index(b"PK\x01\x02")
    second = good.index(b"PK\x01\x02", central + 4)
    forged = bytearray(good)
    forged[second + 42:second + 46] = struct.pack("<L", 0)  # the second entry's local header offset
    path = tmp_path / "p.zip"
    path.write_bytes(bytes(forged))
    # When it is read, Then it is refused
    assert "prepended, hidden or overlapping data" in refusal(path)


# -- format by magic bytes --------------------------------------------------------------------


def test_the_format_comes_from_the_magic_bytes_not_the_name(tmp_path, run_dir):
    # Given a tar.gz named .zip, a zip named .tar.gz, and text named .tar.gz
    pack.write_archive(run_dir, tmp_path / "really-a-tar.zip", as_zip=False, mtime=0)
    pack.write_archive(run_dir, tmp_path / "really-a-zip.tar.gz", as_zip=True, mtime=0)
    (tmp_path / "text.tar.gz").write_text("hello, I am not an archive\n")
    # When they are verified
    for name in ("really-a-tar.zip", "really-a-zip.tar.gz"):
        done = run_cli("verify", "--allow-unsigned", str(tmp_path / name))
        # Then the archives verify by their content
        assert done.rc == 0 and "VERIFIED" in done.stdout, done.stdout + done.stderr
    # And the text is one clear line, exit 2
    done = run_cli("verify", "--allow-unsigned", str(tmp_path / "text.tar.gz"))
    assert done.rc == 2 and "not a readable tar.gz or zip archive: it starts with b'hell'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_tar_gz_holding_the_zip_end_signature_is_read_as_tar_gz(tmp_path):
    # Given a tar.gz of stored (uncompressed) deflate blocks whose report holds a zip end-of-directory
    # record, so the signature is in the file's last 64 KiB (zipfile.is_zipfile says yes)
    run_dir = run_folder(tmp_path, {"report.json": b"PK\x05\x06" + bytes(18)})
    path = tmp_path / "p.tar.gz"
    path.write_bytes(gzip.compress(tar_of(folder_entries(run_dir)), compresslevel=0, mtime=0))
    assert zipfile.is_zipfile(path)
    # When it is verified, Then it is read as the tar.gz it is
    done = run_cli("verify", "--allow-unsigned", str(path))
    assert done.rc == 0 and "VERIFIED" in done.stdout, done.stdout + done.stderr


# -- manifest paths and evidence folders that collide (class 14, verify) ----------------------


def rewrite_manifest(run_dir: Path, change) -> None:
    manifest = json.loads((run_dir / pack.MANIFEST).read_bytes())
    change(manifest)
    (run_dir / pack.MANIFEST).write_bytes(pack.canonical(manifest))


@pytest.mark.parametrize("change, needle", [
    (lambda m: m["artifacts"].append(dict(m["artifacts"][0])),
     "the manifest lists 'evidence/web1/probe.json' twice"),
    (lambda m: m["artifacts"].append({**m["artifacts"][1], "path": "./report.json"}),
     "the manifest lists 'report.json' twice (as 'report.json' and './report.json')"),
    (lambda m: m["artifacts"].append({**m["artifacts"][1], "path": "../outside.json"}),
     "the manifest lists '../outside.json', not a plain relative path inside the pack"),
])
def test_manifest_paths_that_collide_are_named(run_dir, change, needle):
    # Given a manifest that lists one file twice, once spelled another way, or outside the pack
    rewrite_manifest(run_dir, change)
    # When the folder is verified, Then the collision is a problem and the pack does not verify
    done = run_cli("verify", "--allow-unsigned", str(run_dir))
    assert done.rc == 1 and f"PROBLEM  {needle}" in done.stdout and "NOT VERIFIED" in done.stdout, done.stdout


def test_two_hosts_sharing_an_evidence_folder_are_named(tmp_path):
    # Given a run whose signed manifest puts two hosts' evidence in one folder (spelled in two cases,
    # as an older tool or a forger could have written it)
    folder = store.host_folder("a/b")
    run_dir = run_folder(tmp_path, {"report.json": b"{}", f"{folder}/p.json": b"{}"}, hosts=("a/b", "c"))
    shared = {"a/b": folder, "c": folder.upper()}
    rewrite_manifest(run_dir, lambda m: m["run"].update(evidence_folders=shared))
    # When it is verified, Then the shared folder is a problem that names both hosts
    done = run_cli("verify", "--allow-unsigned", str(run_dir))
    assert done.rc == 1 and f"hosts 'a/b' and 'c' share the evidence folder {folder.upper()}" \
        in done.stdout, done.stdout


def test_hosts_whose_names_once_collided_get_folders_of_their_own(tmp_path):
    # Given the hosts `a/b` and the host named like `a/b`'s folder, in a manifest without folders
    run_dir = run_folder(tmp_path, {"report.json": b"{}"}, hosts=("a/b", store.safe_name("a/b")))
    # When it is verified, Then today's naming gives each its own folder: nothing is shared
    done = run_cli("verify", "--allow-unsigned", str(run_dir))
    assert "share the evidence folder" not in done.stdout and "VERIFIED" in done.stdout, done.stdout


# -- names are printed escaped ----------------------------------------------------------------


def test_verify_prints_hostile_names_escaped(tmp_path, run_dir):
    # Given a manifest that lists a missing file whose name clears the screen, retitles the terminal
    # and reverses the text after it
    hostile = "evidence/web1/\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\u2066.json"
    listed = {"path": hostile, "sha256": "0" * 64, "size": 1}
    rewrite_manifest(run_dir, lambda m: m["artifacts"].append(listed))
    # When it is verified
    done = run_cli("verify", "--allow-unsigned", str(run_dir))
    # Then the line names the file with every control and bidi character replaced
    assert done.rc == 1 and "NOT VERIFIED" in done.stdout
    assert not any(ch in done.stdout for ch in "\x1b\x07\x9b\u202e\u2066"), repr(done.stdout)
    assert "MISSING  evidence/web1/\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202eevil\\u2066.json" in done.stdout


def test_a_refused_member_name_is_printed_escaped(tmp_path, run_dir):
    # Given a tar.gz with a member whose name carries an escape sequence
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of([*folder_entries(run_dir), (f"{RUN}/\x1b[2Jx.json", b"{}")])))
    # When it is verified
    done = run_cli("verify", "--allow-unsigned", str(path))
    # Then it is refused on one escaped line, and nothing else claims it verified
    assert done.rc == 1 and "\x1b" not in done.stdout
    assert 'REFUSED  ' in done.stdout and 'member "run-1/\\u001b[2Jx.json"' in done.stdout
    assert done.stdout.rstrip().endswith("NOT VERIFIED")


def test_evaluate_refuses_a_hostile_pack_even_when_told_to_skip_verify(tmp_path, run_dir):
    # Given a tar.gz with trailing data after its gzip stream
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tgz(tar_of(folder_entries(run_dir))) + b"more")
    # When it is evaluated with --skip-verify, Then it is refused, not judged
    done = run_cli("evaluate", str(path), "--skip-verify")
    assert done.rc == 1 and "REFUSED" in done.stdout and "data follows the gzip stream" in done.stdout


def test_a_manifest_nested_too_deep_to_parse_is_a_problem_not_a_traceback(run_dir):
    # Given a manifest of 200,000 nested arrays (json.loads recurses once per level)
    (run_dir / pack.MANIFEST).write_bytes(b"[" * 200_000 + b"]" * 200_000)
    # When the folder is verified
    done = run_cli("verify", "--allow-unsigned", str(run_dir))
    # Then it is a manifest problem, on one line
    assert done.rc == 1 and "PROBLEM  manifest.json is not a valid manifest (RecursionError" in done.stdout
    assert "Traceback" not in done.stderr


def test_zip64_end_records_are_read_and_must_agree(tmp_path, run_dir):
    # Given a zip with zip64 end records (as for over 65,535 members), and one whose two end
    # records give different member counts
    good, forged = tmp_path / "z64.zip", tmp_path / "forged.zip"
    good.write_bytes(zip_of(folder_entries(run_dir), zip64=True))
    data = bytearray(good.read_bytes())
    data[-22 + 10:-22 + 12] = struct.pack("<H", 2)  # the end record's total count: 2, zip64 says 3
    forged.write_bytes(bytes(data))
    # When they are read, Then the first holds the pack and the second is refused
    assert pack.read(good).files == dict(pack.folder_files(run_dir))
    assert "its zip64 end record disagree" in refusal(forged)


def test_a_zip_of_over_65535_files_written_by_the_tool_verifies(tmp_path):
    # Given a run folder of 65,600 small files, packed by the tool (Python writes zip64 end records)
    run_dir = run_folder(tmp_path, {f"evidence/h{n // 1000}/{n}.json": b"{}" for n in range(65_600)})
    pack.write_archive(run_dir, tmp_path / "big.zip", as_zip=True, mtime=0)
    # When it is read, Then every file is there and intact
    contents = pack.read(tmp_path / "big.zip")
    assert len(contents.files) == 65_601 and pack.verify(contents).intact


def test_a_zip_central_directory_larger_than_its_members_need_is_refused(tmp_path, run_dir):
    # Given a zip whose every entry carries 8 KiB of (allowed) timestamp extra field
    entries = folder_entries(run_dir)
    padding = struct.pack("<2H", 0x5455, 8192) + bytes(8192)
    path = tmp_path / "p.zip"
    path.write_bytes(zip_of(entries, extras={name: padding for name, _ in entries}))
    # When it is read, Then the central directory bound refuses it before Python parses it
    assert "the zip's central directory takes" in refusal(path)


def test_pack_keeps_no_archive_that_verify_would_refuse(tmp_path):
    # Given a run folder whose evidence folders differ only in case (hosts `Web1` and `web1`)
    run_dir = run_folder(tmp_path, {"report.json": b"{}", "evidence/Web1/p.json": b"1",
                                    "evidence/web1/p.json": b"2"}, hosts=("Web1", "web1"))
    # When it is packed
    done = run_cli("pack", str(run_dir), "-o", str(tmp_path / "p.tar.gz"))
    # Then pack says why on one line and leaves no archive behind
    assert done.rc == 2 and "differ only in case or Unicode normalisation" in done.stderr, done.stderr
    assert "the archive was not kept" in done.stderr and not (tmp_path / "p.tar.gz").exists()


def test_a_run_folder_is_read_within_the_same_bounds(run_dir):
    # Given a run folder holding a file larger than a (small) per-member bound, and a symlink out
    (run_dir / "evidence" / "web1" / "passwd").symlink_to("/etc/passwd")
    # When it is read with that bound, Then it is refused naming the file; by default it is read,
    # the symlink listed as an odd entry and never followed
    assert 'member "evidence/web1/probe.json" is 17 bytes, over the bound of 8 bytes' in refusal(
        run_dir, archive.Limits(member_bytes=8, total_bytes=8))
    contents = pack.read(run_dir)
    assert contents.odd_entries == ["evidence/web1/passwd"] and "evidence/web1/passwd" not in contents.files

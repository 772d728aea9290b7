"""Signed evidence packs: keygen, manifest and signature, verify, pack, evaluate.

Runs use the local transport and a small check of our own whose verdict follows a file
the test controls, so tampering with its evidence visibly changes the verdict.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from auditor.cli.exits import EXIT_UNTRUSTED
from tests.conftest import run_cli

FLAG_CHECK = '''
"""The flag file says yes. A test check: its verdict follows one probe's output."""
from auditor.check import Check, Status, result
from auditor.check import Param
from auditor.probes import quote, shell

CHECK = Check(id="flag_file", title="The flag says yes", claims=("demo",), controls=("ISO27001:2022 A.5.1",),
              params=(Param("path", str, "/nonexistent", "the flag file"),),
              probes=(shell("flag", lambda p: "cat " + quote(p["path"]), ok_rc=(0, 1)),))

def evaluate(out, params):
    said = out.require("flag").stdout.strip()
    return result(Status.PASS if said == "yes" else Status.FAIL, f"the flag says {said!r}", evidence=["flag"])
'''


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return flag_workspace(tmp_path_factory.mktemp("pack"))


def flag_workspace(work: Path) -> Path:
    """A folder with the flag check, a flag saying yes, and an inventory of the local machine."""
    (work / "checks").mkdir()
    (work / "checks" / "flag_file.py").write_text(FLAG_CHECK)
    (work / "flag").write_text("yes\n")
    (work / "inv.yaml").write_text(textwrap.dedent(f"""
        hosts:
          here: {{transport: local}}
        defaults:
          vars: {{flag_file: {{path: {work / 'flag'}}}}}
    """))
    return work


@pytest.fixture(scope="module")
def key(workspace) -> tuple[Path, str]:
    path = workspace / "keys" / "signing.pem"
    done = run_cli("keygen", "--out", str(path))
    assert done.rc == 0, done.stderr
    fingerprint = next(ln.split()[-1] for ln in done.stdout.splitlines() if ln.startswith("fingerprint:"))
    return path, fingerprint


def audit(workspace: Path, out: str, *extra: str, env: dict[str, str] | None = None):
    done = run_cli("run", "-i", str(workspace / "inv.yaml"), "--checks-dir", str(workspace / "checks"),
                   "--check", "flag_file", "-o", str(workspace / out), "--format", "json", *extra, env=env)
    folder = workspace / out
    run_dirs = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []
    return done, (run_dirs[-1] if run_dirs else None)


@pytest.fixture(scope="module")
def signed_run(workspace, key) -> Path:
    done, run_dir = audit(workspace, "signed", env={"AUDITOR_SIGNING_KEY": str(key[0])})
    assert done.rc == 0, done.stderr
    return run_dir


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def verify(path: Path, *extra: str):
    return run_cli("verify", str(path), *extra)


# -- keys -------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_can_read(key):
    path, fingerprint = key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fingerprint.startswith("SHA256:") and len(fingerprint) == 50
    assert fingerprint in path.with_name(path.name + ".pub").read_text()
    assert b"PRIVATE KEY" in path.read_bytes()


def test_keygen_never_overwrites_a_key(key):
    path, _ = key
    before = path.read_bytes()
    done = run_cli("keygen", "--out", str(path))
    assert done.rc == 2 and "already exists" in done.stderr and "Traceback" not in done.stderr
    assert path.read_bytes() == before


def test_an_encrypted_key_needs_its_passphrase(workspace, tmp_path):
    # Given a key made with a passphrase from the environment
    path = tmp_path / "enc.pem"
    made = run_cli("keygen", "--out", str(path), "--passphrase",
                   env={"AUDITOR_SIGNING_PASSPHRASE": "s3cret pass"})
    assert made.rc == 0, made.stderr
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    # When a run uses it without the passphrase (no terminal), it stops with advice
    done, run_dir = audit(workspace, "enc-missing", env={"AUDITOR_SIGNING_KEY": str(path)})
    assert done.rc == 2 and "AUDITOR_SIGNING_PASSPHRASE" in done.stderr and "Traceback" not in done.stderr
    assert run_dir is None  # refused before anything was collected
    # And with the passphrase it signs
    done, run_dir = audit(workspace, "enc-ok", env={"AUDITOR_SIGNING_KEY": str(path),
                                                    "AUDITOR_SIGNING_PASSPHRASE": "s3cret pass"})
    assert done.rc == 0 and done.json()["run"]["signing"]["signed"] is True
    fingerprint = made.stdout.split("fingerprint:")[1].split()[0]
    assert verify(run_dir, "--key-fingerprint", fingerprint).rc == 0


# -- a signed run -------------------------------------------------------------


def test_a_signed_run_lists_every_file_with_its_hash_and_metadata(signed_run, key):
    manifest = json.loads((signed_run / "manifest.json").read_text())
    listed = {a["path"] for a in manifest["artifacts"]}
    on_disk = {p.relative_to(signed_run).as_posix() for p in signed_run.rglob("*") if p.is_file()}
    assert listed == on_disk - {"manifest.json", "manifest.sig"}
    assert {"report.json", "report.html", "junit.xml"} <= listed
    assert any(p.startswith("evidence/here/") for p in listed)
    run = manifest["run"]
    assert run["operator"] and run["tool"]["name"] == "auditor" and len(run["inventory"]["sha256"]) == 64
    assert run["hosts"][0]["params"]["flag_file"]["path"].endswith("flag")
    assert manifest["signer"]["fingerprint"] == key[1]
    report = json.loads((signed_run / "report.json").read_text())
    assert report["run"]["signing"] == {"signed": True, "fingerprint": key[1]}
    page = (signed_run / "report.html").read_text()
    assert "Chain of custody" in page and key[1] in page and "auditor verify" in page


def test_verify_accepts_an_untouched_folder_and_a_pinned_key(signed_run, key):
    done = verify(signed_run, "--key-fingerprint", key[1])
    assert done.rc == 0 and "VERIFIED" in done.stdout and "good signature" in done.stdout


def test_verify_refuses_a_signature_by_another_key(signed_run):
    done = verify(signed_run, "--key-fingerprint", "SHA256:" + "A" * 43)
    assert done.rc == EXIT_UNTRUSTED and "NOT by the pinned key" in done.stdout
    assert "signature valid, signer NOT trusted" in done.stdout and "NOT VERIFIED" in done.stdout


def test_a_flipped_byte_in_evidence_is_named(signed_run, tmp_path):
    pack = copy_of(signed_run, tmp_path)
    evidence = next((pack / "evidence" / "here").glob("flag_file.*.json"))
    data = bytearray(evidence.read_bytes())
    data[len(data) // 2] ^= 0x01
    evidence.write_bytes(bytes(data))
    done = verify(pack)
    assert done.rc == 1 and "NOT VERIFIED" in done.stdout
    assert f"ALTERED  evidence/here/{evidence.name}" in done.stdout


def test_a_deleted_file_is_named(signed_run, tmp_path):
    pack = copy_of(signed_run, tmp_path)
    (pack / "junit.xml").unlink()
    done = verify(pack)
    assert done.rc == 1 and "MISSING  junit.xml" in done.stdout


def test_an_added_file_is_named(signed_run, tmp_path):
    pack = copy_of(signed_run, tmp_path)
    (pack / "evidence" / "here" / "extra.json").write_text("{}")
    done = verify(pack)
    assert done.rc == 1 and "ADDED    evidence/here/extra.json" in done.stdout


def test_an_edited_manifest_breaks_the_signature(signed_run, tmp_path):
    # Given a manifest re-hashed for a forged report, as an editor without the key would do
    pack = copy_of(signed_run, tmp_path)
    (pack / "report.json").write_text((pack / "report.json").read_text().replace('"pass"', '"fail"'))
    manifest = json.loads((pack / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["path"] == "report.json":
            data = (pack / "report.json").read_bytes()
            entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    (pack / "manifest.json").write_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    # When it is verified, the hashes match but the signature does not
    done = verify(pack)
    assert done.rc == 1 and "BAD signature" in done.stdout and "ALTERED" not in done.stdout


def test_an_unsigned_run_says_so_and_verifies_only_when_allowed(workspace):
    done, run_dir = audit(workspace, "unsigned")
    assert done.rc == 0 and "NOT signed" in done.stderr
    assert done.json()["run"]["signing"] == {"signed": False, "fingerprint": None}
    assert "Not signed." in (run_dir / "report.html").read_text()
    assert not (run_dir / "manifest.sig").exists()
    refused = verify(run_dir)
    assert refused.rc == 1 and "not signed" in refused.stdout
    assert verify(run_dir, "--allow-unsigned").rc == 0


# -- archives -----------------------------------------------------------------


@pytest.mark.parametrize("suffix, flag", [(".tar.gz", ()), (".zip", ("--zip",))])
def test_a_pack_archive_is_reproducible_and_verifies_as_is(signed_run, key, tmp_path, suffix, flag):
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    assert run_cli("pack", str(signed_run), "-o", str(first), *flag).rc == 0
    for path in signed_run.rglob("*"):  # a copy or a checkout changes mtimes; the bytes must not
        os.utime(path, (1, 1))
    assert run_cli("pack", str(signed_run), "-o", str(second), *flag).rc == 0
    assert first.read_bytes() == second.read_bytes()
    done = verify(first, "--key-fingerprint", key[1])
    assert done.rc == 0 and "VERIFIED" in done.stdout, done.stdout


def test_a_tampered_archive_names_the_file(signed_run, tmp_path):
    # Given an archive whose report.json was changed after packing
    archive = tmp_path / "pack.tar.gz"
    assert run_cli("pack", str(signed_run), "-o", str(archive)).rc == 0
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(forged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.endswith("/report.json"):
                data = data.replace(b'"pass"', b'"fail"')
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    # Then verify names it
    done = verify(forged)
    assert done.rc == 1 and "ALTERED  report.json" in done.stdout


def test_a_zip_with_an_extra_entry_is_refused(signed_run, tmp_path):
    archive = tmp_path / "pack.zip"
    assert run_cli("pack", str(signed_run), "-o", str(archive), "--zip").rc == 0
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr(f"{signed_run.name}/evidence/here/planted.json", "{}")
    done = verify(archive)
    assert done.rc == 1 and "ADDED    evidence/here/planted.json" in done.stdout


def test_pack_refuses_a_folder_that_does_not_verify(signed_run, tmp_path):
    pack = copy_of(signed_run, tmp_path)
    (pack / "report.html").write_text("changed")
    done = run_cli("pack", str(pack), "-o", str(tmp_path / "x.tar.gz"))
    assert done.rc == 2 and "refusing to pack" in done.stderr and not (tmp_path / "x.tar.gz").exists()


def test_verify_of_something_that_is_not_a_pack_is_a_clear_error(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    done = verify(tmp_path / "junk.tar.gz")
    assert done.rc == 2 and "not a readable tar.gz or zip" in done.stderr and "Traceback" not in done.stderr
    done = verify(tmp_path)
    assert done.rc == 2 and "manifest.json is missing" in done.stderr


# -- evaluate -----------------------------------------------------------------


def test_evaluate_reproduces_the_recorded_verdicts(signed_run, workspace, key, tmp_path):
    archive = tmp_path / "pack.tar.gz"
    assert run_cli("pack", str(signed_run), "-o", str(archive)).rc == 0
    done = run_cli("evaluate", str(archive), "--checks-dir", str(workspace / "checks"),
                   "--key-fingerprint", key[1])
    assert done.rc == 0, done.stdout + done.stderr
    assert "1 of 1 verdicts reproduced from the evidence" in done.stdout


def test_evaluate_names_a_verdict_that_an_improved_check_changes(signed_run, key, tmp_path):
    # Given a newer version of the check that also accepts "yes" only in capitals
    improved = tmp_path / "improved"
    improved.mkdir()
    (improved / "flag_file.py").write_text(FLAG_CHECK.replace('said == "yes"', 'said == "YES"'))
    # When the old evidence is judged again
    done = run_cli("evaluate", str(signed_run), "--checks-dir", str(improved), "--key-fingerprint", key[1])
    # Then the changed verdict is named, with both summaries
    assert done.rc == 1
    assert "CHANGED  here flag_file: recorded pass -> today fail" in done.stdout
    assert "0 of 1 verdicts reproduced" in done.stdout


def test_evaluate_refuses_altered_evidence_unless_told(signed_run, workspace, tmp_path):
    pack = copy_of(signed_run, tmp_path)
    evidence = next((pack / "evidence" / "here").glob("flag_file.*.json"))
    record = json.loads(evidence.read_text())
    record["stdout"] = "no\n"
    evidence.write_text(json.dumps(record))
    checks = ("--checks-dir", str(workspace / "checks"))
    refused = run_cli("evaluate", str(pack), *checks)
    assert refused.rc == 1 and "NOT VERIFIED" in refused.stdout and "ALTERED" in refused.stdout
    judged = run_cli("evaluate", str(pack), "--skip-verify", *checks)
    assert judged.rc == 1 and "recorded pass -> today fail" in judged.stdout


def test_the_files_of_a_folder_come_in_rglob_order_without_symlinks(tmp_path: Path):
    from auditor.evidence import pack as evidence_pack

    # Given names whose order differs by path component and by string ("a/x" before "a-b/1"),
    # hidden files, non-ASCII names, a symlink to a file and one to a folder, and a fifo
    for name in ("a/x-y/2", "a/x/2", "a/1", "a-b/1", "a.b/1", "A/1", "z/.hidden", ".h/f", "e/ü/f", "e/u/f",
                 "top", "a0"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    os.symlink(tmp_path / "a", tmp_path / "link_dir")
    os.symlink(tmp_path / "top", tmp_path / "link_file")
    os.mkfifo(tmp_path / "fifo")
    # When the regular files are listed
    listed = [name for name, _ in evidence_pack.regular_files(tmp_path)]
    # Then they are the regular files sorted(rglob) finds, in its order (the manifest's bytes keep)
    expected = [p.relative_to(tmp_path).as_posix()
                for p in sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink())]
    assert listed == expected and "a/1" in listed and "link_file" not in listed
    assert listed.index("a/x/2") < listed.index("a-b/1")

"""The files a run writes (issue 16, class 14), through the real command line on the local machine:
modes that do not depend on the umask (folders 0750, reports and evidence 0640, keys 0600), and
one evidence folder per host however the inventory names it (`a/b` beside `a_b-c14cddc0`, `..`,
`Web` beside `web`, 300 characters), each inside the run folder, named in the signed manifest,
and holding only that host's records."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

AUDITOR = str(Path(sys.executable).with_name("auditor"))
NAMES = ["web1", "a/b", "a_b", "a_b-c14cddc0", "..", ".", "../../escape", "Web", "web", "WEB", "x" * 300,
         "-rf", "con", "db primary"]
CHECKS = ("ssh_hardening", "password_hashing")


def auditor(*args: str, umask: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUDITOR, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          preexec_fn=lambda: os.umask(umask))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(scope="module", params=[0o000, 0o077], ids=["umask000", "umask077"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("runfiles")
    inventory = {"hosts": {name: {"transport": "local"} for name in NAMES}}
    (tmp / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    # Given a key made and a run made under the umask, into an output folder that does not exist yet
    made = auditor("keygen", "--out", str(tmp / "keys" / "key.pem"), umask=request.param, cwd=tmp)
    assert made.returncode == 0, made.stderr
    checks = [arg for check in CHECKS for arg in ("--check", check)]
    done = auditor("run", "-i", "inventory.yaml", "--sign-key", str(tmp / "keys" / "key.pem"), "--output",
                   str(tmp / "out" / "reports"), "--format", "json", *checks, umask=request.param, cwd=tmp)
    assert done.returncode in (0, 1, 3), done.stderr
    (run_dir,) = [p for p in (tmp / "out" / "reports").iterdir() if p.is_dir()]
    return tmp, run_dir


def test_every_folder_is_0750_and_every_file_0640_whatever_the_umask(run):
    tmp, run_dir = run
    # Then the output folder made for the run, the run folder and everything inside have fixed modes
    inside = [p for p in run_dir.rglob("*") if p.is_dir()]
    for folder in (tmp / "out", tmp / "out" / "reports", run_dir, *inside):
        assert mode(folder) == 0o750, folder
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) > len(NAMES) * 3
    for path in files:
        assert mode(path) == 0o640, path
    assert mode(tmp / "out" / "reports" / "history.sqlite") == 0o640


def test_the_signing_key_is_0600_in_a_0700_folder(run):
    tmp, _ = run
    key = tmp / "keys" / "key.pem"
    assert (mode(key), mode(key.parent), mode(key.with_name("key.pem.pub"))) == (0o600, 0o700, 0o644)


def test_a_pack_is_0640(run):
    tmp, run_dir = run
    for archive in ("pack.tar.gz", "pack.zip"):
        # When the run is packed under umask 000
        as_zip = ["--zip"] if archive.endswith("zip") else []
        done = auditor("pack", "-o", str(tmp / archive), str(run_dir), *as_zip, umask=0o000, cwd=tmp)
        assert done.returncode == 0, done.stderr
        # Then the archive is not world-readable, nor anyone's but the owner's to change
        assert mode(tmp / archive) == 0o640


def test_each_host_has_its_own_folder_named_in_the_signed_manifest(run):
    _, run_dir = run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    folders = manifest["run"]["evidence_folders"]
    # Then every host has a folder, no two share one (even where case does not count)
    assert sorted(folders) == sorted(NAMES)
    assert len({f.casefold() for f in folders.values()}) == len(NAMES)
    # ordinary names keep their names
    assert [folders[n] for n in ("web1", "a_b", "web")] == ["evidence/web1", "evidence/a_b", "evidence/web"]
    evidence = (run_dir / "evidence").resolve()
    on_disk = {p.name for p in evidence.iterdir()}
    assert on_disk == {f.split("/", 1)[1] for f in folders.values()}
    for host, folder in folders.items():
        # each folder is inside the run's evidence folder and holds only its host's records
        assert (run_dir / folder).resolve().parent == evidence
        records = [json.loads(p.read_text()) for p in (run_dir / folder).glob("*.json")]
        assert records and {r["host"] for r in records} == {host}
    assert not list((run_dir.parent).glob("escape*")) and not (run_dir.parent.parent / "escape").exists()


def test_the_report_cites_each_hosts_own_evidence_and_the_run_verifies(run):
    tmp, run_dir = run
    report = json.loads((run_dir / "report.json").read_text())
    folders = json.loads((run_dir / "manifest.json").read_text())["run"]["evidence_folders"]
    for host in report["hosts"]:
        cited = {e["path"].rsplit("/", 1)[0] for r in host["results"] for e in r["evidence"]}
        assert cited == {folders[host["name"]]}, host["name"]
    fingerprint = (tmp / "keys" / "key.pem.pub").read_text().split()[2]
    verified = auditor("verify", "--key-fingerprint", fingerprint, str(run_dir), umask=0o022, cwd=tmp)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_two_hosts_that_would_share_a_folder_are_refused_before_any_host_is_contacted(tmp_path: Path):
    # Given two names whose escaped folders meet (same cleaned text, same 32-bit hash suffix)
    inventory = {"hosts": {"a b<c~d]e": {"transport": "local"}, "a/b~c(d<e": {"transport": "local"}}}
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    # When audited
    done = auditor("run", "-i", "inventory.yaml", "--no-sign", "--output", str(tmp_path / "out"),
                   "--check", "ssh_hardening", umask=0o022, cwd=tmp_path)
    # Then one line names both hosts, exit 2, and no run folder was made
    assert done.returncode == 2, done.stderr
    assert "would share the evidence folder" in done.stderr and "Traceback" not in done.stderr
    assert "'a b<c~d]e'" in done.stderr and "'a/b~c(d<e'" in done.stderr
    assert not (tmp_path / "out").exists() or not any(p.is_dir() for p in (tmp_path / "out").iterdir())

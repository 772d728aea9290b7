"""The evidence-pack hand-over, end to end against real sshd hosts with planted secrets.

keygen → run (every built-in check) → pack → verify → tamper → verify names it →
evaluate reproduces every verdict; and no planted secret reaches any file of the run
folder or of either archive.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec, Planted
from tests.integration.test_engine_ssh import REAL_SHADOW, mkpasswd

pytestmark = pytest.mark.integration


def private_key_pem(tmp: Path) -> str:
    path = tmp / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", str(path)],
                   check=True, capture_output=True)
    return path.read_text()


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("secrets")
    pem = private_key_pem(tmp)
    return {
        "shadow_yescrypt": mkpasswd("yescrypt", "Planted-Login-1"),
        "shadow_md5": mkpasswd("md5crypt", "Planted-Login-2"),
        "log_password": "Hunter2-Planted-Value",
        "json_password": "Json-Planted-Secret-42",
        "basic_token": "cGxhbnRlZDpCYXNpYy1TZWNyZXQtOQ==",
        "mysql_password": "Mysql-Planted-9x",
        "pem": pem,
        "pem_body_line": pem.splitlines()[1],
    }


@pytest.fixture(scope="module")
def fleet(sshd_fleet, secrets):
    s = secrets
    app_log = (f"2026-11-20T10:00:01Z login user=alice password={s['log_password']} ok\n"
               f'2026-11-20T10:00:02Z request body {{"user": "bob", "password": "{s["json_password"]}"}}\n'
               f"2026-11-20T10:00:03Z header Authorization: Basic {s['basic_token']}\n")
    with sshd_fleet("fleet") as (fleet, _):
        fleet.start(HostSpec(
            "secrets",
            files={
                "/etc/shadow": Planted(REAL_SHADOW + f"alice:{s['shadow_yescrypt']}:19700:0:99999:7:::\n"
                                       f"mallory:{s['shadow_md5']}:19700:0:99999:7:::\n", mode=0o640, gid=42),
                "/var/log/app/app.log": app_log,
                "/var/log/keys/deploy_key": Planted(s["pem"], mode=0o600),
                "/root/.bash_history": f"ls\nmysql -uroot -p{s['mysql_password']} shop\n",
            },
            replace_dirs=("/var/log", "/var/log/app", "/var/log/keys", "/root"),
        ))
        fleet.start(HostSpec("plain"))
        yield fleet


@pytest.fixture(scope="module")
def signed_run(fleet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    made = run_cli("keygen", "--out", str(tmp / "key.pem"))
    assert made.rc == 0, made.stderr
    fingerprint = made.stdout.split("fingerprint:")[1].split()[0]
    inventory = write_inventory(tmp / "inv.yaml", fleet_hosts(fleet))
    done = audit(inventory, tmp / "reports", None, "--sign-key", str(tmp / "key.pem"))
    assert done.result.rc in (0, 1, 3), done.result.stderr
    return done.run_dir, fingerprint, done.result.json(), tmp


def test_the_pack_verifies_as_a_folder_and_as_both_archives(signed_run):
    run_dir, fingerprint, report, tmp = signed_run
    # Given the run was signed by the key keygen made
    assert report["run"]["signing"]["fingerprint"] == fingerprint
    assert {h["name"] for h in report["hosts"] if h["reachable"]} == {"secrets", "plain"}
    # When it is packed both ways and everything is verified against the pinned key
    for archive, flag in ((tmp / "pack.tar.gz", ()), (tmp / "pack.zip", ("--zip",))):
        packed = run_cli("pack", str(run_dir), "-o", str(archive), *flag)
        assert packed.rc == 0, packed.stderr
    for target in (run_dir, tmp / "pack.tar.gz", tmp / "pack.zip"):
        done = run_cli("verify", str(target), "--key-fingerprint", fingerprint)
        # Then each verifies
        assert done.rc == 0 and "VERIFIED" in done.stdout, done.stdout


def test_evidence_names_the_host_key_that_answered(signed_run, fleet):
    run_dir, _, report, _ = signed_run
    # Given the fleet's host keys as known_hosts holds them, by address
    known = {}
    for line in fleet.known_hosts.read_text().splitlines():
        names, algorithm, blob = line.split()[:3]
        digest = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode().rstrip("=")
        known[names] = (algorithm, f"SHA256:{digest}")
    # Then every SSH evidence record names the address, port and key that answered
    for host in (h for h in report["hosts"] if h["reachable"]):
        records = [json.loads(p.read_text()) for p in (run_dir / "evidence" / host["name"]).glob("*.json")]
        assert records
        for record in records:
            target = record["target"]
            assert target["name"] == host["name"] and target["transport"] == "ssh"
            entry = f"[{target['address']}]:{target['port']}" if target["port"] != 22 else target["address"]
            assert (target["host_key"]["algorithm"], target["host_key"]["sha256"]) == known[entry]


def test_one_flipped_byte_in_the_archive_is_named(signed_run, tmp_path):
    run_dir, fingerprint, _, tmp = signed_run
    archive = tmp / "pack.tar.gz"
    if not archive.exists():
        assert run_cli("pack", str(run_dir), "-o", str(archive)).rc == 0
    # Given a copy of the archive with one byte of one evidence file flipped
    forged = tmp_path / "forged.tar.gz"
    flipped = ""
    with tarfile.open(archive) as source, tarfile.open(forged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if not flipped and "/evidence/secrets/" in member.name:
                data = bytes([data[0] ^ 0x20]) + data[1:]
                flipped = member.name.split("/", 1)[1]
            target.addfile(member, io.BytesIO(data))
    # When it is verified
    done = run_cli("verify", str(forged), "--key-fingerprint", fingerprint)
    # Then the file is named and the pack fails
    assert done.rc == 1 and f"ALTERED  {flipped}" in done.stdout, done.stdout


def test_evaluate_reproduces_every_verdict_offline(signed_run):
    run_dir, fingerprint, report, tmp = signed_run
    archive = tmp / "pack.tar.gz"
    if not archive.exists():
        assert run_cli("pack", str(run_dir), "-o", str(archive)).rc == 0
    done = run_cli("evaluate", str(archive), "--key-fingerprint", fingerprint)
    total = sum(len(h["results"]) for h in report["hosts"])
    assert done.rc == 0, done.stdout + done.stderr
    assert f"{total} of {total} verdicts reproduced" in done.stdout


def _archive_texts(path: Path) -> list[str]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as handle:
            return [handle.read(i).decode(errors="replace") for i in handle.infolist()]
    with tarfile.open(path) as handle:
        members = [m for m in handle.getmembers() if m.isfile()]
        return [handle.extractfile(m).read().decode(errors="replace") for m in members]


def test_no_planted_secret_reaches_the_run_folder_or_the_archives(signed_run, secrets):
    run_dir, _, report, tmp = signed_run
    for archive, flag in ((tmp / "pack.tar.gz", ()), (tmp / "pack.zip", ("--zip",))):
        if not archive.exists():
            assert run_cli("pack", str(run_dir), "-o", str(archive), *flag).rc == 0
    # Given every file of the run folder and every member of both archives
    everything = "\n".join(_archive_texts(tmp / "pack.tar.gz") + _archive_texts(tmp / "pack.zip"))
    # And the host with the secrets was really collected
    assert any(h["name"] == "secrets" and h["reachable"] for h in report["hosts"])
    # Then no planted secret, and no tail of one, appears anywhere
    tails = [value.strip()[-16:] for value in secrets.values()]
    files = assert_nowhere_in(run_dir, *secrets.values(), *tails)
    assert any("evidence" in p.parts for p in files)
    for name, value in secrets.items():
        assert value not in everything, name
        assert value.strip()[-16:] not in everything, name

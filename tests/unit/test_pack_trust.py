"""Evidence an auditor accepts without trusting us: signer trust, self-describing evidence,
old packs, expired evidence, and the chain across runs.

Runs use the local transport and the flag check of test_pack, signed with keys the tests make.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from auditor.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_UNTRUSTED, EXIT_USAGE
from auditor.evidence import pack, signing, trust
from tests.conftest import run_cli
from tests.unit.test_pack import FLAG_CHECK, flag_workspace


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return flag_workspace(tmp_path_factory.mktemp("trust"))


def keygen(path: Path) -> str:
    done = run_cli("keygen", "--out", str(path))
    assert done.rc == 0, done.stderr
    return done.stdout.split("fingerprint:")[1].split()[0]


@pytest.fixture(scope="module")
def ours(work) -> tuple[Path, str]:
    return work / "ours.pem", keygen(work / "ours.pem")


@pytest.fixture(scope="module")
def attacker(work) -> tuple[Path, str]:
    return work / "attacker.pem", keygen(work / "attacker.pem")


def audit(work: Path, out: Path, key: Path, *extra: str) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "flag_file", "-o", str(out), "--format", "none", "--sign-key", str(key), *extra)
    assert done.rc == 0, done.stderr
    (made,) = (p for p in set(out.iterdir()) - before if p.is_dir())
    return made


@pytest.fixture(scope="module")
def signed_run(work, ours) -> Path:
    return audit(work, work / "reports", ours[0])


def resign(run_dir: Path, key: Path, edit: bool = True) -> None:
    """What a forger does: change report.json, rehash the manifest, sign it with their own key."""
    if edit:
        report = run_dir / "report.json"
        report.write_text(report.read_text().replace('"pass"', '"fail"'))
    manifest = json.loads((run_dir / pack.MANIFEST).read_bytes())
    run = manifest["run"]
    pack.write_manifest(run_dir, run, signing.Signer(signing.load(key, None)))


def evaluate(run_dir: Path, work: Path, *extra: str):
    return run_cli("evaluate", str(run_dir), "--checks-dir", str(work / "checks"), *extra)


# -- trust ------------------------------------------------------------------------


def test_a_forged_pack_is_valid_but_not_trusted_until_its_key_is_pinned(signed_run, attacker, tmp_path):
    # Given a pack whose report was edited and re-signed with a freshly made key
    forged = tmp_path / signed_run.name
    shutil.copytree(signed_run, forged)
    resign(forged, attacker[0])
    # When it is verified with no key trusted
    done = run_cli("verify", str(forged))
    # Then the three facts are separate and the signer is not trusted
    assert done.rc == EXIT_UNTRUSTED, done.stdout
    assert "integrity: ok" in done.stdout and "signature: ok" in done.stdout
    assert "trust:     NO" in done.stdout
    assert f"signature valid, signer NOT trusted: {attacker[1]}" in done.stdout
    assert "VERIFIED\n" not in done.stdout.replace("NOT VERIFIED\n", "")
    # And with the attacker's fingerprint pinned (trust is the verifier's choice) it verifies
    pinned = run_cli("verify", str(forged), "--key-fingerprint", attacker[1])
    assert pinned.rc == EXIT_OK and "VERIFIED" in pinned.stdout


def test_a_trusted_signers_file_and_the_local_keygen_key_are_trusted(signed_run, ours, tmp_path):
    # Given a trusted-signers file naming our key by its public key, as keygen wrote it
    public = ours[0].with_name(ours[0].name + ".pub").read_text().split()[1]
    signers = tmp_path / "signers"
    signers.write_text(f"# our nightly key\nEd25519 {public} nightly@audit1 valid-after=2020-01-01\n")
    done = run_cli("verify", str(signed_run), "--trusted-signers", str(signers))
    assert done.rc == EXIT_OK and "trusted as nightly@audit1" in done.stdout, done.stdout
    # And the default file under the config folder is read without the flag
    config = tmp_path / "config"
    (config / "auditor").mkdir(parents=True)
    (config / "auditor" / "trusted-signers").write_text(f"{ours[1]} nightly@audit1\n")
    done = run_cli("verify", str(signed_run), env={"XDG_CONFIG_HOME": str(config)})
    assert done.rc == EXIT_OK, done.stdout
    # And the verifier's own keygen key (the default key's .pub) is trusted
    local = tmp_path / "local"
    (local / "auditor").mkdir(parents=True)
    shutil.copy(ours[0].with_name(ours[0].name + ".pub"), local / "auditor" / "signing-key.pem.pub")
    done = run_cli("verify", str(signed_run), env={"XDG_CONFIG_HOME": str(local)})
    assert done.rc == EXIT_OK and "your auditor keygen key" in done.stdout, done.stdout


def test_a_key_outside_its_validity_dates_is_not_trusted_and_says_why(signed_run, ours, tmp_path):
    # Given the key is trusted only from a date after the run
    signers = tmp_path / "signers"
    signers.write_text(f"{ours[1]} rotated valid-after=2999-01-01\n")
    done = run_cli("verify", str(signed_run), "--trusted-signers", str(signers))
    assert done.rc == EXIT_UNTRUSTED and "trusted only from 2999-01-01" in done.stdout, done.stdout
    # And one trusted only until before the run
    signers.write_text(f"{ours[1]} retired valid-before=2001-01-01T00:00:00Z\n")
    done = run_cli("verify", str(signed_run), "--trusted-signers", str(signers))
    assert done.rc == EXIT_UNTRUSTED and "trusted only until 2001-01-01" in done.stdout


@pytest.mark.parametrize("line, says", [
    ("SHA256:short name", "is not a key"),
    ("Ed25519 notbase64!! name", "not an Ed25519 public key"),
    ("SHA256:" + "A" * 43, "a name for the key must follow it"),
    ("SHA256:" + "A" * 43 + " n valid-after=yesterday", "valid-after: 'yesterday' is not a date"),
    ("SHA256:" + "A" * 43 + " n principals=x", "unknown option 'principals=x'"),
])
def test_a_malformed_trusted_signers_line_is_named_with_what_to_do(signed_run, tmp_path, line, says):
    signers = tmp_path / "signers"
    signers.write_text(f"# fine\n\n{line}\n")
    done = run_cli("verify", str(signed_run), "--trusted-signers", str(signers))
    assert done.rc == EXIT_USAGE and f"{signers}:3: " in done.stderr and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_trust_judges_the_dates_at_the_given_time():
    # Given one signer valid only in 2026
    store = trust.TrustStore(tuple(trust.parse_signers(
        "SHA256:" + "B" * 43 + " ops valid-after=2026-01-01 valid-before=2027-01-01", "f")))
    inside, before = dt.datetime(2026, 6, 1, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, tzinfo=dt.UTC)
    # Then it is trusted inside the dates only, and an unknown key never
    assert store.judge("SHA256:" + "B" * 43, inside).trusted
    assert not store.judge("SHA256:" + "B" * 43, before).trusted
    assert not store.judge("SHA256:" + "C" * 43, inside).trusted


def test_keygen_show_prints_the_existing_key_and_makes_none(ours, tmp_path):
    done = run_cli("keygen", "--show", "--out", str(ours[0]))
    assert done.rc == 0 and ours[1] in done.stdout and str(ours[0]) in done.stdout
    missing = run_cli("keygen", "--show", "--out", str(tmp_path / "none.pem"))
    assert missing.rc == EXIT_USAGE and "no signing key at" in missing.stderr
    assert not (tmp_path / "none.pem").exists()


def test_evaluate_refuses_an_untrusted_pack_unless_allowed(signed_run, work, attacker, tmp_path):
    forged = tmp_path / signed_run.name
    shutil.copytree(signed_run, forged)
    resign(forged, attacker[0], edit=False)
    refused = evaluate(forged, work)
    assert refused.rc == EXIT_UNTRUSTED and "signer NOT trusted" in refused.stdout
    allowed = evaluate(forged, work, "--allow-untrusted")
    assert allowed.rc == EXIT_OK and "1 of 1 verdicts reproduced" in allowed.stdout, allowed.stdout


# -- self-describing evidence ----------------------------------------------------


def test_every_evidence_record_describes_itself(signed_run):
    records = [json.loads(p.read_text()) for p in (signed_run / "evidence" / "here").glob("*.json")]
    assert records
    for record in records:
        assert record["target"] == {"name": "here", "transport": "local"}
        # the script as it ran: the recorded command hashes to it unless masking changed it, and says so
        masked = record.get("command_masked", False)
        assert (pack.sha256(record["command"].encode()) == record["script_sha256"]) is not masked
        assert masked is False or "[REDACTED]" in record["command"]
        collected = dt.datetime.fromisoformat(record["collected_at"])
        assert dt.datetime.fromisoformat(record["expires_at"]) - collected == dt.timedelta(days=7)
    run = json.loads((signed_run / pack.MANIFEST).read_bytes())["run"]
    assert run["tool"]["version"] and len(run["catalogue"]["sha256"]) == 64
    assert run["catalogue"]["checks"] == 1


def test_the_catalogue_digest_follows_the_check_source(work, ours, tmp_path):
    # Given the same run made with a check whose source differs by one comment
    changed = tmp_path / "checks"
    changed.mkdir()
    (changed / "flag_file.py").write_text(FLAG_CHECK + "# a comment\n")
    first = json.loads((audit(work, tmp_path / "a", ours[0]) / pack.MANIFEST).read_bytes())
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(changed), "--check", "flag_file",
                   "-o", str(tmp_path / "b"), "--format", "none", "--no-sign")
    assert done.rc == 0, done.stderr
    second = json.loads(next(p for p in (tmp_path / "b").iterdir() if p.is_dir()).joinpath(
        pack.MANIFEST).read_bytes())
    # Then the manifests name different catalogues
    assert first["run"]["catalogue"]["sha256"] != second["run"]["catalogue"]["sha256"]


def test_expired_evidence_is_an_error_unless_judged_as_of_its_time(work, ours, tmp_path):
    # Given a run whose check keeps its evidence current for a tenth of a day
    inventory = tmp_path / "inv.yaml"
    text = (work / "inv.yaml").read_text()
    inventory.write_text(text.replace("{flag_file: {path:", "{flag_file: {evidence_days: 0.1, path:"))
    done = run_cli("run", "-i", str(inventory), "--checks-dir", str(work / "checks"), "--check", "flag_file",
                   "-o", str(tmp_path / "r"), "--format", "none", "--sign-key", str(ours[0]))
    assert done.rc == 0, done.stderr
    run_dir = next(p for p in (tmp_path / "r").iterdir() if p.is_dir())
    record = json.loads(next((run_dir / "evidence" / "here").glob("flag_file.*.json")).read_text())
    expires = dt.datetime.fromisoformat(record["expires_at"])
    # When it is judged a day later, it is an error naming the expiry
    later = (expires + dt.timedelta(hours=1)).isoformat()
    stale = evaluate(run_dir, work, "--key-fingerprint", ours[1], "--at", later)
    assert stale.rc == EXIT_FAIL and "today error" in stale.stdout
    assert f"evidence expired on {record['expires_at']}" in stale.stdout
    # And as of its collection time it reproduces
    fresh = evaluate(run_dir, work, "--key-fingerprint", ours[1], "--at", record["collected_at"])
    assert fresh.rc == EXIT_OK, fresh.stdout


def test_evidence_holding_a_certificate_expires_with_it():
    # Given a TLS-like output with a certificate (inside a JSON string) that expires in 2 days
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from auditor.check import ProbeOutput
    from auditor.evidence.store import Observation

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    output = ProbeOutput("tls.handshake", json.dumps({"chain_pem": [pem]}), "", 0, 1.0)
    observed = Observation("web", None, now, {"tls": 30.0})
    # Then the evidence expires with the certificate, not after 30 days
    assert observed.expires_at("tls.handshake", output) == now + dt.timedelta(days=2)
    # And garbage between markers costs nothing and expires nothing
    junk = ProbeOutput("x.y", "-----BEGIN CERTIFICATE-----" * 1000 + "-----END CERTIFICATE-----", "", 0, 1.0)
    assert observed.expires_at("x.y", junk) == now + dt.timedelta(days=7)


def test_a_pack_in_the_previous_format_still_verifies_and_evaluates(work, ours, tmp_path):
    # Given a pack written the old way: records without target/script hash/dates, a manifest without
    # catalogue or chain, signed by our key
    run_dir = audit(work, tmp_path / "r", ours[0], "--no-history")
    for path in (run_dir / "evidence").rglob("*.json"):
        record = json.loads(path.read_text())
        for new in ("target", "script_sha256", "collected_at", "expires_at"):
            record.pop(new)
        path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    run = json.loads((run_dir / pack.MANIFEST).read_bytes())["run"]
    run.pop("catalogue")
    run.pop("chain", None)
    pack.write_manifest(run_dir, run, signing.Signer(signing.load(ours[0], None)))
    # Then it verifies and every verdict reproduces
    assert run_cli("verify", str(run_dir), "--key-fingerprint", ours[1]).rc == EXIT_OK
    done = evaluate(run_dir, work, "--key-fingerprint", ours[1])
    assert done.rc == EXIT_OK and "1 of 1 verdicts reproduced" in done.stdout, done.stdout


# -- the chain across runs ---------------------------------------------------------


def test_the_chain_names_a_deleted_an_altered_and_a_re_signed_run(work, ours, attacker, tmp_path):
    # Given five runs of the same inventory recorded in one history
    out = tmp_path / "nightly"
    runs = [audit(work, out, ours[0]) for _ in range(5)]
    links = [json.loads((r / pack.MANIFEST).read_bytes())["run"]["chain"]["previous_manifest_sha256"]
             for r in runs]
    assert links[0] is None
    assert links[1:] == [pack.sha256((r / pack.MANIFEST).read_bytes()) for r in runs[:-1]]
    clean = run_cli("verify", "--chain", str(out), "--key-fingerprint", ours[1])
    assert clean.rc == EXIT_OK and "CHAIN VERIFIED" in clean.stdout, clean.stdout
    # When the second is deleted, the third altered, the fourth edited and re-signed by another key
    shutil.rmtree(runs[1])
    evidence = next((runs[2] / "evidence" / "here").glob("flag_file.*.json"))
    evidence.write_text(evidence.read_text().replace("yes", "no!"))
    resign(runs[3], attacker[0])
    done = run_cli("verify", "--chain", str(out / "history.sqlite"), "--key-fingerprint", ours[1])
    # Then each is named with what happened to it
    assert done.rc == EXIT_FAIL and "CHAIN BROKEN" in done.stdout
    assert f"{runs[1].name}: deleted" in done.stdout
    assert f"{runs[2].name}: altered: altered evidence/here/" in done.stdout
    assert f"{runs[3].name}: re-signed by another key: {attacker[1]}" in done.stdout
    assert f"{runs[3].name}: replaced" in done.stdout
    assert f"{runs[0].name}:" not in done.stdout and f"{runs[4].name}:" not in done.stdout


def test_the_chain_from_run_folders_alone_notices_the_gap(work, ours, attacker, tmp_path):
    # Given three chained runs without the history database, the middle one deleted
    out = tmp_path / "nightly"
    runs = [audit(work, out, ours[0]) for _ in range(3)]
    (out / "history.sqlite").unlink()
    shutil.rmtree(runs[1])
    done = run_cli("verify", "--chain", str(out), "--key-fingerprint", ours[1])
    # Then the run after the gap says its previous run is missing
    assert done.rc == EXIT_FAIL and f"{runs[2].name}: names a previous manifest" in done.stdout, done.stdout
    assert "a run between them was deleted" in done.stdout


def test_history_lists_the_population_an_auditor_samples(work, ours, tmp_path):
    # Given two runs recorded
    out = tmp_path / "nightly"
    runs = [audit(work, out, ours[0]) for _ in range(2)]
    # When the population is asked for as CSV
    done = run_cli("history", "-o", str(out), "--results", "--format", "csv", "--since", "90d")
    assert done.rc == 0, done.stderr
    lines = done.stdout.splitlines()
    # Then there is one row per run x host x check, with the run's manifest hash
    assert lines[0].split(",")[:5] == ["run", "started", "host", "check", "status"]
    assert len(lines) == 3
    for run_dir in runs:
        digest = pack.sha256((run_dir / pack.MANIFEST).read_bytes())
        assert any(run_dir.name in ln and ",here,flag_file,pass," in ln and digest in ln for ln in lines[1:])

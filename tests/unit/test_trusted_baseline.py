"""`auditor diff` and `auditor run --baseline RUN_FOLDER` compare only with run folders signed by
a key the verifier trusts (the rules of `auditor verify`), unless told --allow-untrusted.
An unsigned folder is compared as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.cli.exits import EXIT_OK, EXIT_UNTRUSTED, EXIT_USAGE
from tests.conftest import run_cli
from tests.unit.test_pack_trust import attacker as attacker  # noqa: F401 - the module's own instances
from tests.unit.test_pack_trust import audit, resign
from tests.unit.test_pack_trust import ours as ours  # noqa: F401
from tests.unit.test_pack_trust import work as work  # noqa: F401


@pytest.fixture(scope="module")
def two_runs(work, ours) -> tuple[Path, Path]:
    out = work / "reports"
    return audit(work, out, ours[0], "--no-history"), audit(work, out, ours[0], "--no-history")


@pytest.fixture
def forged(two_runs, attacker, tmp_path) -> Path:
    """The first run, re-signed by an attacker's key (its report unchanged)."""
    copy = tmp_path / two_runs[0].name
    shutil.copytree(two_runs[0], copy)
    resign(copy, attacker[0], edit=False)
    return copy


def test_diff_compares_run_folders_whose_signer_is_trusted(two_runs, ours):
    # Given two runs signed by our key
    # When they are diffed with our key pinned
    done = run_cli("diff", str(two_runs[0]), str(two_runs[1]), "--key-fingerprint", ours[1])
    # Then they are compared
    assert done.rc == EXIT_OK, done.stderr
    assert f"base {two_runs[0].name} -> current {two_runs[1].name}" in done.stdout


def test_diff_refuses_a_folder_re_signed_by_an_untrusted_key(forged, two_runs, ours, attacker):
    # Given a run re-signed by an attacker's key, and our key pinned
    # When it is diffed
    done = run_cli("diff", str(forged), str(two_runs[1]), "--key-fingerprint", ours[1])
    # Then diff refuses with exit 4 and names the signer
    assert done.rc == EXIT_UNTRUSTED
    assert "signer NOT trusted" in done.stderr and attacker[1] in done.stderr and done.stdout == ""
    # And with no trust configured at all the same holds (no key is trusted by default here)
    bare = run_cli("diff", str(forged), str(two_runs[1]))
    assert bare.rc == EXIT_UNTRUSTED and "signer NOT trusted" in bare.stderr
    # And --allow-untrusted compares anyway
    allowed = run_cli("diff", str(forged), str(two_runs[1]), "--key-fingerprint", ours[1],
                      "--allow-untrusted")
    assert allowed.rc == EXIT_OK, allowed.stderr
    assert f"base {forged.name}" in allowed.stdout


def test_diff_refuses_a_folder_whose_signature_is_broken(two_runs, ours, tmp_path):
    # Given a run whose manifest.sig was swapped for another run's
    broken = tmp_path / two_runs[0].name
    shutil.copytree(two_runs[0], broken)
    shutil.copy(two_runs[1] / "manifest.sig", broken / "manifest.sig")
    # When it is diffed, even with --allow-untrusted
    done = run_cli("diff", str(broken), str(two_runs[1]), "--key-fingerprint", ours[1], "--allow-untrusted")
    # Then it is refused as not verifying
    assert done.rc == EXIT_USAGE and "BAD signature" in done.stderr


def test_an_unsigned_run_folder_is_compared_as_before(work, two_runs, ours, tmp_path):
    # Given an unsigned run
    unsigned = tmp_path / "unsigned"
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "flag_file", "-o", str(unsigned), "--format", "none", "--no-sign", "--no-history")
    assert done.rc == 0, done.stderr
    (folder,) = unsigned.iterdir()
    # When it is diffed against a trusted signed run
    diffed = run_cli("diff", str(folder), str(two_runs[1]), "--key-fingerprint", ours[1])
    # Then it is compared, as before trust was judged
    assert diffed.rc == EXIT_OK, diffed.stderr


def test_run_refuses_a_baseline_folder_re_signed_by_an_untrusted_key(work, forged, ours, attacker, tmp_path):
    # Given a baseline folder re-signed by an attacker's key
    def baseline_run(*extra: str):
        return run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                       "flag_file", "-o", str(tmp_path / "out"), "--format", "none", "--sign-key",
                       str(ours[0]), "--no-history", "--baseline", str(forged), *extra)
    # When a run compares with it
    refused = baseline_run("--key-fingerprint", ours[1])
    # Then the run is refused before any host is contacted
    assert refused.rc == EXIT_USAGE
    assert "--baseline" in refused.stderr and "signer NOT trusted" in refused.stderr
    assert attacker[1] in refused.stderr and not (tmp_path / "out").exists()
    # And trusting the attacker's key, or --allow-untrusted, lets it compare
    pinned = baseline_run("--key-fingerprint", attacker[1])
    allowed = baseline_run("--allow-untrusted")
    assert pinned.rc == EXIT_OK and allowed.rc == EXIT_OK, pinned.stderr + allowed.stderr


def test_run_compares_with_a_baseline_folder_signed_by_a_trusted_key(work, two_runs, ours, tmp_path):
    # Given a trusted-signers file naming our key
    signers = tmp_path / "trusted"
    signers.write_text(f"{ours[1]} nightly@audit\n")
    # When a run compares with our signed run folder
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "flag_file", "-o", str(tmp_path / "out"), "--format", "json", "--no-sign", "--no-history",
                   "--baseline", str(two_runs[0]), "--trusted-signers", str(signers))
    # Then it is compared
    assert done.rc == EXIT_OK, done.stderr
    assert done.json()["baseline"]["run"] == two_runs[0].name

"""The README's stock-tools recipe (docs/verify-with-openssl.sh: sha256sum and openssl, no
auditor code) run with the real binaries on a real pack: it passes on a good pack and fails on
each tamper class."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.evidence import pack, signing
from tests.conftest import REPO
from tests.unit.test_pack import flag_workspace
from tests.unit.test_pack_trust import audit, keygen

RECIPE = REPO / "docs" / "verify-with-openssl.sh"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("sha256sum") is None,
                                reason="needs openssl and sha256sum (scripts/test.sh installs them)")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, Path, Path]:
    work = flag_workspace(tmp_path_factory.mktemp("openssl"))
    keygen(work / "key.pem")
    keygen(work / "other.pem")
    return audit(work, work / "reports", work / "key.pem"), work / "key.pem.pub", work / "other.pem"


def recipe(run_dir: Path, public: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(RECIPE), str(run_dir), str(public)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_recipe_passes_on_a_good_pack_with_the_pub_file_and_a_pem(good, tmp_path):
    run_dir, public, _ = good
    done = recipe(run_dir, public)
    assert done.returncode == 0 and done.stdout.startswith("OK: signature valid"), done.stdout + done.stderr
    # And with the key as a PEM made by openssl from the private key
    pem = tmp_path / "pub.pem"
    subprocess.run(["openssl", "pkey", "-in", str(public.with_suffix("")), "-pubout", "-out", str(pem)],
                   check=True, capture_output=True)
    assert recipe(run_dir, pem).returncode == 0


def _flip_byte(run_dir: Path, _: Path) -> None:
    evidence = next((run_dir / "evidence" / "here").glob("*.json"))
    data = bytearray(evidence.read_bytes())
    data[len(data) // 2] ^= 0x01
    evidence.write_bytes(bytes(data))


def _delete_file(run_dir: Path, _: Path) -> None:
    (run_dir / "junit.xml").unlink()


def _add_file(run_dir: Path, _: Path) -> None:
    (run_dir / "evidence" / "here" / "planted.json").write_text("{}")


def _edit_manifest(run_dir: Path, _: Path) -> None:
    manifest = run_dir / pack.MANIFEST
    manifest.write_bytes(manifest.read_bytes().replace(b'"complete":true', b'"complete":false'))


def _swap_signature(run_dir: Path, other: Path) -> None:
    signature = signing.Signer(signing.load(other, None)).sign((run_dir / pack.MANIFEST).read_bytes())
    (run_dir / pack.SIGNATURE).write_text(base64.b64encode(signature).decode() + "\n")


@pytest.mark.parametrize("tamper, says", [
    (_flip_byte, "missing or altered"), (_delete_file, "missing or altered"),
    (_add_file, "not in the manifest"),
    (_edit_manifest, "signature does not match"), (_swap_signature, "signature does not match"),
])
def test_the_recipe_fails_on_each_tamper_class(good, tmp_path, tamper: Callable[[Path, Path], None], says):
    # Given a copy of the good pack with one kind of tampering
    run_dir, public, other = good
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    tamper(copy, other)
    # When the recipe checks it, Then it fails and says why
    done = recipe(copy, public)
    assert done.returncode == 1 and says in done.stdout, done.stdout + done.stderr

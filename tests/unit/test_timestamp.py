"""`auditor run --timestamp-url`: an RFC 3161 token over manifest.json from a time-stamping
authority, stored as manifest.tsr and checked by `auditor verify` (and by `openssl ts -verify`
in the stock-tools recipe).

The TSA is real: `openssl ts -reply` behind a small HTTP server on 127.0.0.1 that the tests
start, with a CA and a TSA certificate made by openssl here.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from tests.conftest import REPO, run_cli
from tests.unit.test_pack_trust import audit, resign
from tests.unit.test_pack_trust import ours as ours  # noqa: F401 - the module's own instances
from tests.unit.test_pack_trust import work as work  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (scripts/test.sh)")

RECIPE = REPO / "docs" / "verify-with-openssl.sh"
LOCAL = {"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}  # a developer's proxy must not see the TSA

# The token embeds the TSA's certificate only: with `certs =` openssl writes the chain as a SET OF
# out of DER order, which rfc3161-client's strict DER parser refuses (InvalidSetOrdering).
TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> None:
    """A CA (ca.pem, ca.key) and a TSA certificate it issued (tsa.pem, tsa.key) in `folder`."""
    folder.mkdir(parents=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "ca.key", "-out", "ca.pem", "-days", "30", "-subj", f"/CN={name} Root", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=folder)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / "ext.cnf").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                    "extendedKeyUsage=critical,timeStamping\n")
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tsa.pem", "-days", "30", "-extfile", "ext.cnf", cwd=folder)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))
    (folder / "bundle.pem").write_text((folder / "tsa.pem").read_text() + (folder / "ca.pem").read_text())


@dataclass
class Tsa:
    url: str
    folder: Path  # ca.pem, tsa.pem, bundle.pem (both)
    requests: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory) -> Iterator[Tsa]:
    folder = tmp_path_factory.mktemp("tsa") / "ca"
    make_ca(folder, "Test TSA")
    lock = threading.Lock()
    seen: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            query = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 65536))
            with lock:  # openssl ts -reply keeps its serial in a file
                seen.append(query)
                (folder / "q.tsq").write_bytes(query)
                openssl("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq", "-out", "r.tsr",
                        cwd=folder)
                answer = (folder / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Tsa(f"http://127.0.0.1:{server.server_address[1]}/tsr", folder, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def key(ours) -> tuple[Path, str]:
    return ours


def stamped_run(work: Path, key: tuple[Path, str], tsa: Tsa, out: Path) -> Path:
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "flag_file", "-o", str(out), "--format", "none", "--sign-key", str(key[0]), "--no-history",
                   "--timestamp-url", tsa.url, env=LOCAL)
    assert done.rc == 0 and "NOT timestamped" not in done.stderr, done.stderr
    (folder,) = out.iterdir()
    return folder


@pytest.fixture(scope="module")
def run_dir(work, key, tsa) -> Path:
    return stamped_run(work, key, tsa, work / "stamped")


def verify(run_dir: Path, key: tuple[Path, str], *extra: str):
    return run_cli("verify", str(run_dir), "--key-fingerprint", key[1], *extra)


def test_a_run_stores_a_token_over_its_manifest_outside_the_manifest(run_dir, tsa):
    # Given a run with --timestamp-url
    # Then the TSA was asked once and manifest.tsr holds its answer, not listed in the manifest it stamps
    assert len(tsa.requests) >= 1
    assert (run_dir / "manifest.tsr").stat().st_size > 0
    assert "manifest.tsr" not in (run_dir / "manifest.json").read_text()
    # And openssl agrees that it stamps manifest.json, signed by the TSA the CA issued
    done = subprocess.run(["openssl", "ts", "-verify", "-in", str(run_dir / "manifest.tsr"), "-data",
                           str(run_dir / "manifest.json"), "-CAfile", str(tsa.folder / "ca.pem"),
                           "-untrusted", str(tsa.folder / "tsa.pem")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr


def test_verify_reports_the_timestamp_as_a_fact_of_its_own(run_dir, key, tsa):
    # When the pack is verified with the TSA's certificates
    pinned = verify(run_dir, key, "--tsa-cert", str(tsa.folder / "bundle.pem"))
    # Then the timestamp is a separate fact that holds, naming the TSA
    assert pinned.rc == EXIT_OK, pinned.stdout
    line = next(ln for ln in pinned.stdout.splitlines() if ln.startswith("timestamp:"))
    assert " ok " in line and "CN=Test TSA" in line and "--tsa-cert" in line
    # And with only the CA certificate (the TSA's own comes embedded in the token)
    assert verify(run_dir, key, "--tsa-cert", str(tsa.folder / "ca.pem")).rc == EXIT_OK
    # And without --tsa-cert the token (which embeds the TSA's certificate, not its CA) cannot be
    # checked: verify says what to give rather than vouching for a TSA anyone could make
    unpinned = verify(run_dir, key)
    assert unpinned.rc == EXIT_FAIL and "give it with --tsa-cert FILE" in unpinned.stdout
    assert "integrity: ok" in unpinned.stdout and "trust:     ok" in unpinned.stdout


def test_a_token_from_another_tsa_or_over_another_manifest_fails(run_dir, key, tsa, work, tmp_path):
    # Given a second CA that did not issue the TSA's certificate
    make_ca(tmp_path / "other", "Other TSA")
    # When the pack is verified against it
    other = verify(run_dir, key, "--tsa-cert", str(tmp_path / "other" / "bundle.pem"))
    # Then the timestamp fact fails, and so does verify
    assert other.rc == EXIT_FAIL and "BAD timestamp signature" in other.stdout, other.stdout
    # Given a run whose report was edited and manifest re-signed with the same key after it was stamped
    edited = tmp_path / run_dir.name
    shutil.copytree(run_dir, edited)
    resign(edited, key[0])
    # When it is verified, Then integrity, signature and trust hold but the timestamp does not
    done = verify(edited, key, "--tsa-cert", str(tsa.folder / "bundle.pem"))
    assert done.rc == EXIT_FAIL and "stamps another manifest.json" in done.stdout, done.stdout
    assert "integrity: ok" in done.stdout and "signature: ok" in done.stdout
    # And the openssl recipe refuses it too, while it accepts the original
    assert recipe(run_dir, key, tsa.folder / "bundle.pem").returncode == 0
    refused = recipe(edited, key, tsa.folder / "bundle.pem")
    assert refused.returncode == 1 and "manifest.tsr is not a valid timestamp" in refused.stdout


def recipe(run_dir: Path, key: tuple[Path, str],
           certs: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = ["sh", str(RECIPE), str(run_dir), str(key[0]) + ".pub", *([str(certs)] if certs else [])]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_the_openssl_recipe_checks_the_timestamp_when_given_the_tsa(run_dir, key, tsa, work):
    # When the stock-tools recipe runs with the TSA's certificates
    done = recipe(run_dir, key, tsa.folder / "bundle.pem")
    # Then it checks the token with openssl ts -verify
    assert done.returncode == 0 and "timestamp valid" in done.stdout, done.stdout + done.stderr
    # And without them it still verifies the pack, and says the token was not checked
    plain = recipe(run_dir, key)
    assert plain.returncode == 0 and "manifest.tsr not checked" in plain.stdout
    # And a pack without a token fails when a TSA is named
    unstamped = audit(work, work / "unstamped", key[0], "--no-history")
    missing = recipe(unstamped, key, tsa.folder / "bundle.pem")
    assert missing.returncode == 1 and "manifest.tsr is missing" in missing.stdout


def test_nothing_is_sent_without_the_flag_and_a_dead_tsa_costs_only_the_timestamp(work, key, tsa, tmp_path):
    # Given a run without --timestamp-url
    before = len(tsa.requests)
    unstamped = audit(work, tmp_path / "quiet", key[0], "--no-history")
    # Then the TSA heard nothing and there is no token
    assert len(tsa.requests) == before and not (unstamped / "manifest.tsr").exists()
    # Given a TSA that does not answer (a closed port)
    dead = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "flag_file", "-o", str(tmp_path / "dead"), "--format", "none", "--sign-key", str(key[0]),
                   "--no-history", "--timestamp-url", "http://127.0.0.1:9/tsr", env=LOCAL)
    # Then the run completes, signed, and says the manifest is not timestamped
    assert dead.rc == EXIT_OK and "NOT timestamped" in dead.stderr
    (folder,) = (tmp_path / "dead").iterdir()
    assert not (folder / "manifest.tsr").exists() and verify(folder, key).rc == EXIT_OK
    # And a URL that is not http(s) is refused before any host is contacted
    bad = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "-o",
                  str(tmp_path / "bad"), "--timestamp-url", "file:///etc/passwd")
    assert bad.rc == EXIT_USAGE and "--timestamp-url" in bad.stderr and not (tmp_path / "bad").exists()

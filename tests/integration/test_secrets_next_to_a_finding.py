"""Deny by default: every credential on a line that leaves a real sshd host is masked.

A host's logs and root's shell history hold lines with a found password AND other
credentials beside it (JSON client_secret/refresh_token, SECRET_KEY=, HTTP headers,
mysqldump -p'two words', a URL's password, a long token); login(1) logged a password typed
as the user name; the inventory gives a check a PostgreSQL conninfo with a password. The
run goes through the CLI, is packed, and no planted value may appear in the run folder,
the packed archive, the history database (with its WAL) or the CLI's stdout/stderr.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.conftest import run_cli, run_folder
from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec

pytestmark = pytest.mark.integration

SECRETS = {
    "json_password": "JsonPw-7781",
    "client_secret": "ClientSec-7782",
    "refresh_token": "Refresh-7783",
    "secret_key": "SecretKeyVal-7784",
    "kv_password": "KvPass-7785",
    "api_key": "ApiKeyVal-7786",
    "private_token": "glpat-PrivTok7787",
    "authorization": "AuthzTok-7788",
    "mysqldump_words": "two Wurds7789",
    "url_password": "UrlPw-7790",
    "curl_user": "CurlPw-7791",
    "long_token": "Zq8Xw3Vt6Rs1Pn4Mk7Jh2Gf5Dc9Ba0Lo7",
    "typed_login": "S3cretTyped7792",
    "conninfo": "ConnInfoPw-7793",
}
S = SECRETS
APP_LOG = (
    f'2026-03-02 10:00:00 INFO login {{"user": "bob", "password": "{S["json_password"]}", '
    f'"client_secret": "{S["client_secret"]}", "refresh_token": "{S["refresh_token"]}"}}\n'
    f"2026-03-02 10:00:01 INFO settings SECRET_KEY={S['secret_key']} password={S['kv_password']} ok\n"
)
HISTORY = (
    f"curl -u admin:{S['curl_user']} -H 'X-Api-Key: {S['api_key']}' "
    f"-H \"PRIVATE-TOKEN: {S['private_token']}\" "
    f"-H 'Authorization: Token {S['authorization']}' https://ci.example/api\n"
    f"mysqldump -p'{S['mysqldump_words']}' shop > /tmp/shop.sql; "
    f"curl https://bob:{S['url_password']}@db.example/ "
    f"--token {S['long_token']}\n"
)
AUTH_LOG = (
    "Mar  2 10:00:00 host login[812]: FAILED LOGIN (1) on '/dev/tty1' FOR "
    f"'{S['typed_login']}', Authentication failure\n"
    "Mar  2 10:00:05 host sshd[900]: Accepted publickey for root from 127.0.0.1 port 50000 ssh2\n"
)


@pytest.fixture(scope="module")
def done(sshd_fleet):
    with sshd_fleet("secrets-next") as (fleet, tmp):
        fleet.start(HostSpec("leaky", files={"/var/log/app/app.log": APP_LOG, "/var/log/auth.log": AUTH_LOG,
                                             "/root/.bash_history": HISTORY},
                             replace_dirs=("/var/log", "/root")))
        source = {"name": "crm", "kind": "postgres", "query": "SELECT 1",
                  "database": f"host=127.0.0.1 dbname=crm user=audit password={S['conninfo']}"}
        hosts = fleet_hosts(fleet, {"app_password_hashing": {"sources": [source]}})
        inventory = write_inventory(tmp / "inventory.yaml", hosts)
        out = tmp / "reports"
        runs = [audit(inventory, out / check, check) for check in ("passwords_not_logged", "auth_logging")]
        full = run_cli("run", "-i", str(inventory), "-o", str(out / "all"), "--check", "passwords_not_logged",
                       "--check", "auth_logging", "--check", "app_password_hashing", "--format", "table")
        packed = run_cli("pack", str(runs[0].run_dir), "-o", str(tmp / "pack.tar.gz"))
        yield runs, full, packed, out, tmp


def test_findings_are_still_reported(done):
    # Given a host whose logs hold a password beside other credentials
    runs, full, _, _, _ = done
    # Then the password is still found, and the login(1) line still counted as a login record
    assert runs[0].by_host["leaky"]["status"] == "fail", runs[0].by_host
    assert runs[1].report["hosts"][0]["results"], runs[1].report
    assert full.rc in (1, 3), full


def test_no_credential_reaches_any_artefact(done):
    # Given the runs, their pack, the history database (with its WAL) and what the CLI printed
    runs, full, packed, out, tmp = done
    assert packed.rc == 0, packed
    # Then no planted credential is anywhere: not in a report, evidence, manifest or history
    files = assert_nowhere_in(out, *SECRETS.values(), S["mysqldump_words"].split()[1])
    names = {p.name for p in files}  # three runs, each with its own history
    assert {"report.json", "manifest.json", "history.sqlite"} <= names, names
    # And not in the packed archive (its members compared after decompression)

    with tarfile.open(tmp / "pack.tar.gz") as tar:
        for member in tar.getmembers():
            content = tar.extractfile(member).read() if member.isfile() else b""
            for secret in SECRETS.values():
                assert secret.encode() not in content, (secret, member.name)
    for printed in (full.stdout, full.stderr, *(r.result.stdout + r.result.stderr for r in runs)):
        for secret in SECRETS.values():
            assert secret not in printed


def test_the_conninfo_is_recorded_masked(done):
    # Given an inventory source whose PostgreSQL conninfo carries a password
    _, full, _, out, _ = done
    run_dir = run_folder(out / "all")
    report = json.loads((run_dir / "report.json").read_text())
    result = next(r for h in report["hosts"] for r in h["results"] if r["check"] == "app_password_hashing")
    # Then the run records it with the password masked and the rest kept
    database = result["params"]["sources"][0]["database"]
    assert "password=" in database and "dbname=crm" in database and S["conninfo"] not in database

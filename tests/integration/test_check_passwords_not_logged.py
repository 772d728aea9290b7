"""passwords_not_logged end to end: planted logs and histories on real sshd hosts.

Each host is an OpenSSH server in its own mount namespace (sshhosts) whose /var/log and
/root are replaced by planted files: an nginx access log line, a JSON application log
rotated and gzipped, the log a real sshd wrote after real failed password logins (one with
a password typed as the user name; see tests/checks/passwords_not_logged/real_logs.py),
and a root .bash_history. The check runs through the CLI
over SSH; the verdict is read from report.json, and no planted secret may reach the run.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.fleetrun import assert_nowhere_in, audit_fleet
from tests.integration.sshhosts import HostSpec, Planted

pytestmark = pytest.mark.integration

SECRETS = {
    "nginx_query": "Qry-Secret-41",
    "json_gz": "Gz-Json-Secret-42",
    "mysql_history": "Hist-Root-43",
    "ssh_user_typed_password": "Ss4-Typed!pw",
}
# Values whose characters once cut the mask short; no part of them may leave the host.
# (value, the line that logs it)
HARD_TO_MASK = (
    ("p@ss@w0rdKv31", "db connect https://bob:{}@db.internal/shop ok"),
    ('ab\\"cdefKw32', 'login {{"user": "bob", "password": "{}"}}'),
    ("pa\\ sswoKx33", "backup ran mysqldump --password={} shop"),
    ("hunt3r;exKy34", "login password={} user=bob"),
)
NGINX_LINE = '10.0.0.7 - - [02/Mar/2026:10:00:0{n} +0000] "GET {path} HTTP/1.1" 200 3 "-" "curl/7.88.1"\n'


def nginx_log(*paths: str) -> str:
    return "".join(NGINX_LINE.format(n=i, path=p) for i, p in enumerate(paths))


def json_log(*bodies: dict[str, str]) -> str:
    return "".join(f"2026-03-0{i + 1} 10:00:00 INFO shop login request {json.dumps(b)}\n"
                   for i, b in enumerate(bodies))


REAL_LOGS = Path(__file__).resolve().parents[1] / "checks" / "passwords_not_logged" / "real_logs.py"


def real_sshd_log(path: Path, *user_names: str) -> str:
    """What a real sshd (-E, LogLevel INFO) writes when password logins as these names fail."""
    subprocess.run([sys.executable, str(REAL_LOGS), "sshd", str(path), *user_names], check=True, timeout=120)
    return path.read_text(errors="replace")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, sshd_fleet):
    s = SECRETS
    logs = tmp_path_factory.mktemp("sshd-logs")
    leaky_auth = real_sshd_log(logs / "leaky.log", "oracle", s["ssh_user_typed_password"])
    clean_auth = real_sshd_log(logs / "clean.log", "oracle", "admin")
    json_gz = gzip.compress(json_log({"user": "alice", "password": "[REDACTED]"},
                                     {"user": "bob", "password": s["json_gz"]}).encode())
    leaky = {
        "/var/log/nginx/access.log": nginx_log("/", f"/login?user=bob&password={s['nginx_query']}&next=/"),
        "/var/log/shop/app.log": json_log({"user": "carol", "password": "***"}),
        "/var/log/shop/app.log.1.gz": Planted(json_gz),
        "/var/log/auth.log": leaky_auth,
        "/root/.bash_history": f"cd /srv/shop\nmysql -uroot -p{s['mysql_history']} shop\nls\n",
        "/var/log/shop/batch.log": "".join(f"2026-03-02 10:00:00 INFO {line.format(value)}\n"
                                           for value, line in HARD_TO_MASK),
    }
    clean = {
        "/var/log/nginx/access.log": nginx_log("/", "/login?user=bob&password=%2A%2A%2A&next=/"),
        "/var/log/shop/app.log": json_log({"user": "carol", "password": "***"}),
        "/var/log/shop/app.log.1.gz": Planted(gzip.compress(json_log(
            {"user": "alice", "password": "[REDACTED]"}).encode())),
        "/var/log/auth.log": clean_auth,
        "/root/.bash_history": "cd /srv/shop\nmysql -uroot -p shop\nmysql -p\"$DB_PASS\" shop\n",
    }
    with sshd_fleet("fleet") as (fleet, _):
        for name, files in (("logs-leaky", leaky), ("logs-clean", clean)):
            fleet.start(HostSpec(name, files=files, replace_dirs=("/var/log", "/root")))
        yield fleet


@pytest.fixture(scope="module")
def run(fleet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    done = audit_fleet(fleet, tmp, "passwords_not_logged")
    return done.result, done.by_host, done.run_dir


def test_leaky_host_fails_with_each_file_and_line(run):
    # Given a host with a password in an nginx query string, in a rotated gzipped JSON log,
    # typed as an sshd user name, and on a mysql command line in root's history
    result, by_host, _ = run
    leaky = by_host["logs-leaky"]
    # Then the check fails and names every place, file:line and kind
    assert leaky["status"] == "fail", leaky
    assert leaky["summary"].startswith("10 password(s) in logs: /root/.bash_history:2 (mysql -p option)")
    details = "\n".join(leaky["details"])
    for place in ("/var/log/nginx/access.log:2 (password parameter)",
                  "/var/log/shop/app.log.1.gz:2 (JSON password)",
                  "/var/log/auth.log: 3 line(s) with a password",  # sshd's Invalid/Failed/closed lines
                  "/var/log/shop/batch.log: 4 line(s) with a password"):
        assert place in details, details
    assert "(password as sshd user name): Invalid user *** from 127.0.0.1" in details
    # And the masked excerpts show where, not what
    assert "GET /login?user=bob&password=***&next=/ HTTP/1.1" in details
    assert "mysqldump --password=*** shop" in details and "password=*** user=bob" in details
    assert leaky["values"]["findings"] == 10 and leaky["values"]["compressed_files"] == 1
    assert leaky["values"]["findings_by_kind"]["password as sshd user name"] == 3
    assert result.rc == 1, result.stderr


def test_clean_host_with_masked_values_passes(run):
    # Given a host whose logs and history hold only masked values, prompts and variables
    _, by_host, _ = run
    clean = by_host["logs-clean"]
    # Then it passes, saying what it scanned
    assert clean["status"] == "pass", clean
    assert clean["summary"].startswith("scanned 5 file(s) (1 compressed), no password found")


def test_no_planted_secret_reaches_the_run_folder(run):
    _, _, run_dir = run
    files = assert_nowhere_in(run_dir, *SECRETS.values())
    assert any("evidence" in p.parts for p in files)
    # Nor any fragment of a value that is hard to mask (@, escaped quotes and blanks, ;)
    assert_nowhere_in(run_dir, *(value[-6:] for value, _ in HARD_TO_MASK))

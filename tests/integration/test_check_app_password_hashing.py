"""app_password_hashing end to end: real sqlite application databases on real sshd hosts.

Each host is an OpenSSH server in its own mount namespace (sshhosts) with /srv replaced
by a directory holding a sqlite database made here with Python's sqlite3 and filled with
real hashes: bcrypt from mkpasswd, argon2id from the argon2 CLI, unsalted SHA-1 from
hashlib. The check runs through the CLI over SSH; the verdict is read from report.json.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec, Planted

pytestmark = pytest.mark.integration
DB_PATH = "/srv/shop/app.db"
QUERY = "SELECT username, password FROM users ORDER BY id"
PASSWORDS = {"alice": "Alice-app-pw-1", "bob": "Bob-app-pw-2", "carol": "Carol-app-pw-3",
             "dave": "Dave-app-pw-4", "erin": "Erin-app-pw-5"}


def tool(*argv: str, stdin: str | None = None) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed; scripts/test.sh installs it")
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout.strip()


def sqlite_db(path: Path, rows: list[tuple[str, str | None]]) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, password TEXT)")
        db.executemany("INSERT INTO users (username, password) VALUES (?, ?)", rows)
    db.close()
    return path.read_bytes()


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, str]:
    """Every secret value planted on the hosts, by a name for messages."""
    shared = tool("mkpasswd", "-m", "bcrypt", PASSWORDS["erin"])
    return {
        "alice_bcrypt": tool("mkpasswd", "-m", "bcrypt", PASSWORDS["alice"]),
        "bob_argon2id": tool("argon2", "app-salt-bob", "-id", "-e", stdin=PASSWORDS["bob"]),
        "carol_sha1": hashlib.sha1(PASSWORDS["carol"].encode()).hexdigest(),
        "dave_sha1": hashlib.sha1(PASSWORDS["dave"].encode()).hexdigest(),
        "shared_bcrypt": shared,
        **{f"password_{user}": pw for user, pw in PASSWORDS.items()},
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, planted, sshd_fleet):
    tmp = tmp_path_factory.mktemp("dbs")
    good = sqlite_db(tmp / "good.db", [("alice", planted["alice_bcrypt"]), ("bob", planted["bob_argon2id"]),
                                      ("sso-only", None)])
    bad = sqlite_db(tmp / "bad.db", [("alice", planted["alice_bcrypt"]), ("carol", planted["carol_sha1"]),
                                     ("dave", planted["dave_sha1"]), ("erin", planted["shared_bcrypt"]),
                                     ("frank", planted["shared_bcrypt"])])
    with sshd_fleet("fleet") as (fleet, _):
        for name, db in (("app-good", good), ("app-bad", bad)):
            fleet.start(HostSpec(name, files={DB_PATH: Planted(db, mode=0o640)}, replace_dirs=("/srv",)))
        yield fleet


def source(**changes: str) -> dict[str, object]:
    return {"sources": [{"name": "shop users", "kind": "sqlite", "path": DB_PATH, "query": QUERY, **changes}]}


@pytest.fixture(scope="module")
def run(fleet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    hosts = fleet_hosts(fleet, vars={"app_password_hashing": source()})
    # The same good host under two more names: no source configured, and a missing file.
    hosts["app-unset"] = {**hosts["app-good"], "vars": {}}
    hosts["app-missing"] = {**hosts["app-good"],
                            "vars": {"app_password_hashing": source(path="/srv/shop/gone.db")}}
    done = audit(write_inventory(tmp / "inventory.yaml", hosts), tmp / "reports", "app_password_hashing")
    return done.result, done.by_host, done.run_dir


def test_bcrypt_and_argon2_pass(run):
    # Given a host whose users table holds bcrypt, argon2id and a NULL (an SSO-only user)
    _, by_host, _ = run
    # When the check samples it over SSH
    good = by_host["app-good"]
    # Then it passes, counting each scheme
    assert good["status"] == "pass", good
    assert "2 password value(s) in 1 source(s), all salted slow hashes, none repeated" in good["summary"]
    assert good["values"]["values_by_scheme"] == {"argon2": 1, "bcrypt": 1, "NULL (no password set)": 1}
    assert good["values"]["weak_values"] == 0 and good["values"]["duplicate_values"] == 0


def test_unsalted_sha1_and_a_shared_hash_fail(run):
    # Given a host with two unsalted SHA-1 digests and one bcrypt string copied to two users
    result, by_host, _ = run
    bad = by_host["app-bad"]
    # Then the check fails, naming both problems and the rows
    assert bad["status"] == "fail", bad
    assert "shop users: 2 unsalted SHA-1" in bad["summary"]
    assert "shop users: 2 values identical to another row's" in bad["summary"]
    details = "\n".join(bad["details"])
    assert "row 2 (carol), row 3 (dave)" in details
    assert "identical values in row 4 (erin), row 5 (frank)" in details
    assert bad["values"]["weak_values"] == 2 and bad["values"]["duplicate_values"] == 2
    assert result.rc == 1, result.stderr


def test_no_source_is_skip_and_a_missing_database_is_error(run):
    _, by_host, _ = run
    assert by_host["app-unset"]["status"] == "skip"
    assert "set vars.app_password_hashing.sources" in by_host["app-unset"]["summary"]
    missing = by_host["app-missing"]
    assert missing["status"] == "error", missing
    assert "shop users: database file not found" in missing["summary"]


def test_no_hash_or_password_reaches_the_run_folder(run, planted):
    # Given every file the run wrote (reports, evidence)
    _, _, run_dir = run
    # Then no planted hash, no tail of one, and no plaintext password is there
    files = assert_nowhere_in(run_dir, *planted.values(), *(value[-16:] for value in planted.values()))
    assert any("evidence" in p.parts for p in files)

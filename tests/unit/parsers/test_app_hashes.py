"""The on-host classifier of application password values, run by this machine's real awk
over values made by real tools (mkpasswd, the argon2 CLI, Python's hashlib in the formats
Django, passlib and werkzeug write), and the parser of what it prints."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess

import pytest

from auditor.parsers import app_hashes

FS, RS, NUL = "\x1f", "\x1e", "\x1d"
SALT = "Qm9ndXNTYWx0MTIzNDU2"


def tool(*argv: str, stdin: str | None = None) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (scripts/test.sh installs it)")
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout.strip()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def django_pbkdf2(password: str, iterations: int = 870000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${SALT}${b64(digest)}"


def werkzeug_pbkdf2(password: str, iterations: int = 600000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT.encode(), iterations)
    return f"pbkdf2:sha256:{iterations}${SALT}${digest.hex()}"


def werkzeug_scrypt(password: str) -> str:
    digest = hashlib.scrypt(password.encode(), salt=SALT.encode(), n=32768, r=8, p=1, maxmem=64 << 20)
    return f"scrypt:32768:8:1${SALT}${digest.hex()}"


def django_scrypt(password: str) -> str:
    digest = hashlib.scrypt(password.encode(), salt=SALT.encode(), n=16384, r=8, p=1, dklen=64)
    return f"scrypt$16384${SALT}$8$1${b64(digest)}"


def passlib_pbkdf2(password: str, iterations: int = 29000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), b"salty-salt", iterations)
    ab64 = lambda b: b64(b).rstrip("=").replace("+", ".")  # noqa: E731 -- passlib's adapted base64
    return f"$pbkdf2-sha256${iterations}${ab64(b'salty-salt')}${ab64(digest)}"


def classify(rows: list[str | None], max_rows: int = 10000, show: int = 5) -> str:
    """Run the on-host classifier function over rows as sqlite3 prints them
    (identifier<US>value<RS>, NULL as <GS>), in /bin/sh with this machine's awk."""
    data = "".join((NUL if r is None else r) + RS for r in rows)
    script = app_hashes.classify_function(max_rows, show) + "\nclassify '\\037' '\\036' '\\035'\n"
    return subprocess.run(["/bin/sh", "-c", script], input=data.encode("utf-8", "surrogateescape"),
                          capture_output=True, check=True,
                          env={**os.environ, "LC_ALL": "C"}).stdout.decode("utf-8", "replace")


def token_of(value: str) -> str:
    out = classify([value])
    schemes = [line.split("\t")[1] for line in out.splitlines() if line.startswith("scheme\t")]
    assert len(schemes) == 1, out
    return schemes[0]


def ldap_pbkdf2(password: str, iterations: int, digest: str = "sha256") -> str:
    """passlib's ldap_pbkdf2_sha256/_sha1 format: its $pbkdf2-sha256$ (or $pbkdf2$) hash
    with the prefix swapped for {PBKDF2-SHA256} (or {PBKDF2}); made here with hashlib."""
    ident = "{PBKDF2-SHA256}" if digest == "sha256" else "{PBKDF2}"
    if digest == "sha256":
        return ident + passlib_pbkdf2(password, iterations).removeprefix("$pbkdf2-sha256$")
    raw = hashlib.pbkdf2_hmac("sha1", password.encode(), b"salty-salt", iterations)
    ab64 = lambda b: b64(b).rstrip("=").replace("+", ".")  # noqa: E731 -- passlib's adapted base64
    return f"{ident}{iterations}${ab64(b'salty-salt')}${ab64(raw)}"


def dovecot_pbkdf2(password: str, iterations: int) -> str:
    """Dovecot's {PBKDF2} scheme: $1$<16-char salt>$<rounds>$<hex PBKDF2-HMAC-SHA1>."""
    salt = "Tm90QVJlYWxTYWx0"
    return f"{{PBKDF2}}$1${salt}${iterations}$" + hashlib.pbkdf2_hmac(
        "sha1", password.encode(), salt.encode(), iterations, 20).hex()


def atlassian_pkcs5s2(password: str) -> str:
    """Atlassian's {PKCS5S2}: base64(16-byte salt + PBKDF2-HMAC-SHA1, 10000 rounds, 32 bytes)."""
    salt = b"sixteen-byte-slt"
    return "{PKCS5S2}" + b64(salt + hashlib.pbkdf2_hmac("sha1", password.encode(), salt, 10000, 32))


REAL_VALUES = {
    "bcrypt (mkpasswd)": (lambda: tool("mkpasswd", "-m", "bcrypt", "pw-one"), "crypt:2b"),
    "yescrypt (mkpasswd)": (lambda: tool("mkpasswd", "-m", "yescrypt", "pw-one"), "crypt:y"),
    "sha512crypt (mkpasswd)": (lambda: tool("mkpasswd", "-m", "sha512crypt", "pw-one"), "crypt:6"),
    "sha256crypt rounds (mkpasswd)": (lambda: tool("mkpasswd", "-m", "sha256crypt", "-R", "9000", "pw"),
                                      "crypt:5"),
    "md5crypt (mkpasswd)": (lambda: tool("mkpasswd", "-m", "md5crypt", "pw-one"), "crypt:1"),
    "descrypt (mkpasswd)": (lambda: tool("mkpasswd", "-m", "descrypt", "pw-one"), "crypt:des"),
    "argon2id (argon2 CLI)": (lambda: tool("argon2", "somesalt", "-id", "-e", stdin="pw-one"), "argon2"),
    "argon2i (argon2 CLI)": (lambda: tool("argon2", "somesalt", "-i", "-e", stdin="pw-one"), "argon2"),
    "Django argon2": (lambda: "argon2" + tool("argon2", "somesalt", "-id", "-e", stdin="pw"), "argon2"),
    "Django bcrypt_sha256": (lambda: "bcrypt_sha256$" + tool("mkpasswd", "-m", "bcrypt", "pw"), "crypt:2b"),
    "Django bcrypt": (lambda: "bcrypt$" + tool("mkpasswd", "-m", "bcrypt", "pw"), "crypt:2b"),
    "Django pbkdf2_sha256": (lambda: django_pbkdf2("pw-one"), "pbkdf2"),
    "Django scrypt": (lambda: django_scrypt("pw-one"), "scrypt"),
    "werkzeug pbkdf2": (lambda: werkzeug_pbkdf2("pw-one"), "pbkdf2"),
    "werkzeug scrypt": (lambda: werkzeug_scrypt("pw-one"), "scrypt"),
    "werkzeug pbkdf2 without :N": (lambda: werkzeug_pbkdf2("pw-one").replace(":600000$", "$", 1),
                                   "pbkdf2-unknown-iterations"),
    "passlib ldap_pbkdf2_sha256": (lambda: ldap_pbkdf2("pw-one", 29000), "pbkdf2"),
    "passlib ldap_pbkdf2_sha1": (lambda: ldap_pbkdf2("pw-one", 131000, "sha1"), "pbkdf2"),
    "Dovecot PBKDF2": (lambda: dovecot_pbkdf2("pw-one", 5000), "pbkdf2"),
    "Atlassian PKCS5S2": (lambda: atlassian_pkcs5s2("pw-one"), "pbkdf2"),
    "LDAP PBKDF2 without a count": (lambda: "{PBKDF2-SHA256}" + b64(hashlib.sha256(b"pw").digest()),
                                    "pbkdf2-unknown-iterations"),
    "passlib pbkdf2-sha256": (lambda: passlib_pbkdf2("pw-one"), "pbkdf2"),
    "Django salted sha1": (lambda: f"sha1${SALT}$" + hashlib.sha1((SALT + "pw").encode()).hexdigest(),
                           "salted-fast"),
    "werkzeug old sha256": (lambda: f"sha256${SALT}$" + hashlib.sha256(b"pw").hexdigest(), "salted-fast"),
    "LDAP SSHA": (lambda: "{SSHA}" + b64(hashlib.sha1(b"pwsalt").digest() + b"salt"), "salted-fast"),
    "LDAP SHA": (lambda: "{SHA}" + b64(hashlib.sha1(b"pw").digest()), "sha1"),
    "LDAP CRYPT": (lambda: "{CRYPT}" + tool("mkpasswd", "-m", "sha512crypt", "pw"), "crypt:6"),
    "Django unsalted_md5": (lambda: "unsalted_md5$$" + hashlib.md5(b"pw").hexdigest(), "md5"),
    "hex md5": (lambda: hashlib.md5(b"pw-one").hexdigest(), "md5"),
    "hex sha1": (lambda: hashlib.sha1(b"pw-one").hexdigest(), "sha1"),
    "hex sha256 upper": (lambda: hashlib.sha256(b"pw-one").hexdigest().upper(), "sha256"),
    "hex sha512": (lambda: hashlib.sha512(b"pw-one").hexdigest(), "sha512"),
    "MySQL PASSWORD()": (lambda: "*" + hashlib.sha1(hashlib.sha1(b"pw").digest()).hexdigest().upper(),
                         "mysql41"),
    "bcrypt cut to 50 chars": (lambda: tool("mkpasswd", "-m", "bcrypt", "pw")[:50], "malformed"),
    "unknown $id$": (lambda: "$foo$abcdefgh$abcdefghijklmnopqrstuv", "unknown"),
    "plaintext": (lambda: "Sommer2024!", "plain"),
    "plaintext with dollars": (lambda: "my$ecret$pass", "plain"),
    "werkzeug plain": (lambda: "plain$$hunter2", "plain"),
    "empty": (lambda: "", "empty"),
    "Django unusable": (lambda: "!" + "aB3" * 13 + "x", "unusable"),
}


@pytest.mark.parametrize("name", sorted(REAL_VALUES))
def test_real_values_are_named_by_their_format(name):
    # Given a password value made by the real tool or in the framework's real format
    make, expected = REAL_VALUES[name]
    value = make()
    # When the on-host classifier reads it
    out = classify([value])
    # Then it names the format, and prints no part of the value
    assert token_of(value) == expected
    assert value == "" or value not in out


def test_null_is_no_password_and_non_utf8_is_plaintext():
    # Given a NULL and a value with Latin-1 bytes
    out = classify([None, "caf\udce9-pass"])
    # Then the NULL is counted apart, the odd bytes fall to plaintext and are not echoed
    assert "scheme\tnull\t1" in out and "scheme\tplain\t1" in out
    assert "caf" not in out


def test_identical_hashes_are_counted_and_identifiers_shown_only_for_hash_rows():
    # Given two users sharing one unsalted hash, a plaintext row and a row whose
    # "identifier" is itself a hash (columns swapped)
    shared = hashlib.sha1(b"secret").hexdigest()
    rows = [f"alice{FS}{shared}", f"bob{FS}{shared}", f"carol{FS}Winter2024", f"{shared}{FS}{shared}"]
    out = classify(rows)
    report = app_hashes.parse("source\t0\n" + out + "status\tok\t0\t\n")[0]
    # Then three values share one hash, the sha1 rows are named, the plaintext row by number only
    assert (report.duplicate_values, report.duplicate_groups) == (3, 1)
    labels = [r.label for r in report.failing_rows]
    assert labels == ["row 1 (alice)", "row 2 (bob)", "row 3", "row 4"]
    assert "carol" not in out and shared not in out
    assert report.duplicate_rows == {1: ["row 1 (alice)", "row 2 (bob)", "row 4"]}


def test_sample_limit_and_pbkdf2_iterations():
    # Given 30 rows of pbkdf2 with different iteration counts and a limit of 20
    rows = [django_pbkdf2(f"pw{i}", 1000 + i) for i in range(30)]
    report = app_hashes.parse("source\t0\n" + classify(rows, max_rows=20) + "status\tok\t0\t\n")[0]
    # Then 20 are classified, the rest noticed, and the lowest count reported
    assert report.rows == 20 and report.more_rows
    assert report.counts == {"pbkdf2": 20} and report.pbkdf2_min_iterations == 1000


@pytest.mark.parametrize("value, count", [
    (lambda: ldap_pbkdf2("pw-one", 1000), 1000),
    (lambda: ldap_pbkdf2("pw-one", 1000, "sha1"), 1000),
    (lambda: dovecot_pbkdf2("pw-one", 1000), 1000),
    (lambda: atlassian_pkcs5s2("pw-one"), 10000),
], ids=["passlib ldap sha256", "passlib ldap sha1", "dovecot", "atlassian"])
def test_ldap_pbkdf2_iteration_counts_are_read(value, count):
    # Given an LDAP-style PBKDF2 value with a known iteration count, beside a strong Django one
    rows = [value(), django_pbkdf2("pw-two", 870000)]
    # When the classifier reads them
    report = app_hashes.parse("source\t0\n" + classify(rows) + "status\tok\t0\t\n")[0]
    # Then the lowest count is the LDAP value's, so min_pbkdf2_iterations can judge it
    assert report.counts == {"pbkdf2": 2} and report.pbkdf2_min_iterations == count


def test_pbkdf2_without_a_count_is_not_strong():
    # Given werkzeug pbkdf2 without :N (it would verify with whatever the library's default is)
    value = werkzeug_pbkdf2("pw-one").replace(":600000$", "$", 1)
    report = app_hashes.parse("source\t0\n" + classify([value]) + "status\tok\t0\t\n")[0]
    # Then it is its own failing token, listed by row, and no iteration count is invented
    assert report.counts == {"pbkdf2-unknown-iterations": 1} and report.pbkdf2_min_iterations is None
    assert [r.token for r in report.failing_rows] == ["pbkdf2-unknown-iterations"]
    assert not app_hashes.scheme("pbkdf2-unknown-iterations").strong


def test_failing_rows_are_listed_up_to_the_limit():
    rows = [hashlib.md5(f"pw{i}".encode()).hexdigest() for i in range(9)]
    report = app_hashes.parse("source\t0\n" + classify(rows, show=3) + "status\tok\t0\t\n")[0]
    assert [r.row for r in report.failing_rows] == [1, 2, 3]
    assert report.counts == {"md5": 9}


def test_scheme_verdicts():
    assert app_hashes.scheme("crypt:y").strong and app_hashes.scheme("argon2").strong
    assert not app_hashes.scheme("crypt:1").strong and "MD5" in app_hashes.scheme("crypt:1").why
    assert not app_hashes.scheme("sha1").strong and not app_hashes.scheme("plain").strong
    assert app_hashes.scheme("null").no_password and not app_hashes.scheme("empty").no_password
    assert all(app_hashes.scheme(t).strong for t in app_hashes.STRONG_TOKENS)


@pytest.mark.parametrize("text", ["rows\t3\n", "source\tx\n", "source\t0\nrows\tmany\nstatus\tok\t0\n",
                                  "source\t0\nrows\t1\n", "source\t0\nbanana\t1\nstatus\tok\t0\n"])
def test_garbled_output_is_refused(text):
    with pytest.raises(ValueError):
        app_hashes.parse(text)

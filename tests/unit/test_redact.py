"""The local redaction pass masks secrets and leaves ordinary text alone."""

import time

import pytest

from auditor.evidence.redact import MASK, redact

SHA512_HASH = "$6$Qe8.m3Xy$" + "A" * 86  # the shape of a real sha512crypt hash


@pytest.mark.parametrize("text, secret", [
    (f"alice:{SHA512_HASH}:19700:0:99999:7:::", SHA512_HASH[3:]),
    ("GET /login?user=bob&password=hunter2 HTTP/1.1", "hunter2"),
    ('{"user": "bob", "password": "s3cr3t!"}', "s3cr3t!"),
    ("Authorization: Basic Ym9iOmh1bnRlcjI=", "Ym9iOmh1bnRlcjI="),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("mysql -u root -pTopSecret9 shop", "TopSecret9"),
    ("sshpass -p 'letmein' ssh host", "letmein"),
    ("postgres://app:dbpass42@10.0.0.5/app", "dbpass42"),
    ("DB_PASSWORD=\"two words\"", "two words"),
    ("0 2 * * * curl -s -u backup:Curl-Pw-77 https://files/upload", "Curl-Pw-77"),
    ("curl --user 'svc:Quoted-Pw-1' -T dump.gz sftp://host/", "Quoted-Pw-1"),
    ("lftp -u mirror,Lftp-Pw-2 -e 'mirror -R /srv/backup' sftp://host", "Lftp-Pw-2"),
    ("smbclient //nas/backup -U 'CORP\\svc%Smb-Pw-3' -c 'put dump.gz'", "Smb-Pw-3"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEAAAAA"),
])
def test_secrets_are_masked(text, secret):
    masked, count = redact(text)
    assert secret not in masked
    assert MASK in masked and count >= 1


@pytest.mark.parametrize("text", [
    "/etc/pam.d/common-password:password\t[success=1]\tpam_unix.so yescrypt",
    "ENCRYPT_METHOD SHA512",
    "password=*** and pwd=[REDACTED]",
    "Nov 21 10:00:01 web sshd[42]: Accepted publickey for alice from 10.0.0.9",
    "rotate 4\nweekly\n",
])
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == (text, 0)


def test_a_check_that_rebuilds_a_secret_cannot_publish_it(tmp_path):
    # Given a check whose probe prints a password in two harmless-looking halves,
    # and whose evaluate() glues them back together into its summary and values
    from auditor.check import Check, Status, result
    from auditor.engine import runner
    from auditor.inventory import Host
    from auditor.probes import shell

    def evaluate(out, params):
        first, second = out.require("halves").stdout.split()
        leaked = f"password={first}{second}"
        return result(Status.FAIL, f"found {leaked}", [leaked], ["halves"], sample=leaked)

    check = Check(id="leaky", title="t", claims=(), controls=(), probes=(shell("halves", "echo hun ter2-x"),),
                  evaluate=evaluate)
    host = Host(name="here", address="localhost", transport="local")
    # When the host is audited
    report = runner.audit_host(host, [check], tmp_path, runner.RunOptions())
    # Then the result says where, not what, and the mask is counted
    outcome = report.results[0]
    assert "hunter2" not in outcome.summary + "".join(outcome.details) + str(outcome.values)
    assert outcome.summary == "found password=[REDACTED]"
    assert report.redactions >= 3


# Finding 1's safety net: card numbers (Luhn-valid, in a scheme's range, at its length) are masked.
@pytest.mark.parametrize("text, secret", [
    ('ERROR:  invalid input syntax for type bigint: "4111 1111 1111 1111"', "4111 1111 1111 1111"),
    ("pan=5555-5555-5555-4444;", "5555-5555-5555-4444"),
    ("note: use 378282246310005 next time", "378282246310005"),
    ("6011000990139424", "6011000990139424"),
])
def test_card_numbers_are_masked(text, secret):
    masked, count = redact(text)
    assert secret not in masked
    assert MASK in masked and count == 1


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1112",  # fails the Luhn check
    "inodes: 4111111111111111x used",  # a letter right after: part of a longer token
    "a2466025-1565-4783-8ed5-7a5c6adc9649",  # a UUID
    "PL84 9441 1771 5162 0466 1099 0695",  # an IBAN
    "1700000000123 ms since the epoch",  # 13 digits from 1: UATP only issues 15
    "9876543210123456",  # no scheme starts with 98
    "41111111111111110000",  # 20 digits in one run
    "Filesystem 1K-blocks 1048576000 used 524288000",  # ordinary sizes
])
def test_long_numbers_that_are_no_card_are_left_alone(text):
    assert redact(text) == (text, 0)


def test_every_scheme_in_the_table_is_masked_at_each_of_its_lengths():
    # Given a Luhn-valid number for each scheme's lowest prefix at each length it issues
    from auditor.parsers.cards import CARD_SCHEMES, card_scheme, luhn_valid

    for name, ranges, lengths in CARD_SCHEMES:
        for length in lengths:
            body = ranges[0][0].ljust(length - 1, "7")
            number = next(body + d for d in "0123456789" if luhn_valid(body + d))
            # Then the table names the scheme and the redaction pass masks it
            assert card_scheme(number) == name, (name, number)
            assert redact(f"x {number} y") == (f"x {MASK} y", 1), (name, number)


def _fill(unit: str, prefix: str = "", size: int = 1 << 20) -> str:
    return prefix + unit * ((size - len(prefix)) // len(unit))


# Output a hostile host could send, one probe's cap (1 MiB) each: runs of what each rule repeats.
# bench/redact.py times the same inputs (before/after figures in its docstring).
ADVERSARIAL = {
    "mysql words": _fill("mysql "), "mysqldump words": _fill("mysqldump "), "curl words": _fill("curl "),
    "curl -u without colon": _fill(" -u a", "curl"), "lftp words": _fill("lftp "),
    "smbclient words": _fill("smbclient "), "sshpass words": _fill("sshpass -p "),
    "scheme characters": _fill("a."), "scheme then userinfo": _fill("b", "a://"), "url starts": _fill("a://b:"),
    "pem begin run": _fill("A ", "-----BEGIN "), "pem begins": _fill("-----BEGIN RSA PRIVATE KEY-----\n"),
    "json keys": _fill('"password": "'), "assignment quotes": _fill('password="'),
    "assignment spaces": _fill(" ", "password"), "bearer spaces": _fill(" ", "Bearer "),
    "crypt prefixes": _fill("$6$"), "spaced digits": _fill("1 "),
    "card numbers": _fill("4111 1111 1111 1111 "),
    "one long word": _fill("x"),
    # The deny-by-default credential rules (auditor/parsers/credentials.py) that the pass runs first.
    "user options": _fill("-u a:b "), "header names": _fill("X-Api-Key: v "), "quoted -p": _fill("-p'x' "),
    "failed logins": _fill("FAILED LOGIN (1) on 'x' "), "name characters": _fill("a.b-c_d"),
    "secret assignments": _fill("SECRET_KEY=v "),
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_every_rule_is_linear_on_adversarial_input_of_the_cap_size(name):
    # Given 1 MiB built to make a backtracking rule rescan (this took 25 s to minutes before)
    from auditor.evidence import redact as redaction
    text = ADVERSARIAL[name]
    # When each rule, and then the whole pass, runs over it
    # Then each finishes within a bound far above linear time (tens of ms) and far below quadratic
    for pattern, replacement in redaction._RULES:
        started = time.perf_counter()
        pattern.subn(replacement, text)
        assert time.perf_counter() - started < 2.0, (name, pattern.pattern)
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 4.0, name


def test_the_linear_command_rules_still_find_the_option_after_a_repeated_command_word():
    # Given command words repeated before the one that carries the secret
    masked, _ = redact("mysql x | mysqldump -pSecret-1 db; curl a curl -u bob:Secret-2 x; "
                       "mysqlx mysql -pSecret-3")
    assert "Secret-1" not in masked and "Secret-2" not in masked and "Secret-3" not in masked

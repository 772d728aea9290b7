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
    ("card-4111111111111111", "4111111111111111"),  # a label joined by a dash
    ("cc=5500-0000-0000-0004-CVV123", "5500-0000-0000-0004"),
    ("35771902-7136-4511-bc4a-4f6a2b1e9d3c 4111 1111 1111 1111", "4111 1111 1111 1111"),  # after a UUID
])
def test_card_numbers_are_masked(text, secret):
    masked, count = redact(text)
    assert secret not in masked
    assert MASK in masked and count == 1


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1112",  # fails the Luhn check
    "inodes: 4111111111111111x used",  # a letter right after: part of a longer token
    "a2466025-1565-4783-8ed5-7a5c6adc9649",  # a UUID
    "35771902-7136-4511-bc4a-4f6a2b1e9d3c",  # a UUID whose first three groups make a Luhn-valid JCB number
    "0f1e2d3c-4b5a-4978-8a1b-123456789012 3456",  # a UUID's last group, then digits: no card
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


@pytest.mark.parametrize("text, secret", [
    ("rotate 1 × monthly; paſſword=Fold-Pw-1", "Fold-Pw-1"),  # ſ is s under IGNORECASE
    ("× Authorization: BEARER eyJhbGciOiJIUzI1NiJ9ı", "eyJhbGciOiJIUzI1NiJ9ı"),
    ('{"apı_\u212aey": "Fold-Pw-2"} ✓', "Fold-Pw-2"),  # dotless ı, the Kelvin sign
    ("ąę postgres://app:Fold-Pw-3@db/app", "Fold-Pw-3"),
])
def test_secrets_in_text_beyond_ascii_are_masked(text, secret):
    # Given a secret in text that is not ASCII, its name spelled with letters IGNORECASE takes for ASCII
    # When redacted, Then it is masked: such text is folded for the rules' word tests, not let through
    masked, count = redact(text)
    assert secret not in masked and count >= 1


def test_only_texts_without_a_secret_are_remembered_and_within_the_budget():
    # Given the pass's memory of clean texts, and a fresh small one
    from auditor.evidence import redact as redaction
    secret = "DB_PASSWORD=Remembered-Pw-1 on host a"
    # When a text with a secret is redacted twice, Then it is masked both times and never remembered
    assert redact(secret) == redact(secret) == ("DB_PASSWORD=[REDACTED] on host a", 1)
    assert secret not in redaction._CLEAN
    clean = "PasswordAuthentication no\nrotate 4 × weekly"
    assert redact(clean) == (clean, 0) and clean in redaction._CLEAN
    small = redaction._CleanTexts(budget=10_000, largest=2_000)
    for n in range(100):
        small.add(f"text {n} " + "x" * 500)
    small.add("y" * 5_000)  # larger than `largest`: not kept
    # Then what it holds stays within its budget, the most recent texts stay, and the large one is not held
    assert small._held <= 10_000 and f"text 99 {'x' * 500}" in small and f"text 0 {'x' * 500}" not in small
    assert "y" * 5_000 not in small


def test_a_value_with_nothing_to_mask_comes_back_as_itself_and_others_as_before():
    # Given values of every shape a result holds
    from types import MappingProxyType

    from auditor.evidence.redact import redact_value
    plain = {"n": 3, "ok": True, "ratio": 0.5, "none": None, "paths": ["/etc/a", ("x", "y")], "s": "text"}
    # When redacted, Then an unchanged value is the same object, and a secret is masked and counted
    assert redact_value(plain) == (plain, 0) and redact_value(plain)[0] is plain
    leaked, count = redact_value({"n": 3, "paths": ["/etc/a", "token=Value-Pw-1"]})
    assert leaked == {"n": 3, "paths": ["/etc/a", "token=[REDACTED]"]} and count == 1
    # and a mapping that is not a dict still comes back as a dict
    proxied, count = redact_value(MappingProxyType({"a": "b"}))
    assert type(proxied) is dict and proxied == {"a": "b"} and count == 0


def test_the_safety_net_keeps_clean_results_and_masks_a_rebuilt_secret():
    # Given a clean result, and one whose summary, details, values and finding rebuilt a secret
    from types import MappingProxyType

    from auditor.check import Finding, Severity, Status
    from auditor.evidence.store import redact_results
    from auditor.model import CheckResult
    clean = CheckResult("a", "t", Status.PASS, "rotate 4 × weekly", ("ok",), values={"n": 1, "l": ["x"]})
    proxied = CheckResult("b", "t", Status.PASS, "fine", values=MappingProxyType({"n": 2}))
    leaky = CheckResult("c", "t", Status.FAIL, "found password=Net-Pw-1", ("token=Net-Pw-2",),
                        values={"sample": ["pwd=Net-Pw-3"]},
                        findings=(Finding(Status.FAIL, "secret=Net-Pw-4", Severity.HIGH, "ref"),))
    # When the safety net runs over them
    cleaned, count = redact_results([clean, proxied, leaky])
    # Then the clean one is kept as it is, the other's values become a dict, and every secret is masked
    assert cleaned[0] is clean and cleaned[1].values == {"n": 2} and type(cleaned[1].values) is dict
    assert count == 4 and "Net-Pw" not in repr(cleaned[2])
    assert cleaned[2].findings[0].text == "secret=[REDACTED]"
    assert cleaned[2].summary == "found password=[REDACTED]"

"""The deny-by-default credential rules: what they mask, and that the host's awk masks exactly
what the local Python does (the probes and the local pass share one set of rules)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from auditor.parsers.credentials import MASK_AWK, mask_credentials

MASKED = [  # (line, what the host sends)
    ('{"user": "bob", "password": "pw1", "client_secret": "cs2", "refresh_token": "rt3", "n": 5}',
     '{"user": "bob", "password": "***", "client_secret": "***", "refresh_token": "***", "n": 5}'),
    ("SECRET_KEY=abc123 password=hunter2 user=bob", "SECRET_KEY=*** password=*** user=bob"),
    ("curl -s -H 'X-Api-Key: k3y' -H \"PRIVATE-TOKEN: glpat-x\" -H 'Authorization: Bearer eyJ' https://x/y",
     "curl -s -H 'X-Api-Key: ***' -H \"PRIVATE-TOKEN: ***\" -H 'Authorization: ***' https://x/y"),
    ("mysqldump -p'two words' -uroot shop; mysql -pS3cr3t db; sshpass -p hunter2 ssh h; mkdir -p /b",
     "mysqldump -p*** -uroot shop; mysql -p*** db; sshpass -p *** ssh h; mkdir -p /b"),
    ("curl -u admin:pa55 https://h; lftp -u bob,pw2 ftp://h; smbclient -U bob%pw3 //h/s",
     "curl -u admin:*** https://h; lftp -u bob,*** ftp://h; smbclient -U bob%*** //h/s"),
    ("wget https://bob:p@ss@w0rd@db/x --password x1 --api-token=t2",
     "wget https://bob:***@db/x --password *** --api-token=***"),
    ("login[1]: FAILED LOGIN (1) on '/dev/tty1' FOR 'S3cretTyped', Authentication failure",
     "login[1]: FAILED LOGIN (1) on '/dev/tty1' FOR '***', Authentication failure"),
    ("id AbCdEf0123456789AbCdEf0123456789xyZ sha 0123456789abcdef0123456789abcdef",
     "id *** sha 0123456789abcdef0123456789abcdef"),
    ("password=*** and [REDACTED] and mysql -p\"$DB_PASS\" x",
     "password=*** and [REDACTED] and mysql -p\"$DB_PASS\" x"),
    ("pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)",
     "pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)"),
]
# What the checks judge in evidence stays for the local pass (not strict).
KEPT_LOCALLY = [
    '{"meta": {"key": "l4proto"}} {"key_bits": 2048}',
    "-w /etc/passwd -p wa -k identity -F key=time-change",
    "/etc/pam.d/common-password:password\t[success=1]\tpam_unix.so yescrypt",
    "ssh2: ED25519 SHA256:AbCdEf0123456789AbCdEf0123456789xyZAbCdEf01",
    "printf 'clock_utc=%s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"",
]


@pytest.mark.parametrize(("line", "expected"), MASKED)
def test_every_credential_on_a_line_is_masked(line, expected):
    # Given a line with credentials of every kind; When masked as the host masks excerpts
    # Then each value is masked and the structure kept
    assert mask_credentials(line)[0] == expected


@pytest.mark.parametrize("line", KEPT_LOCALLY)
def test_the_local_pass_keeps_what_checks_judge(line):
    assert mask_credentials(line, "[REDACTED]", strict=False) == (line, 0)


@pytest.mark.parametrize("awk", ["mawk", "gawk", "busybox", "awk"])
def test_the_hosts_awk_masks_exactly_as_python(awk):
    # Given an awk the hosts may have
    if shutil.which(awk) is None:
        pytest.skip(f"{awk} is not installed")
    argv = ["busybox", "awk"] if awk == "busybox" else [awk]
    lines = [line for line, _ in MASKED] + KEPT_LOCALLY
    program = MASK_AWK + '{ print mask_credentials($0, "***", 1); print mask_credentials($0, "[R]", 0) }'
    # When it masks every line in both modes
    done = subprocess.run([*argv, program], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=30, check=True)
    # Then it prints what Python computes, line for line
    expected = [m for line in lines for m in (mask_credentials(line)[0],
                                              mask_credentials(line, "[R]", strict=False)[0])]
    assert done.stdout.splitlines() == expected


def test_the_local_rules_leave_every_shipped_probe_script_as_it_is():
    # Given every built-in probe script (the evidence stores each one redacted, with its hash)
    from auditor.engine import registry
    from auditor.engine.plan import FACTS_SCRIPT
    scripts = {"facts": FACTS_SCRIPT}
    for check in registry.load().checks.values():
        for probe in check.probes:
            if probe.site == "host":
                scripts[f"{check.id}.{probe.name}"] = probe.render(check.default_params())
    # When the local rules run over them
    # Then none is changed: a masked script would no longer match the hash of what ran
    changed = [name for name, script in scripts.items() if mask_credentials(script, "[R]", strict=False)[1]]
    assert not changed


def test_a_switch_is_no_credential_but_a_password_next_to_it_is():
    # Given sshd's command line with a switch named like a credential, and a real password beside it
    line = "sshd -o PasswordAuthentication=yes -o AuthorizedKeysCommandUser=nobody password=Hunter2-Sw1tch"
    # When masked, Then the switch keeps its value and the password does not survive
    masked, count = mask_credentials(line)
    assert "PasswordAuthentication=yes" in masked and "Hunter2-Sw1tch" not in masked and count >= 1


def test_a_switch_inside_parentheses_is_kept_by_python_and_awk():
    # Given a check's summary naming a daemon's options in parentheses
    line = "sshd pid 6 (/etc/ssh/internal.cfg, -o PasswordAuthentication=yes) on 0.0.0.0:2222"
    # When masked, Then the switch stays as written
    assert mask_credentials(line, strict=False)[0] == line
    for awk in [a for a in ("mawk", "busybox") if shutil.which(a)]:
        command = [awk, "awk"] if awk == "busybox" else [awk]
        done = subprocess.run([*command, MASK_AWK + '{ print mask_credentials($0, "***", 1) }'], input=line,
                              capture_output=True, text=True, check=True)
        assert done.stdout.strip() == line, awk


# Exec lines of real units (systemd allows `@ - : + ! !!` before the command's path): Debian 12's
# units on the development machine, RHEL 9's chrony and PGDG's postgresql-15, a NixOS unit (a store
# path's hash), `systemctl status`, and the backups probe's record of a test's drop-in.
UNIT_LINES = [
    "ExecStart=@/lib/systemd/system-generators/systemd-fstab-generator systemd-sysroot-fstab-check",
    "ExecStart=-/sbin/agetty -o '-p -- \\\\u' --keep-baud 115200,57600,38400,9600 - $TERM",
    "ExecStartPre=-/usr/lib/apt/apt-helper wait-online",
    "ExecStart=:/opt/1Password/1password --silent --force-device-scale-factor=1",
    "ExecStart=+/usr/bin/install -d -o man -g man -m 0755 /var/cache/man",
    "ExecStart=!/usr/sbin/chronyd $OPTIONS",
    "ExecStart=!!/lib/systemd/systemd-networkd",
    "ExecStart=-+/usr/lib/nftban/sbin/nftban-apply",
    "ExecStart=/usr/lib/polkit-1/polkitd --no-debug",
    'ExecStart=/usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_fail "%I"',
    "ExecStartPre=/usr/pgsql-15/bin/postgresql-15-check-db-dir ${PGDATA}",
    "ExecStart=/usr/pgsql-15/bin/postmaster -D ${PGDATA}",
    "Process: 1204 ExecStart=/usr/pgsql-15/bin/postmaster -D ${PGDATA} (code=exited, status=0/SUCCESS)",
    "ExecStart=/nix/store/0c4jw2a5qbw2x1ryi5lzkvr7hxhkxsly-nginx-1.24.0/bin/nginx -c "
    "/nix/store/9v1mxkpcb3a4z7xq2yy6a3h0d1f5n3wz-nginx.conf",
    "ExecStart=-/tmp/pytest-of-root/pytest-3/test_backups0/usr/local/sbin/site-backup --now",
    "unit\t/etc/systemd/system/site-run.service.d/run.conf\t"
    "ExecStart=-/tmp/pytest-of-root/pytest-3/test_backups0/usr/local/sbin/site-backup --now",
    "Environment=PGDATA=/var/lib/pgsql/15/data/",
]
# The same lines with credentials in them: each is masked as before.
UNIT_SECRETS = [
    ("ExecStart=-/usr/local/bin/agent AbCdEf0123456789AbCdEf0123456789xyZ",
     "ExecStart=-/usr/local/bin/agent ***"),
    ("ExecStart=/usr/bin/agent --id=AbCdEf0123456789AbCdEf0123456789xyZ --api-token=t2 --password x1",
     "ExecStart=/usr/bin/agent *** --api-token=*** --password ***"),
    ("Environment=RESTIC_PASSWORD=Unit-Pw-1 SIGNING=/9j4AAQSkZJRgABAQAAAQABAAD2wBDAAMCAgICAgMCA",
     "Environment=RESTIC_PASSWORD=*** SIGNING=***"),
    ("ExecStart=+/usr/bin/curl -u backup:Unit-Pw-2 -H 'Authorization: Bearer eyJhbGci' https://h/x",
     "ExecStart=+/usr/bin/curl -u backup:*** -H 'Authorization: ***' https://h/x"),
    ("ExecStart=!!/usr/bin/mysqldump -pUnit-Pw-3 shop", "ExecStart=!!/usr/bin/mysqldump -p*** shop"),
    ("AbCdEf0123456789AbCdEf0123456789xyZ==/x SEED=-/AbCdEf0123456789AbCdEf0123456789xyZ+/Qw",
     "***/x SEED=***"),
]


@pytest.mark.parametrize("line", UNIT_LINES)
def test_a_units_command_path_after_any_exec_prefix_is_no_credential(line):
    # Given an Exec line whose name's capitals made "Name=-/lower/case/path0" look like a token
    # When masked as the host masks excerpts and as the local pass does
    # Then the command line is kept whole
    assert mask_credentials(line) == (line, 0)
    assert mask_credentials(line, "[REDACTED]", strict=False) == (line, 0)


@pytest.mark.parametrize(("line", "expected"), UNIT_SECRETS)
def test_credentials_beside_a_units_command_path_are_still_masked(line, expected):
    # Given unit lines with a token, options, an assignment, user:pw, a header, -p, and base64
    # values glued to a name or starting with a slash
    # When masked as the host masks excerpts, Then every credential is masked
    assert mask_credentials(line)[0] == expected


@pytest.mark.parametrize("awk", ["mawk", "gawk", "busybox", "awk"])
def test_the_hosts_awk_keeps_unit_command_paths_exactly_as_python(awk):
    # Given an awk the hosts may have
    if shutil.which(awk) is None:
        pytest.skip(f"{awk} is not installed")
    argv = ["busybox", "awk"] if awk == "busybox" else [awk]
    lines = UNIT_LINES + [line for line, _ in UNIT_SECRETS]
    # When it masks the unit lines
    done = subprocess.run([*argv, MASK_AWK + '{ print mask_credentials($0, "***", 1) }'],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30,
                          check=True)
    # Then it prints what Python computes
    assert done.stdout.splitlines() == [mask_credentials(line)[0] for line in lines]


@pytest.mark.parametrize("unit", ["a=/", "=-", "Ab1=/", "=--------/",
                                  "AbCdEf0123456789AbCdEf0123456789xyZ=/"])
def test_the_token_rule_is_linear_over_names_glued_to_paths(unit):
    # Given 1 MiB of one line of names and `=` glued to paths, each a place the token rule cuts
    text = unit * ((1 << 20) // len(unit))
    # When masked as the host masks excerpts
    started = time.perf_counter()
    mask_credentials(text)
    # Then it finishes within a bound far above linear time (tenths of a second) and far below quadratic
    assert time.perf_counter() - started < 4.0


def test_folding_takes_every_letter_ignorecase_matches_to_ascii_for_that_letter():
    # Given every character beyond ASCII, and the case-insensitive match of each ASCII character
    import re

    from auditor.parsers.credentials import folded
    any_ascii = re.compile("[\x00-\x7f]", re.IGNORECASE)
    for code in range(0x80, 0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        # When folded, Then it is the ASCII character IGNORECASE takes it for, or `?` when there is none
        if any_ascii.fullmatch(char):
            assert re.fullmatch(re.escape(folded(char)), char, re.IGNORECASE), hex(code)
        else:
            assert folded(char) == "?", hex(code)


def test_the_hint_scan_over_folded_text_finds_what_ignorecase_finds():
    # Given random text of credential words' letters in both cases, IGNORECASE's four letters
    # beyond ASCII, other letters beyond ASCII and separators
    import random
    import re

    from auditor.parsers import credentials
    rng = random.Random(11)
    alphabet = "kKeEyYtToOnNsSpPaAwWdDuUhHcCiIlLgG:/- İıſ\u212a×ąéß\u00a0\n"
    ignoring_case = re.compile(credentials.HINT.pattern, re.IGNORECASE)
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 24)))
        # When the hint is looked for in it folded, Then it is found exactly where IGNORECASE finds it
        folded = credentials.folded(text)
        assert len(folded) == len(text)
        assert [m.span() for m in credentials.HINT.finditer(folded)] == \
            [m.span() for m in ignoring_case.finditer(text)], text


def test_a_rule_is_skipped_only_on_lines_where_it_cannot_match():
    # Given lines of every kind the tests hold, and each rule's characters that a line must hold
    from auditor.parsers import credentials
    lines = [line for line, _ in MASKED] + KEPT_LOCALLY + UNIT_LINES + [line for line, _ in UNIT_SECRETS] + [
        "password secret", "token\t'x'", "FAILED LOGIN (1) on 'x' FOR 'y'", "a://b:c@d", "-pX", "x -u a:b"]
    for strict in (True, False):
        for may_match, rule in credentials._rules(strict):
            for text in lines:
                if may_match(text):
                    continue
                # When the rule runs on a line its test skips, Then it masks nothing
                line = credentials._Line(text, "***")
                rule(line)
                line.commit()
                assert line.text == text, text

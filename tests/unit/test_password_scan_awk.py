"""passwords_not_logged's on-host scan (SCAN_AWK) against the scan it replaced, under every awk here.

The old per-line loop copied and lowercased the rest of the line for every hit and rebuilt the
line for every masked value: quadratic in the hits of one line (a 1.3 MB line with 30,000
hits took 15.6 s under mawk, a 4 MB one would pass the probe's 150 s deadline). Its leading
`[a-z0-9_.-]*` made mawk rescan a long run of name characters once per byte as well (100 access
log lines, each with an 8 kB JWT, took 24 s). The new loop must print exactly what the old one
printed (finds with their masked excerpts, counts per file and kind): the old loop is kept here,
frozen, and both run over the same real-looking log lines, random mixtures of every pattern's
pieces and long lines that cross the new loop's windows and chunks.

One change is meant: curl's key (`curl[ \t].*(-u...)NAME:`) is the longest match, to the last user
option of the line, as POSIX says and busybox awk found; mawk's own matcher stops its `.*` at an
earlier `:` on some lines (`curl -u-up: curl -u admin:...`, about 1 random mixture in 4,000). So
the reference matches curl's key by brute force (REFERENCE_CURL), the rest of the old loop verbatim.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time

import pytest

from auditor.engine import registry
from auditor.parsers.credentials import MASK_AWK
from checks.passwords_not_logged import SCAN_AWK, read_scan


def _awks() -> list[str]:
    """Each awk installed, once (nawk and awk are often mawk under another name)."""
    found: dict[str, str] = {}
    for awk in ("mawk", "gawk", "nawk", "original-awk", "busybox"):
        if path := shutil.which(awk):
            found.setdefault(os.path.realpath(path), awk)
    return list(found.values())


AWKS = _awks()
pytestmark = pytest.mark.skipif(not AWKS, reason="no awk")
# The probe's deadline is 150 s; a line must cost a small part of it.
BOUND_S = {"mawk": 30.0}
BOUND_OTHER_S = 60.0

# The per-line loop as it was before (commit 2a309d5), verbatim.
OLD_LOOP = r"""{
  c = index($0, ":"); lineno = substr($0, 1, c - 1); line = substr($0, c + 1)
  found = 0; first = 0; kl = ""; split("", seen)
  for (i = 1; i <= kinds; i++) {
    if (need[i] != "" && tolower(line) !~ need[i]) continue
    pos = 1
    while (pos <= length(line)) {
      rest = substr(line, pos)
      if (!match(exact[i] ? rest : tolower(rest), key[i])) break
      ks = pos + RSTART - 1; vs = ks + RLENGTH
      k = substr(line, ks, RLENGTH)
      if (match(substr(line, vs), "^" val[i])) vl = RLENGTH - trim[i]; else vl = 0
      v = substr(line, vs, vl)
      ok = accept(i, k, v)
      if (ok) {
        found = 1; if (!first) first = ks
        if (!(kind[i] in seen)) { seen[kind[i]] = 1; kl = kl (kl == "" ? "" : ",") kind[i] }
      }
      if (vl > 0 && (ok || !only[i])) { line = substr(line, 1, vs - 1) "***" substr(line, vs + vl); vl = 3 }
      pos = vs + vl
    }
  }
"""


# curl's key as POSIX matches it, by brute force: from the first `curl ` (a later one has no user
# option after it that the first has not), to the last `:` that ends a user option (-u NAME:, ...).
REFERENCE_CURL = r"""
function reference_curl(s, i,   a, q, prev, d, tail, best) {
  if (!match(s, /curl[ \t]/)) return 0
  a = RSTART; prev = a + 4; best = 0; tail = "^" substr(key[i], 11)  # key[i] less `curl[ \t].*`
  while ((q = index(substr(s, prev + 1), ":")) > 0) {
    q += prev
    for (d = prev + 1; d < q; d++)
      if (substr(s, d, 1) == "-" && match(substr(s, d, q - d + 1), tail) && RLENGTH == q - d + 1) {
        best = q; break
      }
    prev = q
  }
  if (!best) return 0
  RSTART = a; RLENGTH = best - a + 1; return 1
}
"""
OLD_MATCH = "      if (!match(exact[i] ? rest : tolower(rest), key[i])) break\n"
REFERENCE_MATCH = ('      if (!(kind[i] == "curl" ? reference_curl(tolower(rest), i)'
                   " : match(exact[i] ? rest : tolower(rest), key[i]))) break\n")


def old_program(posix_curl: bool = True) -> str:
    """Today's SCAN_AWK (its patterns, accept() and output) with the old per-line loop, curl's key
    matched as POSIX says (else as the awk's own matcher does: what hosts ran)."""
    start = SCAN_AWK.index('{\n  c = index($0, ":"); lineno')
    end = SCAN_AWK.index("  if (!found) next\n")
    assert OLD_MATCH in OLD_LOOP
    loop = OLD_LOOP.replace(OLD_MATCH, REFERENCE_MATCH) if posix_curl else OLD_LOOP
    return MASK_AWK + REFERENCE_CURL + SCAN_AWK[:start] + loop + SCAN_AWK[end:]


def run(awk: str, program: str, lines: list[str], timeout: float = 600) -> str:
    """What the program prints for `lines`, fed as grep -n prints one file's matching lines."""
    text = "scan\t/var/log/app.log\n" + "".join(f"{n}:{line}\n" for n, line in enumerate(lines, 1))
    text += "files\t1\t0\t0\t0\n"
    argv = ["busybox", "awk"] if awk == "busybox" else [awk]
    done = subprocess.run([*argv, "-v", "left=1000000", program],
                          input=text.encode("utf-8", "surrogateescape"),
                          capture_output=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8", "surrogateescape")


REAL_LINES = [
    # auth.log: sshd, sudo, login, su, cron
    "Dec  6 10:00:01 web1 sshd[1234]: Accepted password for alice from 10.0.0.5 port 52144 ssh2",
    "Dec  6 10:00:02 web1 sshd[1235]: Failed password for invalid user Tr0ub4dor&3x from"
    " 10.0.0.9 port 40022 ssh2",
    "Dec  6 10:00:02 web1 sshd[1235]: Invalid user oracle from 10.0.0.9 port 40022",
    "Dec  6 10:00:03 web1 sshd[1236]: Invalid user P@ssw0rd123 from 203.0.113.7 port 5022",
    "Dec  6 10:00:04 web1 sshd[1237]: Connection closed by invalid user Admin123! 203.0.113.7"
    " port 5022 [preauth]",
    "Dec  6 10:01:00 web1 sudo:      bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; "
    "COMMAND=/usr/bin/mysql -u root -pS3cret! shop",
    "Dec  6 10:01:01 web1 sudo:      bob : TTY=pts/0 ; PWD=/home/bob ; OLDPWD=/root ; USER=root ; "
    "COMMAND=/usr/bin/passwd carol",
    "Dec  6 10:02:00 web1 login[999]: FAILED LOGIN (1) on '/dev/tty1' FOR 'Summer2024!',"
    " Authentication failure",
    "Dec  6 10:02:01 web1 login[999]: FAILED LOGIN (2) on '/dev/tty1' FOR 'bob', Authentication failure",
    "Dec  6 10:03:00 web1 su[22]: pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 "
    "tty=pts/0 ruser=bob rhost=  user=root",
    "Dec  6 10:04:00 web1 CRON[1]: (root) CMD (sshpass -p 'Hunter2!' rsync -a /srv backup@10.0.0.2:/b)",
    "Dec  6 10:04:01 web1 CRON[1]: (root) CMD (mysqldump --password=dbPass99 --all-databases > /b/all.sql)",
    "Dec  6 10:04:02 web1 CRON[1]: (root) CMD (mysqldump -p\"$DB_PASS\" shop | gzip > /b/shop.gz)",
    "Dec  6 10:04:03 web1 CRON[1]: (root) CMD (mariadb -uroot -p shop < /srv/x.sql)",
    "Dec  6 10:06:00 web1 passwd[77]: pam_unix(passwd:chauthtok): password changed for bob",
    "Dec  6 10:07:00 web1 sshd[88]: pam_unix(sshd:auth): authentication failure; logname="
    " uid=0 euid=0 tty=ssh "
    "ruser= rhost=198.51.100.4  user=root",
    # nginx access logs with query strings and referrers
    '10.0.0.1 - - [06/Dec/2026:10:00:00 +0000] "GET'
    ' /login?user=bob&password=Hunter2-nginx&next=/cart HTTP/1.1" '
    '200 512 "-" "Mozilla/5.0 (X11; Linux x86_64)"',
    '10.0.0.1 - - [06/Dec/2026:10:00:01 +0000] "GET /login?user=bob&password=%2A%2A%2A HTTP/1.1" 302 0 '
    '"https://shop.example/login" "curl/8.1.2"',
    '10.0.0.2 - - [06/Dec/2026:10:00:02 +0000] "POST /api/session?pwd=abc123&new_pass=Zz9!zz'
    ' HTTP/1.1" 201 77 "-" "-"',
    '10.0.0.2 - - [06/Dec/2026:10:00:03 +0000] "GET /reset?token=abc&pass=***;x=1 HTTP/1.1" 200 1 "-" "-"',
    '10.0.0.3 - - [06/Dec/2026:10:00:04 +0000] "GET /?compass=north&bypass=1&pass= HTTP/1.1" 200 1 "-" "-"',
    '10.0.0.3 - - [06/Dec/2026:10:00:05 +0000] "GET /x HTTP/1.1" 200 1'
    ' "https://admin:s3cr3t@intranet.example/" "Wget"',
    '10.0.0.4 - - [06/Dec/2026:10:00:06 +0000] "GET /login?user=bob&password=[REDACTED]'
    ' HTTP/1.1" 200 1 "-" "-"',
    '10.0.0.4 - - [06/Dec/2026:10:00:07 +0000] "GET /api?token_type=Bearer&pass=xxxx HTTP/1.1" 200 1 "-" "-"',
    '10.0.0.5 - alice [06/Dec/2026:10:00:08 +0000] "GET /admin HTTP/2.0" 401 0 "-" "-" '
    'authorization="Basic YWRtaW46c2VjcmV0"',
    '10.0.0.5 - - [06/Dec/2026:10:00:09 +0000] "GET /v1/me HTTP/1.1" 200 9 "-" "-" "Authorization: Bearer '
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz"',
    '10.0.0.5 - - [06/Dec/2026:10:00:10 +0000] "GET /v1/me HTTP/1.1" 200 9 "-" "-"'
    ' "Authorization: Bearer abc"',
    # JSON and Python-dict application logs
    '{"ts":"2026-12-06T10:00:00Z","level":"info","msg":"login","user":"bob","password":"Secr3t!"}',
    '{"ts":"2026-12-06T10:00:01Z","msg":"config","db":{"user":"app","db_password":"p4ss\\"word","port":5432}'
    '}',
    '{"ts":"2026-12-06T10:00:02Z","msg":"request","body":"{\\"password\\":\\"inner-Secret1\\",\\"x\\":1}"}',
    "2026-12-06 10:00:03,120 INFO app: payload {'user': 'bob', 'password': 'py-Secret9', 'remember': True}",
    "2026-12-06 10:00:04,120 INFO app: payload {'pwd': \"mixed1\", 'user_pass': 'Zz!'}",
    '{"password":""} {"password":"***"} {"password":null} {"new_password":"<redacted>"}'
    ' {"passwd":"[FILTERED]"}',
    '{"password_hash":"$2b$12$abcdefghijklmnopqrstuv","password_changed":"2026-01-01"}',
    "app[42]: user=bob pass=hunter2 action=login db.password=x PASSWORD=Foo",
    "app[42]: env OLDPWD=/root PWD=/tmp HOME=/root SUDO_USER=bob",
    # URLs with user info, curl, clients
    "worker: connecting to postgres://app:Pg-Secret@db.internal:5432/app?sslmode=require",
    "worker: redis://:nopassuser@cache:6379/0 and amqp://guest:guest@rabbit:5672/ and"
    " https://user:p@ss@host/p",
    "deploy: git clone https://token:x-oauth-basic@github.com/org/repo.git /srv/app",
    "backup: curl -u admin:Adm1n https://backup.example/upload -T /b/all.sql",
    "backup: curl -sS --user 'svc:two words' -H 'Accept: */*' https://backup.example/",
    'backup: curl -sS -H "Authorization: Bearer abcdefghij123456" https://api.example/v1',
    'backup: curl --user "svc:q\\"uoted" https://x',
    "ops: mysql -h db -u root -pRootPw1 -e 'select 1'; mysql --password='with space' -e 'x'",
    "ops: sshpass -p\tTabPass1 ssh root@host; sshpass -p $SSHPASS ssh host",
    "ops: ansible-playbook site.yml --extra-vars 'ansible_password=Ans1ble! ansible_become_pass=B3come'",
    # escapes, control characters and bytes beyond ASCII
    "esc: password=a\\ b\\\\ --password=\"x y\\\" z\" -p'q w' \x1b[31mred\x1b[0m "
    "caf\u00e9 pass=\u00e9t\u00e9!",
    "tabs:\tpassword=\tx\tpass=y\t\"password\"\t:\t\"tab value\"",
    "unterminated: --password=\"never closed and password=x",
    "unterminated: {'password': 'never closed",
]

# Pieces of every pattern, values, separators and noise, glued at random.
PIECES = [
    "password=", "pass=", "pwd=", "passwd=", "PASSWORD=", "db.password=", "new_pass=", "bypass=", "OLDPWD=",
    "PWD=",
    '"password":"', '"password": "', '\\"password\\":\\"', "'pwd': '", "'password': \"", '"user_pass":"',
    "--password=", " -p", " -p ", "mysql", "mariadb", "sshpass -p ", "sshpass\t-p", "curl ", "curl -u ",
    " -u ", "--user ", "--user=", '-u"', "-u'", "http://", "https://", "ftp://", "1://", "u:", "@", "/", "?",
    "#",
    "Bearer ", "bearer\t", "Authorization: Basic ", 'authorization="basic ', "invalid user ",
    "FAILED LOGIN (1) on '/dev/tty1' FOR '", "failed login", " for '", "'", '"', "\\", " ", "  ", "\t", "&",
    ";",
    ",", ":", "=", "{", "}", "x", "Secret123!", "***", "%2A%2A%2A", "$DB_PASS", "${X}", "[REDACTED]", "null",
    "aaaa", "ZZ99", "Tr0ub4dor&3x", "abcdefghijkl12345", "\u00e9", "\x01", "\x7f",
]


def mixed_line(rng: random.Random, pieces: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(pieces))


def long_value(rng: random.Random, size: int) -> str:
    """A long run of one sort: name characters, hex, blanks and words, or @ and : between letters."""
    alphabet = rng.choice(["abcdefghij0123456789_.-", "0123456789abcdef", "ab cd\tef ", "ab@cd:ef",
                           "a\\\"b "])
    return "".join(rng.choice(alphabet) for _ in range(size))


def long_line(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        part = (long_value(rng, rng.randint(300, 3000)) if rng.random() < 0.06
                else rng.choice([mixed_line(rng, rng.randint(1, 12)), rng.choice(REAL_LINES)]))
        parts.append(part)
        length += len(part)
    return "".join(parts)


def corpora() -> dict[str, tuple[list[str], int]]:
    """Lines, and how many finds they hold at least."""
    rng = random.Random(20261207)
    return {
        # auth.log, nginx, JSON, URL, curl and client lines, each alone and three run together
        "real_looking": ([*REAL_LINES, *(" ".join(rng.sample(REAL_LINES, 3)) for _ in range(200))], 150),
        # 4,000 lines of 1 to 40 pieces of every pattern, value and separator glued at random
        "random_mixtures": ([mixed_line(rng, rng.randint(1, 40)) for _ in range(4000)], 1000),
        # 40 lines of 5 to 40 kB (the new scan reads 4 kB windows of 16 kB chunks): log lines,
        # pattern pieces and long runs of name characters, hex, blanks, @ and : or escaped quotes,
        # so that keys, values and quotes cross a window's or a chunk's end
        "long_lines": ([long_line(rng, rng.randint(5000, 40000)) for _ in range(40)], 30),
        # quoted values longer than a window, of escapes, placed so that every byte of an escape,
        # of an opening quote and of a closing one falls on a window's end in turn (a window
        # ending inside an escape once hid a whole mysql -p"..." value: found by the review)
        "window_edges": (window_edge_lines(), 30),
    }


def window_edge_lines() -> list[str]:
    """Keys with quoted values of backslash escapes running past the 4 kB window, shifted byte
    by byte around its end."""
    lines = []
    for key, close in (('mysql -u root -p"Hunter23', '" end'), ('sshpass -p "Hunter23', '" ssh h'),
                       ('cmd --password="Hunter23', '" x'), ('{"password": "Hunter23', '"}'),
                       ("app password='Hunter23", "' x")):
        for shift in range(4):
            lines.append(" " * shift + key + "\\ " * 2100 + close)
            lines.append(" " * shift + key + "a" * 4085 + "\\" + "b" * 8 + close)
    return lines


@pytest.mark.parametrize("awk", AWKS)
@pytest.mark.parametrize("corpus", list(corpora()))
def test_the_scan_prints_what_the_old_scan_printed(awk, corpus):
    # Given real-looking log lines, random mixtures of the patterns' pieces, or long lines
    lines, at_least = corpora()[corpus]
    # When the old and the new scan read them
    old, new = run(awk, old_program(), lines), run(awk, MASK_AWK + SCAN_AWK, lines)
    # Then they print the same finds, excerpts and counts, and they found many
    assert new == old
    assert new.count("\nfind\t") > at_least


SIZE = 4_000_000


def users(count: int) -> str:
    """A JSON array of `count` users with their passwords: `count` hits in one line."""
    return "[" + ",".join(f'{{"user":"u{i}","password":"Secr3t{i}Xy"}}' for i in range(count)) + "]"


# ~4 MB lines: 100,000 hits (JSON, parameters), and what made the old patterns rescan the line.
HOSTILE = {
    "json_hits": lambda: users(100_000),
    "param_hits": lambda: ("pass=x&q=" + "y" * 31) * (SIZE // 40),
    "name_run": lambda: "pass " + "a" * SIZE,
    "curl_options": lambda: "curl " + "-ua" * (SIZE // 3),
    "failed_logins": lambda: "failed login " * (SIZE // 13),
    "url_schemes": lambda: ("http://a:" + "b" * 31) * (SIZE // 40),
    "name_runs_hits": lambda: ("a" * 30 + "_pass=y ") * (SIZE // 38),
}


@pytest.mark.parametrize("awk", AWKS)
@pytest.mark.parametrize("shape", list(HOSTILE))
def test_a_4_mb_line_is_scanned_well_inside_the_probe_deadline(awk, shape):
    # Given one ~4 MB line (the old scan: 15.6 s for 1.3 MB of JSON hits, quadratic, so about
    # 150 s, the probe's deadline, for 4 MB; hours for a 4 MB run of name characters)
    line = HOSTILE[shape]()
    assert len(line) >= 3_900_000
    # When the scan reads it
    started = time.monotonic()
    bound = BOUND_S.get(awk, BOUND_OTHER_S)
    out = run(awk, MASK_AWK + SCAN_AWK, [line, "password=plain1"], timeout=bound + 30)
    took = time.monotonic() - started
    # Then it finishes in a fraction of the deadline, with the line after it read too
    assert took < bound, took
    assert "\nfind\t/var/log/app.log\t2\tparam\tpassword=***\n" in "\n" + out
    if shape in ("json_hits", "param_hits", "name_runs_hits"):
        assert out.startswith("find\t/var/log/app.log\t1\t")


@pytest.mark.parametrize("awk", AWKS)
def test_a_curl_key_runs_to_the_last_user_option_of_the_line(awk):
    # Given a line where a user option's name holds `-u` (`-u-up:`) before a later `curl -u NAME:`:
    # the key `curl[ \t].*(-u...)NAME:` is longest when it runs to the last one (POSIX, and what
    # busybox awk's old scan found); mawk's own matcher stopped at the first `:` there
    line = "x" * 100 + " curl -u-up: curl -u admin:S3cret-pw x"
    # When the scan reads it
    out = run(awk, MASK_AWK + SCAN_AWK, [line])
    # Then the key starts at the first curl (byte 102): the excerpt starts 60 bytes before it
    expected = "find\t/var/log/app.log\t1\tcurl\t…" + "x" * 59 + " curl -u-up: curl -u admin:*** x\n"
    assert out.startswith(expected), out


def test_the_probe_reads_a_4_mb_log_line_well_inside_its_deadline(tmp_path):
    # Given /var/log stand-in holding a log whose one line is a 4.5 MB JSON array of 100,000 users with
    # their passwords, and a small log after it
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "app.log").write_text(HOSTILE["json_hits"]() + "\n")
    (logs / "z.log").write_text("login password=plain1\n")
    check = registry.load(plugins=False).checks["passwords_not_logged"]
    script = check.probes[0].render({**check.default_params(), "paths": [str(logs)], "histories": False})
    # When the probe runs as on a host (sh, grep, mawk or the host's awk)
    started = time.monotonic()
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=BOUND_S["mawk"] + 30,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}, check=False)
    took = time.monotonic() - started
    # Then it ends well inside the deadline and reports both files, the long line's password masked
    assert done.returncode == 0 and took < BOUND_S["mawk"], (took, done.stderr)
    scan = read_scan(done.stdout)
    assert scan.per_file == {str(logs / "app.log"): 1, str(logs / "z.log"): 1}
    assert scan.totals is not None and scan.totals.files == 2
    assert "Secr3t" not in done.stdout and "plain1" not in done.stdout

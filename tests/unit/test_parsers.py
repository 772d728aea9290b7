"""Shared parsers: systemd drop-in order and time spans, multi-file dumps, logrotate includes."""

import fnmatch
import shlex
import subprocess

import pytest

from auditor.parsers import logrotate
from auditor.parsers.conf import (
    glob_pattern,
    shell_words,
    systemd_dropin_order,
    systemd_section,
    systemd_timespan_seconds,
)
from auditor.parsers.files import dump_files_script, parse_dump


@pytest.mark.parametrize("text, seconds", [
    ("5184000", 5184000), ("60d", 60 * 86400), ("2w 3d", 17 * 86400), ("1month", 2629800),
    ("1y", 31557600), ("90days", 90 * 86400), ("1h30min", 5400),
])
def test_time_spans(text, seconds):
    assert systemd_timespan_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "forever", "5 parsecs", "d5"])
def test_not_time_spans(text):
    assert systemd_timespan_seconds(text) is None


def test_dropins_sort_by_name_and_etc_hides_usr_lib():
    # Given the same drop-in name in /usr/lib and /etc, and a non-.conf file
    files = {
        "/etc/systemd/journald.conf": "[Journal]\nMaxRetentionSec=1y\n",
        "/usr/lib/systemd/journald.conf.d/10-vendor.conf": "[Journal]\nMaxRetentionSec=1d\n",
        "/etc/systemd/journald.conf.d/10-vendor.conf": "[Journal]\nStorage=persistent\n",
        "/run/systemd/journald.conf.d/20-run.conf": "[Journal]\nMaxRetentionSec=90d\n",
        "/etc/systemd/journald.conf.d/99-off.conf.disabled": "[Journal]\nMaxRetentionSec=1s\n",
    }
    # When merged the way systemd reads them
    merged = systemd_section(systemd_dropin_order(files, "/etc/systemd/journald.conf"), "Journal")
    # Then /etc's 10-vendor hides /usr/lib's, 20-run comes last, the .disabled file is ignored
    assert merged == {"MaxRetentionSec": "90d", "Storage": "persistent"}


def test_dump_round_trip_on_real_files(tmp_path):
    # Given real files, a directory pulled in by an include, and a path that does not exist
    (tmp_path / "d").mkdir()
    (tmp_path / "main.conf").write_text("include " + str(tmp_path / "d") + "\nrotate 9\n")
    (tmp_path / "d" / "app").write_text("/var/log/app.log {\n  rotate 2\n  daily\n}\n")
    script = dump_files_script(str(tmp_path / "main.conf"), str(tmp_path / "missing"),
                               more_paths=f"awk '$1==\"include\" {{print $2}}' {tmp_path / 'main.conf'}")
    # When the shell helper runs and its output is parsed
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True).stdout
    files, unreadable = parse_dump(out)
    # Then each file comes back whole, once
    assert files[str(tmp_path / "main.conf")].endswith("rotate 9\n")
    assert files[str(tmp_path / "d" / "app")].startswith("/var/log/app.log {")
    assert unreadable == []


def test_logrotate_follows_includes_in_place_and_skips_taboo_files():
    files = {
        "/etc/logrotate.conf": "weekly\nrotate 4\ninclude /etc/logrotate.d\nrotate 99\n"
                               "/var/log/late.log {\n}\n",
        "/etc/logrotate.d/app": "/var/log/app/*.log {\n  daily\n  rotate 30\n  maxage 45\n}\n",
        "/etc/logrotate.d/app.dpkg-old": "/var/log/old.log {\n rotate 1\n}\n",
        "/etc/logrotate.d/inherit": "/var/log/inherit.log {\n  missingok\n}\n",
    }
    config = logrotate.parse(files)
    days = {b.paths[0]: b.retention_days for b in config.blocks}
    # The include is read where it stands: "rotate 99" comes after it
    assert days == {"/var/log/app/*.log": 30, "/var/log/inherit.log": 28, "/var/log/late.log": 693}
    assert "/etc/logrotate.d/app.dpkg-old" not in config.files_read


@pytest.mark.parametrize("line", [
    "/var/log/a.log /var/log/b.log {", "\trotate\t7\r", "size=10M", "/var/log/x\xa0y.log  /var/log/\u2028z",
    "/var/log/\\xff.log", "rotate 4 # four weeks", "/var/log/'my app'/*.log", '"/var/log/a b.log"', "",
    "Ciphers aes256-ctr,aes128-ctr", "AllowUsers a\x0bb c#d", "Banner 'unclosed",
])
def test_shell_words_are_shlex_s_words_with_or_without_its_special_characters(line):
    # Given a config line with or without quotes, backslashes, comments or non-shlex whitespace
    # When it is split into words
    try:
        expected = shlex.split(line, comments=True)
    except ValueError:
        expected = None
    # Then it has shlex's words, or shlex's error, whichever way it was split
    if expected is None:
        with pytest.raises(ValueError):
            shell_words(line)
    else:
        assert shell_words(line) == expected


@pytest.mark.parametrize("globs", [(), ("aes*-cbc", "3des-cbc"), ("*-96*",), ("/opt/x/bin/*", "[ab]?")])
def test_glob_pattern_matches_what_any_of_its_globs_matches(globs):
    # Given globs and names that some of them match
    names = ["aes128-cbc", "aes128-ctr", "3des-cbc", "hmac-md5-96", "/opt/x/bin/a/b", "ax", "c", ""]
    # When they are combined into one pattern
    pattern = glob_pattern(globs)
    # Then it matches exactly the names fnmatchcase matches with one of them (none for no glob)
    assert [n for n in names if pattern.match(n)] == [
        n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]


def test_logrotate_keeps_a_rendered_non_utf8_byte_in_a_path_whole():
    # Given a logrotate line naming a path with a byte the engine rendered as \xff
    files = {"/etc/logrotate.conf": "/var/log/\\xff.log {\n rotate 9\n}\n"}
    # When it is parsed
    config = logrotate.parse(files)
    # Then the backslash is kept, not taken as shlex's escape
    assert [b.paths for b in config.blocks] == [["/var/log/\\xff.log"]]


def test_dump_prints_a_file_once_however_many_ways_lead_to_it(tmp_path):
    # Given a directory named directly and again by the include that more_paths follows
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "app").write_text("rotate 2\n")
    (tmp_path / "main.conf").write_text(f"include {tmp_path / 'd'}\n")
    script = dump_files_script(str(tmp_path / "main.conf"), str(tmp_path / "d"),
                               more_paths=f"awk '$1==\"include\" {{print $2}}' {tmp_path / 'main.conf'}")
    # When it runs
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True).stdout
    # Then the file's header appears once
    assert out.count(f"{tmp_path / 'd' / 'app'}\n") == 1

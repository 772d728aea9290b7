"""What a job's command runs: `auditor.parsers.commands.invocations` sees through the wrappers
people put around backup scripts in crontabs and systemd units."""

from __future__ import annotations

import pytest

from auditor.parsers.commands import MAX_COMMAND_CHARS, Invocation, invocations


@pytest.mark.parametrize(("command", "program", "user"), [
    ("/usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1", "/usr/local/sbin/shop-backup", ""),
    ("su -c '/usr/local/bin/pg-backup --all' postgres", "/usr/local/bin/pg-backup", "postgres"),
    ("su - postgres -c /usr/local/bin/pg-backup", "/usr/local/bin/pg-backup", "postgres"),
    ("su -s /bin/sh backup -c '/opt/b.sh'", "/opt/b.sh", "backup"),
    ("runuser -u postgres -- /usr/local/bin/pg-backup", "/usr/local/bin/pg-backup", "postgres"),
    ("runuser -l postgres -c 'pg_dumpall > /srv/backup/all.sql'", "pg_dumpall", "postgres"),
    ("sudo -u postgres -H /usr/local/bin/pg-backup", "/usr/local/bin/pg-backup", "postgres"),
    ("sudo -n /usr/local/bin/x", "/usr/local/bin/x", "root"),
    ("sh -c '/usr/local/bin/a --flag'", "/usr/local/bin/a", ""),
    ("bash -e /usr/local/bin/b.sh", "/usr/local/bin/b.sh", ""),
    ("flock -n /run/x.lock /usr/local/bin/y arg", "/usr/local/bin/y", ""),
    ("flock -w 10 /run/x.lock -c '/usr/local/bin/z'", "/usr/local/bin/z", ""),
    ("nice -n 10 ionice -c3 chronic timeout -k 5 2h /usr/local/bin/q", "/usr/local/bin/q", ""),
    ("nice -19 /usr/local/bin/q", "/usr/local/bin/q", ""),
    ("env -i PATH=/bin FOO=bar /usr/local/bin/e", "/usr/local/bin/e", ""),
    ("PGPASSWORD=x nohup /usr/local/bin/n", "/usr/local/bin/n", ""),
    ("python3 -u /opt/backup.py --all", "/opt/backup.py", ""),
    ("chronic su -c \"sh -c 'flock /run/l /usr/local/bin/deep'\" mysql", "/usr/local/bin/deep", "mysql"),
])
def test_wrappers_are_seen_through(command, program, user):
    # Given a job command with wrappers around the program it runs
    # When it is read
    found = invocations(command)
    # Then the program, and the user a wrapper runs it as, come out
    assert [(i.program, i.user) for i in found] == [(program, user)]


def test_lists_and_pipes_give_each_program_in_order():
    # Given Debian's run-parts line and a pipeline with a redirection
    # When they are read
    # Then every simple command is one invocation; redirection targets are not programs
    assert [i.program for i in invocations(
        "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }")] == \
        ["test", "cd", "run-parts"]
    assert invocations("pg_dump shop | gzip > /srv/backup/shop.gz") == [
        Invocation(("pg_dump", "shop")), Invocation(("gzip",))]


def test_commands_that_run_nothing_give_nothing():
    # Given wrappers with no command after them
    # Then nothing runs
    assert invocations("su -") == [] and invocations("ionice -p 42 -c3") == [] and invocations("") == []


def test_an_unbalanced_quote_is_read_word_by_word():
    # Given a command whose quote never closes (cron would fail to run it; the auditor must not crash)
    # Then its words still come out, quotes dropped (`--now` is then sh's $0, as sh would take it)
    assert invocations('sh -c "/usr/local/sbin/backup-blob --now') == [
        Invocation(("/usr/local/sbin/backup-blob",))]


def test_reading_is_bounded():
    # Given a command of a million characters with 200 000 simple commands, and deep nesting
    huge = "a;" * 500_000
    nested = "sh -c " * 50 + "/usr/local/bin/x"
    # When they are read
    found = invocations(huge)
    # Then only the first MAX_COMMAND_CHARS are read, and nesting stops at its bound
    assert len(found) == MAX_COMMAND_CHARS // 2
    assert len(invocations(nested)) <= 1

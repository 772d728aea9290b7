"""Checks read their tab-separated probe lines through parsers.rows: a line they do not
understand is one `error` naming the probe, never a guess and never a crash."""

from __future__ import annotations

import pytest

from auditor.check import Outputs, ProbeOutput, Result, Status
from auditor.engine import registry

# (check, the probe given a stray line, a line it does not understand)
STRAY = [
    ("monitoring", "units", "unit\tnode_exporter.service"),  # a unit line without its state
    ("auth_logging", "records", "count\tjournal"),  # a count without its number
    ("passwords_not_logged", "scan", "files\t3\tnot-a-number\t0\t0"),
    ("passwords_not_logged", "scan", "leak\t/var/log/x"),  # an unknown tag
]

# What the check reads before the probe under test: a process list with its header.
READABLE = {"monitoring": {"processes": "    PID USER                             COMM ARGS\n"}}


def judge(check_id: str, stdouts: dict[str, str]) -> Result:
    check = registry.load(plugins=False).checks[check_id]
    outputs = Outputs({p.name: ProbeOutput(p.name, stdouts.get(p.name, ""), "", 0, None)
                       for p in check.probes})
    return check.judge(outputs, check.default_params(), crash=True)


@pytest.mark.parametrize(("check_id", "probe", "line"), STRAY)
def test_a_line_the_check_does_not_understand_is_an_error_naming_the_probe(check_id: str, probe: str,
                                                                          line: str) -> None:
    # Given a probe output holding one line the check's reader does not understand
    # When the check judges it
    got = judge(check_id, {**READABLE.get(check_id, {}), probe: line + "\n"})
    # Then the verdict is error, naming the probe and quoting the line
    assert got.status is Status.ERROR, got
    assert got.summary.startswith(f"unexpected line from the {probe} probe: "), got.summary
    assert repr(line)[:20] in got.summary


def test_log_retention_skips_a_stray_on_disk_line_and_keeps_a_file_name_with_a_tab() -> None:
    # Given an on_disk output with a file whose name holds a tab, and the tail of a name cut by a newline
    on_disk = ("now\t1000000000\nfiles\t2\nfile\t900000000\t/var/log/odd\tname.log\nname-tail\n"
               "machine_id\t800000000\n")
    # When log_retention judges it with no logrotate configuration and a persistent journal
    got = judge("log_retention", {"on_disk": on_disk, "journald": ""})
    # Then the stray line is ignored and the oldest file keeps its whole name
    assert "oldest log file: /var/log/odd\tname.log (1157 days old)" in got.details, got.details

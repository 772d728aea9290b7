"""ssh_hardening's verdict on a listening sshd does not carry the count of connections that were
being authenticated when the audit looked: the same daemon audited twice reads the same."""

from __future__ import annotations

import yaml

from tests.unit.test_check_cases import CASES_DIR, run_case

CASE = CASES_DIR / "ssh_hardening" / "pass_two_daemons_hardened.yaml"


def test_a_listener_busy_with_logins_reads_as_the_same_listener_idle():
    # Given a recorded audit of two listening daemons, idle ("0 of 10-100 startups"), and the
    # same recording as sshd titles it while three logins are being authenticated
    idle = yaml.safe_load(CASE.read_text())
    busy = yaml.safe_load(CASE.read_text())
    for output in busy["outputs"].values():
        output["stdout"] = output["stdout"].replace("[listener] 0 of 10-100 startups",
                                                    "[listener] 3 of 10-100 startups")
    assert busy != idle  # the recording does hold listener titles
    # When each is judged
    seen_idle, seen_busy = run_case("ssh_hardening", idle), run_case("ssh_hardening", busy)
    # Then the verdicts are the same to the letter, and no detail carries the passing count
    assert (seen_busy.status, seen_busy.summary, seen_busy.details, seen_busy.values) == \
        (seen_idle.status, seen_idle.summary, seen_idle.details, seen_idle.values)
    assert not any("startups" in line for line in seen_idle.details), seen_idle.details
    assert any("[listener]" in line for line in seen_idle.details), seen_idle.details

"""Per-claim verdicts from a run's results: pass only when every applicable host ran and passed."""

from __future__ import annotations

from auditor.check import Status
from auditor.model import (
    AuditedPolicy,
    CheckInfo,
    CheckResult,
    Claim,
    EvidenceRef,
    HostReport,
    Policy,
    RunReport,
)
from auditor.policy.verdicts import NOT_RUN, Verdict, judge, judge_claim

HASHING = Claim(
    "salted-password-hashing",
    "Hasła są solone.",
    "Passwords are salted.",
    checks={"password_hashing": {}, "app_password_hashing": {}},
)
LOGS = Claim("log-retention", "Dzienniki 60 dni.", checks={"log_retention": {"min_days": 60}})
BREACH = Claim("breach-notification-72h", "72 godziny.", manual="The incident-response procedure.")
VAGUE = Claim("we-care", "Dbamy o dane.")


def result(
    check_id: str, status: Status, summary: str = "", probes: tuple[str, ...] = ("p",), host: str = "h"
) -> CheckResult:
    evidence = tuple(
        EvidenceRef(f"{check_id}.{p}", f"evidence/{host}/{check_id}.{p}.json", "0" * 64, 1) for p in probes
    )
    return CheckResult(check_id, check_id, status, summary or f"{check_id} {status.value}", evidence=evidence)


def host(name: str, *results: tuple[str, Status], reachable: bool = True, summary: str = "") -> HostReport:
    built = tuple(result(check_id, status, summary, host=name) for check_id, status in results)
    return HostReport(
        name,
        "10.0.0.1",
        "ssh",
        reachable,
        None if reachable else "connection refused",
        None if reachable else "unreachable",
        {},
        built,
        1.0,
    )


def report(
    *hosts: HostReport,
    claims: tuple[Claim, ...] = (HASHING, LOGS, BREACH, VAGUE),
    applies: dict[str, tuple[str, ...]] | None = None,
    selected: tuple[str, ...] = ("app_password_hashing", "log_retention", "password_hashing"),
) -> tuple[RunReport, AuditedPolicy]:
    policy = Policy("shop", "Shop", "shop.txt", "pl", claims, "policy.yaml", "0" * 64)
    names = tuple(h.name for h in hosts)
    audited = AuditedPolicy(policy, applies or {c.id: names for c in claims}, selected)
    checks = tuple(CheckInfo(c, c, (), ("ISO27001:2022 A.8.15",), "") for c in sorted(selected))
    run = RunReport(
        "20260101T000000Z-abcdef",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "0.1.0",
        "me@here",
        "inv.yaml",
        "0" * 64,
        checks,
        hosts,
        True,
        policy=audited,
    )
    return run, audited


PASS_BOTH = (
    ("password_hashing", Status.PASS),
    ("app_password_hashing", Status.PASS),
    ("log_retention", Status.PASS),
)


def test_a_claim_holding_on_every_host_passes_and_links_its_results():
    # Given two hosts where every check passes
    run, audited = report(host("web1", *PASS_BOTH), host("web2", *PASS_BOTH))
    # When the hashing claim is judged
    verdict = judge_claim(run, audited, HASHING)
    # Then it passes on both, linking each result card and citing the evidence
    assert verdict.verdict is Verdict.PASS and verdict.summary == "holds on both hosts"
    assert [(r.host, r.check_id, r.anchor) for r in verdict.results] == [
        ("web1", "password_hashing", "host-1-password_hashing"),
        ("web1", "app_password_hashing", "host-1-app_password_hashing"),
        ("web2", "password_hashing", "host-2-password_hashing"),
        ("web2", "app_password_hashing", "host-2-app_password_hashing"),
    ]
    assert verdict.evidence == (
        "evidence/web1/app_password_hashing.p.json",
        "evidence/web1/password_hashing.p.json",
        "evidence/web2/app_password_hashing.p.json",
        "evidence/web2/password_hashing.p.json",
    )
    assert verdict.counts == {"pass": 4}


def test_a_check_skipped_on_every_host_leaves_a_multi_check_claim_not_verified():
    # Given app_password_hashing skipped everywhere (no application database) while password_hashing passes:
    # the promise is about customer passwords, and only /etc/shadow was read
    partly = (("password_hashing", Status.PASS), ("app_password_hashing", Status.SKIP))
    run, audited = report(host("web1", *partly), host("web2", *partly, summary="no database"))
    # When the claim is judged
    verdict = judge_claim(run, audited, HASHING)
    # Then it is not verified, naming the check that applied nowhere and why
    assert verdict.verdict is Verdict.NOT_VERIFIED
    assert verdict.summary == "not verified: app_password_hashing: not applicable on any host"
    run, audited = report(host("web1", *partly, summary="no application database configured"))
    assert judge_claim(run, audited, HASHING).summary == (
        "not verified: app_password_hashing: not applicable on any host (no application database configured)")
    # But a failure elsewhere still fails the claim: a finding is never hidden behind "not verified"
    run, audited = report(host("web1", ("password_hashing", Status.FAIL),
                               ("app_password_hashing", Status.SKIP)))
    assert judge_claim(run, audited, HASHING).verdict is Verdict.FAIL


def test_each_check_answering_on_some_host_passes_and_names_where_it_was_skipped():
    # Given app_password_hashing answering on web1 only, password_hashing on both
    run, audited = report(
        host("web1", ("password_hashing", Status.PASS), ("app_password_hashing", Status.PASS)),
        host("web2", ("password_hashing", Status.PASS), ("app_password_hashing", Status.SKIP)),
    )
    # When the claim is judged, Then it passes and says where a check did not apply
    verdict = judge_claim(run, audited, HASHING)
    assert verdict.verdict is Verdict.PASS
    assert verdict.summary == ("holds on both hosts; skipped: app_password_hashing "
                               "(app_password_hashing skip)")
    # And a host where every check is skipped counts as not applicable there
    run, audited = report(
        host("web1", ("password_hashing", Status.PASS), ("app_password_hashing", Status.PASS)),
        host("web2", ("password_hashing", Status.SKIP), ("app_password_hashing", Status.SKIP)),
    )
    verdict = judge_claim(run, audited, HASHING)
    assert verdict.verdict is Verdict.PASS
    assert verdict.summary.startswith("holds on 1 of 2 hosts (not applicable on web2); skipped: ")
    # And a single-check claim skipped on some hosts and passing on others still passes
    run, audited = report(host("web1", ("log_retention", Status.PASS)),
                          host("web2", ("log_retention", Status.SKIP), summary="no logs configured"))
    verdict = judge_claim(run, audited, LOGS)
    assert verdict.verdict is Verdict.PASS
    assert verdict.summary == "holds on 1 of 2 hosts (not applicable on web2); skipped: log_retention " \
                              "(no logs configured)"
    # But when every result is skip, the claim is not verified, with the one reason given
    run, audited = report(host("web1", ("log_retention", Status.SKIP), summary="no logs configured"))
    verdict = judge_claim(run, audited, LOGS)
    assert verdict.verdict is Verdict.NOT_VERIFIED
    assert verdict.summary == "not verified: log_retention: not applicable on any host (no logs configured)"


def test_a_result_run_with_another_claims_parameters_does_not_answer_the_claim():
    # Given two claims on data_retention: one names no period ({}), the other 730 days; the plan found that
    # on web1 the check ran with the sibling's 730
    any_period = Claim("data-retention", "Dane usuwamy.", checks={"data_retention": {}})
    billing = Claim("billing-2-years", "Faktury 2 lata.", checks={"data_retention": {"max_age_days": 730}})
    run, audited = report(host("web1", ("data_retention", Status.PASS)), claims=(any_period, billing),
                          selected=("data_retention",))
    reason = ("data_retention ran with max_age_days = 730 set by claim billing-2-years (this claim alone: 0)")
    audited = AuditedPolicy(audited.policy, audited.claim_hosts, audited.checks_selected,
                            {("data-retention", "web1", "data_retention"): reason})
    # When both claims are judged
    mine, sibling = judge_claim(run, audited, any_period), judge_claim(run, audited, billing)
    # Then the claim whose own parameters were not used is not verified there, naming the claim that set them
    assert mine.verdict is Verdict.NOT_VERIFIED
    assert mine.summary == f"not verified on 1 of 1 host: web1: {reason}"
    assert [(r.status, r.anchor) for r in mine.results] == [("not_verified", "host-1-data_retention")]
    # And the claim that set them keeps its verdict
    assert sibling.verdict is Verdict.PASS


def test_a_host_error_is_labelled_as_such_not_as_unreachable():
    # Given a host that was reached but whose run ended in an error
    reached = HostReport("web1", "10.0.0.1", "ssh", True, "batch timed out", "timeout", {},
                         (result("log_retention", Status.ERROR, host="web1"),), 1.0)
    run, audited = report(reached)
    # When the claim is judged, Then the host is named with a host error, not as unreachable
    assert judge_claim(run, audited, LOGS).summary == (
        "could not be determined on 1 of 1 host: web1 (host error)")


def test_a_failure_on_one_host_fails_the_claim_naming_it_even_when_another_errs():
    run, audited = report(
        host("web1", ("log_retention", Status.PASS)),
        host("db1", ("log_retention", Status.FAIL)),
        host("dead", ("log_retention", Status.ERROR), reachable=False),
    )
    verdict = judge_claim(run, audited, LOGS)
    assert verdict.verdict is Verdict.FAIL and verdict.summary == "fails on 1 of 3 hosts: db1"
    assert verdict.hosts_by_state == {"pass": ("web1",), "fail": ("db1",), "error": ("dead",)}


def test_an_unreachable_host_makes_the_claim_undetermined_never_pass():
    run, audited = report(
        host("web1", ("log_retention", Status.PASS)),
        host("dead", ("log_retention", Status.ERROR), reachable=False),
    )
    verdict = judge_claim(run, audited, LOGS)
    assert verdict.verdict is Verdict.ERROR
    assert verdict.summary == "could not be determined on 1 of 2 hosts: dead (unreachable)"


def test_a_host_key_or_login_failure_is_named_as_such_not_as_unreachable():
    # Given one host whose key was not trusted and one whose login was refused (review R4 finding 12)
    def refused(name: str, kind: str) -> HostReport:
        return HostReport(name, "10.0.0.1", "ssh", False, "refused", kind, {},
                          (result("log_retention", Status.ERROR, host=name),), 1.0)

    run, audited = report(refused("db1", "host-key"), refused("db2", "authentication"))
    # When the claim is judged, Then each host carries the reason the run could not connect
    assert judge_claim(run, audited, LOGS).summary == (
        "could not be determined on 2 of 2 hosts: db1 (host key not trusted), db2 (login refused)")
    # And an identity file that cannot be used is named as such
    run, audited = report(refused("db3", "key-file"))
    assert judge_claim(run, audited, LOGS).summary == (
        "could not be determined on 1 of 1 host: db3 (identity file unusable)")


def test_the_wording_names_one_host_says_both_for_two_and_all_n_beyond():
    # Given a claim passing on one host, on two, and on three
    for names, claim_summary, where in (
        (("web1",), "holds on web1", "on web1"),
        (("web1", "web2"), "holds on both hosts", "on both hosts"),
        (("web1", "web2", "web3"), "holds on all 3 hosts", "on all 3 hosts"),
    ):
        run, audited = report(*(host(n, *PASS_BOTH) for n in names), claims=(LOGS, BREACH))
        # When the policy is judged
        verdicts = judge(run, audited)
        # Then neither "all 2 hosts" nor "the one host" appears
        assert verdicts.claims[0].summary == claim_summary
        assert verdicts.headline == f"1 of 2 promises hold {where}; 1 cannot be verified by a server"


def test_checks_that_never_ran_leave_the_claim_not_verified():
    # Given --check left log_retention out: it has no result on the host the claim applies to
    run, audited = report(host("web1", ("password_hashing", Status.PASS)), selected=("password_hashing",))
    verdict = judge_claim(run, audited, LOGS)
    assert verdict.verdict is Verdict.NOT_VERIFIED
    assert verdict.summary == ("not verified: log_retention did not run on 1 of 1 host: web1 "
                               "(not selected by --check)")
    assert [(r.status, r.anchor) for r in verdict.results] == [(NOT_RUN, "")]
    # And a check that was selected but has no result is not blamed on --check
    run, audited = report(host("web1", ("password_hashing", Status.PASS)))
    assert judge_claim(run, audited, LOGS).summary.endswith("web1 (no result recorded)")
    # And a claim that applies to no audited host is not verified either
    run, audited = report(host("web1", *PASS_BOTH), applies={"log-retention": ()})
    assert judge_claim(run, audited, LOGS).summary == "not verified: it applies to none of the audited hosts"


def test_manual_results_waivers_process_promises_and_uncovered_claims():
    # Given a check asking for manual evidence on one host
    run, audited = report(
        host("web1", ("log_retention", Status.MANUAL)), host("web2", ("log_retention", Status.PASS))
    )
    assert judge_claim(run, audited, LOGS).verdict is Verdict.MANUAL
    # A waived result with the rest passing is waived, with the count
    run, audited = report(
        host("web1", ("log_retention", Status.WAIVED)), host("web2", ("log_retention", Status.PASS))
    )
    waived = judge_claim(run, audited, LOGS)
    assert (
        waived.verdict is Verdict.WAIVED and waived.summary == "holds on 1 of 2; waived on 1 of 2 hosts: web1"
    )
    # A process promise is manual; a claim with neither checks nor a note is not covered
    assert judge_claim(run, audited, BREACH).verdict is Verdict.MANUAL
    assert judge_claim(run, audited, VAGUE).verdict is Verdict.NOT_COVERED


def test_the_headline_answers_is_the_policy_true():
    run, audited = report(
        host("web1", *PASS_BOTH),
        host(
            "db1",
            ("password_hashing", Status.PASS),
            ("app_password_hashing", Status.SKIP),
            ("log_retention", Status.FAIL),
        ),
    )
    verdicts = judge(run, audited)
    assert [v.verdict for v in verdicts.claims] == [
        Verdict.PASS,
        Verdict.FAIL,
        Verdict.MANUAL,
        Verdict.NOT_COVERED,
    ]
    assert verdicts.headline == (
        "1 of 4 promises hold on both hosts; 1 fails; 1 cannot be verified by a server; 1 has no check"
    )
    assert verdicts.counts == {
        "pass": 1,
        "fail": 1,
        "error": 0,
        "manual": 1,
        "waived": 0,
        "not_verified": 0,
        "not_covered": 1,
    }


# --------------------------------------------------------------------------
# Review R4 finding 8: a claim card scales to 40 hosts
# --------------------------------------------------------------------------

def test_identical_results_across_hosts_are_one_group_with_the_hosts_as_spans():
    # Given 40 hosts where log_retention errs with one identical summary, and h07 also fails hashing
    names = [f"h{i:02d}" for i in range(1, 41)]
    hosts = [host(n, ("password_hashing", Status.FAIL if n == "h07" else Status.PASS),
                  ("app_password_hashing", Status.PASS), ("log_retention", Status.ERROR),
                  summary="no syslog daemon runs") for n in names]
    run, audited = report(*hosts)
    # When the claims are judged
    logs = judge_claim(run, audited, LOGS)
    hashing = judge_claim(run, audited, HASHING)
    # Then the 40 identical errors are one group, named as a span with the count
    (group,) = logs.problems
    assert (group.check_id, group.status) == ("log_retention", "error")
    assert group.summary == "no syslog daemon runs"
    assert group.hosts == "h01–h40 (40 hosts)" and len(group.results) == 40
    # And the one failure is its own group, worst first, and the 79 passes are grouped apart
    assert [(g.status, g.hosts) for g in hashing.problems] == [("fail", "h07")]
    assert [(g.check_id, g.hosts) for g in hashing.passes] == [
        ("app_password_hashing", "h01–h40 (40 hosts)"), ("password_hashing", "h01–h06, h08–h40 (39 hosts)")]


def test_the_claim_card_shows_one_line_per_distinct_problem_and_collapses_the_passes():
    from auditor.report import html

    # Given the same 40-host run
    hosts = [host(f"h{i:02d}", *PASS_BOTH[:2], ("log_retention", Status.ERROR),
                  summary="no syslog daemon runs") for i in range(1, 41)]
    run, _ = report(*hosts)
    # When report.html is rendered
    page = html.render(run)
    card = page[page.index('id="claim-log-retention"'):page.index('id="claim-breach-notification-72h"')]
    # Then the card holds one status pill and one summary line for the 40 identical errors
    assert card.count('class="badge error"') == 2  # the verdict's and the group's
    assert card.count("no syslog daemon runs") == 1
    assert "<code>log_retention</code> on h01–h40 (40 hosts): no syslog daemon runs" in card
    # And every host's result card is still one click away
    assert all(f'href="#host-{i}-log_retention"' in card for i in range(1, 41))
    hashing = page[page.index('id="claim-salted-password-hashing"'):page.index('id="claim-log-retention"')]
    assert 'class="badge pass"' in hashing and "80 passing result(s)" in hashing
    assert hashing.count('class="badge') == 2  # the verdict's and the collapsed passes'

"""The claims extractor on the five real seed policies, and the shipped claim sets' quotes.

tests/data/policies/*.txt are byte-for-byte copies of the seed policies
(/work/shared/policies); tests/unit/claims_extract_expected.yaml says what must be found in
each and which real sentences must give nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.check import Check
from auditor.engine import registry
from auditor.policy import claims
from auditor.policy.extract import EU_STATES, Finding, draft, find, periods, sentences

TESTS = Path(__file__).resolve().parent.parent
DOCUMENTS = TESTS / "data" / "policies"
EXPECTED: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "claims_extract_expected.yaml").read_text(encoding="utf-8"))
SHIPPED = Path(__file__).resolve().parents[2] / "auditor" / "policy" / "sets"
SHIPPED_DOCUMENTS = {"apifonica": "001", "cloudpbx": "000", "voipstudio": "002", "vipower": "003",
                     "host-tracker": "004"}

def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def document(name: str) -> str:
    return (DOCUMENTS / name).read_text(encoding="utf-8")


def registered_checks() -> dict[str, Check]:
    return dict(registry.load(plugins=False).checks)


def matching(findings: list[Finding], fragment: str) -> list[Finding]:
    return [f for f in findings if normalised(fragment) in normalised(f.sentence)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_promise_of_the_document_is_found_with_its_checks_and_parameters(name: str) -> None:
    # Given a seed policy and the promises claims.md lists for it
    expected = EXPECTED[name]["found"]
    # When the extractor reads it
    findings = find(document(name))
    # Then each promise is found once, with the suggested id, checks and parameters
    for promise in expected:
        hits = matching(findings, promise["sentence"])
        assert len(hits) == 1, f"{name}: {promise['sentence']!r} found {len(hits)} times"
        assert hits[0].claim_id == promise["claim_id"], promise["sentence"]
        assert hits[0].checks == promise["checks"], promise["sentence"]
        assert normalised(hits[0].sentence) in normalised(document(name))  # verbatim
        if not hits[0].checks:
            assert hits[0].manual, f"a process promise needs its manual note: {promise['sentence']!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_nothing_else_is_found(name: str) -> None:
    # Given the complete list of promises the rules should find in a seed policy
    expected = EXPECTED[name]["found"]
    # When the extractor reads it
    findings = find(document(name))
    # Then every finding is one of them (precision on the real text, not only recall)
    unexpected = [f.sentence for f in findings
                  if not any(normalised(p["sentence"]) in normalised(f.sentence) for p in expected)]
    assert unexpected == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sentences_that_promise_nothing_give_no_finding(name: str) -> None:
    # Given real sentences that mention data, passwords, cookies, logins or periods without a measure
    negatives = EXPECTED[name]["nothing"]
    text = document(name)
    findings = find(text)
    for sentence in negatives:
        assert normalised(sentence) in normalised(text), f"not in {name}: {sentence!r}"
        # When the extractor reads the sentence alone, and the whole document
        # Then neither gives a claim for it
        assert find(sentence) == [], sentence
        assert not [f for f in findings if normalised(sentence) in normalised(f.sentence)
                    or normalised(f.sentence) in normalised(sentence)], sentence


def test_at_least_fifteen_tricky_negatives_across_the_documents() -> None:
    # Given the negative examples  Then there are enough of them to mean something
    assert sum(len(doc["nothing"]) for doc in EXPECTED.values()) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_draft_is_a_claims_file_in_the_agreed_format(name: str) -> None:
    # Given a seed policy
    text = document(name)
    # When a draft claims file is written from it
    data = yaml.safe_load(draft(text, name))
    # Then it parses as format 1 with a policy header and one claim per finding
    assert data["format"] == 1
    assert data["policy"] == {"id": name.removesuffix(".txt").replace("_", "-"),
                              "title": data["policy"]["title"], "document": name, "language": "pl"}
    assert data["policy"]["title"] and data["policy"]["title"] in text
    findings = find(text)
    assert len(data["claims"]) == len(findings)
    ids = [claim["id"] for claim in data["claims"]]
    assert len(set(ids)) == len(ids)
    for claim, finding in zip(data["claims"], findings, strict=True):
        assert set(claim) <= {"id", "quote", "gloss", "source", "checks", "manual"}
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", claim["id"])
        assert claim["quote"] == finding.sentence
        assert claim["gloss"]
        assert claim.get("checks") or claim.get("manual")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_draft_loads_with_the_policy_loader(name: str, tmp_path: Path) -> None:
    # Given the draft of a seed policy written to a file
    path = tmp_path / "policy.yaml"
    path.write_text(draft(document(name), name), encoding="utf-8")
    # When the claims-file loader reads it against the check catalogue
    loaded = claims.load(path, registered_checks())
    # Then it loads (no unknown parameter, wrong type or conflicting values), every claim intact
    drafted = yaml.safe_load(path.read_text(encoding="utf-8"))["claims"]
    assert [claim.id for claim in loaded.claims] == [claim["id"] for claim in drafted]


def test_draft_leaves_out_a_parameter_the_document_gives_several_values() -> None:
    # Given Host-Tracker's two retention periods (3 months for trials, 2 years for paid accounts)
    text = document("004_ded56b2f9afc5d44.txt")
    # When drafted
    out = draft(text, "004_ded56b2f9afc5d44.txt")
    claims = {claim["id"]: claim for claim in yaml.safe_load(out)["claims"]}
    # Then neither value is imposed on all hosts (one would be a load error, either would judge the
    # other's data by the wrong period); a comment gives each value and where it belongs
    assert "# data_retention.max_age_days: 92 left out: the document gives 2 different values" in out
    assert "# data_retention.max_age_days: 731 left out: the document gives 2 different values" in out
    # And one claim, the first period's, runs data_retention with no period of its own as
    # data-retention-periods (the id the check declares), listing each source's value
    assert claims["data-retention-periods"]["checks"] == {"data_retention": {}}
    assert "3 miesiące" in claims["data-retention-periods"]["quote"]
    assert ("max_age_days (92 for the data of data-retention-3-months; 731 for the data of "
            "data-retention-2-years)") in claims["data-retention-periods"]["manual"]
    # And the other period is a manual claim naming the value its source must carry: sharing the
    # one run would let its verdict speak for a period no source was given
    assert "checks" not in claims["data-retention-2-years"]
    assert claims["data-retention-2-years"]["manual"] == (
        "Verified by data-retention-periods when the source holding this data in "
        "vars.data_retention.sources carries max_age_days: 731.")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_two_drafted_claims_run_one_check_with_different_parameters(name: str) -> None:
    # Given the draft of a seed policy
    claims = yaml.safe_load(draft(document(name), name))["claims"]
    # When the parameters each claim gives each check are collected
    given: dict[str, set[str]] = {}
    for claim in claims:
        for check, params in (claim.get("checks") or {}).items():
            given.setdefault(check, set()).add(repr(sorted(params.items())))
    # Then each check runs with one set of parameters, a value and {} counting as different
    assert {check: found for check, found in given.items() if len(found) > 1} == {}


def test_a_parameter_one_claim_gives_and_another_leaves_out_is_left_out_of_both() -> None:
    # Given two login promises, one naming the source IP address and one not
    text = ("All login attempts are recorded together with the source IP address.\n\n"
            "Failed logins are recorded in the security log.\n")
    # When drafted
    out = draft(text, "policy.txt")
    claims = yaml.safe_load(out)["claims"]
    # Then neither runs auth_logging with require_source_ip (the one without it would share the run
    # and be judged by it), and a comment says so
    assert [claim["checks"] for claim in claims] == [{"auth_logging": {}}, {"auth_logging": {}}]
    assert "# auth_logging.require_source_ip: true left out: the document gives 2 different values" in out


def test_draft_keeps_a_parameter_its_claims_agree_on() -> None:
    # Given a policy whose only retention period is 90 days  When drafted
    data = yaml.safe_load(draft(document("002_66970adfed2e4ce8.txt"), "002_66970adfed2e4ce8.txt"))
    # Then the claim carries it
    [claim] = [c for c in data["claims"] if c["id"] == "data-retention-90-days"]
    assert claim["checks"] == {"data_retention": {"max_age_days": 90}}


def test_draft_survives_hostile_text_and_file_names() -> None:
    # Given a promise full of YAML and JSON syntax, and a file name with a line break in it
    sentence = 'Hasła są haszowane: "bcrypt" \\ #sól, {a: [b]}, & *ref !tag %x @y `z` \t| > -- ---.'
    name = "evil\nformat: 2\nclaims: [].txt"
    # When drafted
    out = draft(sentence, name)
    data = yaml.safe_load(out)
    # Then the YAML still says what the draft meant: the quote intact, nothing injected
    assert data["format"] == 1
    assert [claim["quote"] for claim in data["claims"]] == [re.sub(r"\s+", " ", sentence)]
    assert data["policy"]["document"] == name


def test_draft_comments_name_the_rule_and_how_a_parameter_was_derived() -> None:
    # Given Apifonica's policy  When drafted
    out = draft(document("001_557037c78cc45bff.txt"), "001_557037c78cc45bff.txt")
    # Then each claim says which rule matched, and year/month conversions are spelled out
    assert out.count("  # rule ") == len(find(document("001_557037c78cc45bff.txt")))
    assert "# rule log-retention (line 163)" in out
    assert "'7 (siedmiu) lat' → 7 × 365.25 = 2556.75, rounded up (a delete-after bound) to 2557 days" in out
    # and the header states the conversion rule once
    assert "# Periods: a month is 30.4375 days and a year 365.25" in out


# --- English rules (no English seed policy: sentences in the style of common policies) ---------

ENGLISH = [
    ("User passwords are hashed with bcrypt and a unique salt.", "salted-password-hashing",
     {"password_hashing": {}, "app_password_hashing": {}}),
    ("Passwords are never logged.", "passwords-not-logged", {"passwords_not_logged": {}}),
    ("All login attempts are recorded together with the source IP address.", "login-attempts-logged",
     {"auth_logging": {"require_source_ip": True}}),
    ("Server logs are retained for 90 days.", "log-retention", {"log_retention": {"min_days": 90}}),
    ("Account data is deleted 3 months after the account is closed.", "data-retention-3-months",
     {"data_retention": {"max_age_days": 92}}),
    ("Invoices are kept for seven years.", "data-retention-7-years",
     {"data_retention": {"max_age_days": 2557}}),
    ("We back up all customer data daily.", "daily-backup", {"backups": {"max_age_hours": 26}}),
    ("All traffic to our website is encrypted with TLS.", "https-in-transit", {"tls": {}}),
    ("All laptops use full-disk encryption.", "disk-encryption", {"disk_encryption": {}}),
    ("All server disks are fully encrypted.", "disk-encryption", {"disk_encryption": {}}),
    ("Security: All customer data is encrypted at rest.", "disk-encryption", {"disk_encryption": {}}),
    ("Our infrastructure is monitored 24/7.", "monitoring-24-7", {"monitoring": {}}),
    ("Access to our database servers is restricted at the network level by firewalls.",
     "database-network-restricted", {"db_network_restricted": {}}),
    ("Your data is stored exclusively in the European Economic Area.", "data-in-eea", {"data_residency": {}}),
    ("Card numbers are encrypted in our database.", "card-data-encrypted", {"app_data_encryption": {}}),
    ("We will notify affected users of a breach within 72 hours.", "breach-notification-72h", {}),
    ("Personal data is erased within 10 working days of your request.",
     "deletion-within-10-working-days", {}),
    ("We respond to every request within 30 days.", "requests-answered-30-days", {}),
]
NOTHING = [
    "You can change your password at any time in your account settings.",
    "We may use your data for marketing purposes.",
    "Cookies are small text files stored on your computer.",
    "Personal data means any information relating to an identified person.",
    "SSL: a protocol that encrypts the connection between your browser and a server.",
    "Card numbers are not encrypted in the database yet.",
    "Backup drives are not encrypted.",
    "Passwords are stored in plain text.",
    "Nie używamy jeszcze protokołu HTTPS.",
    "Numery kart nie są szyfrowane w bazie danych.",
    "Dyski serwerów nie są zaszyfrowane.",
    "Security is very important to us.",
    "This policy was last updated in 2023.",
    "Visit https://example.com to learn more.",
]


@pytest.mark.parametrize(("sentence", "claim_id", "checks"), ENGLISH)
def test_english_rules(sentence: str, claim_id: str, checks: dict[str, Any]) -> None:
    # Given an English promise  When extracted
    findings = find(sentence)
    # Then it gives one claim with the suggested id, checks and parameters
    assert [(f.claim_id, f.checks) for f in findings] == [(claim_id, checks)]


@pytest.mark.parametrize("sentence", NOTHING)
def test_sentences_that_promise_nothing_or_deny_a_measure(sentence: str) -> None:
    # Given a sentence about passwords, data, cookies or security without a measure, or denying one
    # When extracted  Then nothing is found
    assert find(sentence) == []


def test_english_policy_is_detected_as_english() -> None:
    # Given an English policy text  When drafted  Then its language is en
    text = "Privacy Policy\n\n" + "\n\n".join(sentence for sentence, _, _ in ENGLISH)
    header = yaml.safe_load(draft(text, "https://example.com/privacy.html"))["policy"]
    assert header == {"id": "privacy", "title": "Privacy Policy", "document": "privacy.html",
                      "language": "en"}


# --- splitting and numbers --------------------------------------------------------------------

def test_abbreviations_and_initials_do_not_end_a_sentence() -> None:
    # Given Polish text with np., tj., m.in., ust., r. and initials
    text = ("Spółka G. Iwaniec S. Bober sp. j. działa od 2019 r. Dane, np. Trial, są przechowywane przez "
            "3 miesiące, tj. Klient wie o tym. Zgodnie z art. 6 ust. 1 pkt. B przetwarzamy m.in. Adresy.\n"
            "- Hasła nie są rejestrowane.\n- Kopia zapasowa jest wykonywana codziennie.\n")
    # When split
    found = [sentence for sentence, _, _ in sentences(text)]
    # Then only real sentence ends and list items split it
    assert found == [
        "Spółka G. Iwaniec S. Bober sp. j. działa od 2019 r. Dane, np. Trial, są przechowywane przez "
        "3 miesiące, tj. Klient wie o tym.",
        "Zgodnie z art. 6 ust. 1 pkt. B przetwarzamy m.in. Adresy.",
        "Hasła nie są rejestrowane.",
        "Kopia zapasowa jest wykonywana codziennie.",
    ]


def test_a_sentence_cut_by_a_blank_line_is_joined_again() -> None:
    # Given a sentence broken by a stray blank line, as in Apifonica's text
    text = "Dzienniki aplikacji są przechowywane\n\nprzez 60 dni.\n\nInny akapit."
    # When found  Then the whole sentence is the quote, on the line it starts
    [finding] = find(text)
    assert (finding.sentence, finding.line, finding.checks) == (
        "Dzienniki aplikacji są przechowywane przez 60 dni.", 1, {"log_retention": {"min_days": 60}})


def test_each_finding_names_the_line_its_sentence_starts_on() -> None:
    # Given a paragraph wrapped over three lines, its promise starting on the second
    text = "Dbamy o dane.\nWszystkie\n\n\nkomputery posiadają zaszyfrowane dyski.\n"
    # When found  Then the finding points at line 2, where a reader finds the quote
    found = [(f.line, f.sentence) for f in find(text)]
    assert found == [(2, "Wszystkie komputery posiadają zaszyfrowane dyski.")]


@pytest.mark.parametrize(("phrase", "at_least", "at_most"), [
    ("przez 60 dni", 60, 60), ("przez 1 dzień", 1, 1), ("przez sześćdziesiąt dni", 60, 60),
    ("przez 3 miesiące", 91, 92), ("przez 6 miesięcy", 182, 183), ("przez 1 miesiąc", 30, 31),
    ("przez 12 miesięcy", 365, 366), ("przez 2 lata", 730, 731), ("przez 5 lat", 1826, 1827),
    ("przez 1 rok", 365, 366), ("do 7 (siedmiu) lat", 2556, 2557), ("for 2 weeks", 14, 14),
    ("for seven years", 2556, 2557), ("for 90 days", 90, 90),
])
def test_periods_in_polish_and_english(phrase: str, at_least: int, at_most: int) -> None:
    # Given a period as policies write it  When parsed
    [period] = periods(phrase)
    # Then it is counted by the average calendar month (30.4375 d) and year (365.25 d), rounded
    # down for a keep-at-least bound and up for a delete-after bound, so no calendar period of
    # that length is judged wrong either way
    assert (period.days_at_least, period.days_at_most) == (at_least, at_most)


@pytest.mark.parametrize(("sentence", "checks"), [
    ("Logi serwerów są przechowywane przez 12 miesięcy.", {"log_retention": {"min_days": 365}}),
    ("Server logs are kept for at least 1 year.", {"log_retention": {"min_days": 365}}),
    ("Dane konta są usuwane 3 miesiące po jego zamknięciu.", {"data_retention": {"max_age_days": 92}}),
    ("Trial data is kept for 2 years.", {"data_retention": {"max_age_days": 731}}),
    ("Invoices are retained for 7 years.", {"data_retention": {"max_age_days": 2557}}),
])
def test_a_keep_at_least_period_rounds_down_and_a_delete_after_period_rounds_up(
        sentence: str, checks: dict[str, Any]) -> None:
    # Given a log period (a lower bound: 360–364 days of logs must not pass "12 months") or a data
    # period (an upper bound: rows 91–92 days old are allowed under "3 months")
    # When extracted
    [finding] = find(sentence)
    # Then the days are the average calendar length rounded the safe way for that bound
    assert finding.checks == checks


@pytest.mark.parametrize("phrase", [
    "Zacznij darmowy 30 dniowy okres próbny",  # an adjective, not a retention period
    "Dane są przechowywane do końca 2025 roku.",  # a calendar year
    "Our staff listen days and nights.",  # "ten" inside "listen" is no number
])
def test_what_is_not_a_period(phrase: str) -> None:
    # Given a phrase with a number-like word near a unit  When parsed  Then no period is read
    assert periods(phrase) == []


# --- shipped claim sets -----------------------------------------------------------------------

@pytest.mark.parametrize("set_id", sorted(SHIPPED_DOCUMENTS))
def test_shipped_set_quotes_its_document_verbatim(set_id: str) -> None:
    # Given a shipped claim set and the policy it quotes
    data = yaml.safe_load((SHIPPED / f"{set_id}.yaml").read_text(encoding="utf-8"))
    [source] = DOCUMENTS.glob(f"{SHIPPED_DOCUMENTS[set_id]}_*.txt")
    assert data["policy"]["document"] == source.name
    text = normalised(source.read_text(encoding="utf-8"))
    # Then every quote is in the document, differing at most in whitespace, and has a gloss
    for claim in data["claims"]:
        assert normalised(claim["quote"]) in text, f"{set_id}: {claim['id']}"
        assert claim["gloss"], f"{set_id}: {claim['id']}"
        assert claim.get("checks") or claim.get("manual"), f"{set_id}: {claim['id']} is not covered"


@pytest.mark.parametrize(("set_id", "claim_id", "check", "params"), [
    ("apifonica", "log-retention", "log_retention", {"min_days": 60}),
    ("apifonica", "daily-backup", "backups", {"max_age_hours": 26, "max_interval_hours": 24}),
    ("apifonica", "data-retention-periods", "data_retention", {}),
    ("voipstudio", "data-retention-periods", "data_retention", {}),
    ("vipower", "login-attempts-logged", "auth_logging", {"require_source_ip": True}),
])
def test_shipped_sets_carry_the_parameters_of_their_promises(set_id: str, claim_id: str, check: str,
                                                             params: dict[str, Any]) -> None:
    # Given a shipped set  When loaded  Then the claim's check carries the parameter its sentence states
    loaded = claims.load(SHIPPED / f"{set_id}.yaml", registered_checks())
    [claim] = [c for c in loaded.claims if c.id == claim_id]
    assert claim.checks[check] == params


# claims.md, row by row: the set, the claim id, and the checks the row names (none: a process promise).
CLAIMS_MD = [
    (1, "apifonica", "salted-password-hashing", {"password_hashing", "app_password_hashing"}),
    (2, "apifonica", "login-attempts-logged", {"auth_logging"}),
    (3, "apifonica", "log-retention", {"log_retention"}),
    (4, "apifonica", "passwords-not-logged", {"passwords_not_logged"}),
    (5, "apifonica", "admin-changes-notified", {"admin_change_audit"}),
    (6, "apifonica", "database-network-restricted", {"db_network_restricted"}),
    (7, "apifonica", "storage-monitored", {"monitoring"}),
    (8, "apifonica", "daily-backup", {"backups"}),
    (9, "vipower", "https-in-transit", {"tls"}),
    (10, "vipower", "disk-encryption", {"disk_encryption"}),
    (11, "vipower", "monitoring-24-7", {"monitoring"}),
    (12, "vipower", "login-attempts-logged", {"auth_logging"}),
    (13, "cloudpbx", "encryption-and-access-control", {"tls", "disk_encryption", "ssh_hardening"}),
    (14, "host-tracker", "card-data-encrypted", {"tls", "app_data_encryption"}),
    (15, "voipstudio", "data-in-eea", {"data_residency"}),
    # One claim per set runs data_retention; each period is a manual claim naming its source's value.
    (16, "voipstudio", "data-retention-periods", {"data_retention"}),
    (16, "voipstudio", "data-retention-marketing-90-days", set()),
    (16, "host-tracker", "data-retention-periods", {"data_retention"}),
    (16, "host-tracker", "data-retention-trial-3-months", set()),
    (16, "host-tracker", "data-retention-paid-2-years", set()),
    (16, "apifonica", "data-retention-periods", {"data_retention"}),
    (16, "apifonica", "data-retention-other-2-years", set()),
    (16, "apifonica", "data-retention-billing-7-years", set()),
    (0, "host-tracker", "breach-notification-72h", set()),
    (0, "host-tracker", "deletion-within-5-working-days", set()),
    (0, "apifonica", "requests-answered-30-days", set()),
]


@pytest.mark.parametrize(("row", "set_id", "claim_id", "checks"), CLAIMS_MD)
def test_every_claims_md_promise_is_in_its_shipped_set_with_its_checks(row: int, set_id: str, claim_id: str,
                                                                        checks: set[str]) -> None:
    # Given a promise of claims.md (row 0: the process promises below its table)
    data = yaml.safe_load((SHIPPED / f"{set_id}.yaml").read_text(encoding="utf-8"))
    # When its claim is looked up in the shipped set
    [claim] = [c for c in data["claims"] if c["id"] == claim_id]
    # Then it has exactly the checks claims.md names, and a process promise has its manual note
    assert set(claim.get("checks") or {}) == checks, f"claims.md row {row}"
    if not checks:
        assert claim["manual"]


def shipped_claims(set_id: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((SHIPPED / f"{set_id}.yaml").read_text(encoding="utf-8"))
    claims: list[dict[str, Any]] = data["claims"]
    return claims


@pytest.mark.parametrize("set_id", sorted(SHIPPED_DOCUMENTS))
def test_no_two_claims_of_a_shipped_set_run_one_check_with_different_parameters(set_id: str) -> None:
    # Given a shipped set (its claims all apply to every host)
    claims = shipped_claims(set_id)
    assert all(claim.get("applies_to", ["all"]) == ["all"] for claim in claims)
    # When the parameters each claim gives each check are collected
    given: dict[str, dict[str, list[str]]] = {}
    for claim in claims:
        for check, params in (claim.get("checks") or {}).items():
            given.setdefault(check, {}).setdefault(repr(sorted(params.items())), []).append(claim["id"])
    # Then every check runs with one set of parameters: a claim giving a value and another giving {}
    # would share one run, and the run's verdict would speak for a period the other claim never set
    assert {check: list(by_params.values()) for check, by_params in given.items() if len(by_params) > 1} == {}


@pytest.mark.parametrize("set_id", ["apifonica", "cloudpbx", "host-tracker", "voipstudio"])
def test_one_claim_per_shipped_set_verifies_data_retention(set_id: str) -> None:
    # Given a shipped set whose policy states retention periods  When its claims are read
    running = [claim["id"] for claim in shipped_claims(set_id)
               if "data_retention" in (claim.get("checks") or {})]
    # Then exactly one claim runs data_retention: the one the check declares, with no period of its own
    # (the document gives a period per kind of data; each source carries its own max_age_days)
    assert running == ["data-retention-periods"]
    [claim] = [c for c in shipped_claims(set_id) if c["id"] == "data-retention-periods"]
    assert claim["checks"]["data_retention"] == {}
    assert "data-retention-periods" in registered_checks()["data_retention"].claims


@pytest.mark.parametrize(("set_id", "claim_id"), [
    (set_id, claim["id"]) for set_id in ("apifonica", "host-tracker", "voipstudio")
    for claim in shipped_claims(set_id)
    if claim["id"].startswith("data-retention-") and claim["id"] != "data-retention-periods"])
def test_each_retention_period_claim_names_the_max_age_days_its_source_must_carry(set_id: str,
                                                                                  claim_id: str) -> None:
    # Given a manual claim stating one retention period
    [claim] = [c for c in shipped_claims(set_id) if c["id"] == claim_id]
    assert not claim.get("checks")
    # When its longest period is converted as a delete-after bound (average calendar, rounded up)
    days = max(periods(claim["quote"]), key=lambda p: p.exact_days).days_at_most
    # Then its note says which value the source needs for data-retention-periods to cover it
    assert f"max_age_days: {days}" in normalised(claim["manual"]), claim["manual"]
    assert "data-retention-periods" in claim["manual"]


def test_vipower_set_quotes_every_organisational_and_technical_measure_it_lists() -> None:
    # Given ViPower's list "Opis wdrożonych … środków organizacyjnych i technicznych" (one measure
    # per list item) and its promise never to share customer data with outsiders
    text = document("003_701a9ff8495b998b.txt")
    section = text[text.index("Opis wdrożonych"):]
    measures = [normalised(line.strip("-* \t")) for line in section.splitlines() if line.startswith("- ")]
    assert len(measures) == 14
    promises = measures + [
        "Wszystkie informacje związane z naszymi klientami nie będą nigdy udostępniane osobom postronnym"]
    # When the shipped set's quotes are read
    claims = shipped_claims("vipower")
    quotes = [normalised(claim["quote"]) for claim in claims]
    # Then each promise is quoted by a claim
    assert [p for p in promises if not any(p in quote for quote in quotes)] == []
    # And every physical promise without a check carries a physical control (A.7.x) and a manual note
    physical = [claim for claim in claims if normalised(claim["quote"]) in measures
                and not claim.get("checks") and claim["id"] != "availability-sla"]
    assert len(physical) == 12
    for claim in physical:
        assert any(control.startswith("ISO27001:2022 A.7.") for control in claim["controls"]), claim["id"]
        assert claim["manual"], claim["id"]


# --- review findings: sentences outside the seed policies --------------------------------------
# Written for these tests (not taken from a real policy) in the style of common policies, each
# repeating a wrong or missed finding of the review; the seed documents' expectations above
# must still hold with them fixed.

WRONGLY_FOUND = [
    ("Login attempts are not logged.", []),
    ("Failed sign-ins are never recorded.", []),
    ("Próby logowania nie są rejestrowane.", []),
    ("Kopię zapasową swoich kontaktów możesz pobrać codziennie z panelu klienta.", []),
    ("A backup of your settings can be downloaded every day from the dashboard.", []),
    ("You can export a backup of your account every day.", []),
    ("Kopie zapasowe są przechowywane przez 30 dni.", []),
    ("Backups are retained for 90 days.", []),
    ("We perform daily backups of all customer databases, which are kept for 30 days.",
     [("daily-backup", {"backups": {"max_age_hours": 26}})]),
]
MISSED = [
    ("Faktury przechowujemy przez 5 lat zgodnie z przepisami.",
     [("data-retention-5-years", {"data_retention": {"max_age_days": 1827}})]),
    ("Dane konta są usuwane po 30 dniach od jego zamknięcia.",
     [("data-retention-30-days", {"data_retention": {"max_age_days": 30}})]),
    ("Nieaktywne konta są usuwane po 6 miesiącach.",
     [("data-retention-6-months", {"data_retention": {"max_age_days": 183}})]),
    ("Dane rozliczeniowe są usuwane po 5 latach.",
     [("data-retention-5-years", {"data_retention": {"max_age_days": 1827}})]),
    ("Dane kontaktowe przechowujemy przez rok.",
     [("data-retention-1-year", {"data_retention": {"max_age_days": 366}})]),
    ("Contact data is kept for a year after your last order.",
     [("data-retention-1-year", {"data_retention": {"max_age_days": 366}})]),
    ("Logi serwera przechowujemy przez rok.", [("log-retention", {"log_retention": {"min_days": 365}})]),
    ("We back up every night.", [("daily-backup", {"backups": {"max_age_hours": 26}})]),
    ("Kopia zapasowa serwera wykonywana jest każdej nocy.",
     [("daily-backup", {"backups": {"max_age_hours": 26}})]),
    ("Backups are taken every 24 hours.", [("daily-backup", {"backups": {"max_age_hours": 26}})]),
    ("Przez 24 godziny na dobę monitorujemy dostępność serwerów.", [("monitoring-24-7", {"monitoring": {}})]),
    ("Our servers are monitored 24 hours a day.", [("monitoring-24-7", {"monitoring": {}})]),
    ("Twoje dane nie opuszczają EOG.", [("data-in-eea", {"data_residency": {}})]),
    ("Dane nie są przekazywane poza Europejski Obszar Gospodarczy.",
     [("data-in-eea", {"data_residency": {}})]),
    ("Example Ltd stores data in the EU only.",
     [("data-in-eu", {"data_residency": {"allowed_regions": list(EU_STATES)}})]),
    ("We will delete your data within 30 days.", [("deletion-within-30-days", {})]),
]
STILL_NOTHING = [
    "Sesja wygasa po 30 dniach.",
    "Your session expires after 30 days of inactivity.",
    "Oferta jest ważna przez rok.",
    "The company was founded 10 years ago.",
    "Logs are not kept longer than necessary.",
    "Data may be transferred outside the EU to our US sub-processors under standard contractual clauses.",
    "Our support team is available 24 hours a day.",
    "You can delete your account at any time.",
    "Dane są przechowywane do roku 2030.",
    "We use SSL certificates from Let's Encrypt?",
    "Czy hasła są szyfrowane?",
]


@pytest.mark.parametrize(("sentence", "expected"), WRONGLY_FOUND + MISSED)
def test_review_sentences_give_the_right_claim(sentence: str,
                                               expected: list[tuple[str, dict[str, Any]]]) -> None:
    # Given a sentence the review found misread (a denied or user-side measure, a backup period read as
    # data retention) or missed (przechowujemy, "po 30 dniach", "przez rok", "every night", "24 godziny
    # na dobę", "nie opuszczają EOG", "stores … in the EU only", "delete … within 30 days")
    # When extracted
    findings = find(sentence)
    # Then it gives exactly the expected claims with their parameters, and a process claim its note
    assert [(f.claim_id, f.checks) for f in findings] == expected
    assert all(f.checks or f.manual for f in findings)


@pytest.mark.parametrize("sentence", STILL_NOTHING)
def test_wider_wordings_still_leave_non_promises_alone(sentence: str) -> None:
    # Given a sentence near the widened wordings (a period without retention, support around the clock,
    # a transfer outside the EU, a calendar year)  When extracted  Then nothing is found
    assert find(sentence) == []


def test_a_draft_with_no_findings_says_so_and_shows_a_claim_to_copy(tmp_path: Path) -> None:
    # Given a policy text with no sentence the rules recognise
    text = "Polityka prywatności\n\nDbamy o Twoje dane.\n"
    # When drafted
    out = draft(text, "empty.txt")
    data = yaml.safe_load(out)
    # Then it is a claims file with its header and an empty list, and the comment says why
    assert data["format"] == 1 and data["policy"]["id"] == "empty" and data["claims"] == []
    assert "# No sentence of the document matched the rules" in out
    # And the commented example, uncommented in place of the empty list, loads as it stands
    example = [line.removeprefix("# ") for line in out.splitlines()
               if line == "# claims:" or line.startswith("#   ")]
    edited = out.replace("claims: []\n", "\n".join(example) + "\n")
    path = tmp_path / "policy.yaml"
    path.write_text(edited, encoding="utf-8")
    loaded = claims.load(path, registered_checks())
    assert [(c.id, dict(c.checks), bool(c.manual)) for c in loaded.claims] == [
        ("log-retention", {"log_retention": {"min_days": 60}}, False), ("breach-notification-72h", {}, True)]

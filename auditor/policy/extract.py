"""Draft a claims file from the text of a privacy policy.

`find(text)` splits a policy (Polish or English) into sentences and list items and returns
the ones that promise a technical or auditable measure, each with the rule that matched,
a suggested claim id and the checks with the parameters read from the sentence
("przechowywane przez 60 dni" → `log_retention: {min_days: 60}`). `draft(text, document)`
writes those findings as a claims file in the agreed format (format 1), for a person to
review: the quotes are verbatim, everything else is a suggestion.

Periods in months and years are converted by the average calendar lengths (a month is
30.4375 days, a year 365.25) and rounded so that no calendar period the sentence allows is
judged wrong: DOWN for a keep-at-least bound (`log_retention.min_days`: 12 months → 365,
1 year → 365) and UP for a delete-after bound (`data_retention.max_age_days`: 3 months → 92,
2 years → 731, 7 years → 2557). Counting 30 and 365 days would fail rows 91–92 days old
under "3 months" and pass a 360-day log under "12 months".

A rule is a conjunction of concepts: every pattern in `all_of` must occur in the sentence
and none in `none_of`; each pattern carries its Polish and English wordings (Polish
inflection is matched by stems: `hasł\\w*` for hasło/hasła/haseł). Sentences that define
a term ("Adres IP: …", "… – oznacza …", "… means …") never make a claim. Precision matters
as much as recall: a sentence that only mentions data, passwords, cookies or security,
without a measure, gives nothing.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import PurePath
from typing import Any

CheckParams = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Finding:
    """One sentence that promises a measure, and what a claims file would make of it."""

    sentence: str  # verbatim, whitespace collapsed, list markers removed
    rule: str
    claim_id: str
    checks: CheckParams = field(hash=False)  # check id -> parameters read from the sentence
    line: int  # 1-based line of the text where the sentence starts
    gloss: str = ""
    manual: str = ""  # the evidence to ask for (process promises, and what no server shows)
    note: str = ""  # how a parameter was derived, written as a comment in the draft
    source: str = ""  # the nearest heading above the sentence


# What a rule's extractor returns: checks with parameters, a note, and words for the id and
# gloss templates; None when the sentence lacks what the rule needs (a number, say).
Extracted = tuple[CheckParams, str, dict[str, str]]


@dataclass(frozen=True)
class Rule:
    name: str
    claim_id: str  # may hold {placeholders} filled from the extractor's words
    all_of: tuple[re.Pattern[str], ...]
    checks: CheckParams = field(default_factory=dict, hash=False)
    none_of: tuple[re.Pattern[str], ...] = ()
    extract: Callable[[str], Extracted | None] | None = None
    gloss: str = ""
    manual: str = ""
    describe: str = ""  # one line for the draft's comment: what matched and what it maps to


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --- numbers and periods --------------------------------------------------------------------

_NUMBER_WORDS = {
    "jeden": 1, "jednego": 1, "jedna": 1, "jednej": 1, "one": 1,
    "dwa": 2, "dwie": 2, "dwóch": 2, "two": 2,
    "trzy": 3, "trzech": 3, "three": 3,
    "cztery": 4, "czterech": 4, "four": 4,
    "pięć": 5, "pięciu": 5, "five": 5,
    "sześć": 6, "sześciu": 6, "six": 6,
    "siedem": 7, "siedmiu": 7, "seven": 7,
    "osiem": 8, "ośmiu": 8, "eight": 8,
    "dziewięć": 9, "dziewięciu": 9, "nine": 9,
    "dziesięć": 10, "dziesięciu": 10, "ten": 10,
    "dwanaście": 12, "dwunastu": 12, "twelve": 12,
    "trzydzieści": 30, "trzydziestu": 30, "thirty": 30,
    "sześćdziesiąt": 60, "sześćdziesięciu": 60, "sixty": 60,
    "dziewięćdziesiąt": 90, "dziewięćdziesięciu": 90, "ninety": 90,
}
_NUMBER = r"\b(\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b"
# "7 (siedmiu) lat": the number spelled out again in brackets is skipped.
# Average calendar lengths (Gregorian: 365.25 days a year, a twelfth of it a month); exact
# fractions so that 12 months is exactly 365.25 days before rounding.
_UNIT_DAYS = {"day": Fraction(1), "week": Fraction(7), "month": Fraction("30.4375"),
              "year": Fraction("365.25")}
_PERIOD = _rx(
    _NUMBER + r"\s*(?:\([^)]{0,30}\)\s*)?"
    r"(dni|dnia|dniach|dzień|tydzień|tygodni\w*|miesiąc\w*|miesięcy|miesiące|lat|lata|latach|rok|roku"
    r"|days?|weeks?|months?|years?)\b(?![-‐]?\s*(?:owy|owa|owe|old))"
)
# "przez rok", "po miesiącu", "for a year": one unit with no number; not "do roku 2030".
_ONE_PERIOD = _rx(
    r"\b(?:przez|po|for|after)\s+(?:an?\s+)?(rok|roku|miesiąc|miesiącu|tydzień|tygodniu|dzień|dniu"
    r"|year|month|week|day)\b(?!\s*\d)"
)
_ANY_PERIOD = _rx(f"{_PERIOD.pattern}|{_ONE_PERIOD.pattern}")
_PERIOD_UNIT = (
    ("day", _rx(r"^(dni|dnia|dniach|dzień|dniu|days?)$")),
    ("week", _rx(r"^(tydzień|tygodni\w*|weeks?)$")),
    ("month", _rx(r"^(miesiąc\w*|miesięcy|miesiące|months?)$")),
    ("year", _rx(r"^(lat|lata|latach|rok|roku|years?)$")),
)
_UNIT_WORDS = {"day": ("day", "days"), "week": ("week", "weeks"), "month": ("month", "months"),
               "year": ("year", "years")}


@dataclass(frozen=True)
class Period:
    count: int
    unit: str  # day, week, month, year
    text: str  # as written

    @property
    def exact_days(self) -> Fraction:
        return self.count * _UNIT_DAYS[self.unit]

    @property
    def days_at_least(self) -> int:
        """For a keep-at-least bound (min_days): rounded down, 12 months → 365."""
        return math.floor(self.exact_days)

    @property
    def days_at_most(self) -> int:
        """For a delete-after bound (max_age_days): rounded up, 3 months → 92."""
        return math.ceil(self.exact_days)

    @property
    def words(self) -> str:
        singular, plural = _UNIT_WORDS[self.unit]
        return f"{self.count} {singular if self.count == 1 else plural}"


def _unit(unit_text: str) -> str:
    return next(name for name, pattern in _PERIOD_UNIT if pattern.match(unit_text))


def periods(sentence: str) -> list[Period]:
    """Every "N days/months/years" in the sentence, Polish or English, digits or words, and
    "przez rok" / "for a year" (one unit, no number), in text order."""
    found = []
    for match in _PERIOD.finditer(sentence):
        number, unit_text = match.group(1), match.group(2)
        count = int(number) if number.isdigit() else _NUMBER_WORDS[number.lower()]
        if count >= 1000 and _unit(unit_text) == "year":
            continue  # "do końca 2025 roku" names a calendar year, not a period
        found.append((match.start(), Period(count, _unit(unit_text), match.group(0))))
    found.extend((match.start(), Period(1, _unit(match.group(1)), match.group(0)))
                 for match in _ONE_PERIOD.finditer(sentence))
    return [period for _, period in sorted(found, key=lambda item: item[0])]


def _days_note(period: Period, days: int) -> str:
    exact = period.exact_days
    if exact == days:
        return f"{period.text!r} → {days} days"
    direction = "up (a delete-after bound)" if days > exact else "down (a keep-at-least bound)"
    return (f"{period.text!r} → {period.count} × {float(_UNIT_DAYS[period.unit]):g} = {float(exact):g},"
            f" rounded {direction} to {days} days (average calendar {period.unit})")


def _longest(sentence: str) -> Period | None:
    """The longest period named: for "from 1 month to 1 year", the upper bound."""
    found = periods(sentence)
    return max(found, key=lambda p: p.exact_days) if found else None


# --- extractors -----------------------------------------------------------------------------

def _log_retention(sentence: str) -> Extracted | None:
    period = _longest(sentence)
    if period is None:
        return None
    days = period.days_at_least
    return ({"log_retention": {"min_days": days}}, "min_days from " + _days_note(period, days),
            {"days": str(days)})


def _data_retention(sentence: str) -> Extracted | None:
    period = _longest(sentence)
    if period is None:
        return None
    days = period.days_at_most
    return ({"data_retention": {"max_age_days": days}}, "max_age_days from " + _days_note(period, days),
            {"period": period.words, "slug": period.words.replace(" ", "-")})


_WEEKLY = _rx(r"co tydzień|tygodniow\w*|raz w tygodniu|weekly|every week")


def _backups(sentence: str) -> Extracted | None:
    if _WEEKLY.search(sentence):
        return ({"backups": {"max_age_hours": 170, "max_interval_hours": 168}},
                "weekly → a job at least every 168 h, newest backup younger than 170 h (a week + 2 h)",
                {"every": "week"})
    return ({"backups": {"max_age_hours": 26}},
            "daily → newest backup younger than 26 h (a day and 2 h slack)", {"every": "day"})


_IP = _rx(r"\badres\w* IP\b|\bIP address|\bsource address")


def _auth_logging(sentence: str) -> Extracted | None:
    if _IP.search(sentence):
        return ({"auth_logging": {"require_source_ip": True}}, "the source IP address is promised",
                {"with_ip": " with their source IP address"})
    return ({"auth_logging": {}}, "", {"with_ip": ""})


_EEA = _rx(r"Europejsk\w* Obszar\w* Gospodarcz\w*|\bEOG\b|European Economic Area|\bEEA\b")
# ISO 3166 codes of the EU's 27 member states (the EEA adds IS, LI, NO).
EU_STATES = ("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
             "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK")


def _data_residency(sentence: str) -> Extracted | None:
    if _EEA.search(sentence):
        return ({"data_residency": {}}, "EEA → data_residency's default allowed_regions",
                {"area": "EEA", "area_id": "eea"})
    return ({"data_residency": {"allowed_regions": list(EU_STATES)}},
            "the EU, not the EEA → allowed_regions are the 27 member states", {"area": "EU", "area_id": "eu"})


_TRANSPORT = _rx(r"(?<![/\w])HTTPS(?!:)|\bSSL\b|\bTLS\b|Secure Sockets? Layer|Transport Layer Security")


def _card_data(sentence: str) -> Extracted | None:
    checks: CheckParams = {"app_data_encryption": {}}
    if _TRANSPORT.search(sentence):
        checks["tls"] = {}
    return checks, "", {}


def _process_period(unit_words: str) -> Callable[[str], Extracted | None]:
    """Process promises with a deadline: no checks, the number goes into the id and gloss."""
    pattern = _rx(_NUMBER + r"\s*(?:\([^)]{0,30}\)\s*)?(?:working\s+|business\s+|calendar\s+)?" + unit_words)

    def extract(sentence: str) -> Extracted | None:
        match = pattern.search(sentence)
        if match is None:
            if _rx(r"\bmiesiąc\b|\bone month\b|\ba month\b").search(sentence) and "dni" in unit_words:
                return {}, "a month → 30 days", {"n": "30"}
            return None
        number = match.group(1)
        count = int(number) if number.isdigit() else _NUMBER_WORDS[number.lower()]
        return {}, "", {"n": str(count)}

    return extract


def _deletion(sentence: str) -> Extracted | None:
    extracted = _process_period(r"(?:dni|days?)")(sentence)
    if extracted is None:
        return None
    checks, note, words = extracted
    working = bool(re.search(r"roboczych|working|business", sentence, re.IGNORECASE))
    kind = {"kind": "working-", "kind_en": "working "} if working else {"kind": "", "kind_en": ""}
    return checks, note, words | kind


# --- rules ----------------------------------------------------------------------------------

PASSWORD = _rx(r"\bhas[łl]\w*|\bpasswords?\b")
LOG_WORDS = _rx(r"\bdziennik\w*|\blog(i|ów|ach|ami)?\b|\blogs\b|\blog files?\b|\baudit trail")
KEPT = _rx(r"przechowywan\w*|przechowuj\w*|zachowywan\w*|archiwizowan\w*|kept|retained|stored|held")

# "Nie szyfrujemy …", "… are not encrypted", "unencrypted": the measure is denied, not promised.
NEGATED_MEASURE = _rx(
    r"\bnie\s+(?:\w+\s+){0,2}(?:szyfr|zaszyfr|haszuj|haszowan|używa|używamy|stosuj|obsługuj)\w*"
    r"|\b(?:not|never|no longer)\s+(?:\w+\s+){0,2}(?:encrypt|hash|use|support|salt)\w*|\bunencrypted\b"
    r"|\bwithout (?:any )?encryption|\bin (?:plain ?text|clear ?text)"
)

# "Login attempts are not logged", "Próby logowania nie są rejestrowane": recording denied.
NOT_RECORDED = _rx(
    r"\b(?:not|never)\s+(?:be\s+|been\s+)?(?:logged|recorded)"
    r"|\bnie\s+(?:są|jest|będą|zostaną|zostanie)\s+(?:nigdy\s+)?(?:rejestrowan|zapisywan|odnotowywan)\w*"
)
BACKUP = _rx(r"kopi\w* zapasow\w*|kopi\w* bezpieczeństwa|backup\w*|\bback(?:ed|s)? up\b")

# "24 godziny na dobę", "24 hours a day": around the clock only next to a monitoring word.
_ALL_DAY = r"(?:24\s*godzin\w* na dobę|przez całą dobę|24 hours a day|\b24x7\b)"

RULES: tuple[Rule, ...] = (
    Rule(
        name="password-hashing",
        claim_id="salted-password-hashing",
        all_of=(PASSWORD, _rx(
            r"zabezpieczon\w*|szyfrowan\w*|zaszyfrowan\w*|haszowan\w*|hashowan\w*|skrót\w*"
            r"|ciąg\w* zaburzając\w*|\bsol[ąi]\b|\bsól\b|hash\w*|salt\w*|bcrypt|argon2|scrypt|pbkdf2"
            r"|encrypted")),
        none_of=(NEGATED_MEASURE, _rx(r"\bzmieni\w*|\bzresetow\w*|\bchange your|\breset your|\bforgot")),
        checks={"password_hashing": {}, "app_password_hashing": {}},
        gloss="Passwords are stored as salted hashes.",
        manual="The application's password storage: list its user table under "
               "vars.app_password_hashing.sources, or ask for the hashing code or configuration.",
        describe="passwords hashed/salted → password_hashing (OS) + app_password_hashing (application)",
    ),
    Rule(
        name="passwords-not-logged",
        claim_id="passwords-not-logged",
        all_of=(PASSWORD, _rx(
            r"\bnie\s+(?:są|jest|będą|zostaną|zostanie)\s+(?:nigdy\s+)?"
            r"(?:rejestrowan|zapisywan|logowan|zapisan|przechowywan\w*\s+w\s+(?:dziennik|log))"
            r"|\b(?:never|not)\s+(?:be\s+)?(?:logged|recorded|written to)")),
        checks={"passwords_not_logged": {}},
        gloss="Passwords are never written to logs.",
        describe="passwords not logged → passwords_not_logged",
    ),
    Rule(
        name="login-attempts-logged",
        claim_id="login-attempts-logged",
        all_of=(_rx(r"\blogowa\w*|\bzalogowa\w*|\blog-?ins?\b|\bsign-?ins?\b|\blogon"),
                _rx(r"rejestrowan\w*|odnotowywan\w*|zapisywan\w*|dziennik\w*|\badres\w* IP\b"
                    r"|\blogged\b|\brecorded\b|\bIP address")),
        none_of=(_rx(r"ustawieni\w* logowania|login settings"), NOT_RECORDED),
        extract=_auth_logging,
        gloss="Login attempts are logged{with_ip}.",
        describe="login attempts recorded (with the source IP if named) → auth_logging",
    ),
    Rule(
        name="log-retention",
        claim_id="log-retention",
        all_of=(LOG_WORDS, KEPT, _ANY_PERIOD),
        extract=_log_retention,
        gloss="Logs are kept for {days} days.",
        manual="Logs shipped off the host are kept by the log platform: ask for its retention setting.",
        describe="logs kept N days → log_retention.min_days (average months/years, rounded down)",
    ),
    Rule(
        name="data-retention",
        claim_id="data-retention-{slug}",
        all_of=(_rx(r"przechowywan\w*|przechowuj\w*|przechowamy|przetwarzani\w*.{0,200}ograniczon\w*"
                    r"|usuwan\w*|usuwamy|usuniemy|\bkept\b|\bkeep\b|\bretained\b|\bstored?\b|\bdeleted?\b"
                    r"|\berased?\b|retention|^\s*\d+\s+(?:dni|miesięcy|lat|days|months|years)\s+(?:na|dla|w|for)\b"),
                _ANY_PERIOD),
        # A backup's period is how long copies are kept, not when the data itself is deleted.
        none_of=(LOG_WORDS, BACKUP, _rx(r"w ciągu\s+\d+\s+dni|within\s+\d+\s+(?:working\s+|business\s+)?days"
                                        r"|\bgodzin|\bhours?\b")),
        extract=_data_retention,
        gloss="This data is deleted after {period}.",
        manual="List the application tables holding this data under vars.data_retention.sources, "
               "each query selecting the timestamp the period runs from.",
        describe="data kept N days/months/years → data_retention.max_age_days (average months/years, "
                 "rounded up)",
    ),
    Rule(
        name="daily-backup",
        claim_id="daily-backup",
        all_of=(BACKUP,
                _rx(r"codzienn\w*|dzienn\w*|każdego dnia|co dzień|daily|every day|each day|nightly"
                    r"|każdej nocy|co noc\b|nocn\w*|every night|each night|every 24 hours|co 24 godzin\w*"
                    r"|raz na dobę|once a day|co tydzień|tygodniow\w*|raz w tygodniu|weekly|every week")),
        # "możesz pobrać kopię codziennie", "can be downloaded every day": the user's copy, not ours.
        none_of=(_rx(r"\bpobra\w*|\bpobier\w*|\bściągn\w*|\bdownload\w*|\bexport\w*|\beksport\w*"),),
        extract=_backups,
        gloss="Data is backed up every {every}.",
        manual="The backup tool's job history and the record of the last restore test.",
        describe="backup daily (or weekly) → backups.max_age_hours",
    ),
    Rule(
        name="card-data-encrypted",
        claim_id="card-data-encrypted",
        all_of=(_rx(r"\bkart\w*|kredytow\w*|\bcard\b|\bcards\b|cardholder|credit"),
                _rx(r"szyfrowan\w*|zaszyfrowan\w*|\bencrypted\b"),
                _rx(r"baz\w* danych|przechowywan\w*|database|stored|at rest")),
        none_of=(NEGATED_MEASURE,),
        extract=_card_data,
        gloss="Card data is encrypted in the database.",
        manual="List the tables holding card data under vars.app_data_encryption.sources; ask how "
               "the keys are managed and who can decrypt.",
        describe="card data encrypted in the database → app_data_encryption (+ tls when SSL/TLS is named)",
    ),
    Rule(
        name="https-in-transit",
        claim_id="https-in-transit",
        all_of=(_TRANSPORT,),
        none_of=(NEGATED_MEASURE, _rx(r"\bprotokół SSL\s*:")),
        checks={"tls": {}},
        gloss="Data in transit is protected by HTTPS/TLS.",
        describe="HTTPS/SSL/TLS in transit → tls",
    ),
    Rule(
        name="encrypted-connection",
        claim_id="https-in-transit",
        all_of=(_rx(r"szyfrując\w* połączeni\w*|połączeni\w* szyfrowan\w*|encrypted connections?"
                    r"|encrypted in transit|encryption in transit"),),
        none_of=(NEGATED_MEASURE,),
        checks={"tls": {}},
        gloss="Data in transit is encrypted.",
        describe="encrypted connection → tls",
    ),
    Rule(
        name="encryption-and-access-control",
        claim_id="encryption-and-access-control",
        all_of=(_rx(r"szyfrowani\w*|szyfrowan\w*|\bencryption\b|\bencrypted\b"),
                _rx(r"kontrol\w* dostępu|access control")),
        none_of=(NEGATED_MEASURE,),
        checks={"tls": {}, "disk_encryption": {}, "ssh_hardening": {}},
        gloss="Encryption and access control protect the data.",
        manual="The stages no host shows: the application's permission matrix, encryption of database "
               "connections and backups.",
        describe="encryption and access control → tls + disk_encryption + ssh_hardening",
    ),
    Rule(
        name="disk-encryption",
        claim_id="disk-encryption",
        all_of=(_rx(r"(?:zaszyfrowan\w*|szyfrowan\w*)\s+(?:\w+\s+){0,2}dysk\w*|dysk\w*\s+(?:\w+\s+){0,3}"
                    r"(?:zaszyfrowan\w*|szyfrowan\w*)|encrypted (?:hard )?(?:disks?|drives?|volumes?)"
                    r"|(?:full[- ])?disk encryption|encrypted at rest"
                    r"|(?:disks?|drives?|volumes?|laptops?|computers?)\s+(?:are|is)\s+(?:\w+\s+){0,2}encrypted"),),
        none_of=(NEGATED_MEASURE,),
        checks={"disk_encryption": {}},
        gloss="Disks are encrypted.",
        manual="Company computers that are not audited hosts: the endpoint-management encryption report.",
        describe="encrypted disks → disk_encryption",
    ),
    Rule(
        name="storage-monitored",
        claim_id="storage-monitored",
        all_of=(_rx(r"monitorowan\w*|monitoring\b|\bmonitored\b"),
                _rx(r"magazyn\w*|zasob\w* (?:\w+ ){0,2}danych|dysk\w*|storage|disks?\b")),
        none_of=(_rx(r"budyn\w*|kamer\w*|fizyczn\w* ochron\w*|building|camera|cctv"),),
        checks={"monitoring": {}},
        gloss="Storage resources are monitored.",
        describe="storage monitored → monitoring",
    ),
    Rule(
        name="monitoring-24-7",
        claim_id="monitoring-24-7",
        all_of=(_rx(r"całodobow\w* monitoring\w*|monitoring\w* całodobow\w*|monitorowan\w* całodobow\w*"
                    r"|całodobow\w* monitorowan\w*|\b24/7\b|around the clock|round-the-clock"
                    r"|continuous(?:ly)? monitor\w*|monitoring\w* (?:sieci|systemów)"
                    r"|monitor\w*.{0,60}" + _ALL_DAY + "|" + _ALL_DAY + r".{0,60}monitor\w*"),),
        none_of=(_rx(r"budyn\w*|kamer\w*|fizyczn\w* ochron\w*|building|camera|cctv|\bsupport\b|wsparci\w*"),),
        checks={"monitoring": {}},
        gloss="Systems are monitored around the clock.",
        manual="The on-call rota and the alert routing outside office hours.",
        describe="24/7 monitoring → monitoring",
    ),
    Rule(
        name="database-network-restricted",
        claim_id="database-network-restricted",
        all_of=(_rx(r"baz\w* danych|databases?"),
                _rx(r"ogranicz\w*|restricted|limited|firewall\w*|zapor\w*"),
                _rx(r"\bsieci\w*|network\w*|firewall\w*|zapor\w*")),
        checks={"db_network_restricted": {}},
        gloss="Database servers are reachable only from restricted networks.",
        describe="database access restricted at the network level → db_network_restricted",
    ),
    Rule(
        name="admin-changes-notified",
        claim_id="admin-changes-notified",
        all_of=(_rx(r"\bzmian\w*|\bchanges?\b"),
                _rx(r"uprawnie\w*|\bról\b|\brole\b|jednost\w* administr\w*|kont\w* administr\w*"
                    r"|permissions?|\broles?\b|admin\w* accounts?|privileges?"),
                _rx(r"powiadomie\w*|powiadam\w*|alert\w*|audytowan\w*|notif\w*|audited")),
        checks={"admin_change_audit": {}},
        gloss="Changes to accounts, roles and permissions are notified to staff.",
        manual="The alerting rule for account, role and permission changes and one sample notification.",
        describe="admin changes notified → admin_change_audit",
    ),
    Rule(
        name="data-residency",
        claim_id="data-in-{area_id}",
        all_of=(_rx(r"Europejsk\w* Obszar\w* Gospodarcz\w*|\bEOG\b|Uni\w* Europejsk\w*|\bUE\b"
                    r"|European Economic Area|\bEEA\b|European Union|\bEU\b"),
                _rx(r"przechowywan\w*|przechowuj\w*|przetwarza\w*|przekazywan\w*|opuszcza\w*|stored|processed"
                    r"|hosted|kept|transferred|\bstores?\b|\bkeeps?\b|\bhosts?\b|\bleaves?\b"),
                _rx(r"wyłącznie|jedynie|\btylko\b|wyklucza\w*|na terenie|w obrębie|exclusively|\bonly\b"
                    r"|solely|never\b.{0,30}outside|within the|\bnie\s+opuszcza\w*"
                    r"|\bnie\s+(?:są|jest|będą|zostaną|zostanie)\s+przekazywan\w*\s+poza"
                    r"|\b(?:never|not)\s+(?:be\s+)?(?:leave|transferred)\w*\s+(?:\w+\s+){0,2}outside")),
        none_of=(_rx(r"\bzgod(?:a|y|ę|ą|zie)\b|\bconsent"),),  # not "zgodność" (compliance)
        extract=_data_residency,
        gloss="Personal data stays in the {area}.",
        manual="The region of every data store and backup outside the audited hosts, and the "
               "sub-processors' processing locations.",
        describe="data kept in the EEA/EU → data_residency",
    ),
    Rule(
        name="breach-notification",
        claim_id="breach-notification-{n}h",
        all_of=(_rx(r"naruszeni\w*|breach\w*"),
                _rx(r"informuj\w*|poinformuj\w*|powiadom\w*|zawiadom\w*|notif\w*|inform\b|informed"),
                _rx(_NUMBER + r"\s*(?:\([^)]{0,30}\)\s*)?(?:godzin\w*|hours?)")),
        extract=_process_period(r"(?:godzin\w*|hours?)"),
        gloss="Affected customers are told of a breach within {n} hours.",
        manual="The incident-response procedure naming the {n}-hour notification duty, and the "
               "record of the last breach or exercise with its timeline.",
        describe="breach notified within N hours → process claim (manual)",
    ),
    Rule(
        name="deletion-deadline",
        claim_id="deletion-within-{n}-{kind}days",
        all_of=(_rx(r"usuwan\w*|usunięt\w*|usuniemy|usunąć|deleted?|erased?|removed?"),
                _rx(r"w ciągu\s+" + _NUMBER + r"\s+dni"
                    r"|within\s+" + _NUMBER + r"\s+(?:working\s+|business\s+)?days")),
        extract=_deletion,
        gloss="Personal data is deleted within {n} {kind_en}days of a request.",
        manual="The deletion requests of the last 12 months with request and deletion dates, and "
               "the deletion procedure (including backups).",
        describe="deletion within N (working) days → process claim (manual)",
    ),
    Rule(
        name="requests-deadline",
        claim_id="requests-answered-{n}-days",
        all_of=(_rx(r"żądani\w*|wniosk\w*|prośb\w*|zapytani\w*|requests?\b"),
                _rx(r"odpowiedzi|odpowiemy|przetworzymy|rozpatrz\w*|udziel\w*|respond\w*|answer\w*|reply"),
                _rx(r"(?:\d+|trzydzieści|trzydziestu|thirty)\s*(?:\([^)]{0,30}\)\s*)?(?:dni|days?)\b"
                    r"|\bmiesiąc\b|\bone month\b|\ba month\b")),
        extract=_process_period(r"(?:dni|days?)\b"),
        gloss="Data-subject requests are answered within {n} days.",
        manual="The register of data-subject requests of the last 12 months with received and "
               "answered dates.",
        describe="requests answered within N days (a month = 30) → process claim (manual)",
    ),
)

# A sentence that defines a term promises nothing: a glossary entry ("Adres IP: indywidualny
# numer …", the text after the colon in lower case), "… – oznacza …", "Pliki cookie to małe
# pliki …", "… means …".
_DEFINITION = _rx(
    r"^[\w\s/„”“\"'()-]{1,40}:\s+(?-i:[a-ząćęłńóśźż])|\boznacza(?:ją)?\b"
    r"|\bto (?:mał[aeyi]|specjaln\w+|zestaw)\b|\bmeans\b|\bis defined as\b"
    r"|\b(?:is|are) (?:a |an )?(?:small|set of)\b"
)


def _is_definition(sentence: str) -> bool:
    return bool(_DEFINITION.search(sentence))


# --- splitting ------------------------------------------------------------------------------

_ABBREVIATIONS = {
    "np", "tj", "m.in", "ust", "pkt", "art", "r", "ul", "nr", "ds", "tzw", "tzn", "ok", "godz", "poz", "al",
    "św", "dz", "sp", "zob", "por", "e.g", "i.e", "etc", "no", "vs", "mr", "mrs", "dr", "st", "inc", "ltd",
}
_SENTENCE_END = re.compile(r"[.!?…]+[\"”»)]*\s+(?=[„\"“(]?[A-ZĄĆĘŁŃÓŚŹŻ])")
_LIST_MARKER = re.compile(r"^\s*(?:[-•*–·]\s*|\d+(?:\.[a-z0-9]+)+\.?\s+|\d+[.)]\s+|[a-z]\)\s+)")
_QUESTION = re.compile(
    r"^(?:\d+\.\s*)?(?:jak|co|czy|kto|skąd|komu|gdzie|kiedy|dlaczego|do czego|w jaki|jaki|jakie|jakich"
    r"|what|how|who|where|when|why|do|does|can|which)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Unit:
    """A paragraph or list item: its lines stripped and joined by spaces."""

    lines: tuple[tuple[int, str], ...]  # (1-based line number, stripped text)
    list_item: bool

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.lines)

    def line_at(self, offset: int) -> int:
        """The line holding character `offset` of `text`."""
        ends = list(itertools.accumulate(len(text) + 1 for _, text in self.lines))
        return self.lines[min(bisect.bisect_right(ends, offset), len(self.lines) - 1)][0]

    @property
    def heading(self) -> bool:
        return _heading(self.text, len(self.lines), self.list_item)


def _units(text: str) -> list[_Unit]:
    """Paragraphs and list items; a paragraph cut by a stray blank line (a line ending
    mid-sentence, the next paragraph starting in lower case) is joined again."""
    units: list[_Unit] = []
    current: list[tuple[int, str]] = []
    is_item = False

    def close() -> None:
        if current:
            units.append(_Unit(tuple(current), is_item))
            current.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            close()
        elif _LIST_MARKER.match(line):
            close()
            current.append((number, stripped))
            is_item = True
        elif not current and units and _continues(units[-1].text, stripped):
            previous = units.pop()
            current.extend((*previous.lines, (number, stripped)))
            is_item = previous.list_item
        else:
            if not current:
                is_item = False
            current.append((number, stripped))
    close()
    return units


def _continues(previous: str, line: str) -> bool:
    return not re.search(r"[.!?:;…)\]*\"”]\s*$", previous) and bool(re.match(r"[a-ząćęłńóśźż]", line))


def _heading(text: str, lines: int, is_item: bool) -> bool:
    if lines != 1 or len(text) > 100:
        return False
    if text.rstrip().endswith("?"):
        return True
    if is_item:
        return bool(_QUESTION.match(_LIST_MARKER.sub("", text, count=1))) and len(text) < 80
    return not re.search(r"[.,;]\s*$", text)


def _clean(sentence: str) -> str:
    while True:
        cleaned = _LIST_MARKER.sub("", sentence, count=1) if _LIST_MARKER.match(sentence) else sentence
        if cleaned == sentence:
            break
        sentence = cleaned
    sentence = re.sub(r"\s+", " ", sentence).strip()
    return sentence.strip("*_ ").strip()


def _split(unit: str) -> list[tuple[str, int]]:
    """Sentences of a paragraph with their offsets in it; Polish and English abbreviations
    (np., tj., m.in., ust., pkt., art., r.) and initials (G. Iwaniec) do not end a sentence."""
    pieces = []
    begin = 0
    for match in _SENTENCE_END.finditer(unit):
        before = unit[begin:match.start() + 1]
        word = re.search(r"([\w.]+)\.[\"”»)]*$", before.rstrip())
        if word is not None:
            token = word.group(1).lower()
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue
        pieces.append((unit[begin:match.end()], begin))
        begin = match.end()
    pieces.append((unit[begin:], begin))
    return [(piece, at) for piece, at in pieces if piece.strip()]


def sentences(text: str) -> list[tuple[str, int, str]]:
    """(sentence, 1-based line, nearest heading) for every sentence and list item of the text."""
    found = []
    heading = ""
    for unit in _units(text):
        if unit.heading:
            heading = _clean(_split(unit.text)[0][0]).rstrip(":")
            continue
        for piece, at in _split(unit.text):
            cleaned = _clean(piece)
            if cleaned:
                found.append((cleaned, unit.line_at(at + len(piece) - len(piece.lstrip())), heading))
    return found


# --- finding --------------------------------------------------------------------------------

def _apply(rule: Rule, sentence: str) -> Finding | None:
    if not all(pattern.search(sentence) for pattern in rule.all_of):
        return None
    if any(pattern.search(sentence) for pattern in rule.none_of):
        return None
    checks: CheckParams = {check: dict(params) for check, params in rule.checks.items()}
    note, words = "", dict[str, str]()
    if rule.extract is not None:
        extracted = rule.extract(sentence)
        if extracted is None:
            return None
        extra, note, words = extracted
        checks.update(extra)
    return Finding(sentence=sentence, rule=rule.name, claim_id=rule.claim_id.format(**words), checks=checks,
                   line=0, gloss=rule.gloss.format(**words),
                   manual=rule.manual.format(**words), note=note)


def _redundant(finding: Finding, others: list[Finding]) -> bool:
    """A finding whose checks another finding of the same sentence already carries
    (SSL named in the card-data sentence) adds nothing."""
    return bool(finding.checks) and any(set(finding.checks) < set(other.checks) for other in others)


def find(text: str) -> list[Finding]:
    """The sentences of `text` that promise a technical or auditable measure, in text order."""
    findings: list[Finding] = []
    for sentence, line, heading in sentences(text):
        if _is_definition(sentence) or sentence.rstrip("*_ ").endswith("?"):
            continue  # a definition or a question promises nothing
        matched = [f for rule in RULES if (f := _apply(rule, sentence)) is not None]
        seen_ids: set[str] = set()
        for finding in matched:
            if _redundant(finding, matched) or finding.claim_id in seen_ids:
                continue
            seen_ids.add(finding.claim_id)
            findings.append(Finding(sentence=finding.sentence, rule=finding.rule, claim_id=finding.claim_id,
                                    checks=finding.checks, line=line, gloss=finding.gloss,
                                    manual=finding.manual, note=finding.note, source=heading))
    return findings


# --- drafting -------------------------------------------------------------------------------

_POLISH_WORDS = re.compile(r"\b(?:i|w|z|się|nie|jest|są|oraz|dla|przez|na|do|że|lub|dane|danych)\b", re.I)
_ENGLISH_WORDS = re.compile(r"\b(?:the|and|of|to|is|are|for|with|we|your|our|data|or|that)\b", re.I)


def language(text: str) -> str:
    return "pl" if len(_POLISH_WORDS.findall(text)) > len(_ENGLISH_WORDS.findall(text)) else "en"


def policy_id(document: str) -> str:
    stem = PurePath(document.rstrip("/")).stem or "policy"
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "policy"


def title(text: str, document: str) -> str:
    lines = [line.strip().strip("#*").strip() for line in text.splitlines() if line.strip()][:12]
    short = [line for line in lines if len(line) <= 100]
    for line in short:
        if re.search(r"polityk\w* prywatności|privacy policy|privacy notice", line, re.IGNORECASE):
            return line
    return short[0] if short else PurePath(document).name


def _comment(text: str) -> str:
    # Document text and file names reach YAML comments: a line break would end the comment.
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", text)


def _q(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar; keep the Polish letters readable.
    return json.dumps(value, ensure_ascii=False)


def _flow(params: Mapping[str, Any]) -> str:
    if not params:
        return "{}"
    items = (f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in params.items())
    return "{" + ", ".join(items) + "}"


def draft(text: str, document: str) -> str:
    """A draft claims file (format 1) for the policy text, as YAML text."""
    findings = find(text)
    out = [
        "# auditor claims file, format 1",
        f"# Drafted by `auditor claims extract` from {_comment(PurePath(document).name)}: {len(findings)} "
        "sentence(s)",
        "# that promise a measure. Review every claim: the quotes are verbatim, the ids, glosses,",
        "# checks and parameters are suggestions; add `applies_to` and what the rules missed.",
        "# Periods: a month is 30.4375 days and a year 365.25 (average calendar lengths), rounded",
        "# down for a keep-at-least bound (min_days: 12 months → 365) and up for a delete-after",
        "# bound (max_age_days: 3 months → 92, 2 years → 731, 7 years → 2557).",
        "format: 1",
        "policy:",
        f"  id: {_q(policy_id(document))}",
        f"  title: {_q(title(text, document))}",
        f"  document: {_q(PurePath(document).name)}",
        f"  language: {language(text)}",
    ]
    if not findings:
        out.extend(_NO_FINDINGS)
        return "\n".join(out) + "\n"
    out.append("claims:")
    rules = {rule.name: rule for rule in RULES}
    claim_ids = _unique_ids(findings)
    disputed = _disputed(findings)
    retention = _retention_by_source(findings, claim_ids, disputed)
    for finding, claim_id in zip(findings, claim_ids, strict=True):
        out.append(f"  # rule {finding.rule} (line {finding.line}): {rules[finding.rule].describe}")
        if finding.note:
            out.append(f"  # {_comment(finding.note)}")
        checks, dropped = _without_disputed(finding.checks, disputed)
        out.extend(f"  # {line}" for line in dropped)
        manual = finding.manual
        if claim_id in retention:
            claim_id, checks, manual = retention[claim_id]
        out.append(f"  - id: {claim_id}")
        out.append(f"    quote: {_q(finding.sentence)}")
        out.append(f"    gloss: {_q(finding.gloss or 'TODO: the English meaning')}")
        if finding.source:
            out.append(f"    source: {_q('§ ' + finding.source)}")
        if checks:
            out.append("    checks:")
            out.extend(f"      {check}: {_flow(params)}" for check, params in checks.items())
        manual = manual if (manual or not checks) else ""
        if not checks and not manual:
            manual = "TODO: the evidence an auditor should ask for."
        if manual:
            out.append(f"    manual: {_q(manual)}")
    return "\n".join(out) + "\n"


def _unique_ids(findings: list[Finding]) -> list[str]:
    used: dict[str, int] = {}
    ids = []
    for finding in findings:
        used[finding.claim_id] = used.get(finding.claim_id, 0) + 1
        count = used[finding.claim_id]
        ids.append(finding.claim_id if count == 1 else f"{finding.claim_id}-{count}")
    return ids


RETENTION_CLAIM = "data-retention-periods"  # the claim id checks/data_retention.py declares


def _retention_by_source(findings: list[Finding], claim_ids: list[str],
                         disputed: Mapping[tuple[str, str], int]) -> dict[str, tuple[str, CheckParams, str]]:
    """When the document gives several retention periods, claims sharing data_retention would
    share one run and its verdict, each speaking for periods it never set. So one claim (the
    first, renamed data-retention-periods) runs data_retention with no period of its own, and
    the others become manual claims naming the max_age_days their data's source must carry:
    claim id -> (new id, checks, manual note)."""
    if ("data_retention", "max_age_days") not in disputed:
        return {}
    periods = [(claim_id, f.checks["data_retention"].get("max_age_days"))
               for f, claim_id in zip(findings, claim_ids, strict=True) if "data_retention" in f.checks]
    listed = "; ".join(f"{days} for the data of {claim_id}" for claim_id, days in periods if days is not None)
    first = periods[0][0]
    verifying_note = ("The document gives several retention periods: list each table holding personal data "
                      f"under vars.data_retention.sources with its own max_age_days ({listed}) and a query "
                      "selecting the timestamp its period runs from.")
    changed: dict[str, tuple[str, CheckParams, str]] = {
        first: (RETENTION_CLAIM, {"data_retention": {}}, verifying_note)}
    for claim_id, days in periods[1:]:
        changed[claim_id] = (claim_id, {}, f"Verified by {RETENTION_CLAIM} when the source holding this data "
                             f"in vars.data_retention.sources carries max_age_days: {days}.")
    return changed


# A draft with no findings is still a claims file: its header is right, the list is empty, and
# the comment says why and shows one claim to copy (uncommented, it loads as it stands).
_NO_FINDINGS = (
    "# No sentence of the document matched the rules (hashing, encryption, TLS, log and data",
    "# retention, backups, logging, monitoring, data location, deadlines). Add its promises as",
    "# claims: replace `claims: []` with a list like the example below (quote verbatim; a claim",
    "# with no checks needs a manual note). An empty list audits nothing.",
    "claims: []",
    "# claims:",
    "#   - id: log-retention",
    '#     quote: "Logs are kept for 60 days."',
    '#     gloss: "Logs are kept for 60 days."',
    "#     checks:",
    "#       log_retention: {min_days: 60}",
    "#   - id: breach-notification-72h",
    '#     quote: "We notify affected customers of a breach within 72 hours."',
    '#     gloss: "Affected customers are told of a breach within 72 hours."',
    '#     manual: "The incident-response procedure naming the 72-hour duty."',
)


def _disputed(findings: list[Finding]) -> dict[tuple[str, str], int]:
    """(check, parameter) pairs that claims give different values, a claim running the check
    without the parameter counting as one more value (its run would take the other's):
    how many values each has."""
    values: dict[tuple[str, str], set[str]] = {}
    for finding in findings:
        for check, params in finding.checks.items():
            for param, value in params.items():
                values.setdefault((check, param), set()).add(json.dumps(value, sort_keys=True))
    for finding in findings:
        for check, params in finding.checks.items():
            for (named_check, param), found in values.items():
                if named_check == check and param not in params:
                    found.add("(none)")
    return {key: len(found) for key, found in values.items() if len(found) > 1}


def _without_disputed(checks: CheckParams,
                      disputed: Mapping[tuple[str, str], int]) -> tuple[CheckParams, list[str]]:
    """Two claims for the same hosts may not give one check's parameter different values (a
    load error), and picking one would judge every host by it: a parameter the document gives
    several values is left out of every claim, with a comment saying where each value belongs."""
    kept: CheckParams = {}
    dropped: list[str] = []
    for check, params in checks.items():
        kept[check] = {name: value for name, value in params.items() if (check, name) not in disputed}
        dropped.extend(
            f"{check}.{name}: {json.dumps(value, ensure_ascii=False)} left out: the document gives "
            f"{disputed[(check, name)]} different values; set it on this data's source in the inventory "
            f"(vars.{check}), or split the hosts with applies_to"
            for name, value in params.items() if (check, name) in disputed)
    return kept, dropped

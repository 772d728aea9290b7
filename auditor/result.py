"""What a check concludes: a status, findings with their severity, and the one way
`evaluate()` turns findings into a `Result` (fail > error > manual > pass, graded by `fail_on`).

`auditor.check` re-exports every name here, so checks import them from there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not determine; never silently a pass
    SKIP = "skip"  # not applicable on this host
    MANUAL = "manual"  # needs evidence the host cannot show
    WAIVED = "waived"  # set by the engine from an approved waiver, never returned by a check


# Worst first: the order in which a host's or a fleet's overall status is decided.
STATUS_SEVERITY = (Status.FAIL, Status.ERROR, Status.MANUAL, Status.WAIVED, Status.PASS, Status.SKIP)


class Severity(StrEnum):
    """How much a finding matters, set by a named reference (CIS, NIST, vendor guidance), worst first.

    A check fails when one of its failing findings is at or above its `fail_on` parameter;
    the ones below are advisories: reported everywhere, but the check passes."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Larger is worse: info 0 … critical 4."""
        return len(SEVERITIES) - 1 - SEVERITIES.index(self)

    def at_least(self, threshold: Severity) -> bool:
        return self.rank >= threshold.rank


SEVERITIES = tuple(Severity)  # worst first

DEFAULT_FAIL_ON = Severity.MEDIUM  # the `fail_on` parameter's default
# The `fail_on` of the check being judged: `Check.judge` sets it from the check's parameters so that
# every `Findings.result()` inside `evaluate()` grades by it without each check passing it along.
JUDGING_FAIL_ON: ContextVar[Severity] = ContextVar("fail_on", default=DEFAULT_FAIL_ON)  # noqa: B039 - immutable StrEnum


@dataclass(frozen=True)
class Finding:
    """One thing a check found. `status` is what it makes the check (FAIL, ERROR, MANUAL), or
    PASS for a note that decides nothing. `severity` says how much it matters and `ref` the
    reference that sets it (a CIS Benchmark item, NIST SP 800-63B, a vendor's guidance); a
    FAIL below the check's `fail_on` is an advisory. A failure is `high` unless its check says
    otherwise, so a check that names no severity fails as it always has."""

    status: Status
    text: str
    severity: Severity = Severity.HIGH
    ref: str = ""

    def advisory(self, threshold: Severity) -> bool:
        """A failure below the threshold: reported, but the check passes."""
        return self.status is Status.FAIL and not self.severity.at_least(threshold)

    def kind(self, threshold: Severity) -> str:
        """What the finding is called in reports: fail, advisory, error, manual, or note."""
        if self.advisory(threshold):
            return "advisory"
        return "note" if self.status is Status.PASS else self.status.value


def by_severity(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first; within a severity, failures before the rest, then in the order found."""
    kinds = (Status.FAIL, Status.ERROR, Status.MANUAL, Status.PASS)
    return sorted(findings, key=lambda f: (-f.severity.rank, kinds.index(f.status)
                                           if f.status in kinds else len(kinds)))


@dataclass(frozen=True)
class Result:
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # probe names this verdict relied on
    values: Mapping[str, Any] = field(default_factory=dict)  # key measured values
    findings: tuple[Finding, ...] = ()  # what the check found, each with its severity
    fail_on: Severity = DEFAULT_FAIL_ON  # the threshold the status was graded by

    @property
    def advisories(self) -> tuple[Finding, ...]:
        """Failing findings below `fail_on`: the check passed (or errored) in spite of them."""
        return tuple(f for f in self.findings if f.advisory(self.fail_on))


def result(
    status: Status,
    summary: str,
    details: list[str] | tuple[str, ...] = (),
    evidence: list[str] | tuple[str, ...] = (),
    **values: Any,
) -> Result:
    """Shorthand for checks: `result(Status.PASS, "...", details, evidence, oldest_days=91)`."""
    return Result(status, summary, tuple(details), tuple(evidence), dict(values))


def first(items: Iterable[str], limit: int = 3) -> str:
    """The house summary of a list: the first `limit` items joined by "; ", then " …" if more."""
    listed = list(items)
    return "; ".join(listed[:limit]) + (" …" if len(listed) > limit else "")


# What each kind of finding makes the check, worst first: fail > error > manual > pass.
PRECEDENCE = (Status.FAIL, Status.ERROR, Status.MANUAL)


@dataclass
class Findings:
    """The accumulator every evaluate() fills and closes with `result()`.

    `fail`, `unknown` (could not tell: error), `manual` and `note` record findings in order, each
    with a severity and the reference that sets it. A failure at or above the check's `fail_on`
    (`Check.judge` sets it from the parameters; `fail_on=` here overrides) fails the check; one
    below it is an advisory. `result` applies the house precedence fail > error > manual > pass
    and writes the summary in one shape: an optional prefix ("{n}" is the count), then the first
    `limit` findings of the winning kind joined by "; ", then " …" if there are more; a failing
    summary may end with `fail_suffix` (say, what could not be judged besides); a passing or
    failing one ends with its advisories, "(1 advisory: low: …)". Details list the winning kind, then the
    other kinds by precedence, then the advisories, then the notes.
    """

    limit: int = 3
    items: list[Finding] = field(default_factory=list)
    fail_on: Severity | None = None  # None: the threshold of the check being judged

    @property
    def threshold(self) -> Severity:
        return self.fail_on or JUDGING_FAIL_ON.get()

    def add(self, status: Status, text: str, severity: Severity = Severity.HIGH, ref: str = "") -> None:
        self.items.append(Finding(status, text, severity, ref))

    def fail(self, text: str, severity: Severity = Severity.HIGH, ref: str = "") -> None:
        self.add(Status.FAIL, text, severity, ref)

    def unknown(self, text: str, severity: Severity = Severity.HIGH, ref: str = "") -> None:
        self.add(Status.ERROR, text, severity, ref)

    def manual(self, text: str, severity: Severity = Severity.HIGH, ref: str = "") -> None:
        self.add(Status.MANUAL, text, severity, ref)

    def note(self, text: str, severity: Severity = Severity.INFO, ref: str = "") -> None:
        self.add(Status.PASS, text, severity, ref)

    def texts(self, status: Status) -> list[str]:
        """The findings that make the check `status`: for FAIL, those at or above the threshold."""
        threshold = self.threshold
        return [f.text for f in self.items
                if f.status is status and not f.advisory(threshold)]

    @property
    def failures(self) -> list[str]:
        """Failures that fail the check (at or above the threshold)."""
        return self.texts(Status.FAIL)

    @property
    def advisories(self) -> list[Finding]:
        """Failures below the threshold: reported, but the check passes."""
        threshold = self.threshold
        return [f for f in self.items if f.advisory(threshold)]

    @property
    def errors(self) -> list[str]:
        return self.texts(Status.ERROR)

    @property
    def manuals(self) -> list[str]:
        return self.texts(Status.MANUAL)

    @property
    def notes(self) -> list[str]:
        return self.texts(Status.PASS)

    def status(self) -> Status:
        return next((s for s in PRECEDENCE if self.texts(s)), Status.PASS)

    def details(self) -> list[str]:
        worst = self.status()
        order = [s for s in (worst, *PRECEDENCE) if s is not Status.PASS]
        return ([text for s in dict.fromkeys(order) for text in self.texts(s)]
                + [advisory_line(f) for f in self.advisories] + self.notes)

    def summary(self, status: Status, prefix: str = "") -> str:
        texts = self.texts(status)
        return prefix.format(n=len(texts)) + first(texts, self.limit)

    def advisory_suffix(self) -> str:
        """" (2 advisories: low: …; low: …)" after a summary; "" without advisories."""
        found = by_severity(self.advisories)
        if not found:
            return ""
        noun = "advisory" if len(found) == 1 else "advisories"
        return f" ({len(found)} {noun}: {first((f'{f.severity}: {f.text}' for f in found), self.limit)})"

    def result(
        self,
        *,
        evidence: Iterable[str],
        ok_summary: str,
        fail_prefix: str = "",
        error_prefix: str = "",
        manual_prefix: str = "",
        fail_suffix: str = "",
        **values: Any,
    ) -> Result:
        status = self.status()
        prefix = {Status.FAIL: fail_prefix, Status.ERROR: error_prefix, Status.MANUAL: manual_prefix}
        summary = ok_summary if status is Status.PASS else self.summary(status, prefix[status])
        summary += fail_suffix if status is Status.FAIL else ""
        summary += self.advisory_suffix() if status in (Status.PASS, Status.FAIL) else ""
        return Result(status, summary, tuple(self.details()), tuple(evidence), dict(values),
                      tuple(self.items), self.threshold)


def advisory_line(finding: Finding) -> str:
    """An advisory as a detail line: "advisory (low): …"."""
    return f"advisory ({finding.severity}): {finding.text}"

"""The vocabulary shared by checks and the engine.

A check is a declaration (`Check`) plus a pure `evaluate(outputs, params) -> Result`.
The engine runs the declared probes, hands their outputs to `evaluate`, and never lets
a check do I/O of its own.
"""

from __future__ import annotations

import builtins
import dataclasses
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
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


Params = Mapping[str, Any]
ScriptSource = str | Callable[[Params], str]


class ProbeSite(StrEnum):
    HOST = "host"  # a shell snippet run on the audited host, in the host's one batched script
    AUDITOR = "auditor"  # a network probe run from the auditor's machine by an engine collector


@dataclass(frozen=True)
class Probe:
    """A read-only probe: a shell snippet run on the host, or a collector run from the auditor.

    Host probes: `script` is shell text, or a function of the check's parameters returning
    shell text (every parameter value must reach the shell through `shlex.quote`). `ok_rc`
    lists the exit codes that mean "the probe worked"; any other is an `error` quoting rc
    and the first stderr line. `root` probes are run through `sudo -n` when the host is
    configured with `become: sudo` and the login user is not root.

    Auditor probes (`site=AUDITOR`): `collector` names an engine collector (see
    `auditor.collectors`), which gets the check's parameters and the host's address and
    returns text (JSON by convention); checks stay free of network code.
    """

    name: str
    script: ScriptSource
    ok_rc: tuple[int, ...] = (0,)
    root: bool = False
    site: ProbeSite = ProbeSite.HOST
    collector: str = ""

    def render(self, params: Params) -> str:
        return self.script(params) if callable(self.script) else self.script


@dataclass(frozen=True)
class Param:
    """A check parameter, overridable per host or group through inventory `vars`.

    A `list` parameter holds plain values; with `item_keys` its items may also be flat
    mappings with those keys (e.g. `{address: 10.0.0.5:443, sni: shop.example}`), and
    `required_item_keys` must be present in each mapping item, and `item_types` narrows a
    key's value type (otherwise any plain value), and `item_choices` lists the values an
    enumerated key may take (e.g. a source's `kind`), so a typo is refused at load. `minimum`
    is the smallest value a number parameter may take (inventory vars and claims below it are
    refused); `choices` the values a `str` parameter may take. `path`: the value (or each list
    item) reaches a host command as an argument, so one starting with `-` is refused at load (it
    would be read as an option). `secret`: the value may hold a credential (a connection string),
    so the run records it masked.
    """

    name: str
    type: type
    default: Any
    doc: str
    item_keys: tuple[str, ...] = ()
    required_item_keys: tuple[str, ...] = ()
    minimum: int | float | None = None
    item_types: Mapping[str, builtins.type] = field(default_factory=dict)  # `type` is the field above
    item_choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    choices: tuple[str, ...] = ()  # the values a plain `str` parameter may take, when enumerated
    path: bool = False
    secret: bool = False

    def type_name(self) -> str:
        return self.type.__name__


# Parameters every check takes (set through inventory vars like its own); not in its defaults.
EVIDENCE_DAYS = Param("evidence_days", float, 7.0,
                      "days this check's evidence shows the host's current state (its evidence files' "
                      "expires_at; sooner when a certificate in it expires first)", minimum=0)
FAIL_ON = Param("fail_on", str, Severity.MEDIUM.value,
                "the least severity of a finding that fails this check; findings below it are advisories "
                "(the check passes and reports them); `auditor run --fail-on-severity` sets it everywhere",
                choices=tuple(s.value for s in SEVERITIES))
COMMON_PARAMS = (EVIDENCE_DAYS, FAIL_ON)

# The `fail_on` of the check being judged: `Check.judge` sets it from the check's parameters so that
# every `Findings.result()` inside `evaluate()` grades by it without each check passing it along.
_JUDGING_FAIL_ON: ContextVar[Severity] = ContextVar("fail_on", default=Severity.MEDIUM)  # noqa: B039 - immutable StrEnum


def fail_on(params: Params) -> Severity:
    """The check's `fail_on` threshold from its parameters (the default when unset)."""
    return Severity(params.get(FAIL_ON.name, FAIL_ON.default))


def _not_loaded(outputs: Outputs, params: Params) -> Result:
    raise TypeError("this Check was not loaded through the registry, which sets its evaluate()")


@dataclass(frozen=True)
class Check:
    """A check's declaration. A check module defines `CHECK = Check(...)` beside a module-level
    `evaluate`; the registry returns the declaration with `evaluate` and `description` set."""

    id: str
    title: str
    claims: tuple[str, ...]
    controls: tuple[str, ...]
    probes: tuple[Probe, ...]
    params: tuple[Param, ...] = ()
    description: str = ""  # filled from the module docstring by the registry
    evaluate: Callable[[Outputs, Params], Result] = _not_loaded  # set by the registry
    source: str = ""  # where the check was loaded from, for error messages
    trend_values: tuple[str, ...] = ()  # keys of Result.values that history tracks over time

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param | None:
        return next((p for p in (*self.params, *COMMON_PARAMS) if p.name == name), None)

    def judge(self, outputs: Outputs, params: Params, *, crash: bool = False) -> Result:
        """Run evaluate(); a failed probe or a bug in the check becomes `error`, never a crash.
        With `crash`, a bug in the check propagates (the recorded-case tests want its traceback)."""
        grading = _JUDGING_FAIL_ON.set(fail_on(params))
        try:
            outcome = self.evaluate(outputs, params)
        except ProbeFailed as exc:
            return Result(Status.ERROR, str(exc), evidence=tuple(outputs))
        except Exception as exc:
            if crash:
                raise
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return Result(
                Status.ERROR,
                f"the check itself failed ({type(exc).__name__}: {exc}); this is a bug in the check",
                details=(f"at {Path(where.filename).name}:{where.lineno}",),
                evidence=tuple(outputs),
            )
        finally:
            _JUDGING_FAIL_ON.reset(grading)
        if outcome.status is Status.WAIVED:  # only an approved waiver waives, never the check itself
            return Result(Status.ERROR, "the check returned `waived`, which only a waiver may set; "
                          "this is a bug in the check", evidence=outcome.evidence)
        if outcome.status is not Status.PASS and not outcome.findings:
            # a check that reports through result() rather than Findings: its summary is its finding
            return dataclasses.replace(outcome, findings=(Finding(outcome.status, outcome.summary),))
        return outcome


@dataclass(frozen=True)
class ProbeOutput:
    """What one probe produced on one host (after on-host reduction and redaction)."""

    name: str
    stdout: str
    stderr: str
    rc: int | None  # None when the probe never finished (batch cut short)
    duration_ms: float | None
    truncated: bool = False
    ok_rc: tuple[int, ...] = (0,)
    timed_out_s: float | None = None  # killed at its deadline on the host (rc is then None)

    @property
    def ok(self) -> bool:
        return self.rc is not None and self.rc in self.ok_rc

    def failure_reason(self) -> str:
        if self.timed_out_s is not None:
            return f"probe {self.name} timed out after {self.timed_out_s:g} s"
        if self.rc is None:
            return f"probe {self.name} did not complete"
        first = next((ln for ln in self.stderr.splitlines() if ln.strip()), "")
        return f"probe {self.name} exited {self.rc}" + (f": {first.strip()}" if first else "")


class ProbeFailed(Exception):
    """Raised inside evaluate() by `Outputs.require`; the engine turns it into `error`."""


class Outputs(Mapping[str, ProbeOutput]):
    """The outputs of one check's probes on one host, by probe name."""

    def __init__(self, outputs: Mapping[str, ProbeOutput]) -> None:
        self._outputs = dict(outputs)

    def __getitem__(self, name: str) -> ProbeOutput:
        return self._outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    def require(self, name: str) -> ProbeOutput:
        """The output of a probe that must have succeeded, else ProbeFailed."""
        out = self._outputs.get(name)
        if out is None:
            raise ProbeFailed(f"probe {name} produced no output")
        if not out.ok:
            raise ProbeFailed(out.failure_reason())
        return out


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
    fail_on: Severity = Severity(FAIL_ON.default)  # the threshold the status was graded by

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
        return self.fail_on or _JUDGING_FAIL_ON.get()

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

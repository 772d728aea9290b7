"""What a run produced: the frozen records every reporter reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from auditor.check import STATUS_SEVERITY, Finding, Severity, Status

# --- Who a run reached, and why a host's results are missing (transports raise these kinds) ---

class HostErrorKind(StrEnum):
    """Why a host's results are missing or in doubt: a report's `error_kind` (its value, as a string)."""

    TRANSPORT = "transport"  # any other failure to talk to the host
    UNREACHABLE = "unreachable"  # no connection (refused, no route, DNS, connect timeout)
    HOST_KEY = "host-key"  # the host's key is unknown, changed, revoked or wrongly certified
    KEY_FILE = "key-file"  # a local identity file is missing, unreadable, or its passphrase is wrong
    PROTOCOL = "protocol"  # the peer does not speak SSH, or broke the protocol or the connection mid-way
    AUTHENTICATION = "authentication"  # the login was refused; or, once logged in, sudo was
    TIMEOUT = "timeout"  # a phase ran past its deadline (connect_timeout, command_timeout)
    OUTPUT_LIMIT = "output-limit"  # the host sent more than the per-host cap; the rest was not read
    INTERNAL = "internal"  # an engine bug on this host; the other hosts carry on
    INTERRUPTED = "interrupted"  # Ctrl-C before this host finished

    @property
    def before_login(self) -> bool:
        """A transport error of this kind means the run never logged in: the host was not reached."""
        return self in _BEFORE_LOGIN


_BEFORE_LOGIN = frozenset({HostErrorKind.UNREACHABLE, HostErrorKind.HOST_KEY, HostErrorKind.AUTHENTICATION,
                           HostErrorKind.KEY_FILE})


@dataclass(frozen=True)
class Peer:
    """The host that answered, as connected: the evidence says which machine spoke."""

    transport: str
    address: str = ""  # the address and port actually connected to (after ~/.ssh/config)
    port: int | None = None
    host_key_algorithm: str = ""  # e.g. ssh-ed25519
    host_key_sha256: str = ""  # "SHA256:<base64>", as OpenSSH prints it


if TYPE_CHECKING:
    from auditor.inventory import Host

# --- The audited policy: claims files as a run records them (loaded by auditor.policy.claims) ---

ALL = "all"  # a claim's applies_to: every host


@dataclass(frozen=True)
class Claim:
    id: str
    quote: str  # verbatim, in the policy's language
    gloss: str = ""  # the meaning in English
    source: str = ""  # where in the document
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # check id -> parameters
    applies_to: tuple[str, ...] = (ALL,)  # host and group names
    controls: tuple[str, ...] = ()  # extra Annex A controls, as "ISO27001:2022 A.8.5"
    manual: str = ""  # evidence to ask for that no server can show
    line: int | None = None
    key: str = ""  # where it stands in its file: "claims[3]" ("policy.claims[3]" inline)
    param_lines: Mapping[str, int] = field(default_factory=dict)  # "check.param" -> its line

    def applies(self, host: Host) -> bool:
        names = set(self.applies_to)
        return ALL in names or host.name in names or any(g in names for g in host.groups)


@dataclass(frozen=True)
class Policy:
    id: str
    title: str
    document: str
    language: str
    claims: tuple[Claim, ...]
    path: str  # the claims file (for an inline policy: the inventory)
    sha256: str  # of the claims file's bytes (inline: of the policy: section)
    warnings: tuple[str, ...] = ()

    def where(self, claim: Claim) -> str:
        return f"{self.path}:{claim.line}" if claim.line else self.path

    def record(self) -> dict[str, str]:
        """What the signed manifest says about the audited policy."""
        return {"id": self.id, "title": self.title, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class AuditedPolicy:
    """A policy as one run audited it: the hosts each claim applied to, the checks selected."""

    policy: Policy
    claim_hosts: Mapping[str, tuple[str, ...]]  # claim id -> names of the audited hosts it applies to
    checks_selected: tuple[str, ...]  # check ids the run could use (after --check)
    # (claim id, host, check id) -> why that result does not answer the claim: the check ran there
    # with parameters another claim set, not the ones this claim alone gives
    other_params: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    unclaimed_hosts: tuple[str, ...] = ()  # selected hosts no claim with checks applies to: not connected to
    warnings: tuple[str, ...] = ()  # what the run warned about the policy (overridden inventory values...)


# --- A run's results ---


@dataclass(frozen=True)
class EvidenceRef:
    probe: str  # "<check_id>.<probe_name>"
    path: str  # relative to the run folder
    sha256: str
    size: int


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    title: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    evidence: tuple[EvidenceRef, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    original_status: Status | None = None  # what the check found, when a waiver made it `waived`
    waiver: WaiverNote | None = None  # the waiver that matched this result (applied or not needed)
    findings: tuple[Finding, ...] = ()  # what the check found, each with its severity and reference
    fail_on: Severity = Severity.MEDIUM  # the least severity that failed the check; below it, advisories

    @property
    def advisories(self) -> tuple[Finding, ...]:
        """Failing findings below `fail_on`: reported, but they did not fail the check."""
        return tuple(f for f in self.findings if f.advisory(self.fail_on))


NOT_CHECKED = "not checked: "  # how a result that only repeats its host's error begins


@dataclass(frozen=True)
class HostReport:
    name: str
    address: str
    transport: str
    reachable: bool
    error: str | None
    error_kind: HostErrorKind | None  # written to report.json as its string value
    facts: Mapping[str, str]
    results: tuple[CheckResult, ...]
    duration_ms: float
    redactions: int = 0

    def own_results(self) -> tuple[CheckResult, ...]:
        """The results its checks judged: not those that only stand in for the host's error
        (a host that was not collected, or whose sudo was refused, reports "not checked: ...")."""
        if not self.error:
            return self.results
        return tuple(r for r in self.results if not r.summary.startswith(NOT_CHECKED))

    @property
    def status(self) -> Status:
        if not self.reachable or self.error:
            return Status.ERROR
        return worst(r.status for r in self.results)


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    claims: tuple[str, ...]
    controls: tuple[str, ...]
    description: str
    trend_values: tuple[str, ...] = ()  # keys of the results' values that history tracks


@dataclass(frozen=True)
class RunResources:
    """What the run cost on the auditor's machine (psutil): CPU seconds of auditor itself and of
    the local probes it waited for, and its resident memory when the hosts were done."""

    cpu_seconds: float
    children_cpu_seconds: float
    rss_bytes: int


@dataclass(frozen=True)
class RunReport:
    run_id: str
    started: str  # ISO 8601 UTC
    finished: str
    tool_version: str
    operator: str  # user@machine
    inventory_path: str
    inventory_sha256: str
    checks: tuple[CheckInfo, ...]
    hosts: tuple[HostReport, ...]
    complete: bool
    batched: bool = True
    signer_fingerprint: str | None = None  # None: the run is not signed
    policy: AuditedPolicy | None = None  # the claims file audited (--policy / inventory policy:)
    tracking: Tracking | None = None  # waivers, baseline, regressions, notifications, trends (issue 6)
    resources: RunResources | None = None  # the run's own CPU and memory

    def totals(self) -> dict[str, int]:
        counts = Counter(r.status.value for h in self.hosts for r in h.results)
        totals = {s.value: counts.get(s.value, 0) for s in Status}
        totals["hosts"] = len(self.hosts)
        totals["hosts_unreachable"] = sum(1 for h in self.hosts if not h.reachable)
        return totals

    @property
    def redactions(self) -> int:
        return sum(h.redactions for h in self.hosts)


def worst(statuses: Any) -> Status:
    present = set(statuses)
    return next((s for s in STATUS_SEVERITY if s in present), Status.SKIP)


# Scheduled audits: waivers, baselines, regressions, alerts and trends (see the auditor.tracking
# package: waivers, diff, notify, history). Every field defaults to "not used".


@dataclass(frozen=True)
class WaiverNote:
    """An approved exception, as reports show it next to the result it covers."""

    check_id: str
    justification: str
    approver: str
    expires: str  # YYYY-MM-DD; the waiver holds through that day (UTC)
    source: str  # "waivers.yaml:12", where it is written
    applied: bool = True  # False: the result passed on its own ("waiver not needed")
    hosts: tuple[str, ...] = ()  # the host patterns as written


@dataclass(frozen=True)
class Regression:
    """A result that is fail or error now and was not in the baseline (or a new host/check)."""

    host: str
    check_id: str
    status: Status
    baseline_status: Status | None  # None: the host or check was not in the baseline
    summary: str


@dataclass(frozen=True)
class ClaimRegression:
    """A policy claim that held (pass) in the baseline and does not now: a failure, or lost
    coverage (not_verified, error, ...) that no single result shows as a regression."""

    claim_id: str
    verdict: str  # a claim_verdicts.Verdict value
    baseline_verdict: str
    summary: str


@dataclass(frozen=True)
class Notification:
    """One alert attempt's outcome; `target` is masked (no secret path or token)."""

    target: str
    ok: bool
    attempts: int
    detail: str


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    started: str
    status: Status
    value: float | None  # the check's first numeric trend value, None when it has none


@dataclass(frozen=True)
class Tracking:
    waiver_file: str | None = None
    expired_waivers: tuple[WaiverNote, ...] = ()
    unused_waivers: tuple[WaiverNote, ...] = ()
    baseline: str | None = None  # the baseline run's id, when --baseline (or --notify) named one
    baseline_source: str | None = None  # what was asked for: "previous", a run id or a folder
    regressions: tuple[Regression, ...] = ()
    claim_regressions: tuple[ClaimRegression, ...] = ()
    coverage_lost: tuple[Regression, ...] = ()  # results pass -> skip: the check stopped answering
    notifications: tuple[Notification, ...] = ()
    trends: Mapping[tuple[str, str], tuple[TrendPoint, ...]] = field(default_factory=dict)  # (host, check)

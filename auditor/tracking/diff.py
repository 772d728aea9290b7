"""Drift between two runs: what regressed, what was fixed, what a waiver now covers.

Both sides are report.json-shaped dicts: a run folder's report.json, a run recorded in the
history (History.snapshot) or the run in progress (json_report.to_dict). The older run is
the base, whichever order they are named in. A *regression* is a result that is fail or
error now and was neither in the base (a new host or a new check included). An error in the
base says nothing about the control, so a fail after it is judged against the check's last
verdict before the error (from the history), or counts as new when none is known.

With a policy, each claim's verdict (report.json `policy.claims`) is compared too: a claim
that was `pass` and is anything else now is a regression even when no result is (a check
that stopped answering turns `pass` into `skip`, and the claim into `not_verified`). The
history stores results only, so a recorded run's claim verdicts come from its run folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.check import Status
from auditor.errors import InputError
from auditor.evidence import pack, trust
from auditor.evidence.pack import MANIFEST, sha256
from auditor.model import ClaimRegression, Regression
from auditor.tracking.history import History, HistoryError

BAD = (Status.FAIL, Status.ERROR)
PASS = "pass"  # the claim verdict that holds (claim_verdicts.Verdict.PASS)


@dataclass(frozen=True)
class Change:
    host: str
    check_id: str
    before: Status | None  # None: not in the base run
    after: Status | None  # None: not in the current run
    summary: str  # the current run's summary (the base's when the result is gone)


@dataclass(frozen=True)
class ClaimChange:
    claim_id: str
    before: str | None  # a claim verdict; None: the claim was not in the base run's policy
    after: str | None  # None: the claim is gone from the current run's policy
    summary: str  # the current run's one-line summary (the base's when the claim is gone)

    @property
    def regressed(self) -> bool:
        return self.before == PASS and self.after is not None and self.after != PASS


@dataclass(frozen=True)
class ValueChange:
    host: str
    check_id: str
    key: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Diff:
    base: str  # run id
    current: str
    new_failures: tuple[Change, ...]
    resolved_failures: tuple[Change, ...]
    new_errors: tuple[Change, ...]
    newly_waived: tuple[Change, ...]
    waiver_expired: tuple[Change, ...]
    other_changes: tuple[Change, ...]  # every other status change (fail -> error, pass -> manual, ...)
    hosts_added: tuple[str, ...]
    hosts_removed: tuple[str, ...]
    changed_values: tuple[ValueChange, ...]
    scope_note: str | None = None  # set when the runs audited different scopes (only shared results compared)
    coverage_lost: tuple[Change, ...] = ()  # pass -> skip: the check no longer answers there
    claims: tuple[ClaimChange, ...] = ()  # every claim whose verdict changed
    claims_note: str | None = None  # set when claim verdicts could not be compared

    @property
    def regressions(self) -> tuple[Regression, ...]:
        changes = sorted(self.new_failures + self.new_errors, key=lambda c: (c.host, c.check_id))
        return tuple(Regression(c.host, c.check_id, c.after or Status.ERROR, c.before, c.summary)
                     for c in changes)

    @property
    def claim_regressions(self) -> tuple[ClaimRegression, ...]:
        return tuple(ClaimRegression(c.claim_id, c.after or "", c.before or "", c.summary)
                     for c in self.claims if c.regressed)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.claim_regressions)


class DiffError(InputError):
    """A side of the diff cannot be read; the message names it."""


class UntrustedSide(DiffError):
    """A run folder validly signed by a key the verifier does not trust (exit 4 in `diff`)."""


def _results(report: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(h["name"], r["check"]): r for h in report.get("hosts", []) for r in h.get("results", [])}


def _status(result: Mapping[str, Any] | None) -> Status | None:
    return Status(result["status"]) if result is not None else None


def _verdict(result: Mapping[str, Any] | None) -> Status | None:
    """What a base result tells about the control: an error says nothing, so the check's last
    verdict before it counts (recorded by History.snapshot); none known: the error itself."""
    status = _status(result)
    if status is Status.ERROR and result is not None and result.get("verdict_before_error"):
        return Status(result["verdict_before_error"])
    return status


def compare(a: Mapping[str, Any], b: Mapping[str, Any],
            trend_keys: Mapping[str, tuple[str, ...]] | None = None) -> Diff:
    """The drift from the older of two reports to the newer.

    Changed values compare each check's trend values (`trend_keys`, from the registry), or
    every numeric value of a check the registry does not know.
    """
    base, current = sorted((a, b), key=_age)
    scopes = [r["run"].get("scope") for r in (base, current)]
    return drift(base, current, trend_keys, restrict=None not in scopes and scopes[0] != scopes[1])


def _age(report: Mapping[str, Any]) -> tuple[str, str, int]:
    """Start, end, then the history's insertion order: runs a second apart still sort right."""
    run = report["run"]
    return str(run.get("started", "")), str(run.get("finished", "")), int(run.get("history_row", 0))


def drift(base: Mapping[str, Any], current: Mapping[str, Any],
          trend_keys: Mapping[str, tuple[str, ...]] | None = None, restrict: bool = False) -> Diff:
    """The drift from `base` to `current`, in that order (a run against its baseline).

    `restrict`: the runs audited different scopes (another inventory, policy or --host/--check
    choice), so a result only one of them has says nothing; only shared results are compared."""
    old, new = _results(base), _results(current)
    if restrict:
        old = {k: v for k, v in old.items() if k in new}
        new = {k: v for k, v in new.items() if k in old}
    changes: dict[str, list[Change]] = {k: [] for k in ("fail", "resolved", "error", "waived", "expired",
                                                        "lost", "other")}
    values: list[ValueChange] = []
    for key in sorted(old.keys() | new.keys()):
        host, check_id = key
        before, after = _status(old.get(key)), _status(new.get(key))
        summary = str((new.get(key) or old.get(key) or {}).get("summary", ""))
        change = Change(host, check_id, before, after, summary)
        verdict = _verdict(old.get(key))  # pass -> error -> fail is a new failure; fail -> error -> fail not
        sorted_into = 0
        for name, applies in (
                ("fail", after is Status.FAIL and verdict is not Status.FAIL),
                ("error", after is Status.ERROR and before not in BAD),
                # A waived fail still fails: the waiver is news (newly waived), not a fix
                ("resolved", before is Status.FAIL and after is not None
                 and after not in (*BAD, Status.WAIVED)),
                ("waived", after is Status.WAIVED and before is not Status.WAIVED),
                ("expired", before is Status.WAIVED and after is not None and after is not Status.WAIVED),
                ("lost", before is Status.PASS and after is Status.SKIP)):
            if applies:
                changes[name].append(change)
                sorted_into += 1
        if not sorted_into and before is not None and after is not None and before is not after:
            changes["other"].append(change)
        if key in old and key in new:
            values.extend(_value_changes(host, check_id, old[key].get("values") or {},
                                         new[key].get("values") or {}, (trend_keys or {}).get(check_id)))
    old_hosts = {h["name"] for h in base.get("hosts", [])}
    new_hosts = {h["name"] for h in current.get("hosts", [])}
    note = None
    if restrict:
        old_hosts = new_hosts = old_hosts & new_hosts
        note = (f"runs {base['run']['id']} and {current['run']['id']} audited different scopes (inventory, "
                f"policy or --host/--group/--check); only the {len(old)} result(s) both have are compared")
    claims, claims_note = _claim_changes(base, current, restrict)
    return Diff(str(base["run"]["id"]), str(current["run"]["id"]), tuple(changes["fail"]),
                tuple(changes["resolved"]), tuple(changes["error"]), tuple(changes["waived"]),
                tuple(changes["expired"]), tuple(changes["other"]), tuple(sorted(new_hosts - old_hosts)),
                tuple(sorted(old_hosts - new_hosts)), tuple(values), note, tuple(changes["lost"]),
                claims, claims_note)


def _claim_verdicts(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]] | None:
    policy = report.get("policy")
    return None if policy is None else {c["id"]: c for c in policy.get("claims", [])}


def _claim_changes(base: Mapping[str, Any], current: Mapping[str, Any],
                   restrict: bool) -> tuple[tuple[ClaimChange, ...], str | None]:
    """The claims whose verdict changed; a note when the current run has claims and they cannot
    be compared (the same claim over another selection of hosts is another promise)."""
    old, new = _claim_verdicts(base), _claim_verdicts(current)
    if new is None:
        return (), None
    if old is None:
        why = base.get("claims_unavailable") or "it had no policy"
        return (), f"claim verdicts not compared with run {base['run']['id']}: {why}"
    if restrict:
        return (), "claim verdicts not compared: the runs audited different scopes"
    changes = []
    for claim_id in sorted(old.keys() | new.keys()):
        before, after = old.get(claim_id), new.get(claim_id)
        b, a = (before or {}).get("verdict"), (after or {}).get("verdict")
        if b != a:
            changes.append(ClaimChange(claim_id, b, a, str((after or before or {}).get("summary", ""))))
    return tuple(changes), None


def with_claims(snapshot: dict[str, Any], run_dir: str, manifest_sha256: str | None) -> dict[str, Any]:
    """A history snapshot plus the claim verdicts of its run folder's report.json (the history
    keeps results only). When the folder is gone or no longer matches the recorded manifest,
    the snapshot says why (`claims_unavailable`), so a comparison says so rather than silently
    dropping the claims."""
    folder = Path(run_dir)
    try:
        manifest = (folder / MANIFEST).read_bytes()
        if manifest_sha256 is not None and sha256(manifest) != manifest_sha256:
            raise DiffError(f"{folder / MANIFEST}: differs from the one the history recorded")
        raw = (folder / "report.json").read_bytes()
        _check_manifest(folder, raw)
        policy = json.loads(raw.decode("utf-8")).get("policy")
    except FileNotFoundError:
        return {**snapshot, "claims_unavailable": f"its run folder {folder} (report.json, manifest) is gone"}
    except (OSError, ValueError, DiffError) as exc:
        return {**snapshot, "claims_unavailable": str(exc)}
    if policy is None:
        return snapshot
    claims = [{"id": c["id"], "verdict": c["verdict"], "summary": c.get("summary", "")}
              for c in policy.get("claims", [])]
    return {**snapshot, "policy": {"id": policy.get("id"), "claims": claims}}


def _value_changes(host: str, check_id: str, before: Mapping[str, Any], after: Mapping[str, Any],
                   keys: tuple[str, ...] | None) -> list[ValueChange]:
    if keys is None:
        keys = tuple(k for k in sorted(before.keys() | after.keys())
                     if isinstance(before.get(k, after.get(k)), int | float)
                     and not isinstance(before.get(k, after.get(k)), bool))
    return [ValueChange(host, check_id, k, before.get(k), after.get(k)) for k in keys
            if before.get(k) != after.get(k)]


def load_side(reference: str, history_path: Path | None, signers: trust.TrustStore | None = None,
              allow_untrusted: bool = False) -> dict[str, Any]:
    """A run folder (its report.json), or a run id / `last` / `previous` from the history.

    A signed run folder must be signed validly by a key `signers` trusts (None: the verifier's
    default trust, as `auditor verify` judges it) unless `allow_untrusted`; an unsigned one is
    read as before, its report.json checked against its manifest. The history is the user's
    own record, so a run named by id is not judged again."""
    folder = Path(reference)
    if (folder / "report.json").is_file():
        try:
            raw = (folder / "report.json").read_bytes()
            _check_manifest(folder, raw)
            _check_signer(folder, signers, allow_untrusted)
            data: dict[str, Any] = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise DiffError(f"{folder / 'report.json'}: cannot read: {exc}") from None
        return data
    if folder.is_dir():
        raise DiffError(f"{folder}: not a run folder (no report.json)")
    if history_path is None:
        raise DiffError(f"{reference!r} is not a run folder, and history is off (--no-history)")
    try:
        with History(history_path, readonly=True) as history:
            row = history.find(reference)
            return with_claims(history.snapshot(row), row.run_dir, row.manifest_sha256)
    except HistoryError as exc:
        raise DiffError(str(exc)) from None


def _check_signer(folder: Path, signers: trust.TrustStore | None, allow_untrusted: bool) -> None:
    """A signed folder's signature holds, and its signer is trusted (or that is allowed)."""
    try:
        verification = pack.verify(pack.read(folder), signers or trust.for_verifier((), ()))
    except pack.PackError as exc:
        raise DiffError(f"{folder}: {exc}") from None
    if not verification.signed:
        return  # unsigned: as before; the manifest's hash of report.json is all there is to check
    if not verification.signature_ok:
        raise DiffError(f"{folder}: {verification.signature} (check with `auditor verify {folder}`)")
    if not verification.trusted and not allow_untrusted:
        raise UntrustedSide(f"{folder}: signature valid, signer NOT trusted: {verification.fingerprint} "
                            f"({verification.trust}); --allow-untrusted to compare with it anyway")


def _check_manifest(folder: Path, report: bytes) -> None:
    """The folder's report.json is the one its manifest lists (SHA-256), not one edited since.
    The manifest's signature is `auditor verify`'s job."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = {a["path"]: a.get("sha256") for a in manifest["artifacts"]}
    except FileNotFoundError:
        raise DiffError(f"{folder}: no {MANIFEST}, so its report.json cannot be trusted as it is "
                        "(a run writes one; an interrupted copy may lack it)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DiffError(f"{folder / MANIFEST}: not a valid manifest ({type(exc).__name__})") from None
    if listed.get("report.json") != sha256(report):
        raise DiffError(f"{folder / 'report.json'}: does not match the SHA-256 in {MANIFEST}; it was changed "
                        f"after the run (check with `auditor verify {folder}`)")


def _fmt(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value


def render_text(diff: Diff) -> str:
    lines = [f"base {diff.base} -> current {diff.current}"]
    if diff.scope_note:
        lines.append(f"note: {diff.scope_note}")

    def section(title: str, changes: tuple[Change, ...]) -> None:
        if changes:
            lines.append(f"{title} ({len(changes)}):")
            lines.extend(f"  {c.host} {c.check_id}: {c.before or 'absent'} -> {c.after or 'absent'}: "
                         f"{c.summary}" for c in changes)

    section("new failures", diff.new_failures)
    section("new errors", diff.new_errors)
    section("resolved failures", diff.resolved_failures)
    section("newly waived", diff.newly_waived)
    section("waiver expired or removed", diff.waiver_expired)
    section("coverage lost (the check no longer answers)", diff.coverage_lost)
    section("other status changes", diff.other_changes)
    if diff.claims:
        lines.append(f"claims ({len(diff.claims)}):")
        lines.extend(f"  {'REGRESSION ' if c.regressed else ''}{c.claim_id}: {c.before or 'absent'} -> "
                     f"{c.after or 'absent'}: {c.summary}" for c in diff.claims)
    if diff.claims_note:
        lines.append(f"note: {diff.claims_note}")
    if diff.hosts_added:
        lines.append(f"hosts added: {', '.join(diff.hosts_added)}")
    if diff.hosts_removed:
        lines.append(f"hosts removed: {', '.join(diff.hosts_removed)}")
    if diff.changed_values:
        lines.append(f"changed values ({len(diff.changed_values)}):")
        lines.extend(f"  {v.host} {v.check_id} {v.key}: {_fmt(v.before)} -> {_fmt(v.after)}"
                     for v in diff.changed_values)
    regressions, claims = diff.regressions, diff.claim_regressions
    if claims:
        lines.append(f"{len(regressions)} regression(s); {len(claims)} claim(s) no longer hold")
    else:
        lines.append(f"{len(regressions)} regression(s)" if regressions else "no regressions")
    return "\n".join(lines) + "\n"


def to_dict(diff: Diff) -> dict[str, Any]:
    def changes(items: tuple[Change, ...]) -> list[dict[str, Any]]:
        return [{"host": c.host, "check": c.check_id, "before": c.before.value if c.before else None,
                 "after": c.after.value if c.after else None, "summary": c.summary} for c in items]

    return {
        "base": diff.base, "current": diff.current,
        "new_failures": changes(diff.new_failures), "new_errors": changes(diff.new_errors),
        "resolved_failures": changes(diff.resolved_failures), "newly_waived": changes(diff.newly_waived),
        "waiver_expired": changes(diff.waiver_expired), "other_changes": changes(diff.other_changes),
        "hosts_added": list(diff.hosts_added), "hosts_removed": list(diff.hosts_removed),
        "changed_values": [{"host": v.host, "check": v.check_id, "key": v.key, "before": v.before,
                            "after": v.after} for v in diff.changed_values],
        "regressions": len(diff.regressions),
        "scope_note": diff.scope_note,
        "coverage_lost": changes(diff.coverage_lost),
        "claims": [{"claim": c.claim_id, "before": c.before, "after": c.after, "summary": c.summary,
                    "regression": c.regressed} for c in diff.claims],
        "claim_regressions": len(diff.claim_regressions),
        "claims_note": diff.claims_note,
    }

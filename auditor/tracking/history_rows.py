"""The history store's rows and scopes: what a query answers (RunRow, PopulationRow, SeriesRow),
what a run audited (Scope), how a result becomes a row, and `--since` ages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.check import Severity, Status, by_severity
from auditor.model import CheckResult


@dataclass(frozen=True)
class Scope:
    """What a run audited: runs of the same scope are each other's baselines."""

    inventory: str  # absolute path of the inventory file
    policy: str | None  # the audited policy's id
    selection: str  # the --host/--group/--check choice, as canonical JSON ("{}" for everything)

    @staticmethod
    def of(inventory: Path, policy: str | None, hosts: Sequence[str] = (), groups: Sequence[str] = (),
           checks: Sequence[str] = ()) -> Scope:
        chosen = {k: sorted(v) for k, v in (("hosts", hosts), ("groups", groups), ("checks", checks)) if v}
        return Scope(str(inventory.absolute()), policy, json.dumps(chosen, sort_keys=True))

    def describe(self) -> str:
        chosen = json.loads(self.selection)
        flags = " ".join(f"--{k[:-1]} {v}" for k, values in chosen.items() for v in values)
        return f"{self.inventory}" + (f" policy {self.policy}" if self.policy else "") + (
            f" {flags}" if flags else "")


@dataclass(frozen=True)
class RunRow:
    id: int
    run_id: str
    started: str
    finished: str
    complete: bool
    run_dir: str
    manifest_sha256: str | None
    signed: bool
    baseline: str | None
    totals: Mapping[str, int]
    scope: Scope | None = None  # None: recorded before schema 3 with a relative inventory path


@dataclass(frozen=True)
class PopulationRow:
    run_id: str
    started: str
    complete: bool
    manifest_sha256: str | None
    signer_fingerprint: str | None
    policy: str | None
    host: str
    check_id: str
    status: str
    original_status: str | None


@dataclass(frozen=True)
class SeriesRow:
    run_id: str
    started: str
    host: str
    status: Status
    original_status: Status | None
    summary: str
    key_values: Mapping[str, Any]
    advisory_severity: Severity | None = None  # the worst advisory the result had


_RUN_COLUMNS = ("id, run_id, started, finished, complete, run_dir, manifest_sha256, signed, baseline, "
                "totals, inventory_abspath, policy_id, selection")


def _run_row(r: tuple[Any, ...]) -> RunRow:
    scope = Scope(r[10], r[11], r[12] or "{}") if r[10] else None
    return RunRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], bool(r[7]), r[8], json.loads(r[9]), scope)


def key_values(result: CheckResult, keys: Sequence[str]) -> dict[str, Any]:
    """The result's trend values: those of `keys` (the check's `trend_values`) it measured."""
    return {k: result.values[k] for k in keys if k in result.values}


def _result_row(run: int | None, host: str, r: CheckResult, keys: Sequence[str]) -> tuple[Any, ...]:
    tracked = key_values(r, keys)
    return (run, host, r.check_id, r.status.value, r.original_status.value if r.original_status else None,
            r.summary, r.waiver.justification if r.waiver and r.waiver.applied else None,
            json.dumps(dict(r.values), sort_keys=True, default=str),
            json.dumps(tracked, sort_keys=True, default=str), first_number(tracked), worst_advisory(r))


def worst_advisory(result: CheckResult) -> str | None:
    """The severity of the result's worst advisory, or None."""
    found = by_severity(result.advisories)
    return found[0].severity.value if found else None


def first_number(values: Mapping[str, Any]) -> float | None:
    for value in values.values():
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


_AGE = re.compile(r"^(\d+)([dwmy])$")
_AGE_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def since_to_iso(text: str, now: dt.datetime) -> str:
    """`90d`, `12w`, `6m` (30 days each), `1y` (365 days) or a date YYYY-MM-DD -> an ISO UTC instant."""
    match = _AGE.match(text.strip())
    if match:
        moment = now - dt.timedelta(days=int(match[1]) * _AGE_DAYS[match[2]])
    else:
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(text.strip()), dt.time(), dt.UTC)
        except ValueError:
            raise ValueError(f"{text!r} is not an age like 90d, 12w, 6m, 1y or a date YYYY-MM-DD") from None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")

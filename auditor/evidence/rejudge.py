"""Re-judge a pack's saved evidence with today's checks, offline.

An auditor reproduces the recorded verdicts from the raw evidence alone; after a check
improves, old evidence can be judged again. Nothing connects anywhere: the probe outputs
come from the pack's evidence files, the parameters from its report.json.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.check import Check, Outputs, Status
from auditor.evidence.pack import PackContents, PackError
from auditor.evidence.store import expired_on, output_of, read_records


@dataclass(frozen=True)
class Rejudged:
    host: str
    check_id: str
    recorded: str  # status in the pack
    today: str | None  # status now; None when it could not be judged
    recorded_summary: str
    today_summary: str

    @property
    def differs(self) -> bool:
        return self.today != self.recorded


def rejudge(contents: PackContents, checks: Mapping[str, Check],
            at: dt.datetime | None = None) -> list[Rejudged]:
    """Every recorded verdict judged again; with `at`, evidence that stopped being current by
    then (its `expires_at`) is not judged: the result is `error`, saying when it expired."""
    data = contents.files.get("report.json")
    if data is None:
        raise PackError("the pack has no report.json")
    report = json.loads(data)
    records = read_records(contents.files)
    verdicts = []
    for host in report["hosts"]:
        collected = host["reachable"] and not host.get("error")
        for recorded in host["results"]:
            check = checks.get(recorded["check"])
            # A waived result is compared by what the check found; a `run: false` waiver left no evidence.
            found = recorded.get("original_status") or recorded["status"]
            if not collected or found == "waived":
                today, summary = found, "(not collected; nothing to re-judge)"
            elif check is None:
                today, summary = None, "this check is not available in this auditor"
            else:
                used = {probe.name: records[host["name"], f"{check.id}.{probe.name}"]
                        for probe in check.probes if (host["name"], f"{check.id}.{probe.name}") in records}
                expired = sorted(filter(None, (expired_on(r, at) for r in used.values())))
                if expired:
                    today, summary = Status.ERROR.value, (f"evidence expired on {expired[0]} (judge it as of "
                                                         "its time with --at)")
                else:
                    outputs = Outputs({name: output_of(name, record) for name, record in used.items()})
                    outcome = check.judge(outputs, dict(recorded["params"]))
                    today, summary = outcome.status.value, outcome.summary
            verdicts.append(Rejudged(host["name"], recorded["check"], found, today,
                                     recorded["summary"], summary))
    return verdicts

"""Re-judge a pack's saved evidence with today's checks, offline.

An auditor reproduces the recorded verdicts from the raw evidence alone; after a check
improves, old evidence can be judged again. Nothing connects anywhere: the probe outputs
come from the pack's evidence files, the parameters from its report.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.check import Check, Outputs
from auditor.evidence.pack import PackContents, PackError
from auditor.evidence.store import output_of, read_records


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


def rejudge(contents: PackContents, checks: Mapping[str, Check]) -> list[Rejudged]:
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
                outputs = Outputs({
                    probe.name: output_of(probe.name, records[host["name"], f"{check.id}.{probe.name}"])
                    for probe in check.probes if (host["name"], f"{check.id}.{probe.name}") in records
                })
                outcome = check.judge(outputs, dict(recorded["params"]))
                today, summary = outcome.status.value, outcome.summary
            verdicts.append(Rejudged(host["name"], recorded["check"], found, today,
                                     recorded["summary"], summary))
    return verdicts

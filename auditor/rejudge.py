"""Re-judge a pack's saved evidence with today's checks, offline.

An auditor reproduces the recorded verdicts from the raw evidence alone; after a check
improves, old evidence can be judged again. Nothing connects anywhere: the probe outputs
come from the pack's evidence files, the parameters from its report.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.check import Check, Outputs, ProbeOutput
from auditor.pack import PackContents, PackError


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


def _evidence(contents: PackContents) -> dict[tuple[str, str], dict[str, Any]]:
    """(host, probe key) -> the stored probe record."""
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for path, data in contents.files.items():
        if not (path.startswith("evidence/") and path.endswith(".json")):
            continue
        try:
            record = json.loads(data)
            records[record["host"], record["probe"]] = record
        except (ValueError, KeyError, TypeError):
            continue  # verification names altered files; a garbled one is simply not evidence
    return records


def _output(name: str, record: Mapping[str, Any]) -> ProbeOutput:
    return ProbeOutput(
        name=name,
        stdout=record.get("stdout", ""),
        stderr=record.get("stderr", ""),
        rc=record.get("rc"),
        duration_ms=record.get("duration_ms"),
        truncated=bool(record.get("truncated", False)),
        ok_rc=tuple(record.get("ok_rc", (0,))),
    )


def rejudge(contents: PackContents, checks: Mapping[str, Check]) -> list[Rejudged]:
    data = contents.files.get("report.json")
    if data is None:
        raise PackError("the pack has no report.json")
    report = json.loads(data)
    records = _evidence(contents)
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
                    probe.name: _output(probe.name, records[host["name"], f"{check.id}.{probe.name}"])
                    for probe in check.probes if (host["name"], f"{check.id}.{probe.name}") in records
                })
                outcome = check.judge(outputs, dict(recorded["params"]))
                today, summary = outcome.status.value, outcome.summary
            verdicts.append(Rejudged(host["name"], recorded["check"], found, today,
                                     recorded["summary"], summary))
    return verdicts

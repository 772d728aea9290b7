"""What auditing a policy adds to a run: loading the claims file, planning, the claim verdicts,
the controls matrix, controls.csv and the bigger report.html. No hosts needed.

    python bench/policy.py [--hosts 100] [--repeat 5]

Builds a synthetic finished run of `--hosts` hosts, each with one result per check of the
built-in catalogue (a mix of pass, fail, error, skip) and three evidence files per result,
and a policy of 20 claims over those checks (the size of the shipped apifonica set). Prints
the median milliseconds of each step, and of report.html with and without the policy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor import inventory  # noqa: E402
from auditor.check import Status  # noqa: E402
from auditor.engine import registry  # noqa: E402
from auditor.model import CheckInfo, CheckResult, EvidenceRef, HostReport, RunReport  # noqa: E402
from auditor.policy import claims
from auditor.policy import verdicts as claim_verdicts
from auditor.report import controls_csv, html, json_report  # noqa: E402

STATUSES = (Status.PASS, Status.PASS, Status.PASS, Status.FAIL, Status.SKIP, Status.ERROR)


def claims_file(check_ids: list[str]) -> str:
    lines = ["format: 1", "policy: {id: bench, title: Bench, document: bench.txt, language: pl}", "claims:"]
    for index in range(20):
        lines += [f"  - id: claim-{index}", f"    quote: \"Obietnica numer {index}.\"",
                  "    gloss: A promise."]
        if index % 5 == 4:
            lines.append("    manual: Ask for the procedure.")
        else:
            lines.append(f"    checks: {{{check_ids[index % len(check_ids)]}: {{}}}}")
    return "\n".join(lines) + "\n"


def median_ms(step: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    checks = registry.load().checks
    ids = sorted(checks)
    tmp = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    (tmp / "policy.yaml").write_text(claims_file(ids))
    (tmp / "inv.yaml").write_text("hosts:\n" + "".join(f"  h{i:03}: {{address: 10.0.{i // 250}.{i % 250}}}\n"
                                                       for i in range(args.hosts)))
    inv = inventory.load(tmp / "inv.yaml", checks)
    loaded = claims.load(tmp / "policy.yaml", checks)
    plan = claims.plan(loaded, inv, inv.hosts, checks)
    def results(n: int, host: inventory.Host) -> tuple[CheckResult, ...]:
        return tuple(
            CheckResult(c.id, c.title, STATUSES[(n + i) % len(STATUSES)], "summary", claims=c.claims,
                        controls=c.controls,
                        evidence=tuple(EvidenceRef(f"{c.id}.p{k}", f"evidence/{host.name}/{c.id}.p{k}.json",
                                                   "0" * 64, 100) for k in range(3)))
            for i, c in enumerate(plan.checks_for[host.name]))

    hosts = tuple(HostReport(h.name, h.address, "ssh", True, None, None, {}, results(n, h), 10.0)
                  for n, h in enumerate(plan.hosts))
    infos = tuple(CheckInfo(c.id, c.title, c.claims, c.controls, c.description) for c in plan.checks)
    without = RunReport("20260101T000000Z-abcdef", "t", "t", "0", "me", "inv", "0" * 64, infos, hosts, True)
    with_policy = RunReport("20260101T000000Z-abcdef", "t", "t", "0", "me", "inv", "0" * 64, infos, hosts,
                            True, policy=plan.audited)
    verdicts = claim_verdicts.judge(with_policy, plan.audited)
    matrix = claim_verdicts.controls_matrix(with_policy, verdicts)
    rows = [
        ("load claims file (20 claims)", lambda: claims.load(tmp / "policy.yaml", checks)),
        (f"plan ({args.hosts} hosts)", lambda: claims.plan(loaded, inv, inv.hosts, checks)),
        ("claim verdicts", lambda: claim_verdicts.judge(with_policy, plan.audited)),
        ("controls matrix", lambda: claim_verdicts.controls_matrix(with_policy, verdicts)),
        ("controls.csv", lambda: controls_csv.render(matrix)),
        ("report.json, no policy", lambda: json_report.render(without)),
        ("report.json, with policy", lambda: json_report.render(with_policy)),
        ("report.html, no policy", lambda: html.render(without)),
        ("report.html, with policy", lambda: html.render(with_policy)),
    ]
    print(f"{args.hosts} hosts × {len(infos)} checks, {len(loaded.claims)} claims; median of {args.repeat}")
    for name, step in rows:
        print(f"  {name:<28} {median_ms(step, args.repeat):8.1f} ms")
    print(f"  controls.csv size             {len(controls_csv.render(matrix).encode()):8d} bytes")
    print(f"  report.html size, no / with   {len(html.render(without).encode()):8d} / "
          f"{len(html.render(with_policy).encode())} bytes")


if __name__ == "__main__":
    main()

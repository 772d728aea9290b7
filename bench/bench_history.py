"""History benchmark: what recording runs costs, how big the database grows, how fast it reads.

    python bench/bench_history.py                        # 100 hosts x 12 checks x 365 runs
    python bench/bench_history.py --hosts 20 --runs 30   # smaller
    python bench/bench_history.py --json

It builds a year of nightly runs in a fresh database in a temporary folder through the real
`History.record` (one transaction per run, as `auditor run` does), with results shaped like
the real checks' (a summary sentence, 3-6 measured values, the trend values), then times the
reads a user makes: `auditor history --check backups --since 90d` for one host and for the
fleet, the run listing, the trend read every HTML report does (last 19 runs), and the
baseline a `--baseline previous` run looks up (same inventory and policy) and reads. It
prints insert ms per run and per row, bytes per host x check row, and each query's time
(median of 5).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.check import Status  # noqa: E402
from auditor.model import CheckInfo, CheckResult, HostReport, RunReport  # noqa: E402
from auditor.tracking import history  # noqa: E402

CHECKS = {  # check id -> (trend keys, other values)
    "backups": (("newest_backup_age_hours",), {"jobs_found": 2, "daily_jobs": 1}),
    "log_retention": (("oldest_log_days",), {"config_min_days": 90, "min_days": 60, "host_age_days": 400.0}),
    "tls": (("min_days_to_expiry",), {"endpoints": 2, "endpoints_failing": 0, "endpoints_with_old_tls": 0}),
    "password_hashing": (("accounts_by_scheme",), {"locked_accounts": 14}),
    "ssh_hardening": (("weak_algorithms",), {"match_blocks": 0, "source": "sshd -T"}),
    "disk_encryption": (("storage_unencrypted",), {"storage_checked": 3, "crypttab_entries": 1}),
    "monitoring": (("agents_running",), {"smartd_running": True}),
    "auth_logging": (("records_missing_fields",), {}),
    "passwords_not_logged": (
        ("findings",),
        {"files_scanned": 212, "compressed_files": 40, "missing_paths": 0},
    ),
    "db_network_restricted": (("exposed_listeners",), {"database_listeners": 1}),
    "admin_change_audit": ((), {"auditd_running": True, "rules_loaded_confirmed": True}),
    "app_password_hashing": (
        ("weak_values", "values_by_scheme"),
        {"rows_sampled": 500, "duplicate_values": 0},
    ),
}


def trend_value(check: str, host: int, run: int) -> object:
    if check == "password_hashing":
        return {"yescrypt": 3 + host % 4, "sha512crypt": run % 2}
    if check == "app_password_hashing":
        return {"bcrypt": 480, "md5": host % 3}
    return round((host * 7 + run * 13) % 97 / 3, 1)


def make_run(index: int, hosts: int, start: dt.datetime) -> RunReport:
    started = (start + dt.timedelta(days=index)).strftime("%Y-%m-%dT%H:%M:%SZ")
    host_reports = []
    for h in range(hosts):
        results = []
        for c, (check, (keys, other)) in enumerate(CHECKS.items()):
            status = Status.FAIL if (h + c + index) % 23 == 0 else Status.PASS
            values = {**other, **{k: trend_value(check, h, index) for k in keys}}
            results.append(
                CheckResult(
                    check,
                    check,
                    status,
                    f"{check} on web-{h:03d}: newest thing is "
                    f"{values.get(keys[0], 0) if keys else 0} old (max 26 h)",
                    values=values,
                )
            )
        host_reports.append(
            HostReport(
                f"web-{h:03d}",
                f"10.0.{h // 250}.{h % 250}",
                "ssh",
                True,
                None,
                None,
                {},
                tuple(results),
                900.0,
            )
        )
    checks = tuple(CheckInfo(c, c, (), (), "", keys) for c, (keys, _) in CHECKS.items())
    return RunReport(
        f"{started[:10].replace('-', '')}T020000Z-{index:06x}",
        started,
        started,
        "0.1.0",
        "auditor@ops",
        "/etc/auditor/inventory.yaml",
        "ab" * 32,
        checks,
        tuple(host_reports),
        True,
    )


def timed(action, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--runs", type=int, default=365)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    start = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0) - dt.timedelta(
        days=args.runs
    )
    reports = [make_run(i, args.hosts, start) for i in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite"
        scope = history.Scope.of(Path("/srv/audit/fleet.yaml"), None)
        insert_ms = []
        for report in reports:
            began = time.perf_counter()
            with history.History(path) as store:  # open + record + close, as each `auditor run` does
                store.record(report, Path(tmp) / report.run_id, "cd" * 32, scope)
            insert_ms.append((time.perf_counter() - began) * 1000)
        rows = args.hosts * len(CHECKS) * args.runs
        size = sum(p.stat().st_size for p in Path(tmp).glob("history.sqlite*"))
        since = history.since_to_iso("90d", dt.datetime.now(dt.UTC))
        with history.History(path) as store:
            numbers = {
                "hosts": args.hosts,
                "checks": len(CHECKS),
                "runs": args.runs,
                "result_rows": rows,
                "insert_ms_per_run_median": round(statistics.median(insert_ms), 2),
                "insert_ms_per_run_last": round(statistics.median(insert_ms[-10:]), 2),
                "insert_us_per_row": round(
                    statistics.median(insert_ms) * 1000 / (args.hosts * len(CHECKS)), 2
                ),
                "db_bytes": size,
                "db_bytes_per_row": round(size / rows, 1),
                "series_one_host_90d_ms": round(timed(lambda: store.series("backups", "web-007", since)), 2),
                "series_fleet_90d_ms": round(timed(lambda: store.series("backups", None, since)), 2),
                "series_fleet_all_ms": round(timed(lambda: store.series("backups")), 2),
                "list_runs_ms": round(timed(lambda: store.runs()), 2),
                "trends_19_runs_ms": round(timed(lambda: store.trends(19)), 2),
                "snapshot_last_ms": round(timed(lambda: store.snapshot(store.find("last"))), 2),
                "baseline_previous_ms": round(timed(lambda: store.snapshot(store.baseline(scope)[0])), 2),
                "find_previous_ms": round(timed(lambda: store.find("previous")), 2),
            }
    if args.json:
        print(json.dumps(numbers, indent=2))
    else:
        for key, value in numbers.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

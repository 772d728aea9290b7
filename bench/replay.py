"""The auditor's own cost per host, without SSH: one recorded host replayed as N hosts.

    python bench/replay.py RUN_DIR --hosts 1000     # RUN_DIR: a run folder of `auditor run`

Every probe output of RUN_DIR's first host is handed to N inventory hosts in place of the
round trip, and the rest of `auditor.audit()` runs as it is: redaction, evidence files,
judging, report.json, junit.xml, report.html, results and controls CSV, oscal.json, the
manifest, the history. It prints the CPU per host of collection (everything per host after
the round trip) and of the run's end (the reports), and the peak RSS after each report,
so that a step that grows faster than the fleet, or holds the whole fleet at once, shows
at 1,000 hosts in a minute instead of in a 20-minute fleet run. No sshd, no root needed;
`bench/fleet.py` remains the measure of the whole thing against its floor.
"""

from __future__ import annotations

import argparse
import functools
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from auditor import pipeline  # noqa: E402 - after the path above
from auditor.check import ProbeOutput  # noqa: E402
from auditor.engine import runner  # noqa: E402
from auditor.evidence import oscal, pack, store  # noqa: E402
from auditor.report import html, json_report, junit, results_csv  # noqa: E402
from auditor.transports.local import LocalTransport  # noqa: E402


def recorded_outputs(run_dir: Path) -> dict[str, ProbeOutput]:
    """The probe outputs of the run folder's first host (in name order)."""
    hosts = sorted(p for p in (run_dir / store.EVIDENCE_DIR).iterdir() if p.is_dir())
    if not hosts:
        raise SystemExit(f"replay.py: {run_dir} holds no evidence folder of a host")
    files = {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in hosts[0].glob("*.json")}
    return {probe: store.output_of(probe, record) for (_, probe), record in store.read_records(files).items()}


class _NoTransport(LocalTransport):
    """Nothing to open or close: the outputs come from the recording."""

    def __enter__(self) -> _NoTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(owner: Any, name: str, hosts: int, say: Callable[[str], None]) -> None:
    """Wraps owner.name to report its CPU per host and the peak RSS after it."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        value = inner(*args, **kwargs)
        per_host = (time.process_time() - began) * 1000 / hosts
        label = f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"
        say(f"  {label}: {per_host:6.2f} ms/host, peak RSS {_peak_mb():4.0f} MB")
        return value

    setattr(owner, name, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The auditor's own CPU and memory per host, without SSH.")
    parser.add_argument("run_dir", type=Path, help="a run folder whose first host is replayed")
    parser.add_argument("--hosts", type=int, default=100, help="inventory hosts (default 100)")
    parser.add_argument("-j", "--jobs", type=int, default=16, help="hosts at a time (default 16)")
    parser.add_argument("--folder", type=Path, default=None,
                        help="where the temporary run folder goes (default: the system's); on ext4 "
                             "making a file costs more in some folders than others: compare in one")
    args = parser.parse_args(argv)
    outputs = recorded_outputs(args.run_dir)

    def collect(transport: object, probes: Any, *rest: Any, **kwargs: Any) -> dict[str, ProbeOutput]:
        return {p.key: outputs[p.key] for p in probes if p.key in outputs}

    runner.collect = collect  # type: ignore[assignment]
    runner.make_transport = lambda host, options: _NoTransport()
    for owner, name in ((json_report, "write"), (junit, "render"), (html, "write"), (results_csv, "render"),
                        (oscal, "write"), (pack, "write_manifest")):
        _timed(owner, name, args.hosts, print)
    tmp = Path(tempfile.mkdtemp(prefix="auditor-replay-", dir=args.folder))
    try:
        inventory = tmp / "inventory.yaml"
        inventory.write_text("defaults:\n  transport: local\nhosts:\n"
                             + "".join(f"  h{i:05d}: {{}}\n" for i in range(args.hosts)))
        collected: dict[str, float] = {}
        finish = pipeline.finish

        def timed_finish(*a: Any, **k: Any) -> pipeline.AuditOutcome:
            collected.update(cpu=time.process_time() - began, rss=_peak_mb())
            return finish(*a, **k)

        pipeline.finish = timed_finish  # type: ignore[assignment]
        began = time.process_time()
        pipeline.audit(pipeline.AuditRequest(inventory=inventory, output=tmp / "out",
                                             options=runner.RunOptions(jobs=args.jobs)))
        total = time.process_time() - began
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_host = {name: cpu * 1000 / args.hosts for name, cpu in
                (("all", total), ("collection", collected["cpu"]), ("end", total - collected["cpu"]))}
    print(f"{args.hosts} hosts replayed from {args.run_dir.name} ({len(outputs)} probe outputs each): "
          f"auditor CPU {per_host['all']:.1f} ms/host (collection {per_host['collection']:.1f}, "
          f"reports and manifest {per_host['end']:.1f}); peak RSS "
          f"{collected['rss']:.0f} MB after collection, {_peak_mb():.0f} MB at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

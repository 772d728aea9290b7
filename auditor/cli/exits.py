"""Exit codes: the one place that defines and describes them (the README's table and
`auditor --help` say the same)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from auditor.check import Status

if TYPE_CHECKING:  # `auditor --help` prints EPILOG without loading the run records
    from auditor.model import RunReport

EXIT_OK = 0  # every result pass, skip, manual or waived
EXIT_FAIL = 1  # at least one fail
EXIT_USAGE = 2  # a usage mistake or a broken input file
EXIT_HOST_ERROR = 3  # a host not audited or a result error, and no fail
EXIT_UNTRUSTED = 4  # verify/evaluate/diff: the pack is intact and validly signed, by a key not trusted
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130: Ctrl-C; a partial report marked incomplete was written
# 143: SIGTERM (timeout(1), systemctl stop, docker stop, Kubernetes) stops the run as Ctrl-C does
EXIT_TERMINATED = 128 + signal.SIGTERM

EPILOG = (f"exit codes: {EXIT_OK} all pass/skip/manual, {EXIT_FAIL} a check failed, {EXIT_USAGE} usage or "
          f"inventory error, {EXIT_HOST_ERROR} a host unreachable or a result error, {EXIT_UNTRUSTED} a "
          f"pack validly signed by a key you do not trust, {EXIT_INTERRUPTED} interrupted (Ctrl-C), "
          f"{EXIT_TERMINATED} stopped by SIGTERM;"
          f" with --fail-on new {EXIT_FAIL} and {EXIT_HOST_ERROR} count only regressions "
          f"against --baseline; --exit-zero makes all but {EXIT_USAGE} exit 0")


def run_exit_code(report: RunReport, fail_on_new: bool = False, exit_zero: bool = False,
                  stopped_by: signal.Signals = signal.SIGINT) -> int:
    """A run's exit code: by its results, or with `fail_on_new` by its regressions alone; a run
    that did not finish exits 128 + the signal that `stopped_by` says stopped it."""
    if not report.complete:
        return EXIT_TERMINATED if stopped_by is signal.SIGTERM else EXIT_INTERRUPTED
    tracking = report.tracking
    if fail_on_new and tracking is not None and tracking.baseline is not None:
        # A claim that held and now fails counts like a new fail; one that can no longer be
        # verified (lost coverage, an error) like a new error: the promise is not shown to hold.
        regressions, claims = tracking.regressions, tracking.claim_regressions
        failed = (any(r.status is Status.FAIL for r in regressions)
                  or any(c.verdict == Status.FAIL.value for c in claims))
        code = EXIT_FAIL if failed else EXIT_HOST_ERROR if regressions or claims else EXIT_OK
    else:
        code = _by_results(report)
    return EXIT_OK if exit_zero else code


def _by_results(report: RunReport) -> int:
    statuses = {r.status for h in report.hosts for r in h.results}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    if Status.ERROR in statuses or any(not h.reachable or h.error for h in report.hosts):
        return EXIT_HOST_ERROR
    return EXIT_OK

"""The Celery transport (the optional extra `auditor[celery]`): one queue per network segment.

The coordinator sends each shard to queue `auditor.<segment>`; a worker inside that segment
serves only that queue (`auditor worker --celery --broker URL --segment NAME`, or
`AUDITOR_BROKER=URL celery -A auditor.distributed.celery_app worker -Q auditor.NAME -P solo`),
audits the shard with the engine and returns its signed sub-pack as a tar.gz through the
result backend (the same Redis). The coordinator merges what comes back.

Delivery: a task is acknowledged only after it finished (`acks_late`), and rejected back to the
queue when its pool process dies (`reject_on_worker_lost`), so a shard whose worker is killed is
handed to another worker of the same segment: at once when only the pool child died, after
`redeliver_after` seconds (Redis's visibility timeout) when the whole worker died. That time
must be longer than any shard takes, or a slow shard runs twice (the merge keeps the first).
A shard not back by the coordinator's deadline is reported lost, naming the worker that
last started it.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from auditor.distributed import merge, shards, worker
from auditor.evidence import pack, trust
from auditor.pipeline import AuditOutcome, PreparedRun, load_checks

BROKER_ENV = "AUDITOR_BROKER"  # for `celery -A auditor.distributed.celery_app worker`
REDELIVER_ENV = "AUDITOR_REDELIVER_AFTER"
CHECKS_DIRS_ENV = "AUDITOR_CHECKS_DIRS"  # extra check folders on a worker, separated by os.pathsep
TASK = "auditor.audit_shard"
REDELIVER_AFTER = 1800.0
POLL_S = 0.5  # how often the coordinator asks the result backend about the shards still out

app = Celery("auditor", set_as_current=False)


def queue_name(segment: str) -> str:
    return f"auditor.{segment}"


def configure(broker: str, redeliver_after: float | None = None) -> None:
    after = redeliver_after or REDELIVER_AFTER
    app.conf.update(
        broker_url=broker, result_backend=broker,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_track_started=True,  # the coordinator can name the worker of a shard that never returned
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_accept_content=["json"], result_expires=7 * 86400,
        broker_connection_retry_on_startup=True, task_default_queue=queue_name("default"),
        # visibility_timeout: how long a delivered, unacknowledged shard waits before Redis gives it
        # to another worker; swept as often as that allows (kombu's default sweep is ~100 s)
        broker_transport_options={"visibility_timeout": after, "unacked_restore_throttle": 1,
                                  "unacked_restore_interval": max(1, min(10, int(after / 2)))},
        worker_send_task_events=False, worker_enable_remote_control=False,
    )


configure(os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0"),
          float(os.environ[REDELIVER_ENV]) if os.environ.get(REDELIVER_ENV) else None)


def _audit_shard(self: Any, shard_json: str) -> dict[str, str]:
    """A worker's task: the shard's signed sub-pack as a base64 tar.gz, and the worker's name."""
    shard = shards.read_shard(shard_json, f"task {self.request.id}")
    dirs = tuple(Path(d) for d in os.environ.get(CHECKS_DIRS_ENV, "").split(os.pathsep) if d)
    name = str(self.request.hostname or worker.default_worker_name())
    with tempfile.TemporaryDirectory(prefix="auditor-shard-") as tmp:
        folder = worker.run_shard(shard, Path(tmp), worker.signer_for(shard.signing_key), load_checks(dirs),
                                  name)
        archive = Path(tmp) / "subpack.tar.gz"
        pack.write_archive(folder, archive, as_zip=False, mtime=0)
        data = archive.read_bytes()
    return {"worker": name, "subpack": base64.b64encode(data).decode()}


audit_shard: Any = app.task(name=TASK, bind=True)(_audit_shard)


def serve(broker: str, segment: str, name: str | None, redeliver_after: float | None,
          checks_dirs: Sequence[Path]) -> None:
    """Run a worker that serves only its segment's queue; one shard at a time (a shard audits its
    hosts in parallel threads already), so killing it loses at most one shard."""
    configure(broker, redeliver_after)
    if checks_dirs:
        os.environ[CHECKS_DIRS_ENV] = os.pathsep.join(str(d.absolute()) for d in checks_dirs)
    app.worker_main(["worker", "-Q", queue_name(segment), "-P", "solo", "-c", "1", "--without-gossip",
                     "--without-mingle", "--without-heartbeat", "-l", "INFO",
                     "-n", name or f"{segment}@%h"])


def dispatch(prepared: PreparedRun, plan: shards.RunPlan, cut: Sequence[shards.Shard], broker: str,
             deadline_s: float, signers: trust.TrustStore | None,
             dispatched: Callable[[], None] = lambda: None,
             stop: threading.Event | None = None) -> AuditOutcome:
    """Send every shard to its segment's queue (then call `dispatched`), wait until all are back
    or the deadline passes (Ctrl-C or `stop`, which SIGTERM sets, stop waiting: the run is then
    marked incomplete), and merge."""
    stop = stop or threading.Event()
    configure(broker)
    out = {s.shard_id: audit_shard.apply_async(args=(s.to_json(),), queue=queue_name(s.segment)) for s in cut}
    dispatched()
    subpacks: list[merge.SubPack] = []
    lost_on: dict[str, str] = {}
    deadline = time.monotonic() + deadline_s
    with tempfile.TemporaryDirectory(prefix="auditor-subpacks-") as tmp:
        try:
            while out and time.monotonic() < deadline and not stop.is_set():
                for shard_id, result in list(out.items()):
                    if result.ready():
                        _collect(shard_id, out.pop(shard_id), Path(tmp), subpacks, lost_on)
                if out:
                    stop.wait(POLL_S)
        except KeyboardInterrupt:
            stop.set()
        complete = not stop.is_set()
        for shard_id, result in out.items():
            last = _last_worker(result)
            if last:
                lost_on[shard_id] = last
            result.forget()
        return merge.merge(prepared, plan.shards, subpacks, signers, lost_on=lost_on, complete=complete)


def _collect(shard_id: str, result: AsyncResult, tmp: Path, subpacks: list[merge.SubPack],
             lost_on: dict[str, str]) -> None:
    try:
        value = result.get(timeout=30, propagate=True)
        data = base64.b64decode(value["subpack"], validate=True)
    except Exception as exc:  # noqa: BLE001 - whatever a worker sent back, the shard's hosts are reported
        lost_on[shard_id] = f"{_last_worker(result) or 'unknown'} ({type(exc).__name__}: {exc})"
        return
    finally:
        result.forget()
    archive = tmp / f"{shard_id}.tar.gz"
    archive.write_bytes(data)
    subpacks.append(merge.SubPack(pack.read(archive), f"shard {shard_id} from {value.get('worker')}"))


def _last_worker(result: AsyncResult) -> str | None:
    """The worker that last started the shard (None: none did)."""
    info = result.info if result.state == "STARTED" else None
    return str(info["hostname"]) if isinstance(info, dict) and info.get("hostname") else None

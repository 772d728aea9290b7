"""A local batch that is stopped (its deadline, or a SIGTERM to the run) leaves nothing in its
spool directory's parent: the batch gets TERM first, and its trap removes its files."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from auditor.engine import batch
from auditor.transports.base import CommandTimeout
from auditor.transports.local import LocalTransport


def _hanging_batch(spool: Path) -> batch.Batch:
    probes = [batch.PlannedProbe("quick.facts", "echo ok", False, (0,)),
              batch.PlannedProbe("slow.hang", "sleep 60", False, (0,))]
    return batch.build(probes, sudo=False, probe_timeout=120, spool_dirs=(str(spool),))


def _spooled(spool: Path) -> list[Path]:
    return [p for p in spool.iterdir() if p.name.startswith("AUDITOR-")]


def test_a_batch_past_its_deadline_removes_its_spool_directory(tmp_path: Path) -> None:
    # Given a batch whose second probe hangs, spooling into a directory of the test's own
    built = _hanging_batch(tmp_path)
    # When the local transport's deadline ends it
    began = time.monotonic()
    with pytest.raises(CommandTimeout):
        LocalTransport().run(batch.PLAIN_COMMAND, built.script, timeout=1.0)
    # Then it ended at once, and its spool directory is gone with it
    assert time.monotonic() - began < 10
    assert _spooled(tmp_path) == []


def test_an_aborted_batch_removes_its_spool_directory(tmp_path: Path) -> None:
    # Given a batch running on the local transport, its spool directory made
    built = _hanging_batch(tmp_path)
    transport = LocalTransport()
    ended: list[BaseException | None] = []

    def run() -> None:
        try:
            transport.run(batch.PLAIN_COMMAND, built.script, timeout=60)
            ended.append(None)
        except BaseException as exc:  # noqa: BLE001 - whatever ends the run is the finding
            ended.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while not _spooled(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _spooled(tmp_path), "the batch never made its spool directory"
    time.sleep(0.2)  # the hanging probe is running
    # When the run is stopped (what SIGTERM or Ctrl-C on the auditor does)
    transport.abort()
    worker.join(10)
    # Then the batch ended and left nothing behind
    assert not worker.is_alive() and ended
    assert _spooled(tmp_path) == []

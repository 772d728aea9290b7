"""Collectors: probes that run from the auditor's machine rather than on the host.

Some promises are seen from the outside (a TLS handshake, an HTTP redirect). A check
declares such a probe with `auditor.probes.network(name, collector)`; the engine runs the
named collector here, in the host's worker thread, and hands its text output to the
check's evaluate() exactly like a shell probe's stdout, stored as evidence the same way.
Checks stay pure: all network code lives in this package.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.check import Probe, ProbeOutput


@dataclass(frozen=True)
class CollectorContext:
    host_name: str
    address: str  # the host's inventory address; a default target for the collector
    params: Mapping[str, Any]  # the check's parameters for this host
    timeout: float  # the whole collector's budget, seconds


Collector = Callable[[CollectorContext], str]


@dataclass(frozen=True)
class PlannedCollector:
    """A collector probe planned for one host; never part of the host's shell batch."""

    key: str  # "<check_id>.<probe_name>", unique within a host
    script: str  # what it does, as the evidence file records it
    probe: Probe
    context: CollectorContext
    root: bool = False

    @property
    def ok_rc(self) -> tuple[int, ...]:
        return self.probe.ok_rc

# name -> "module:function", imported on first use so that a run without these checks
# pays nothing for them.
COLLECTORS: dict[str, str] = {
    "tls": "auditor.collectors.tls:collect",
}


def find(name: str) -> Collector:
    target = COLLECTORS.get(name)
    if target is None:
        raise LookupError(f"no collector named {name!r} (known: {', '.join(sorted(COLLECTORS))})")
    module, _, function = target.partition(":")
    collector: Collector = getattr(importlib.import_module(module), function)
    return collector


def describe(probe: Probe, params: Mapping[str, Any]) -> str:
    """What the evidence file records as the probe's command."""
    shown = json.dumps(dict(params), sort_keys=True, default=str)
    return f"collector {probe.collector!r}, run from the auditor, with parameters {shown}"


def plan(key: str, probe: Probe, context: CollectorContext) -> PlannedCollector:
    return PlannedCollector(key, describe(probe, context.params), probe, context)


def run(planned: PlannedCollector) -> ProbeOutput:
    """Run one collector; its failure is the probe's failure (rc 1), never the run's."""
    probe = planned.probe
    started = time.perf_counter()
    try:
        stdout, stderr, rc = find(probe.collector)(planned.context), "", 0
    except Exception as exc:
        stdout, stderr, rc = "", f"collector {probe.collector} failed: {type(exc).__name__}: {exc}", 1
    return ProbeOutput(
        name=planned.key,
        stdout=stdout,
        stderr=stderr,
        rc=rc,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        ok_rc=probe.ok_rc,
    )

"""Helpers for declaring probes in check modules."""

from __future__ import annotations

from shlex import quote

from auditor.check import Probe, ProbeSite, ScriptSource

__all__ = ["network", "quote", "shell"]


def shell(name: str, script: ScriptSource, *, root: bool = False, ok_rc: tuple[int, ...] = (0,)) -> Probe:
    """A read-only shell probe. Parameter values must reach `script` through `quote`."""
    return Probe(name=name, script=script, ok_rc=ok_rc, root=root)


def network(name: str, collector: str) -> Probe:
    """A probe run from the auditor's machine by the engine collector `collector`."""
    return Probe(name=name, script="", site=ProbeSite.AUDITOR, collector=collector)

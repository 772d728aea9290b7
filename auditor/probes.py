"""Helpers for declaring probes in check modules."""

from __future__ import annotations

from shlex import quote

from auditor.check import Probe, ScriptSource

__all__ = ["quote", "shell"]


def shell(name: str, script: ScriptSource, *, root: bool = False, ok_rc: tuple[int, ...] = (0,)) -> Probe:
    """A read-only shell probe. Parameter values must reach `script` through `quote`."""
    return Probe(name=name, script=script, ok_rc=ok_rc, root=root)

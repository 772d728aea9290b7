"""Helpers for declaring probes in check modules."""

from __future__ import annotations

from collections.abc import Iterable
from shlex import quote

from auditor.check import Probe, ProbeSite, ScriptSource

__all__ = ["CLOCK_SH", "effective_uid", "network", "path_args", "quote", "shell"]

# Shell defining `clock`, which sets $now to a count of whole seconds for deadlines (not a date):
# the system's uptime, read by the shell itself, or `date +%s` where /proc/uptime is missing.
CLOCK_SH = ('if [ -r /proc/uptime ]; then clock() { read -r now _ </proc/uptime; now=${now%%.*}; }; '
            'else clock() { now=$(date +%s); }; fi')


def effective_uid(var: str = "uid") -> str:
    """Shell that sets `var` to the shell's effective uid, as `id -u` prints it: read from
    /proc/self/status by the shell itself (a process costs ~1 ms of host CPU), or from `id -u`
    where there is no /proc."""
    return (f"{var}=; {{ while read -r {var}_k {var}_r {var} {var}_s; do [ \"${var}_k\" = Uid: ] && break; "
            f"{var}=; done </proc/self/status; }} 2>/dev/null; [ -n \"${var}\" ] || {var}=$(id -u)")


def shell(name: str, script: ScriptSource, *, root: bool = False, ok_rc: tuple[int, ...] = (0,)) -> Probe:
    """A read-only shell probe. Parameter values must reach `script` through `quote`."""
    return Probe(name=name, script=script, ok_rc=ok_rc, root=root)


def network(name: str, collector: str) -> Probe:
    """A probe run from the auditor's machine by the engine collector `collector`."""
    return Probe(name=name, script="", site=ProbeSite.AUDITOR, collector=collector)


def path_args(paths: Iterable[object]) -> str:
    """Paths as shell words that no command reads as an option or an expression: each quoted,
    and a relative one written `./PATH` (find(1) takes `-exec`, `(` or `!` as the start of its
    expression, and `--` does not stop it)."""
    return " ".join(quote(p if p.startswith("/") else f"./{p}") for p in map(str, paths))

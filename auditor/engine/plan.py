"""Planning a host's audit: every selected check's probes with the host's parameters filled
in, plus the small facts probe (hostname, OS, user, clock) that every report carries."""

from __future__ import annotations

from collections.abc import Sequence

from auditor import collectors
from auditor.check import Check, ProbeOutput, ProbeSite
from auditor.engine import batch
from auditor.inventory import Host

FACTS_KEY = "_host.facts"
# Three forks (uname, id, date): the hostname and /etc/os-release are read by the shell itself,
# and `id` says both uid and user name (a uid without a name gives the number, as `id -un` does).
FACTS_SCRIPT = r"""
export LC_ALL=C
h=; { read -r h </proc/sys/kernel/hostname; } 2>/dev/null || h=$(hostname 2>/dev/null)
printf 'hostname=%s\n' "$h"
os=; while IFS= read -r l || [ -n "$l" ]; do case $l in PRETTY_NAME=*) os=${l#PRETTY_NAME=} ;; esac
  l=; done 2>/dev/null </etc/os-release
case $os in \"*\") os=${os#\"}; os=${os%\"} ;; \'*\') os=${os#\'}; os=${os%\'} ;; esac
printf 'os=%s\n' "$os"
u=$(uname -srm)
printf 'kernel=%s\narch=%s\n' "${u% *}" "${u##* }"
i=$(id); i=${i#uid=}; n=${i%%[!0-9]*}; i=${i%% *}
case $i in *\(*\)) i=${i#*\(}; i=${i%\)} ;; *) i=$n ;; esac
printf 'user=%s\nuid=%s\n' "$i" "$n"
printf 'clock_utc=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
"""


Planned = batch.PlannedProbe | collectors.PlannedCollector


def plan(host: Host, checks: Sequence[Check]) -> tuple[list[Planned], dict[str, str]]:
    """The host's probes with parameters filled in; checks whose probes cannot render."""
    probes: list[Planned] = [batch.PlannedProbe(FACTS_KEY, FACTS_SCRIPT, root=False, ok_rc=(0,))]
    broken: dict[str, str] = {}
    for check in checks:
        params = host.params_for(check)
        context = collectors.CollectorContext(host.name, host.address, params, host.command_timeout)
        try:
            rendered: list[Planned] = [
                collectors.plan(f"{check.id}.{p.name}", p, context) if p.site is ProbeSite.AUDITOR
                else batch.PlannedProbe(f"{check.id}.{p.name}", p.render(params), p.root, p.ok_rc)
                for p in check.probes
            ]
        except Exception as exc:
            broken[check.id] = f"cannot build probes from parameters: {type(exc).__name__}: {exc}"
            continue
        probes += rendered
    return probes, broken


def parse_facts(out: ProbeOutput | None) -> dict[str, str]:
    if out is None or not out.ok:
        return {}
    pairs = (line.partition("=") for line in out.stdout.splitlines())
    return {k: v for k, sep, v in pairs if sep}

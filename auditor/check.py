"""The vocabulary shared by checks and the engine.

A check is a declaration (`Check`) plus a pure `evaluate(outputs, params) -> Result`.
The engine runs the declared probes, hands their outputs to `evaluate`, and never lets
a check do I/O of its own. What a check concludes (Status, Severity, Findings, Result) lives
in `auditor.result` and is re-exported here, so a check imports everything from this module.
"""

from __future__ import annotations

import builtins
import dataclasses
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from auditor.result import (
    DEFAULT_FAIL_ON,
    JUDGING_FAIL_ON,
    PRECEDENCE,
    SEVERITIES,
    STATUS_SEVERITY,
    Finding,
    Findings,
    Result,
    Severity,
    Status,
    advisory_line,
    by_severity,
    first,
    result,
)

# The vocabulary of results is auditor.result's; checks import it from here.
__all__ = [
    "COMMON_PARAMS", "EVIDENCE_DAYS", "FAIL_ON", "PRECEDENCE", "SEVERITIES", "STATUS_SEVERITY", "Check",
    "Finding", "Findings", "Outputs", "Param", "Params", "Probe", "ProbeFailed", "ProbeOutput",
    "ProbeSite", "Result", "ScriptSource", "Severity", "Status", "advisory_line", "by_severity",
    "fail_on", "first", "result",
]


Params = Mapping[str, Any]
ScriptSource = str | Callable[[Params], str]


class ProbeSite(StrEnum):
    HOST = "host"  # a shell snippet run on the audited host, in the host's one batched script
    AUDITOR = "auditor"  # a network probe run from the auditor's machine by an engine collector


@dataclass(frozen=True)
class Probe:
    """A read-only probe: a shell snippet run on the host, or a collector run from the auditor.

    Host probes: `script` is shell text, or a function of the check's parameters returning
    shell text (every parameter value must reach the shell through `shlex.quote`). `ok_rc`
    lists the exit codes that mean "the probe worked"; any other is an `error` quoting rc
    and the first stderr line. `root` probes are run through `sudo -n` when the host is
    configured with `become: sudo` and the login user is not root.

    Auditor probes (`site=AUDITOR`): `collector` names an engine collector (see
    `auditor.collectors`), which gets the check's parameters and the host's address and
    returns text (JSON by convention); checks stay free of network code.
    """

    name: str
    script: ScriptSource
    ok_rc: tuple[int, ...] = (0,)
    root: bool = False
    site: ProbeSite = ProbeSite.HOST
    collector: str = ""

    def render(self, params: Params) -> str:
        return self.script(params) if callable(self.script) else self.script


@dataclass(frozen=True)
class Param:
    """A check parameter, overridable per host or group through inventory `vars`.

    A `list` parameter holds plain values; with `item_keys` its items may also be flat
    mappings with those keys (e.g. `{address: 10.0.0.5:443, sni: shop.example}`), and
    `required_item_keys` must be present in each mapping item, and `item_types` narrows a
    key's value type (otherwise any plain value), and `item_choices` lists the values an
    enumerated key may take (e.g. a source's `kind`), so a typo is refused at load. `minimum`
    is the smallest value a number parameter may take (inventory vars and claims below it are
    refused); `choices` the values a `str` parameter may take. `path`: the value (or each list
    item) reaches a host command as an argument, so one starting with `-` is refused at load (it
    would be read as an option). `secret`: the value may hold a credential (a connection string),
    so the run records it masked.
    """

    name: str
    type: type
    default: Any
    doc: str
    item_keys: tuple[str, ...] = ()
    required_item_keys: tuple[str, ...] = ()
    minimum: int | float | None = None
    item_types: Mapping[str, builtins.type] = field(default_factory=dict)  # `type` is the field above
    item_choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    choices: tuple[str, ...] = ()  # the values a plain `str` parameter may take, when enumerated
    path: bool = False
    secret: bool = False

    def type_name(self) -> str:
        return self.type.__name__


# Parameters every check takes (set through inventory vars like its own); not in its defaults.
EVIDENCE_DAYS = Param("evidence_days", float, 7.0,
                      "days this check's evidence shows the host's current state (its evidence files' "
                      "expires_at; sooner when a certificate in it expires first)", minimum=0)
FAIL_ON = Param("fail_on", str, DEFAULT_FAIL_ON.value,
                "the least severity of a finding that fails this check; findings below it are advisories "
                "(the check passes and reports them); `auditor run --fail-on-severity` sets it everywhere",
                choices=tuple(s.value for s in SEVERITIES))
COMMON_PARAMS = (EVIDENCE_DAYS, FAIL_ON)


def fail_on(params: Params) -> Severity:
    """The check's `fail_on` threshold from its parameters (the default when unset)."""
    return Severity(params.get(FAIL_ON.name, FAIL_ON.default))


def _not_loaded(outputs: Outputs, params: Params) -> Result:
    raise TypeError("this Check was not loaded through the registry, which sets its evaluate()")


@dataclass(frozen=True)
class Check:
    """A check's declaration. A check module defines `CHECK = Check(...)` beside a module-level
    `evaluate`; the registry returns the declaration with `evaluate` and `description` set."""

    id: str
    title: str
    claims: tuple[str, ...]
    controls: tuple[str, ...]
    probes: tuple[Probe, ...]
    params: tuple[Param, ...] = ()
    description: str = ""  # filled from the module docstring by the registry
    evaluate: Callable[[Outputs, Params], Result] = _not_loaded  # set by the registry
    source: str = ""  # where the check was loaded from, for error messages
    trend_values: tuple[str, ...] = ()  # keys of Result.values that history tracks over time

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param | None:
        return next((p for p in (*self.params, *COMMON_PARAMS) if p.name == name), None)

    def judge(self, outputs: Outputs, params: Params, *, crash: bool = False) -> Result:
        """Run evaluate(); a failed probe or a bug in the check becomes `error`, never a crash.
        With `crash`, a bug in the check propagates (the recorded-case tests want its traceback)."""
        grading = JUDGING_FAIL_ON.set(fail_on(params))
        try:
            outcome = self.evaluate(outputs, params)
        except ProbeFailed as exc:
            return Result(Status.ERROR, str(exc), evidence=tuple(outputs))
        except Exception as exc:
            if crash:
                raise
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return Result(
                Status.ERROR,
                f"the check itself failed ({type(exc).__name__}: {exc}); this is a bug in the check",
                details=(f"at {Path(where.filename).name}:{where.lineno}",),
                evidence=tuple(outputs),
            )
        finally:
            JUDGING_FAIL_ON.reset(grading)
        if outcome.status is Status.WAIVED:  # only an approved waiver waives, never the check itself
            return Result(Status.ERROR, "the check returned `waived`, which only a waiver may set; "
                          "this is a bug in the check", evidence=outcome.evidence)
        if outcome.status is not Status.PASS and not outcome.findings:
            # a check that reports through result() rather than Findings: its summary is its finding
            return dataclasses.replace(outcome, findings=(Finding(outcome.status, outcome.summary),))
        return outcome


@dataclass(frozen=True)
class ProbeOutput:
    """What one probe produced on one host (after on-host reduction and redaction)."""

    name: str
    stdout: str
    stderr: str
    rc: int | None  # None when the probe never finished (batch cut short)
    duration_ms: float | None
    truncated: bool = False
    ok_rc: tuple[int, ...] = (0,)
    timed_out_s: float | None = None  # killed at its deadline on the host (rc is then None)

    @property
    def ok(self) -> bool:
        return self.rc is not None and self.rc in self.ok_rc

    def failure_reason(self) -> str:
        if self.timed_out_s is not None:
            return f"probe {self.name} timed out after {self.timed_out_s:g} s"
        if self.rc is None:
            return f"probe {self.name} did not complete"
        first = next((ln for ln in self.stderr.splitlines() if ln.strip()), "")
        # At the size cap a write fails (EFBIG), and mawk or gawk end on it: the cap, not the host.
        cut = " after its output was cut at the size cap" if self.truncated else ""
        return f"probe {self.name} exited {self.rc}{cut}" + (f": {first.strip()}" if first else "")


class ProbeFailed(Exception):
    """Raised inside evaluate() by `Outputs.require`; the engine turns it into `error`."""


class Outputs(Mapping[str, ProbeOutput]):
    """The outputs of one check's probes on one host, by probe name."""

    def __init__(self, outputs: Mapping[str, ProbeOutput]) -> None:
        self._outputs = dict(outputs)

    def __getitem__(self, name: str) -> ProbeOutput:
        return self._outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    def require(self, name: str) -> ProbeOutput:
        """The output of a probe that must have succeeded, else ProbeFailed."""
        out = self._outputs.get(name)
        if out is None:
            raise ProbeFailed(f"probe {name} produced no output")
        if not out.ok:
            raise ProbeFailed(out.failure_reason())
        return out

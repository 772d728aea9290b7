"""The vocabulary shared by checks and the engine.

A check is a declaration (`Check`) plus a pure `evaluate(outputs, params) -> Result`.
The engine runs the declared probes, hands their outputs to `evaluate`, and never lets
a check do I/O of its own.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not determine; never silently a pass
    SKIP = "skip"  # not applicable on this host
    MANUAL = "manual"  # needs evidence the host cannot show
    WAIVED = "waived"  # set by the engine from an approved waiver, never returned by a check


# Worst first: the order in which a host's or a fleet's overall status is decided.
STATUS_SEVERITY = (Status.FAIL, Status.ERROR, Status.MANUAL, Status.WAIVED, Status.PASS, Status.SKIP)


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
    refused).
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

    def type_name(self) -> str:
        return self.type.__name__


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    claims: tuple[str, ...]
    controls: tuple[str, ...]
    probes: tuple[Probe, ...]
    params: tuple[Param, ...] = ()
    description: str = ""  # filled from the module docstring by the registry
    evaluate: Callable[[Outputs, Params], Result] | None = None  # set by the registry
    source: str = ""  # where the check was loaded from, for error messages
    trend_values: tuple[str, ...] = ()  # keys of Result.values that history tracks over time

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


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

    @property
    def ok(self) -> bool:
        return self.rc is not None and self.rc in self.ok_rc

    def failure_reason(self) -> str:
        if self.rc is None:
            return f"probe {self.name} did not complete"
        first = next((ln for ln in self.stderr.splitlines() if ln.strip()), "")
        return f"probe {self.name} exited {self.rc}" + (f": {first.strip()}" if first else "")


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


@dataclass(frozen=True)
class Result:
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # probe names this verdict relied on
    values: Mapping[str, Any] = field(default_factory=dict)  # key measured values


def result(
    status: Status,
    summary: str,
    details: list[str] | tuple[str, ...] = (),
    evidence: list[str] | tuple[str, ...] = (),
    **values: Any,
) -> Result:
    """Shorthand for checks: `result(Status.PASS, "...", details, evidence, oldest_days=91)`."""
    return Result(status, summary, tuple(details), tuple(evidence), dict(values))

"""Audit a test fleet through the real CLI, as the end-to-end tests do: write its inventory,
run `auditor run`, find the run folder, index the verdicts by host, and search every file the
run wrote for planted secrets."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from tests.conftest import CliResult, run_cli, run_folder
from tests.integration.sshhosts import SshdFleet, require_namespace_support


@dataclass(frozen=True)
class AuditRun:
    result: CliResult
    run_dir: Path
    report: dict[str, Any]
    by_host: dict[str, dict[str, Any]]  # host name -> its result of the audited check


class FleetOpener(Protocol):
    """The ``sshd_fleet`` fixture (tests/integration/conftest.py): ``with sshd_fleet(name,
    namespaces=False) as (fleet, tmp):``."""

    def __call__(self, name: str, *, namespaces: bool = False,
                 ) -> AbstractContextManager[tuple[SshdFleet, Path]]: ...


def fleet_opener(mktemp: Callable[[str], Path]) -> FleetOpener:
    """Opens fleets in fresh folders from ``mktemp``. The caller has made sure that sshd test hosts
    can run; ``namespaces=True`` also skips the test unless network/PID-namespace hosts can. The
    fleet is closed (every host stopped, its namespaces gone) when the block ends, also when it
    raises; ``tmp`` (inventories, reports) stays for the test to read."""

    @contextmanager
    def open_fleet(name: str, *, namespaces: bool = False) -> Iterator[tuple[SshdFleet, Path]]:
        if namespaces:
            require_namespace_support()
        tmp = mktemp(name)
        with SshdFleet(tmp) as fleet:
            yield fleet, tmp

    return open_fleet


def fleet_hosts(fleet: SshdFleet, vars: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The fleet's running hosts as inventory entries that trust its known_hosts; ``vars`` (copied)
    for every host when given."""
    hosts: dict[str, dict[str, Any]] = fleet.inventory_hosts()
    for entry in hosts.values():
        entry["known_hosts"] = str(fleet.known_hosts)
        if vars is not None:
            entry["vars"] = copy.deepcopy(vars)
    return hosts


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"hosts": hosts}))
    return path


def audit(inventory: Path, out: Path, check: str | None, *extra: str) -> AuditRun:
    """`auditor run --format json` of ``inventory`` into ``out`` (``--check check`` when given)."""
    only = ("--check", check) if check else ()
    result = run_cli("run", "-i", str(inventory), "-o", str(out), "--format", "json", *only, *extra)
    run_dir = run_folder(out)
    report = json.loads((run_dir / "report.json").read_text())
    by_host = {h["name"]: next(r for r in h["results"] if r["check"] == check)
               for h in report["hosts"]} if check else {}
    return AuditRun(result, run_dir, report, by_host)


def audit_fleet(fleet: SshdFleet, tmp: Path, check: str, vars: dict[str, Any] | None = None) -> AuditRun:
    """The common case: every running host of ``fleet`` (with ``vars``), audited for ``check``."""
    inventory = write_inventory(tmp / "inventory.yaml", fleet_hosts(fleet, vars))
    return audit(inventory, tmp / "reports", check)


def files_written(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def text_written(run_dir: Path) -> str:
    """Every file of the run folder (subfolders included) as one text."""
    return "\n".join(p.read_text(errors="replace") for p in files_written(run_dir))


def assert_nowhere_in(folder: Path, *secrets: str | bytes) -> list[Path]:
    """Assert that no file under ``folder`` (a run folder, or the output folder with its history)
    holds any of ``secrets``, compared as bytes (str as UTF-8); returns the files read so callers
    can check they are the ones expected."""
    assert secrets, "no secret to look for"
    files = files_written(folder)
    assert files, f"{folder} holds no file"
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            needle = secret.encode() if isinstance(secret, str) else secret
            assert needle not in content, f"{secret!r} found in {path}"
    return files

"""A chain across runs: each manifest records the SHA-256 of the previous manifest of the same
inventory and policy, so a run deleted, replaced, reordered, altered or re-signed later shows.

`walk` takes an output folder (its history.sqlite when there is one, else its run folders)
or a history database, groups the runs by scope, and checks each in order: its pack
(integrity, signature, trust), that its manifest is the one the history recorded, that it is
signed by the same key as the run before it, and that its link names the run before it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.evidence import pack, trust
from auditor.tracking import history


@dataclass(frozen=True)
class ChainRun:
    run_id: str
    started: str
    folder: Path
    scope: tuple[str, str | None] | None  # (inventory, policy); None: not known
    recorded_sha256: str | None = None  # the manifest hash the history recorded


@dataclass
class ChainReport:
    source: str
    runs: int = 0
    scopes: int = 0
    findings: list[str] = field(default_factory=list)  # "RUN: what happened to it"

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [*self.findings, f"chain:     {self.source}: {self.runs} run(s) in {self.scopes} scope(s), "
                f"{len(self.findings)} problem(s)", "CHAIN VERIFIED" if self.ok else "CHAIN BROKEN"]


def _from_history(path: Path) -> list[ChainRun]:
    with history.History(path, readonly=True) as store:
        rows = store.chain()
    return [ChainRun(r.run_id, r.started, Path(r.run_dir),
                     (r.scope.inventory, r.scope.policy) if r.scope else None, r.manifest_sha256)
            for r in rows]


def _from_folders(folder: Path) -> list[ChainRun]:
    """Run folders by start time; runs started in the same second by their links."""
    runs, links = [], {}
    for run_dir in sorted(p for p in folder.iterdir() if (p / pack.MANIFEST).is_file()):
        try:
            run = json.loads((run_dir / pack.MANIFEST).read_bytes())["run"]
            link = run.get("chain") or {}
            scope = link.get("scope")
            runs.append(ChainRun(str(run.get("id", run_dir.name)), str(run.get("started", "")), run_dir,
                                 (scope["inventory"], scope["policy"]) if scope else None))
            links[runs[-1].run_id] = link.get("previous_manifest_sha256")
        except (ValueError, KeyError, TypeError, AttributeError):
            runs.append(ChainRun(run_dir.name, "", run_dir, None))
    digests = {r.run_id: pack.sha256((r.folder / pack.MANIFEST).read_bytes()) for r in runs}
    depth: dict[str, int] = {}

    def position(run_id: str, seen: frozenset[str] = frozenset()) -> int:
        """How many runs it is chained after: 0 for the first of a chain, 1 after a missing run
        (links never loop; a forged loop stops)."""
        if run_id not in depth:
            link = links.get(run_id)
            before = next((r for r, d in digests.items() if d == link), None)
            depth[run_id] = (0 if link is None else 1 if before is None or before in seen
                             else 1 + position(before, seen | {run_id}))
        return depth[run_id]

    return sorted(runs, key=lambda r: (r.started, position(r.run_id), r.run_id))


def collect(path: Path) -> list[ChainRun]:
    if path.is_file():
        return _from_history(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such output folder or history database")
    database = path / history.DEFAULT_NAME
    return _from_history(database) if database.is_file() else _from_folders(path)


def walk(path: Path, signers: trust.TrustStore) -> ChainReport:
    runs = collect(path)
    report = ChainReport(str(path), runs=len(runs))
    groups: dict[tuple[str, str | None] | None, list[ChainRun]] = {}
    for run in runs:
        groups.setdefault(run.scope, []).append(run)
    report.scopes = len(groups)
    for group in groups.values():
        _walk_scope(group, signers, report.findings)
    return report


def _walk_scope(group: list[ChainRun], signers: trust.TrustStore, findings: list[str]) -> None:
    order = {run.run_id: index for index, run in enumerate(group)}
    hashes: dict[str, str] = {}  # manifest SHA-256 (as found, and as recorded) -> run id
    packs: dict[str, tuple[str, pack.Verification] | None] = {}
    for run in group:
        if not (run.folder / pack.MANIFEST).is_file():
            packs[run.run_id] = None
        else:
            verification = pack.verify(pack.read(run.folder), signers)
            found = pack.sha256((run.folder / pack.MANIFEST).read_bytes())
            packs[run.run_id] = (found, verification)
            hashes[found] = run.run_id
        if run.recorded_sha256:
            hashes.setdefault(run.recorded_sha256, run.run_id)
    before: ChainRun | None = None
    expected: str | None = None  # the manifest hash the next run should link to
    signer: str | None = None  # the key that signed the run before
    for run in group:
        say = _sayer(run, findings)
        opened = packs[run.run_id]
        if opened is None:
            say(f"deleted: its run folder {run.folder} is gone (recorded in the history with manifest "
                f"{(run.recorded_sha256 or '?')[:16]}…)")
            before, expected = run, run.recorded_sha256
            continue
        found, verification = opened
        if run.recorded_sha256 and found != run.recorded_sha256:
            say(f"replaced: its manifest ({found[:16]}…) is not the one the history recorded "
                f"({run.recorded_sha256[:16]}…)")
        resigned = _judge_pack(verification, signer, say)
        link = _link_of(verification.manifest)
        if link is not _NO_LINK and before is not None and link != expected:
            say(_broken_link(link, before, run, hashes, order))
        before, expected = run, run.recorded_sha256 or found
        if verification.signature_ok and not resigned:  # a trusted new key is a rotation
            signer = verification.fingerprint


_NO_LINK: Any = object()  # a manifest made before runs were chained


def _link_of(manifest: dict[str, Any]) -> Any:
    run = manifest.get("run")
    link = run.get("chain") if isinstance(run, dict) else None
    return link.get("previous_manifest_sha256") if isinstance(link, dict) else _NO_LINK


def _sayer(run: ChainRun, findings: list[str]) -> Any:
    def say(text: str) -> None:
        findings.append(f"{run.run_id}: {text}")
    return say


def _judge_pack(verification: pack.Verification, signer: str | None, say: Any) -> bool:
    """Say what is wrong with one run's pack; True when another, untrusted key signed it."""
    if not verification.intact:
        names = [*verification.problems, *(f"missing {p}" for p in verification.missing),
                 *(f"added {p}" for p in verification.added), *(f"altered {p}" for p in verification.altered)]
        say("altered: " + "; ".join(_first(names, 3)))
    elif verification.signed and not verification.signature_ok:
        say(f"altered: {verification.signature}")
    if not verification.signature_ok or verification.trusted:
        return False
    if signer is not None and verification.fingerprint != signer:
        say(f"re-signed by another key: {verification.fingerprint}, not trusted (the runs before were "
            f"signed by {signer})")
        return True
    say(f"signer NOT trusted: {verification.fingerprint} ({verification.trust})")
    return False


def _broken_link(link: str | None, before: ChainRun, run: ChainRun, hashes: dict[str, str],
                 order: dict[str, int]) -> str:
    if link is None:
        return f"names no previous run, but {before.run_id} came before it (the chain was restarted)"
    named = hashes.get(link)
    if named is not None and order[named] > order[run.run_id]:
        return f"reordered: it names {named} as the run before it, which comes after it"
    if named is not None:
        return (f"its previous run is {named}, not {before.run_id}: a run between them was added or "
                "reordered")
    return (f"names a previous manifest {link[:16]}… that no run has: {before.run_id} was replaced or "
            "re-signed after it, or a run between them was deleted")


def _first(items: Iterable[str], count: int) -> list[str]:
    items = list(items)
    return items[:count] + ([f"and {len(items) - count} more"] if len(items) > count else [])

"""The evidence file format, both halves: one JSON file per probe and host, written after
redaction, and read back by offline re-judging.

A record says what ran (the probe key, whether as root, on the host or from the auditor,
the command with secrets masked and the SHA-256 of the script as it ran) and what came back
(rc, the exit codes that mean "worked", duration, whether a cap cut it, stdout, stderr). It
also describes itself: the host as connected (`target`: inventory name, transport, address
and port used, the SSH host key that answered), `collected_at`, and `expires_at`, after
which it no longer shows the host's current state (the check's `evidence_days`, or sooner
when the evidence holds a certificate that expires first). Records written before these
fields existed are read the same way and never expire. It is written deterministically
(sorted keys), so the same outputs give the same bytes and the same SHA-256 in the manifest.

This module takes plain records, not the engine's planned probes, so the evidence wing
imports nothing from the engine.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import re
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.check import EVIDENCE_DAYS, ProbeOutput
from auditor.evidence import atomic
from auditor.evidence.redact import redact, redact_value
from auditor.model import CheckResult, EvidenceRef, Peer

EVIDENCE_DIR = "evidence"
MAX_CERTIFICATES = 32  # read per record for its expiry; a hostile output costs no more
_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_ESCAPED = re.compile(r"-[0-9a-f]{8}$")  # how an escaped name ends: one that does must be escaped too
_UPPER = re.compile(r"[A-Z]")
# Names Windows (and so an unpacked zip there) reserves, with or without an extension.
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)", re.IGNORECASE)
MAX_NAME = 64  # characters of a name kept before its hash; a path component holds 255 bytes


@dataclass(frozen=True)
class ProbeRun:
    """What ran for one probe: the key ("<check>.<probe>"), its script, as root, and where."""

    key: str
    command: str
    root: bool
    site: str  # "host" or "auditor"


@dataclass(frozen=True)
class Observation:
    """Who answered and when, for every record of one host."""

    host: str  # the inventory name
    peer: Peer | None  # the host as connected (None: the transport did not say)
    collected_at: dt.datetime
    lifetimes: Mapping[str, float] = dataclasses.field(default_factory=dict)  # check id -> evidence_days

    def target(self) -> dict[str, Any]:
        peer = self.peer
        if peer is None:
            return {"name": self.host}
        if peer.transport == "local":
            return {"name": self.host, "transport": "local"}
        target: dict[str, Any] = {"name": self.host, "transport": peer.transport, "address": peer.address,
                                  "port": peer.port}
        if peer.host_key_sha256:
            target["host_key"] = {"algorithm": peer.host_key_algorithm, "sha256": peer.host_key_sha256}
        return target

    def expires_at(self, probe_key: str, output: ProbeOutput) -> dt.datetime:
        days = self.lifetimes.get(probe_key.split(".", 1)[0], EVIDENCE_DAYS.default)
        by_lifetime = self.collected_at + dt.timedelta(days=days)
        return min([by_lifetime, *certificate_expiries(output.stdout)])


def certificate_expiries(text: str) -> list[dt.datetime]:
    """notAfter of the PEM certificates in a probe's output (also inside JSON strings)."""
    text = text.replace("\\n", "\n")
    found: list[dt.datetime] = []
    done = 0  # linear: each END is paired with the last BEGIN since the previous END
    while len(found) < MAX_CERTIFICATES:
        end = text.find(_END, done)
        if end < 0:
            break
        begin = text.rfind(_BEGIN, done, end)
        done = end + len(_END)
        if begin < 0:
            continue
        from cryptography import x509  # here: ~20 ms of import, needed only by a certificate

        try:
            found.append(x509.load_pem_x509_certificate(text[begin:done].encode()).not_valid_after_utc)
        except ValueError:
            continue
    return found


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def expired_on(record: Mapping[str, Any], at: dt.datetime | None) -> str | None:
    """The record's `expires_at` when it is at or before `at`; None when still current (or it has none)."""
    stamp = record.get("expires_at")
    if at is None or not isinstance(stamp, str):
        return None
    try:
        expires = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp  # a stamp nobody can read is not current evidence
    return stamp if (expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)) <= at else None


def safe_name(name: str) -> str:
    """A host or probe name as one path component, distinct for distinct names even where case
    does not count (an unpacked zip on macOS or Windows).

    An ordinary name (lower case letters, digits, `.`, `_`, `-`) is kept as it is. Any other is
    made safe and gets `-` and 8 hex digits of its SHA-256: `a/b` -> `a_b-c14cddc0`, `..` ->
    `_-<hash>`, `Web` -> `Web-<hash>`. A name that already ends like that, is over 64 characters,
    starts with `-` or `.`, or is a device name Windows reserves, is escaped too, so no escaped
    name can equal an ordinary one. Two escaped names share a folder only if 32 bits of their
    hashes do; `check_unique` refuses such a run before any host is contacted.
    """
    cleaned = _UNSAFE.sub("_", name).strip(".").lstrip("-") or "_"
    if (cleaned != name or _UPPER.search(name) or _ESCAPED.search(name) or _RESERVED.match(name)
            or len(name) > MAX_NAME):
        cleaned = cleaned[:MAX_NAME] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return cleaned


def host_folder(host_name: str) -> str:
    """The run-relative folder (`evidence/<safe name>`) that holds a host's evidence files."""
    return f"{EVIDENCE_DIR}/{safe_name(host_name)}"


def check_unique(host_names: Iterable[str]) -> dict[str, str]:
    """Host name -> its evidence folder; raises ValueError naming both hosts when two would share
    one (ignoring case, as a case-insensitive file system would)."""
    folders: dict[str, str] = {}
    owners: dict[str, str] = {}
    for name in host_names:
        folder = host_folder(name)
        other = owners.setdefault(folder.casefold(), name)
        if other != name:
            raise ValueError(f"hosts {other!r} and {name!r} would share the evidence folder {folder}; "
                             "rename one of them")
        folders[name] = folder
    return folders


def redact_outputs(outputs: Mapping[str, ProbeOutput]) -> tuple[dict[str, ProbeOutput], int]:
    """The local redaction pass over every probe's stdout and stderr; returns the count masked."""
    cleaned: dict[str, ProbeOutput] = {}
    total = 0
    for key, out in outputs.items():
        stdout, n_out = redact(out.stdout)
        stderr, n_err = redact(out.stderr)
        total += n_out + n_err
        cleaned[key] = dataclasses.replace(out, stdout=stdout, stderr=stderr) if n_out or n_err else out
    return cleaned, total


def redact_results(results: Sequence[CheckResult]) -> tuple[list[CheckResult], int]:
    """The safety net over what reports print: summaries, details and values, masked.

    Checks judge outputs that were redacted already, so this should find nothing; it is
    here so that a check which rebuilds a secret from its parts still cannot publish it.
    """
    cleaned, total = [], 0
    for r in results:
        held = (r.summary, r.details, r.values if type(r.values) is dict else dict(r.values),
                tuple(f.text for f in r.findings))
        redacted, count = redact_value(held)
        if redacted is held and held[2] is r.values:  # nothing masked: the result as it is
            cleaned.append(r)
            continue
        summary, details, values, texts = redacted
        findings = tuple(dataclasses.replace(f, text=text) for f, text in zip(r.findings, texts, strict=True))
        cleaned.append(dataclasses.replace(r, summary=summary, details=details, values=values,
                                           findings=findings))
        total += count
    return cleaned, total


@functools.lru_cache(maxsize=1024)
def _script_facts(script: str) -> tuple[str, str]:
    # The same probe text goes to every host: mask and hash it once per run, not once per host.
    return redact(script)[0], hashlib.sha256(script.encode()).hexdigest()


def store_evidence(run_dir: Path, host_name: str, probes: Iterable[ProbeRun],
                   outputs: Mapping[str, ProbeOutput],
                   observed: Observation | None = None) -> dict[str, EvidenceRef]:
    """One JSON file per probe that produced output: what ran, and what came back (already
    redacted), and with `observed`, who answered and until when it is current. Returns the
    references the results cite, by probe key.

    The files are made new under their final names and not flushed one by one: the run's
    manifest flushes the file system once before it lists them (`Ledger`, `atomic.create_all`)."""
    folder = host_folder(host_name)
    atomic.make_folder(run_dir / folder)
    ledger = Ledger.of(run_dir)
    same = ledger.interned
    target = observed.target() if observed is not None else None
    collected_at = iso(observed.collected_at) if observed is not None else None
    refs: dict[str, EvidenceRef] = {}
    files: list[tuple[str, bytes]] = []
    kept: list[tuple[Any, ...]] = []
    expiries: list[str | None] = []
    digests: list[bytes] = []
    for probe in probes:
        out = outputs.get(probe.key)
        if out is None:
            continue
        # script_sha256 is of the script as it ran; `command` is that script with anything that
        # looks like a credential masked, and says so, since it then no longer hashes to it.
        command, script_sha256 = _script_facts(probe.command)
        record: dict[str, Any] = {
            "host": host_name,
            "probe": probe.key,
            "root": probe.root,
            "site": probe.site,
            "command": command,
            "rc": out.rc,
            "ok_rc": list(out.ok_rc),
            "duration_ms": out.duration_ms,
            "truncated": out.truncated,
            **({"timed_out_s": out.timed_out_s} if out.timed_out_s is not None else {}),
            "stdout": out.stdout,
            "stderr": out.stderr,
            "script_sha256": script_sha256,
            **({"command_masked": True} if command != probe.command else {}),
        }
        expires_at = None
        if observed is not None:
            expires_at = iso(observed.expires_at(probe.key, out))
            record.update(target=target, collected_at=collected_at, expires_at=expires_at)
        name = same(f"{safe_name(probe.key)}.json")
        relative = f"{folder}/{name}"
        data = atomic.json_bytes(record, f"{run_dir}/{relative}", indent=1, sort_keys=True,
                                 ensure_ascii=False)
        files.append((name, data))
        digest = hashlib.sha256(data)
        digests.append(digest.digest())
        refs[probe.key] = EvidenceRef(probe.key, relative, digest.hexdigest(), len(data))
        kept.append(same((same(probe.key), probe.root, out.rc, script_sha256, command)))
        expiries.append(same(expires_at))
    ledger.write(run_dir, folder, files, lambda stats: WrittenHost(
        target, collected_at, tuple(name for name, _ in files), tuple(kept), tuple(expiries),
        b"".join(_STAMP.pack(s.st_ino, s.st_mtime_ns, s.st_size, digest)
                 for s, digest in zip(stats, digests, strict=True))))
    return refs


# --------------------------------------------------------------------------
# What this process wrote in a run folder: the manifest and oscal.json read it instead of the files
# --------------------------------------------------------------------------

_STAMP = struct.Struct("<QqQ32s")  # a file as written: inode, mtime (ns), size, SHA-256
MAX_LEDGERS = 32  # run folders remembered (a worker process runs many); an older one is read from disk


class RunSealedError(Exception):
    """Evidence that arrived once the run's manifest was being written (a host cut by a stop)."""


@dataclass(frozen=True, slots=True)
class WrittenHost:
    """One host's evidence files as this process wrote them: for each, what oscal.json cites of its
    record and, packed, what the manifest lists (inode, mtime and size say the file is still the one
    written; the SHA-256 is then its digest). About 3 KB a host: what every host shares (probe
    keys, scripts, expiry stamps of the same second) is one object for all."""

    target: Mapping[str, Any] | None
    collected_at: str | None
    names: tuple[str, ...]  # file names in the host's folder
    kept: tuple[tuple[Any, ...], ...]  # per file: probe key, root, rc, script_sha256, command
    expiries: tuple[str | None, ...]  # per file: expires_at (None: the run did not say who answered)
    stamps: bytes  # per file: _STAMP

    def stamp(self, index: int) -> tuple[int, int, int, bytes]:
        found: tuple[int, int, int, bytes] = _STAMP.unpack_from(self.stamps, index * _STAMP.size)
        return found

    def records(self, host_name: str) -> dict[str, dict[str, Any]]:
        """Probe key -> the fields of its record that oscal.json cites, as `read_records` reads them."""
        found: dict[str, dict[str, Any]] = {}
        for (probe, root, rc, script_sha256, command), expires_at in zip(self.kept, self.expiries,
                                                                          strict=True):
            record = {"host": host_name, "probe": probe, "root": root, "rc": rc, "command": command,
                      "script_sha256": script_sha256}
            if self.target is not None:
                record.update(target=self.target, collected_at=self.collected_at, expires_at=expires_at)
            found[probe] = record
        return found


class Sealed:
    """A run folder's evidence as written by this process, once its manifest is being written."""

    def __init__(self, run_dir: Path, hosts: Mapping[str, WrittenHost], in_flight: frozenset[str]) -> None:
        self.run_dir = run_dir
        self.hosts = hosts  # by folder ("evidence/<safe name>")
        self.in_flight = in_flight  # folders still being written: in no manifest; their writer removes them
        self._names: tuple[str, dict[str, int]] = ("", {})  # the last folder asked about: its files' indexes

    def digest(self, relative: str, path: str) -> tuple[str, int] | None:
        """(SHA-256, size) of a file this process wrote, when it is still the file written; else None."""
        folder, _, name = relative.rpartition("/")
        host = self.hosts.get(folder)
        if host is None:
            return None
        if self._names[0] != folder:  # the manifest asks folder by folder
            self._names = folder, {known: i for i, known in enumerate(host.names)}
        index = self._names[1].get(name)
        if index is None:
            return None
        ino, mtime_ns, size, digest = host.stamp(index)
        try:
            now = os.lstat(path)
        except OSError:
            return None
        unchanged = (now.st_ino, now.st_mtime_ns, now.st_size) == (ino, mtime_ns, size)
        return (digest.hex(), size) if unchanged else None

    def paths(self) -> Iterator[Path]:
        for folder, host in self.hosts.items():
            yield from (self.run_dir / folder / name for name in host.names)


class Ledger:
    """The evidence files this process wrote in one run folder, host by host, until the manifest
    seals it: from then on a host still writing (cut by a stop) removes its files instead of
    leaving them unlisted, and no host may start writing."""

    def __init__(self, identity: tuple[int, int]) -> None:
        self.identity = identity  # the folder's (device, inode): a folder made anew is another run
        self.commit_file: str | None = None  # set when sealed: the manifest's name
        self.committing = False  # sealed, and the manifest not yet written (or failed)
        self._lock = threading.Lock()
        self._hosts: dict[str, WrittenHost] = {}
        self._in_flight: set[str] = set()
        self._same: dict[Any, Any] = {}

    def interned(self, value: Any) -> Any:
        """One object for equal values across hosts (dict.setdefault is atomic under the GIL)."""
        return self._same.setdefault(value, value)

    def write(self, run_dir: Path, folder: str, files: Sequence[tuple[str, bytes]],
              written: Callable[[list[os.stat_result]], WrittenHost]) -> None:
        """`files` made in run_dir/folder (`atomic.create_all`) and remembered as `written(stats)`."""
        with self._lock:
            if self.commit_file is not None:
                raise RunSealedError(f"{folder}: not written, the run's manifest is being written")
            self._in_flight.add(folder)
        try:
            host = written(atomic.create_all(run_dir / folder, files))
        except BaseException:
            with self._lock:
                self._in_flight.discard(folder)
            raise
        with self._lock:
            self._in_flight.discard(folder)
            if self.commit_file is None:
                self._hosts[folder] = host
                return
        for name, _ in files:  # too late: the manifest lists this folder as it was before
            with contextlib.suppress(OSError):
                (run_dir / folder / name).unlink()
        raise RunSealedError(f"{folder}: written once the run's manifest was being written; removed")

    def host(self, folder: str) -> WrittenHost | None:
        return self._hosts.get(folder)

    def seal(self, run_dir: Path, commit_file: str) -> Sealed:
        with self._lock:
            self.commit_file, self.committing = commit_file, True
            hosts, self._hosts = self._hosts, {}
            in_flight = frozenset(self._in_flight)
        self._same = {}
        return Sealed(run_dir, hosts, in_flight)

    def refuses(self, run_dir: Path) -> bool:
        """Sealed, and its manifest being written, or written in this same folder (not one made anew
        at the same path, which is another run)."""
        return self.commit_file is not None and (self.committing or (
            _identity(run_dir) == self.identity and (run_dir / self.commit_file).exists()))

    @classmethod
    def of(cls, run_dir: Path) -> Ledger:
        """The run folder's ledger for writing (a new one for a new folder)."""
        key = os.path.abspath(run_dir)
        with _LEDGERS_LOCK:
            ledger = _LEDGERS.get(key)
            if ledger is not None and (ledger.commit_file is None or ledger.refuses(run_dir)):
                return ledger
            ledger = _LEDGERS[key] = cls(_identity(run_dir))
            while len(_LEDGERS) > MAX_LEDGERS:
                _LEDGERS.popitem(last=False)
            return ledger

    @staticmethod
    def found(run_dir: Path) -> Ledger | None:
        """The ledger of this very run folder, if this process wrote evidence there."""
        with _LEDGERS_LOCK:
            ledger = _LEDGERS.get(os.path.abspath(run_dir))
        if ledger is None:
            return None
        try:
            return ledger if _identity(run_dir) == ledger.identity else None
        except OSError:
            return None


_LEDGERS: collections.OrderedDict[str, Ledger] = collections.OrderedDict()
_LEDGERS_LOCK = threading.Lock()


def _identity(folder: Path) -> tuple[int, int]:
    found = os.stat(folder)
    return found.st_dev, found.st_ino


@contextlib.contextmanager
def sealed(run_dir: Path, commit_file: str) -> Iterator[Sealed | None]:
    """What this process wrote in run_dir (None: nothing), final while the block writes `commit_file`
    (the manifest): a host still writing removes its files, and none may start, then or later while
    the manifest stands."""
    ledger = Ledger.found(run_dir)
    if ledger is None:
        yield None
        return
    try:
        yield ledger.seal(run_dir, commit_file)
    finally:
        ledger.committing = False


def written_host(run_dir: Path, ledger: Ledger | None, host_name: str) -> WrittenHost | None:
    """What `ledger` remembers of a host's evidence, when the host's folder holds exactly the regular
    *.json files written (by inode, from the directory entries: no file is opened); None when it
    does not (then read the files)."""
    if ledger is None:
        return None
    folder = host_folder(host_name)
    host = ledger.host(folder)
    if host is None:
        return None
    try:
        if (run_dir / folder).is_symlink():  # never one as written
            return None
        with os.scandir(run_dir / folder) as scan:
            on_disk = {e.name: e.inode() for e in scan
                       if e.name.endswith(".json") and e.is_file(follow_symlinks=False)}
    except OSError:
        return None
    return host if on_disk == {name: host.stamp(i)[0] for i, name in enumerate(host.names)} else None


def read_records(files: Mapping[str, bytes]) -> dict[tuple[str, str], dict[str, Any]]:
    """(host, probe key) -> the stored record, from a pack's files by relative path."""
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for path, data in files.items():
        if not (path.startswith(EVIDENCE_DIR + "/") and path.endswith(".json")):
            continue
        try:
            record = json.loads(data)
            records[record["host"], record["probe"]] = record
        except (ValueError, KeyError, TypeError):
            continue  # verification names altered files; a garbled one is simply not evidence
    return records


def output_of(name: str, record: Mapping[str, Any]) -> ProbeOutput:
    """A stored record as the probe output a check judges, under the check's own probe name."""
    return ProbeOutput(
        name=name,
        stdout=record.get("stdout", ""),
        stderr=record.get("stderr", ""),
        rc=record.get("rc"),
        duration_ms=record.get("duration_ms"),
        truncated=bool(record.get("truncated", False)),
        ok_rc=tuple(record.get("ok_rc", (0,))),
        timed_out_s=record.get("timed_out_s"),
    )

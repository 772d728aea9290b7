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

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

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
def _redacted_script(script: str) -> str:
    # The same probe text goes to every host: mask it once per run, not once per host.
    return redact(script)[0]


def store_evidence(run_dir: Path, host_name: str, probes: Iterable[ProbeRun],
                   outputs: Mapping[str, ProbeOutput],
                   observed: Observation | None = None) -> dict[str, EvidenceRef]:
    """One JSON file per probe that produced output: what ran, and what came back (already
    redacted), and with `observed`, who answered and until when it is current. Returns the
    references the results cite, by probe key."""
    host_dir = Path(host_folder(host_name))
    atomic.make_folder(run_dir / host_dir)
    refs: dict[str, EvidenceRef] = {}
    files: list[tuple[Path, bytes]] = []
    for probe in probes:
        out = outputs.get(probe.key)
        if out is None:
            continue
        # script_sha256 is of the script as it ran; `command` is that script with anything that
        # looks like a credential masked, and says so, since it then no longer hashes to it.
        command = _redacted_script(probe.command)
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
            "script_sha256": hashlib.sha256(probe.command.encode()).hexdigest(),
            **({"command_masked": True} if command != probe.command else {}),
        }
        if observed is not None:
            record.update(target=observed.target(), collected_at=iso(observed.collected_at),
                          expires_at=iso(observed.expires_at(probe.key, out)))
        relative = host_dir / f"{safe_name(probe.key)}.json"
        path = run_dir / relative
        data = atomic.json_bytes(record, str(path), indent=1, sort_keys=True, ensure_ascii=False)
        files.append((path, data))
        digest = hashlib.sha256(data).hexdigest()
        refs[probe.key] = EvidenceRef(probe.key, relative.as_posix(), digest, len(data))
    atomic.write_all(files)  # the host's files flushed together: far fewer journal commits
    return refs


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

"""Evidence packs: the run folder's manifest, its signature, verification and archives.

A run folder holds the reports, one evidence file per probe, `manifest.json` and, when a
key was configured, `manifest.sig`. The manifest lists every other file with its SHA-256
and size, the run's metadata (who, when, from where, with which tool and inventory, which
checks with which parameters on which hosts) and the signer's public key. manifest.json is
written in canonical form (sorted keys, no spaces, UTF-8) and manifest.sig is the Ed25519
signature of exactly those bytes, base64 on one line.

`verify` accepts the folder or an archive made by `write_archive` (tar.gz or zip), reads
archives in memory (nothing is extracted; `auditor.evidence.archive` reads them exactly as
`tar`/`unzip` would extract them, within bounds, or refuses them) and names every missing,
added or altered file, and a manifest whose paths or evidence folders collide.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import posixpath
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.evidence import archive as archives
from auditor.evidence import atomic, signing, store, trust
from auditor.evidence.archive import ArchiveRefused as ArchiveRefused
from auditor.evidence.archive import PackError as PackError
from auditor.evidence.redact import recorded_params

if TYPE_CHECKING:
    from auditor.check import Check
    from auditor.inventory import Host
    from auditor.model import RunReport

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MANIFEST_VERSION = 1
TIMESTAMP = "manifest.tsr"  # an RFC 3161 token over manifest.json (auditor.evidence.timestamp)
PACK_FILES = (MANIFEST, SIGNATURE, TIMESTAMP)


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# Reading a pack: a folder or an archive, as relative path -> bytes
# --------------------------------------------------------------------------


@dataclass
class PackContents:
    files: dict[str, bytes]
    odd_entries: list[str] = field(default_factory=list)  # a folder's links, devices, FIFOs
    root_name: str = ""


def _normalised(name: str) -> str:
    """The path a file system gives `name` (`a/./b`, `a//b` and `a/b` are one file)."""
    return posixpath.normpath(name.lstrip("/")) if name else name


def _strip_root(names: list[str]) -> str:
    """The single top folder every entry of an archive sits in ("" when there is none)."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop()
    return ""


def _from_folder(folder: Path, limits: archives.Limits) -> PackContents:
    """Every regular file (symlinks, devices and FIFOs are odd entries, never followed or read),
    within the archive bounds for sizes and count: a folder handed over can be as hostile."""
    contents = PackContents({}, root_name=folder.name)
    total = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            contents.odd_entries.append(relative)
        elif path.is_file():
            archives.refuse_size(relative, path.stat().st_size, total + path.stat().st_size, limits)
            archives.refuse_count(len(contents.files) + 1, limits)
            with path.open("rb") as handle:  # bounded even if the file grows meanwhile
                data = handle.read(limits.member_bytes + 1)
            total += len(data)
            archives.refuse_size(relative, len(data), total, limits)
            contents.files[relative] = data
    return contents


def _from_archive(path: Path, limits: archives.Limits) -> PackContents:
    files = [(m.name, m.data) for m in archives.read(path, limits) if m.data is not None]
    root = _strip_root([name for name, _ in files])
    return PackContents({name[len(root) + 1:] if root else name: data for name, data in files},
                        root_name=root)


def read(path: Path, limits: archives.Limits = archives.LIMITS) -> PackContents:
    """A run folder, or a tar.gz or zip pack read as `tar`/`unzip` would extract it (`ArchiveRefused`
    when it is hostile, ambiguous or beyond `limits`)."""
    if not (path.is_dir() or path.is_file()):
        raise PackError(f"{path}: no such folder or archive")
    try:
        return _from_folder(path, limits) if path.is_dir() else _from_archive(path, limits)
    except ArchiveRefused as exc:
        raise ArchiveRefused(f"{path}: refused: {exc}") from None
    except OSError as exc:
        raise PackError(f"{path}: not a readable tar.gz or zip archive ({exc})") from None
    except PackError as exc:
        raise PackError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------
# Writing the manifest
# --------------------------------------------------------------------------


def regular_files(folder: Path) -> list[tuple[str, str]]:
    """(relative "/"-separated path, path) of every regular file under `folder` (no symlink, and
    none followed), in the order of `sorted(folder.rglob("*"))`: by path component. The directory
    entries say each file's type, so no file is stat'ed (a run folder holds ~45 files a host); the
    paths are strings, not Path objects, for the same reason."""
    found: list[tuple[tuple[str, ...], str]] = []

    def walk(at: str, parts: tuple[str, ...]) -> None:
        try:
            with os.scandir(at) as scan:
                entries = list(scan)
        except OSError:
            return  # as rglob: a folder that cannot be listed adds nothing
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                found.append(((*parts, entry.name), entry.path))
            elif entry.is_dir(follow_symlinks=False):
                walk(entry.path, (*parts, entry.name))

    walk(os.fspath(folder), ())
    return [("/".join(parts), path) for parts, path in sorted(found)]


def folder_files(run_dir: Path) -> Iterator[tuple[str, bytes]]:
    """(relative "/"-separated path, bytes) of every regular file, sorted by path."""
    for name, path in regular_files(run_dir):
        with open(path, "rb") as data:
            yield name, data.read()


def artifacts(run_dir: Path, written: store.Sealed | None = None) -> list[dict[str, Any]]:
    """Each file hashed as it is read in blocks (oscal.json alone is ~130 MB at 1,000 hosts), but
    for the evidence this process wrote (`written`): while a file is the one written (same inode,
    mtime and size) its digest is the one taken as it was written. A folder still being written
    (a host cut by a stop) is left out: its writer removes it."""
    found = []
    for name, path in regular_files(run_dir):
        if name in PACK_FILES:
            continue
        known = written.digest(name, path) if written is not None else None
        if known is not None:
            found.append({"path": name, "sha256": known[0], "size": known[1]})
        elif written is not None and name.rpartition("/")[0] in written.in_flight:
            continue
        else:
            with open(path, "rb") as data:
                found.append({"path": name, "sha256": hashlib.file_digest(data, "sha256").hexdigest(),
                              "size": data.tell()})
    return found


def check_sources(check: Check) -> list[Path]:
    """The source files of the module that defines a check (every .py of a package)."""
    module = sys.modules.get(getattr(check.evaluate, "__module__", ""))
    file = getattr(module, "__file__", None)
    if not file:
        return []
    path = Path(file)
    return sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]


def catalogue_digest(checks: Sequence[Check]) -> dict[str, object]:
    """SHA-256 over the source of every check module that ran, sorted by check id then path:
    which version of the catalogue judged the evidence."""
    digest = hashlib.sha256()
    for check in sorted(checks, key=lambda c: c.id):
        for path in check_sources(check):
            digest.update(f"{check.id}\0{path.name}\0".encode() + path.read_bytes() + b"\0")
    return {"sha256": digest.hexdigest(), "checks": len(checks)}


def manifest_run(report: RunReport, hosts: Sequence[Host], checks: Sequence[Check],
                 chain: Mapping[str, Any] | None = None) -> dict[str, object]:
    """The run metadata the manifest signs: who, when, what, with which parameters, where, which
    check catalogue, and (`chain`) the run's scope and the previous manifest of that scope."""
    ran = {h.name: {r.check_id for r in h.results} for h in report.hosts}  # a policy narrows checks per host
    run: dict[str, object] = {
        "id": report.run_id,
        "started": report.started,
        "finished": report.finished,
        "complete": report.complete,
        "operator": report.operator,
        "tool": {"name": "auditor", "version": report.tool_version},
        "inventory": {"path": report.inventory_path, "sha256": report.inventory_sha256},
        "checks": [{"id": c.id, "title": c.title} for c in checks],
        "hosts": [{"name": h.name, "address": h.address, "transport": h.transport,
                   "params": {c.id: recorded_params(c, h.params_for(c))
                              for c in checks if c.id in ran.get(h.name, ())}}
                  for h in hosts],
    }
    if report.policy is not None:  # the signed pack says which policy was audited
        run["policy"] = report.policy.policy.record()
    run["catalogue"] = catalogue_digest(checks)
    if chain is not None:
        run["chain"] = dict(chain)
    return run


def write_manifest(run_dir: Path, run: Mapping[str, Any], signer: signing.Signer | None) -> dict[str, Any]:
    """Write manifest.json (and manifest.sig with a signer) for every file now in run_dir.

    The commit point of a run: the evidence files were written without a flush each, so the file
    system is flushed once first (`atomic.sync_filesystem`); the manifest is then written whole and
    flushed, with its folder. A run folder cut before it has no manifest, and `verify` refuses it."""
    with store.sealed(run_dir, MANIFEST) as written:
        if written is not None and written.hosts:
            atomic.sync_filesystem(run_dir, written.paths)
        manifest: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "run": dict(run),
            "artifacts": artifacts(run_dir, written),
            "signer": None if signer is None else {
                "algorithm": signing.ALGORITHM,
                "public_key": signing.public_text(signer.public),
                "fingerprint": signer.fingerprint,
            },
        }
        data = canonical(manifest)
        if signer is not None:  # the signature first: a manifest.json present is never waiting for its .sig
            atomic.write_text(run_dir / SIGNATURE, base64.b64encode(signer.sign(data)).decode() + "\n")
        atomic.write_bytes(run_dir / MANIFEST, data, sync_folder=True)
    return manifest


# --------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------


class FactName(StrEnum):
    """The separate things `verify` establishes about a pack, each reported on its own line."""

    INTEGRITY = "integrity"  # every file matches the manifest, none missing or added
    SIGNATURE = "signature"  # manifest.sig is a valid signature of manifest.json by its signer's key
    TRUST = "trust"  # the verifier trusts that key (pinned, trusted-signers, own keygen key)


@dataclass(frozen=True)
class Fact:
    name: str  # a FactName, or a later verifier's own (e.g. a timestamp)
    ok: bool
    text: str  # one line: what was found


@dataclass
class Verification:
    artefacts: int = 0
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)  # "path: why"
    signature: str = ""  # what was found about the signature, one line
    signed: bool = False
    signature_ok: bool = False  # a valid signature by the manifest's signer key
    fingerprint: str | None = None
    trusted: bool = False  # ... and the verifier trusts that key
    trust: str = "not judged: no valid signature"
    problems: list[str] = field(default_factory=list)  # manifest-level problems
    manifest: dict[str, Any] = field(default_factory=dict)
    extra: list[Fact] = field(default_factory=list)  # facts established by further verifiers

    @property
    def intact(self) -> bool:
        return not (self.missing or self.added or self.altered or self.problems)

    def facts(self) -> list[Fact]:
        integrity = (f"{self.artefacts} files match the manifest" if self.intact else
                     f"{len(self.missing)} missing, {len(self.added)} added, {len(self.altered)} altered"
                     + (f", {len(self.problems)} manifest problem(s)" if self.problems else ""))
        return [Fact(FactName.INTEGRITY, self.intact, integrity),
                Fact(FactName.SIGNATURE, self.signature_ok, self.signature),
                Fact(FactName.TRUST, self.trusted, self.trust), *self.extra]

    def ok(self, allow_unsigned: bool = False) -> bool:
        unsigned_allowed = allow_unsigned and not self.signed
        return all(f.ok or (unsigned_allowed and f.name in (FactName.SIGNATURE, FactName.TRUST))
                   for f in self.facts())

    @property
    def untrusted_only(self) -> bool:
        """Everything holds but trust: a valid signature by a key the verifier does not trust."""
        return all(f.ok for f in self.facts() if f.name != FactName.TRUST) and not self.trusted

    @property
    def started(self) -> dt.datetime | None:
        """The run's start, at which the signer's validity dates are judged."""
        run = self.manifest.get("run")
        try:
            return trust.parse_instant(str(run.get("started"))) if isinstance(run, dict) else None
        except ValueError:
            return None


def verify(contents: PackContents, signers: trust.TrustStore | None = None) -> Verification:
    """Integrity, signature and (with `signers`) trust of a pack."""
    result = Verification()
    data = contents.files.get(MANIFEST)
    if data is None:
        raise PackError("not an evidence pack: manifest.json is missing")
    try:
        manifest = json.loads(data)
        entries = [(str(a["path"]), a) for a in manifest["artifacts"]]
        listed = dict(entries)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # RecursionError: nested 10,000 deep
        result.problems.append(f"manifest.json is not a valid manifest ({type(exc).__name__}: {exc})")
        manifest, entries, listed = {}, [], {}
    result.manifest = manifest if isinstance(manifest, dict) else {}
    result.artefacts = len(listed)
    result.problems += _colliding_paths([path for path, _ in entries]) + _colliding_evidence(result.manifest)

    for path, entry in sorted(listed.items()):
        actual = contents.files.get(path)
        if actual is None:
            result.missing.append(path)
        elif len(actual) != entry.get("size") or sha256(actual) != entry.get("sha256"):
            expected = f"{str(entry.get('sha256'))[:16]}…, {entry.get('size')} bytes"
            result.altered.append(f"{path}: SHA-256 {sha256(actual)[:16]}…, {len(actual)} bytes; "
                                  f"the manifest says {expected}")
    result.added = sorted(p for p in contents.files if p not in listed and p not in PACK_FILES)
    result.added += sorted(contents.odd_entries)
    _verify_signature(result, data, contents.files.get(SIGNATURE))
    if result.signature_ok and result.fingerprint is not None:
        if signers is None:
            result.trust = "not judged"
        else:
            judged = signers.judge(result.fingerprint, result.started)
            result.trusted, result.trust = judged.trusted, judged.reason
    return result


def _colliding_paths(paths: list[str]) -> list[str]:
    """Manifest paths that are not one file each: listed twice, or two spellings of one path."""
    problems: list[str] = []
    first: dict[str, str] = {}
    for path in paths:
        normal = _normalised(path)
        if normal in first:
            spelled = "" if first[normal] == path else f" (as {first[normal]!r} and {path!r})"
            problems.append(f"the manifest lists {normal!r} twice{spelled}; one entry hides the other")
        elif path != normal or normal.startswith("..") or not path:
            problems.append(f"the manifest lists {path!r}, not a plain relative path inside the pack")
        first.setdefault(normal, path)
    return problems


def _colliding_evidence(manifest: Mapping[str, Any]) -> list[str]:
    """Two hosts of the run whose evidence lands in one folder (ignoring case, as an unpacked pack on
    a case-insensitive file system would): one's evidence overwrote the other's. The folders are the
    signed `run.evidence_folders`; a manifest without it, its hosts' folders by today's naming."""
    run = manifest.get("run")
    run = run if isinstance(run, dict) else {}
    listed = run.get("evidence_folders")
    if isinstance(listed, dict):
        pairs = [(name, folder) for name, folder in listed.items() if isinstance(folder, str)]
    else:
        hosts = run.get("hosts")
        pairs = [(h["name"], store.host_folder(h["name"])) for h in hosts
                 if isinstance(h, dict) and isinstance(h.get("name"), str)] if isinstance(hosts, list) else []
    owners: dict[str, str] = {}
    problems: list[str] = []
    for name, folder in pairs:
        other = owners.setdefault(folder.casefold(), name)
        if other != name:
            problems.append(f"hosts {other!r} and {name!r} share the evidence folder {folder}; "
                            "one's evidence overwrote the other's")
    return problems


def _verify_signature(result: Verification, data: bytes, sig_text: bytes | None) -> None:
    signer = result.manifest.get("signer")
    if not signer:
        result.signature = "not signed: the run had no signing key, so authorship cannot be proven"
        result.trust = "not judged: not signed"
        if sig_text is not None:
            result.problems.append("manifest.sig is present but the manifest names no signer")
        return
    result.signed = True
    try:
        public = signing.public_from_text(signer["public_key"])
    except (signing.SigningError, KeyError, TypeError) as exc:
        result.problems.append(f"the manifest's signer key is unusable: {exc}")
        return
    result.fingerprint = signing.fingerprint(public)
    if sig_text is None:
        result.signature = "manifest.sig is missing"
        return
    try:
        signature = base64.b64decode(sig_text.strip(), validate=True)
    except ValueError:
        result.signature = "manifest.sig is not base64"
        return
    if not signing.verify(public, signature, data):
        result.signature = f"BAD signature: manifest.json was changed after {result.fingerprint} signed it"
        return
    result.signature_ok = True
    result.signature = f"good signature by {result.fingerprint}"


# --------------------------------------------------------------------------
# Archives for hand-over: same inputs, same bytes
# --------------------------------------------------------------------------


def write_archive(run_dir: Path, out: Path, as_zip: bool, mtime: int) -> int:
    """Write run_dir as `<run folder name>/...` into out; returns the number of files.

    Entries are sorted, owners are root/0, modes 0644, and every timestamp is `mtime`
    (the run's start), so the same folder always gives the same bytes.
    """
    root = run_dir.name
    files = list(folder_files(run_dir))
    buffer = io.BytesIO()
    if as_zip:
        stamp = _zip_time(mtime)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files:
                entry = zipfile.ZipInfo(f"{root}/{name}", date_time=stamp)
                entry.external_attr = 0o100644 << 16
                entry.create_system = 3  # unix, so the mode above is honoured
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
    else:
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=mtime, compresslevel=9) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for name, data in files:
                info = tarfile.TarInfo(f"{root}/{name}")
                info.size, info.mtime, info.mode = len(data), mtime, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                archive.addfile(info, io.BytesIO(data))
    atomic.write_bytes(out, buffer.getvalue())
    return len(files)


def _zip_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    moment = time.gmtime(max(epoch, 315532800))  # zip cannot say anything before 1980
    return (moment.tm_year, moment.tm_mon, moment.tm_mday, moment.tm_hour, moment.tm_min, moment.tm_sec)

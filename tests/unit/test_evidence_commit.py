"""Evidence files are written straight under their final names without a flush each; the run's
manifest, written last after one flush of the file system, is the commit point (issue 14).

A run folder cut before its manifest is refused by `verify`; a host still writing when the
manifest is written is listed nowhere and removes its files; hostile names already in the folder
are refused; oscal.json and the manifest taken from what the run remembers are byte for byte
those read back from the files."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import AuditRequest, audit
from auditor.check import ProbeOutput
from auditor.evidence import atomic, oscal, pack, store
from auditor.evidence.store import ProbeRun, store_evidence
from auditor.model import Peer
from tests.conftest import REPO, run_cli
from tests.unit.test_atomic_files import umask  # noqa: F401 - a fixture, used by name
from tests.unit.test_pipeline import workspace


def probes_and_outputs(count: int) -> tuple[list[ProbeRun], dict[str, ProbeOutput]]:
    probes = [ProbeRun(f"check{i}.read", f"cat /etc/file{i}", i % 2 == 0, "host") for i in range(count)]
    outputs = {p.key: ProbeOutput(p.key, f"line {p.key}\n" * 20, "", 0, 1.5, False, (0,)) for p in probes}
    return probes, outputs


def new_run_dir(tmp_path: Path) -> Path:
    return atomic.make_folder(tmp_path / "out" / "run", new=True)


# -- writing straight under the final names ------------------------------------------------------


@pytest.mark.usefixtures("umask")
def test_new_files_appear_whole_with_their_mode_whatever_the_umask(tmp_path: Path):
    # Given a folder and files to make in it
    files = [(f"{i:02d}.json", f"record {i}\n".encode() * (i + 1)) for i in range(40)]
    # When they are made
    stats = atomic.create_all(tmp_path, files)
    # Then each holds its bytes with mode 0640 whatever the umask, and its stat is the file's
    for (name, data), written in zip(files, stats, strict=True):
        path = tmp_path / name
        assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == atomic.FILE_MODE
        assert (written.st_ino, written.st_size) == (path.stat().st_ino, len(data))
    assert list(atomic.leftovers(tmp_path)) == []


@pytest.mark.parametrize("planted", ["file", "symlink to a victim", "dangling symlink"])
def test_a_name_already_taken_is_refused_and_the_files_made_before_it_removed(tmp_path: Path, planted: str):
    # Given a file outside the folder that must never be written, and the folder's third name taken
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    folder = atomic.make_folder(tmp_path / "host")
    taken = folder / "02.json"
    if planted == "file":
        taken.write_bytes(b"someone else's")
    else:
        taken.symlink_to(victim if planted == "symlink to a victim" else tmp_path / "nowhere")
    # When five files are made there, Then the taken name is refused
    with pytest.raises(FileExistsError):
        atomic.create_all(folder, [(f"{i:02d}.json", b"evidence\n") for i in range(5)])
    # And nothing was written through it, and the two files made before it are gone again
    assert victim.read_bytes() == b"keep me" and not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["02.json"]
    assert taken.is_symlink() == (planted != "file")


def test_a_host_folder_that_is_a_symlink_is_refused(tmp_path: Path):
    # Given a run folder whose host folder was replaced by a symlink to elsewhere
    run_dir = new_run_dir(tmp_path)
    elsewhere = atomic.make_folder(tmp_path / "elsewhere")
    atomic.make_folder(run_dir / store.EVIDENCE_DIR)
    (run_dir / store.host_folder("web1")).symlink_to(elsewhere)
    probes, outputs = probes_and_outputs(3)
    # When the host's evidence is stored, Then it is refused and nothing lands elsewhere
    with pytest.raises(OSError):
        store_evidence(run_dir, "web1", probes, outputs)
    assert list(elsewhere.iterdir()) == []


def test_store_evidence_refuses_a_planted_symlink_and_leaves_no_file_of_the_host(tmp_path: Path):
    # Given a symlink to a victim planted where the host's second evidence file goes
    run_dir = new_run_dir(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    probes, outputs = probes_and_outputs(4)
    folder = atomic.make_folder(run_dir / store.host_folder("web1"))
    (folder / f"{store.safe_name(probes[1].key)}.json").symlink_to(victim)
    # When the host's evidence is stored, Then it is refused
    with pytest.raises(FileExistsError):
        store_evidence(run_dir, "web1", probes, outputs)
    # And the victim is untouched, and only the planted link is in the folder
    assert victim.read_bytes() == b"keep me"
    assert [p.is_symlink() for p in folder.iterdir()] == [True]


# -- the manifest is the commit point ------------------------------------------------------------

CUT_BEFORE_MANIFEST = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from auditor.check import ProbeOutput
    from auditor.evidence import atomic
    from auditor.evidence.store import ProbeRun, store_evidence
    run_dir = atomic.make_folder(Path(sys.argv[1]), new=True)
    probe = ProbeRun("flag.read", "cat /etc/flag", False, "host")
    output = ProbeOutput(probe.key, "yes", "", 0, 1.0, False, (0,))
    store_evidence(run_dir, "web1", [probe], {probe.key: output})
    os.kill(os.getpid(), signal.SIGKILL)  # cut before the manifest, as a power cut or kill -9 would
""")


def test_a_run_killed_before_its_manifest_is_refused_by_verify(tmp_path: Path):
    # Given a process that writes a host's evidence and is killed before the manifest
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", CUT_BEFORE_MANIFEST, str(run_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr
    assert list((run_dir / store.host_folder("web1")).iterdir())  # the evidence is there
    # When the folder is verified, Then it is refused: without a manifest nothing says a file is whole
    verified = run_cli("verify", str(run_dir), "--allow-unsigned")
    assert verified.rc != 0
    assert "manifest.json is missing" in verified.stdout + verified.stderr


class _Held(list[tuple[str, bytes]]):
    """A host's files, of which the first is written and then the writer waits for `go`."""

    def __init__(self, files: list[tuple[str, bytes]]) -> None:
        super().__init__(files)
        self.first_written, self.go = threading.Event(), threading.Event()

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        items = list(super().__iter__())
        yield items[0]
        self.first_written.set()
        self.go.wait(30)
        yield from items[1:]


def test_a_host_still_writing_when_the_manifest_is_written_is_listed_nowhere_and_removes_its_files(
        tmp_path: Path):
    # Given a run where one host's evidence is written and another's is half written (cut by a stop)
    run_dir = new_run_dir(tmp_path)
    probes, outputs = probes_and_outputs(3)
    store_evidence(run_dir, "done1", probes, outputs)
    ledger = store.Ledger.of(run_dir)
    held = _Held([("a.json", b'{"a": 1}\n'), ("b.json", b'{"b": 2}\n')])
    late = store.host_folder("late1")
    atomic.make_folder(run_dir / late)
    failures: list[BaseException] = []

    def write_late() -> None:
        try:
            ledger.write(run_dir, late, held, lambda stats: store.WrittenHost(None, None, (), (), (), b""))
        except BaseException as exc:  # noqa: BLE001 - the test looks at what the writer met
            failures.append(exc)

    writer = threading.Thread(target=write_late)
    writer.start()
    assert held.first_written.wait(30)
    # When the manifest is written meanwhile
    manifest = pack.write_manifest(run_dir, {"id": "cut"}, None)
    held.go.set()
    writer.join(30)
    # Then it lists the finished host and nothing of the half-written one
    listed = [a["path"] for a in manifest["artifacts"]]
    assert listed and all(p.startswith(store.host_folder("done1") + "/") for p in listed)
    # And the late writer was told, removed its files, and the pack verifies intact
    assert [type(e) for e in failures] == [store.RunSealedError]
    assert list((run_dir / late).iterdir()) == []
    assert pack.verify(pack.read(run_dir)).intact
    # And no host may start writing into the sealed run
    with pytest.raises(store.RunSealedError):
        store_evidence(run_dir, "after1", probes, outputs)
    assert not (run_dir / store.host_folder("after1") / f"{store.safe_name(probes[0].key)}.json").exists()


def test_a_file_changed_after_it_was_written_is_hashed_again(tmp_path: Path):
    # Given a host's evidence, one file then rewritten longer and one replaced by another of its size
    run_dir = new_run_dir(tmp_path)
    probes, outputs = probes_and_outputs(4)
    refs = store_evidence(run_dir, "web1", probes, outputs)
    grown, replaced = (run_dir / refs[p.key].path for p in probes[:2])
    grown.write_bytes(grown.read_bytes() + b" ")
    swap = replaced.with_name("swap")
    swap.write_bytes(replaced.read_bytes().replace(b"line", b"LINE"))
    swap.replace(replaced)
    # When the manifest is written
    manifest = pack.write_manifest(run_dir, {"id": "changed"}, None)
    # Then it lists what the files hold now (as a re-read would), the others as written
    listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    for path, written in ((grown, refs[probes[0].key]), (replaced, refs[probes[1].key])):
        assert listed[written.path] == pack.sha256(path.read_bytes()) != written.sha256
    assert all(listed[refs[p.key].path] == refs[p.key].sha256 for p in probes[2:])
    assert pack.verify(pack.read(run_dir)).intact


@pytest.mark.parametrize("syncfs", ["missing", "failing"])
def test_without_syncfs_every_evidence_file_and_its_folder_is_flushed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     syncfs: str):
    # Given a system without syncfs(2), or one where it fails, and a host's evidence
    monkeypatch.setattr(atomic, "_syncfs", lambda: None if syncfs == "missing" else (lambda fd: -1))
    run_dir = new_run_dir(tmp_path)
    probes, outputs = probes_and_outputs(3)
    refs = store_evidence(run_dir, "web1", probes, outputs)
    flushed: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (flushed.append(os.fstat(fd).st_ino), real_fsync(fd))[1])
    # When the manifest is written
    pack.write_manifest(run_dir, {"id": "fallback"}, None)
    # Then each evidence file and the host's folder were fsync'ed, then the manifest
    wanted = {(run_dir / ref.path).stat().st_ino for ref in refs.values()}
    wanted.add((run_dir / store.host_folder("web1")).stat().st_ino)
    assert wanted <= set(flushed)
    assert (run_dir / pack.MANIFEST).stat().st_ino in flushed


# -- what the run remembers is what its files say -------------------------------------------------


def test_oscal_and_manifest_from_memory_are_those_read_from_the_files(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    # Given a run of three hosts, watching whether oscal.json takes the records from memory
    work = workspace(tmp_path)
    inventory = work / "inv.yaml"
    inventory.write_text(inventory.read_text() + f"  gamma: {{transport: local, vars: {{says_yes: "
                         f"{{path: {work / 'alpha.txt'}}}}}}}\n")
    from_memory: list[str] = []
    remembered = store.written_host

    def watched(run_dir: Path, ledger: store.Ledger | None, host: str) -> object:
        found = remembered(run_dir, ledger, host)
        if found is not None:
            from_memory.append(host)
        return found

    monkeypatch.setattr(store, "written_host", watched)
    # When it is audited
    outcome = audit(AuditRequest(inventory=inventory, checks_dirs=(work / "checks",), checks=("says_yes",),
                                 output=work / "out"))
    assert sorted(set(from_memory)) == ["alpha", "beta", "gamma"]
    # Then oscal.json is, byte for byte, what a copy of the folder gives from its files
    copy = tmp_path / "copy"
    shutil.copytree(outcome.run_dir, copy)
    from_files = io.StringIO()
    oscal.write(copy, outcome.report, outcome.verdicts, from_files)
    assert (outcome.run_dir / oscal.FILE).read_text(encoding="utf-8") == from_files.getvalue()
    # And the manifest lists every file with the digest a re-read gives
    manifest = json.loads((outcome.run_dir / pack.MANIFEST).read_bytes())
    assert manifest["artifacts"] == pack.artifacts(copy)
    assert pack.verify(pack.read(outcome.run_dir)).intact


def test_remembered_records_hold_what_the_files_hold(tmp_path: Path):
    # Given a host's evidence written with who answered and when
    run_dir = new_run_dir(tmp_path)
    probes, outputs = probes_and_outputs(5)
    peer = Peer("ssh", "192.0.2.7", 2222, "ssh-ed25519", "SHA256:abc")
    observed = store.Observation("web1", peer, dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC),
                                 {"check1": 3.0})
    store_evidence(run_dir, "web1", probes, outputs, observed)
    # When the records are taken from memory and from the files
    written = store.written_host(run_dir, store.Ledger.found(run_dir), "web1")
    remembered = written.records("web1") if written is not None else None
    files = {p.relative_to(run_dir).as_posix(): p.read_bytes()
             for p in (run_dir / store.host_folder("web1")).iterdir()}
    read = {probe: record for (_, probe), record in store.read_records(files).items()}
    # Then every field memory holds is the file's, for every probe
    assert remembered is not None and remembered.keys() == read.keys()
    for probe, record in remembered.items():
        assert record == {key: read[probe][key] for key in record}
        assert {"target", "collected_at", "expires_at", "rc", "root", "command", "script_sha256"} <= set(
            record)
    # And once a file is added to the folder, memory is no longer trusted for that host
    (run_dir / store.host_folder("web1") / "extra.json").write_text("{}")
    assert store.written_host(run_dir, store.Ledger.found(run_dir), "web1") is None


def test_the_evidence_store_imports_no_x509_until_a_certificate_is_read():
    # Given a fresh interpreter; When it imports the evidence store and the pack
    code = ("import sys; import auditor.evidence.store, auditor.evidence.pack, auditor.evidence.oscal; "
            "print('cryptography.x509' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=True)
    # Then cryptography.x509 (~20 ms of import) is not loaded (a certificate's expiry still is read:
    # test_pack_trust)
    assert done.stdout.strip() == "False"


def test_no_host_starts_writing_while_the_manifest_is_written_but_a_run_folder_made_anew_may(
        tmp_path: Path):
    # Given a run whose manifest is being written
    run_dir = new_run_dir(tmp_path)
    probes, outputs = probes_and_outputs(2)
    store_evidence(run_dir, "done1", probes, outputs)
    with store.sealed(run_dir, pack.MANIFEST) as written:
        # When a host starts writing meanwhile, Then it is refused and writes nothing
        with pytest.raises(store.RunSealedError):
            store_evidence(run_dir, "late1", probes, outputs)
        assert written is not None and list(written.hosts) == [store.host_folder("done1")]
    assert not any((run_dir / store.host_folder("late1")).iterdir())
    # And once the folder is removed and made anew at the same path (another run), it is written
    shutil.rmtree(run_dir)
    run_dir = new_run_dir(tmp_path)
    refs = store_evidence(run_dir, "done1", probes, outputs)
    assert all((run_dir / ref.path).is_file() for ref in refs.values())

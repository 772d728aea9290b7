"""The one writer of every file a run writes (auditor.evidence.atomic), and the evidence folder
names (issue 16, classes 7 and 14): whole or absent, modes whatever the umask, no NaN in JSON,
one folder per host whatever its name."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.check import ProbeOutput
from auditor.evidence import atomic, signing, store
from auditor.evidence.store import ProbeRun, check_unique, safe_name, store_evidence


@pytest.fixture(params=[0o000, 0o077, 0o022], ids=["umask000", "umask077", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def strict_json(data: bytes | str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(data, parse_constant=refuse)


def test_files_folders_and_keys_get_their_modes_whatever_the_umask(tmp_path: Path, umask: int):
    # Given any umask; When a run folder (with missing parents), a report and a key are written
    run_dir = atomic.make_folder(tmp_path / "reports" / "run")
    atomic.write_text(run_dir / "report.json", "{}\n")
    key = tmp_path / "keys" / "signing-key.pem"
    signing.generate(key, None)
    # Then folders are 0750, reports 0640, the private key 0600 in a 0700 folder, the public key 0644
    assert mode(tmp_path / "reports") == mode(run_dir) == 0o750
    assert mode(run_dir / "report.json") == 0o640
    assert (mode(key), mode(key.parent), mode(key.with_name(key.name + ".pub"))) == (0o600, 0o700, 0o644)


def test_an_existing_folder_keeps_its_mode(tmp_path: Path):
    # Given a folder of the user's own with its own mode; When the writer makes a folder inside
    tmp_path.chmod(0o755)
    atomic.make_folder(tmp_path / "run")
    # Then the user's folder is left alone
    assert mode(tmp_path) == 0o755


def test_a_write_replaces_whole_and_leaves_no_temporary_file(tmp_path: Path):
    # Given a file already there; When it is written again
    target = tmp_path / "report.json"
    atomic.write_bytes(target, b"old\n")
    atomic.write_bytes(target, b"new\n")
    # Then it holds the new bytes and nothing else is in the folder
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary_one(tmp_path: Path):
    # Given a name taken by a folder, so the final rename fails
    (tmp_path / "report.json").mkdir()
    (tmp_path / "report.json" / "inside").write_text("kept")
    # When the write fails
    with pytest.raises(OSError):
        atomic.write_bytes(tmp_path / "report.json", b"x" * 10_000)
    # Then what was there is there, and no temporary file is left
    assert (tmp_path / "report.json" / "inside").read_text() == "kept"
    assert list(atomic.leftovers(tmp_path)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_streamed_report_appears_only_whole_with_its_mode(tmp_path: Path):
    # Given an old report, and a new one streamed in pieces under umask 000
    target = tmp_path / "report.html"
    atomic.write_bytes(target, b"old\n")
    old_umask = os.umask(0)
    try:
        with atomic.streamed(target) as out:
            out.write("<p>new</p>\r\n")
            # Then while it is written the old report is still the one under the name
            assert target.read_bytes() == b"old\n"
            out.write("<p>end</p>\n")
    finally:
        os.umask(old_umask)
    # And once the block ends the new bytes stand, line ends as given, mode 0640, no leftovers
    assert target.read_bytes() == b"<p>new</p>\r\n<p>end</p>\n"
    assert stat.S_IMODE(target.stat().st_mode) == atomic.FILE_MODE
    assert list(atomic.leftovers(tmp_path)) == []


def test_a_stream_that_fails_half_way_leaves_the_old_report_and_no_temporary_file(tmp_path: Path):
    # Given an old report; When a new one's writer fails half-way
    target = tmp_path / "report.json"
    atomic.write_bytes(target, b"old\n")
    with pytest.raises(RuntimeError), atomic.streamed(target) as out:
        out.write("{" * 100_000)
        raise RuntimeError("the renderer broke")
    # Then the old report stands, and nothing half-written is left beside it
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_streamed_json_document_with_nan_is_rewritten_with_null(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]):
    # Given a document whose hosts come as a generator and whose last value is NaN
    def document() -> dict:
        return {"hosts": ({"name": f"h{i}", "ratio": 0.5 if i < 2 else float("nan")} for i in range(3))}
    # When it is streamed to a file
    with atomic.streamed(tmp_path / "oscal.json") as out:
        atomic.dump_json(document, out, where="oscal.json", indent=1)
    # Then the file is strict JSON, the NaN null, and the warning names the file and the key
    text = (tmp_path / "oscal.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c))["hosts"][2]["ratio"] is None
    assert text.count('"name"') == 3 and text.endswith("}\n")
    assert "oscal.json" in capsys.readouterr().err


def test_an_exclusive_write_never_replaces_a_file(tmp_path: Path):
    # Given a key already there; When another is written exclusively under its name
    key = tmp_path / "key.pem"
    key.write_bytes(b"the key that signs packs")
    with pytest.raises(FileExistsError):
        atomic.write_bytes(key, b"another key", atomic.KEY_MODE, exclusive=True)
    # Then the first is untouched and no temporary file is left
    assert key.read_bytes() == b"the key that signs packs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]


def test_a_symlink_planted_at_the_final_name_is_replaced_not_written_through(tmp_path: Path):
    # Given another file the writer must never touch, and a symlink to it where a report goes
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (tmp_path / "report.json").symlink_to(victim)
    # When the report is written
    atomic.write_text(tmp_path / "report.json", "{}\n")
    # Then the report is a regular file of its own and the victim is as it was
    assert not (tmp_path / "report.json").is_symlink()
    assert (tmp_path / "report.json").read_text() == "{}\n" and victim.read_text() == "untouched"


def test_json_never_holds_nan_or_infinity(capsys: pytest.CaptureFixture[str]):
    # Given numbers JSON cannot hold, as a hostile host's output may produce them
    value = {"duration_ms": float("nan"), "values": {"ratio": float("inf")}, "list": [1.5, float("-inf")]}
    # When written as JSON
    text = atomic.json_text(value, where="evidence/h/x.json", sort_keys=True)
    # Then a strict reader reads it, the numbers are null, and the warning names the file and keys
    assert strict_json(text) == {"duration_ms": None, "list": [1.5, None], "values": {"ratio": None}}
    warning = capsys.readouterr().err
    assert "evidence/h/x.json" in warning and "$.duration_ms" in warning and "$.values.ratio" in warning
    assert "$.list[1]" in warning


def test_finite_json_is_written_unchanged_and_silently(capsys: pytest.CaptureFixture[str]):
    value = {"a": 1.25, "b": [1, 2], "c": "NaN"}
    assert atomic.json_text(value, sort_keys=True) == json.dumps(value, sort_keys=True)
    assert capsys.readouterr().err == ""


def test_evidence_with_a_nan_duration_is_strict_json(tmp_path: Path):
    # Given a probe whose duration came back as NaN (the host printed `nan` for a time stamp)
    probe = ProbeRun("ssh_hardening.sshd_t", "sshd -T", True, "host")
    out = ProbeOutput("sshd_t", "port 22\n", "", 0, float("nan"))
    # When the evidence is stored
    refs = store_evidence(tmp_path, "web1", [probe], {probe.key: out})
    # Then the file is strict JSON with a null duration, 0640 in a 0750 folder
    path = tmp_path / refs[probe.key].path
    record = strict_json(path.read_bytes())
    assert isinstance(record, dict) and record["duration_ms"] is None
    assert (mode(path), mode(path.parent)) == (0o640, 0o750)


ORDINARY = ["web1", "db-01", "web.example.com", "a_b", "10.0.0.7", "host_2"]
HOSTILE = ["a/b", "a_b-c14cddc0", "..", ".", "", "/", "../../etc", "a\\b", "Web", "web", "WEB", "x" * 300,
           "-rf", ".hidden", "con", "CON.txt", "nul", "a b", "a:b", "a_b-C14CDDC0", "é", "ü" * 120]


@pytest.mark.parametrize("name", ORDINARY)
def test_an_ordinary_host_name_is_its_own_folder_name(name: str):
    assert safe_name(name) == name


def test_hostile_names_never_collide_nor_leave_the_evidence_folder():
    # Given every name together (the ordinary ones too)
    names = ORDINARY + HOSTILE
    folders = [safe_name(n) for n in names]
    # Then no two folders are the same, even where case does not count
    assert len({f.casefold() for f in folders}) == len(names)
    for name, folder in zip(names, folders, strict=True):
        # and each is one plain path component, short enough for any file system
        assert "/" not in folder and "\\" not in folder and folder not in ("", ".", "..")
        assert not folder.startswith((".", "-")) and len(folder.encode()) <= 80, (name, folder)
        assert Path("evidence", folder).resolve().parent == Path("evidence").resolve()


def test_two_names_whose_hashes_meet_are_refused_naming_both():
    # Given two names that clean to the same text and whose 32-bit hash suffixes meet (searched for)
    first, second = "a b<c~d]e", "a/b~c(d<e"
    assert safe_name(first) == safe_name(second)
    # When a run would audit both, Then it is refused before any host is contacted
    with pytest.raises(ValueError, match="would share the evidence folder") as refused:
        check_unique(["web1", first, second])
    assert repr(first) in str(refused.value) and repr(second) in str(refused.value)


def test_check_unique_says_which_folder_is_whose():
    assert check_unique(["web1", "a/b"]) == {"web1": "evidence/web1", "a/b": "evidence/a_b-c14cddc0"}
    assert store.host_folder("a_b") == "evidence/a_b"


def test_no_space_error_names_the_folder_and_the_sizes(tmp_path: Path):
    error = atomic.NoSpaceError(tmp_path, "writing report.json", 3 * 4096 + 100)
    text = str(error)
    assert str(tmp_path) in text and "writing report.json needs 12.1 KB" in text and "free there" in text
    assert "\n" not in text


NAN_CHECK = '''
"""Reads a number the host prints, which may be one JSON cannot hold."""
from auditor.check import Check, Status, result
from auditor.probes import shell

CHECK = Check(id="nan_values", title="Numbers JSON cannot hold", claims=("x",), controls=("A.1",),
              probes=(shell("n", "echo nan"),))

def evaluate(out, params):
    value = float(out.require("n").stdout.strip())
    return result(Status.PASS, "parsed", [], ["n"], ratio=value, limit=float("inf"))
'''


def test_a_run_whose_check_reads_nan_writes_only_strict_json(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]):
    from auditor import AuditRequest, audit
    from auditor.tracking.run import TrackingOptions

    # Given a check that turns a host's `nan` into a value (and one infinite limit)
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "nan_values.py").write_text(NAN_CHECK)
    (tmp_path / "inv.yaml").write_text("hosts:\n  here:\n    transport: local\n")
    # When the run is written
    outcome = audit(AuditRequest(inventory=tmp_path / "inv.yaml", output=tmp_path / "out",
                                 checks_dirs=(tmp_path / "checks",), checks=("nan_values",),
                                 tracking=TrackingOptions(history_file=None)))
    # Then every JSON file of the run reads with a strict parser, the values as null
    written = sorted(outcome.run_dir.rglob("*.json"))
    assert {p.name for p in written} >= {"report.json", "oscal.json", "manifest.json"}
    for path in written:
        strict_json(path.read_bytes())
    values = json.loads(outcome.report_json)["hosts"][0]["results"][0]["values"]
    assert values["ratio"] is None and values["limit"] is None
    assert "report.json" in capsys.readouterr().err


def test_temporary_names_differ_in_a_forked_child(tmp_path: Path):
    # Given a temporary name made here; When a forked child makes one
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first name, then out
        os.write(writer, atomic._temporary_tag().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    child = os.read(reader, 100).decode()
    os.close(reader)
    # Then it is not the name the parent makes next (both count from the same number)
    assert child and child != atomic._temporary_tag()

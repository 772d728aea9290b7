"""The secret search every end-to-end test relies on (tests/integration/fleetrun.py) finds
what it is meant to find: a helper that could not fail would make all those tests pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.fleetrun import assert_nowhere_in

SECRET = "Planted-S3cret-41f7"


def run_folder_with(tmp_path: Path, evidence: bytes) -> Path:
    (tmp_path / "evidence" / "web").mkdir(parents=True)
    (tmp_path / "report.json").write_text('{"hosts": []}\n')
    (tmp_path / "evidence" / "web" / "probe.json").write_bytes(evidence)
    return tmp_path


def test_a_secret_in_a_subfolder_file_with_odd_bytes_is_found_and_named(tmp_path):
    # Given a run folder whose nested evidence file holds the secret between non-UTF-8 bytes
    folder = run_folder_with(tmp_path, b"\xff\xfe caf\xe9 " + SECRET.encode() + b" \x00")
    # When it is searched / Then the search fails, naming the file
    with pytest.raises(AssertionError, match="evidence/web/probe.json"):
        assert_nowhere_in(folder, "absent", SECRET)
    # And a secret given as bytes is found too
    with pytest.raises(AssertionError):
        assert_nowhere_in(folder, SECRET.encode()[-8:])


def test_a_clean_folder_passes_and_lists_every_file(tmp_path):
    # Given a run folder without the secret
    folder = run_folder_with(tmp_path, b'{"stdout": "masked ***"}')
    # When it is searched
    files = assert_nowhere_in(folder, SECRET)
    # Then it passes and returns every file read, subfolders included
    assert [p.relative_to(folder).as_posix() for p in files] == ["evidence/web/probe.json", "report.json"]


def test_an_empty_folder_or_no_secret_is_refused(tmp_path):
    # Given nothing to search, or nothing to search for / Then the helper refuses rather than pass
    with pytest.raises(AssertionError, match="holds no file"):
        assert_nowhere_in(tmp_path, SECRET)
    with pytest.raises(AssertionError, match="no secret"):
        assert_nowhere_in(run_folder_with(tmp_path, b""))

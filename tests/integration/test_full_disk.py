"""A full disk mid-run (issue 16, class 7): the output folder on a tmpfs of a few hundred KB, in a
private mount namespace, filled so that the run runs out while writing its evidence, its reports,
its manifest. Whatever the point, the run says so in one line naming the folder and the space it
needed, exits as an incomplete run, leaves no half-written file and no report or manifest that
would present it as complete, and the previous run and the history are untouched. A run that did
fit is whole and verifies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli.exits import EXIT_INTERRUPTED

HERE = Path(__file__).parent
AUDITOR = str(Path(sys.executable).with_name("auditor"))
CHECKS = ("ssh_hardening", "password_hashing", "data_residency")
PAGE = 4096

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="needs root and unshare(1) for a private tmpfs")

INVENTORY = """\
hosts:
  web1:
    transport: local
  web2:
    transport: local
  db/primary:
    transport: local
"""

# Free space left before the second run, measured on the first: inside the evidence, inside the
# reports, page by page across the signature and the manifest (the sizes of a run and of the
# history's WAL files vary a little between runs, so a sweep of pages is sure to cut each of
# them), and last plenty.
FREES = ([{"after": "nothing", "plus": 0}, {"after": "nothing", "plus": 2 * PAGE},
          {"after": "evidence", "plus": 3 * PAGE}]
         + [{"after": "reports", "plus": pages * PAGE} for pages in range(-2, 5)]
         + [{"after": "reports", "plus": 64 * PAGE}])


@pytest.fixture(scope="module")
def attempts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("fulldisk")
    (tmp / "inventory.yaml").write_text(INVENTORY)
    subprocess.run([AUDITOR, "keygen", "--out", str(tmp / "key.pem")], check=True, capture_output=True)
    fingerprint = (tmp / "key.pem.pub").read_text().split()[2]
    settings = {
        "mount": str(tmp / "mnt"), "size": "2m",
        "auditor": [AUDITOR, "run", "-i", str(tmp / "inventory.yaml"), "--sign-key", str(tmp / "key.pem"),
                    "--format", "json", *(arg for check in CHECKS for arg in ("--check", check))],
        "verify": ["--key-fingerprint", fingerprint], "frees": FREES,
    }
    (tmp / "settings.json").write_text(json.dumps(settings))
    # Given a private mount namespace that ends with the driver (so the tmpfs never outlives it)
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                           str(HERE / "fulldisk.py"), str(tmp / "settings.json"), str(tmp / "result.json")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert not any(tmp.joinpath("mnt").iterdir())  # unmounted with the namespace: nothing stayed
    return json.loads((tmp / "result.json").read_text())


def failed(attempts: dict) -> list[dict]:
    return [a for a in attempts["attempts"] if a["rc"] == EXIT_INTERRUPTED]


def test_the_first_run_fits_and_every_phase_of_the_second_runs_out(attempts):
    # Given a good first run (When the second has less and less room) Then some attempts run out
    # of space in the evidence, some in the reports, some at the manifest, and the last ones fit
    assert attempts["first"]["rc"] in (0, 1, 3), attempts["first"]["stderr"]
    assert attempts["good"]["rc"] == attempts["first"]["rc"], attempts["good"]["stderr"]
    outcomes = [a["rc"] == EXIT_INTERRUPTED for a in attempts["attempts"]]
    assert outcomes[:4] == [True] * 4, [a["stderr"] for a in attempts["attempts"]]
    assert not outcomes[-1], attempts["attempts"][-1]["stderr"]
    first_evidence = [n for n, e in attempts["first_files"].items() if n.startswith("evidence/")
                      and not e["dir"]]
    kept = [n for n, e in attempts["attempts"][0]["files"].items() if not e["dir"]]
    assert first_evidence and kept == []  # with no room, not even the first evidence file was written
    where = " ".join(a["stderr"] for a in failed(attempts))
    assert "stopped writing manifest.json" in where or "stopped writing manifest.sig" in where
    assert "stopped writing report.json" in where or "stopped writing junit.xml" in where


def test_a_full_disk_is_one_line_naming_the_folder_and_the_space_needed(attempts):
    for attempt in failed(attempts):
        # Then stderr holds no traceback, and one error line that names the run folder and sizes
        errors = [line for line in attempt["stderr"].splitlines() if line.startswith("auditor: error:")]
        assert "Traceback" not in attempt["stderr"]
        assert len(errors) == 1, attempt["stderr"]
        assert attempt["run"] and f"/reports/{attempt['run']}" in errors[0]
        assert "no space left in" in errors[0] and " KB" in errors[0] and "free" in errors[0]


def test_nothing_half_written_or_presented_as_complete(attempts):
    for attempt in failed(attempts):
        names = attempt["files"]
        # Then no report, manifest or signature of the unfinished run, and no temporary file
        assert not [n for n in names if "/" not in n and not names[n]["dir"] and n != "evidence"], names
        assert not [n for n in names if n.rsplit("/", 1)[-1].startswith(".")], names
        # and each evidence file kept is whole JSON
        for name, entry in names.items():
            if not entry["dir"]:
                assert name.startswith("evidence/") and entry["size"] > 0


def test_the_previous_run_and_the_history_are_untouched(attempts):
    for attempt in failed(attempts):
        assert attempt["changed"] == [], attempt["changed"]


def test_a_run_that_fits_is_whole_and_verifies(attempts):
    fitted = [a for a in attempts["attempts"] if a["rc"] != EXIT_INTERRUPTED]
    assert fitted
    for attempt in fitted:
        assert attempt["rc"] in (0, 1, 3), attempt["stderr"]
        assert attempt["verify"] == 0
        assert {"report.json", "manifest.json", "manifest.sig"} <= set(attempt["files"])


SLOW_CHECK = '''
"""Takes as long on the host as its parameter says, then says it is done."""
from auditor.check import Check, Param, Status, result
from auditor.probes import shell

CHECK = Check(id="slow_probe", title="A slow host", claims=("x",), controls=("A.1",),
              probes=(shell("wait", lambda params: f"sleep {int(params['seconds'])}; echo done"),),
              params=(Param("seconds", int, 0, "how long the host takes"),))

def evaluate(out, params):
    return result(Status.PASS, out.require("wait").stdout.strip(), [], ["wait"])
'''

SLOW_INVENTORY = """\
hosts:
  fast1:
    transport: local
  fast2:
    transport: local
  slow:
    transport: local
    vars:
      slow_probe:
        seconds: 4
"""


@pytest.fixture(scope="module")
def freed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("freed")
    (tmp / "inventory.yaml").write_text(SLOW_INVENTORY)
    (tmp / "checks").mkdir()
    (tmp / "checks" / "slow_probe.py").write_text(SLOW_CHECK)
    subprocess.run([AUDITOR, "keygen", "--out", str(tmp / "key.pem")], check=True, capture_output=True)
    fingerprint = (tmp / "key.pem.pub").read_text().split()[2]
    settings = {
        "mount": str(tmp / "mnt"), "size": "1m",
        "auditor": [AUDITOR, "run", "-i", str(tmp / "inventory.yaml"), "--sign-key", str(tmp / "key.pem"),
                    "--checks-dir", str(tmp / "checks"), "--check", "slow_probe", "--format", "json"],
        "verify": ["--key-fingerprint", fingerprint],
        "frees": [{"after": "nothing", "plus": 0, "release_when": ["fast1", "fast2"]}],
    }
    (tmp / "settings.json").write_text(json.dumps(settings))
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                           str(HERE / "fulldisk.py"), str(tmp / "settings.json"), str(tmp / "result.json")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp / "result.json").read_text())
    (attempt,) = result["attempts"]
    return attempt


def test_evidence_lost_to_a_full_disk_makes_the_run_incomplete_even_when_the_reports_fit(freed):
    # Given a disk full while two hosts wrote their evidence, and room again before the slow third
    # Then the run is incomplete (exit 130) and says why on one line
    assert freed["rc"] == EXIT_INTERRUPTED, freed["stderr"]
    assert "Traceback" not in freed["stderr"]
    assert "this run is incomplete: no space left in " in freed["stderr"]
    # and its report, signed and verifiable, says incomplete, with the two hosts in error
    assert freed["verify"] == 0
    assert {"report.json", "manifest.json", "manifest.sig"} <= set(freed["files"])
    assert freed["report"]["complete"] is False
    errors = freed["report"]["errors"]
    assert "no space left" in errors["fast1"] and "no space left" in errors["fast2"]
    # (named for what it is: the auditor's disk, not an engine bug)
    assert all(errors[h].startswith("evidence not written: no space left") for h in ("fast1", "fast2"))
    assert errors["slow"] is None
    assert not [n for n in freed["files"] if n.startswith("evidence/fast") and not freed["files"][n]["dir"]]
    assert [n for n in freed["files"] if n.startswith("evidence/slow/")]

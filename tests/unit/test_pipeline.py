"""`auditor.audit()` is the whole run: the command line only translates flags into a request
and an outcome into output, so both give the same run folder; the CLI stays light to import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor import AuditRequest, audit
from auditor.errors import AuditorError, InputError, UsageError
from auditor.tracking.run import TrackingOptions
from tests.conftest import REPO, run_cli, run_folder

CHECK = '''
"""Reads one file and says what it holds."""
from auditor.check import Check, Param, Status, result
from auditor.probes import quote, shell

CHECK = Check(id="says_yes", title="The file says yes", claims=("demo",), controls=("ISO27001:2022 A.8.13",),
              params=(Param("path", str, "/nonexistent", "the file"),),
              probes=(shell("read", lambda p: "cat " + quote(p["path"])),))

def evaluate(out, params):
    said = out.require("read").stdout.strip()
    return result(Status.PASS if said == "yes" else Status.FAIL, f"the file says {said!r}", evidence=["read"])
'''


def workspace(tmp_path: Path) -> Path:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "says_yes.py").write_text(CHECK)
    for host, said in (("alpha", "yes"), ("beta", "no")):
        (tmp_path / f"{host}.txt").write_text(said + "\n")
    (tmp_path / "inv.yaml").write_text(
        "hosts:\n"
        f"  alpha: {{transport: local, vars: {{says_yes: {{path: {tmp_path / 'alpha.txt'}}}}}}}\n"
        f"  beta: {{transport: local, vars: {{says_yes: {{path: {tmp_path / 'beta.txt'}}}}}}}\n")
    return tmp_path


def comparable(report: dict[str, Any]) -> Any:
    """What a run found, without what differs between any two runs (ids, times, durations)."""
    return [(h["name"], h["reachable"], [(r["check"], r["status"], r["summary"],
                                          [(e["path"].split("/", 2)[1], e["sha256"] is not None)
                                           for e in r["evidence"]]) for r in h["results"]])
            for h in report["hosts"]]


def test_the_library_and_the_cli_write_the_same_run(tmp_path):
    # Given one workspace
    work = workspace(tmp_path)
    # When it is audited through auditor.audit() and through `auditor run`
    outcome = audit(AuditRequest(inventory=work / "inv.yaml", checks_dirs=(work / "checks",),
                                 checks=("says_yes",), output=work / "lib"))
    done = run_cli("run", "-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check",
                   "says_yes", "-o", str(work / "cli"), "--no-sign", "--format", "none")
    # Then both run folders hold every report, and the same verdicts on the same evidence
    cli_dir = run_folder(work / "cli")
    for name in ("report.json", "report.html", "junit.xml", "controls.csv", "manifest.json"):
        assert (outcome.run_dir / name).is_file() and (cli_dir / name).is_file(), name
    library = json.loads((outcome.run_dir / "report.json").read_text())
    assert library == json.loads(outcome.report_json)
    assert comparable(library) == comparable(json.loads((cli_dir / "report.json").read_text()))
    assert [r.status.value for h in outcome.report.hosts for r in h.results] == ["pass", "fail"]
    assert done.rc == 1, done.stderr
    # And the library recorded no history, since the request asked for none
    assert not (work / "lib" / "history.sqlite").exists() and (work / "cli" / "history.sqlite").exists()


@pytest.mark.parametrize(("request_fields", "error", "text"), [
    ({"checks": ("no_such_check",)}, UsageError, "unknown check id no_such_check (see `auditor list`)"),
    ({"inventory": Path("missing-inventory.yaml")}, InputError, "missing-inventory.yaml: file not found"),
    ({"policy": "no-such-policy"}, UsageError, "--policy no-such-policy:"),
    ({"tracking": TrackingOptions(fail_on_new=True)}, UsageError, "--fail-on new needs --baseline"),
])
def test_a_mistake_in_the_request_is_one_auditor_error_before_any_host(tmp_path, request_fields, error, text):
    # Given a request with one mistake
    work = workspace(tmp_path)
    fields = {"inventory": work / "inv.yaml", "checks_dirs": (work / "checks",), "output": work / "out",
              **request_fields}
    # When it is audited
    with pytest.raises(error) as raised:
        audit(AuditRequest(**fields))
    # Then the error is of the one family the CLI prints, says what is wrong, and no run was started
    assert isinstance(raised.value, AuditorError) and text in str(raised.value)
    assert not (work / "out").exists()


def test_the_cli_imports_no_ssh_library_and_no_check_until_a_command_needs_them():
    # Given a fresh interpreter, When the CLI is imported and `--version` runs
    code = ("import sys; import auditor.cli; from auditor.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('paramiko', 'checks', 'jinja2')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    # Then neither paramiko, a check nor the report templates were loaded
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def loaded_after(code: str, cwd: Path) -> set[str]:
    """Which of paramiko, invoke (paramiko's) and jinja2 a fresh interpreter has loaded after `code`."""
    probe = code + ("\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
                    "& {'paramiko', 'invoke', 'jinja2'})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(cwd)},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_local_run_loads_no_ssh_library_and_the_templates_only_to_write_the_page(tmp_path):
    # Given a workspace of local hosts
    work = workspace(tmp_path)
    # When the pipeline is imported, and when it audits the local hosts
    imported = loaded_after("import auditor.pipeline", work)
    audited = loaded_after("from pathlib import Path\nfrom auditor import AuditRequest, audit\n"
                           "audit(AuditRequest(inventory=Path('inv.yaml'), checks_dirs=(Path('checks'),), "
                           "checks=('says_yes',), output=Path('out')))", work)
    # Then importing loads neither paramiko nor jinja2, and the local run loads jinja2 for
    # report.html but never paramiko (nor invoke, which paramiko pulls in)
    assert imported == set(), imported
    assert audited == {"jinja2"}, audited


def test_listing_the_checks_loads_no_ssh_library_nor_templates(tmp_path):
    # Given a fresh interpreter, When `auditor list` runs
    listed = loaded_after("from auditor.cli.main import main\nmain(['list'])", tmp_path)
    # Then neither paramiko nor jinja2 was loaded
    assert listed == set(), listed


def test_the_readme_example_runs_as_written(tmp_path):
    # Given the README's "Using auditor from Python" example, a fleet.yaml with a local db host
    # and a signing key where the example expects them
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Using auditor from Python"):]
    example = section[section.index("```python\n") + len("```python\n"):section.index("```\n", 10)]
    (tmp_path / "fleet.yaml").write_text("hosts:\n  here: {transport: local}\n"
                                         "groups:\n  db: {hosts: [here]}\n")
    from auditor.evidence import signing
    signing.generate(tmp_path / "signing-key.pem", None)
    # When it runs
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)},
                          timeout=300, check=False)
    # Then it prints the run folder, every result and the policy's headline, and the run is signed
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    run_dir = Path(tmp_path / lines[0].split()[0])
    assert (run_dir / "manifest.sig").is_file() and (tmp_path / "reports" / "history.sqlite").is_file()
    assert any(line.startswith("here password_hashing ") for line in lines), done.stdout
    assert " promises hold on here" in lines[-1], lines[-1]

"""The wheel carries every module, template and schema: a non-editable install must work."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the project's files (tracked or new, not ignored), built in a clean copy: a stale
    build/ folder in the work tree would otherwise slip old modules into it."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], check=True, capture_output=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(source)], check=True, capture_output=True)
    return next(out.glob("auditor-*.whl"))


def test_wheel_contains_engine_checks_templates_and_schema(wheel):
    # Given a wheel built from the source tree, as `pip install .` builds it
    names = set(zipfile.ZipFile(wheel).namelist())
    # Then every package under auditor/ is in it, checks/ under auditor/builtin_checks/, with the data files
    expected = {str(p.relative_to(REPO)) for p in (REPO / "auditor").rglob("*.py")}
    checks = REPO / "checks"
    expected |= {f"auditor/builtin_checks/{p.relative_to(checks)}" for p in checks.rglob("*.py")}
    expected |= {"auditor/report/templates/report.html.j2", "auditor/schema/report.schema.json"}
    expected |= {str(p.relative_to(REPO)) for p in (REPO / "auditor").rglob("*.j2")}
    # And the shipped claims sets, so that `auditor run --policy apifonica` works after pip install
    expected |= {str(p.relative_to(REPO)) for p in (REPO / "auditor/policy/sets").glob("*.yaml")}
    assert "auditor/policy/sets/apifonica.yaml" in expected
    assert "auditor/builtin_checks/backups/__init__.py" in expected
    assert expected <= names, sorted(expected - names)


def test_wheel_installs_no_top_level_checks_package(wheel):
    # Given the wheel's files
    names = zipfile.ZipFile(wheel).namelist()
    # Then everything importable lives under auditor/ (plus the dist-info metadata)
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"auditor"}, tops
    # And the entry-point group for third-party checks is unchanged
    from auditor.engine import registry

    assert registry.ENTRY_POINT_GROUP == "auditor.checks"


def test_pipx_install_gives_a_working_auditor_without_a_top_level_checks(tmp_path):
    # Given pipx (a test dependency) with its home in a temporary folder
    env = {**os.environ, "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIPX_MAN_DIR": str(tmp_path / "man")}
    # When the project is installed the way the README says, with the tested versions
    subprocess.run([sys.executable, "-m", "pipx", "install", "--pip-args", f"-c {REPO / 'constraints.txt'}",
                    str(REPO)], check=True, capture_output=True, env=env, timeout=600)
    program = tmp_path / "bin" / "auditor"
    # Then the installed program lists the built-in checks from outside the repository
    listed = subprocess.run([str(program), "list", "--format", "json"], capture_output=True, text=True,
                            cwd=tmp_path, check=True, timeout=120)
    assert "password_hashing" in {c["id"] for c in json.loads(listed.stdout)}
    # And its environment has auditor.builtin_checks but no package named `checks`
    python = next((tmp_path / "pipx" / "venvs" / "auditor" / "bin").glob("python3*"))
    probe = subprocess.run([str(python), "-c", "import importlib.util as u, auditor.builtin_checks as b;"
                            "print(u.find_spec('checks') is None, b.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True, timeout=60)
    absent, location = probe.stdout.split()
    assert absent == "True" and str(tmp_path / "pipx") in location

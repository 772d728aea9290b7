"""Checks load from the built-in package and --checks-dir; a broken one never stops the rest."""

import textwrap

from auditor.engine import registry

GOOD = '''
"""A user's own check: the motd exists."""
from auditor.check import Check, Status, result
from auditor.probes import shell

CHECK = Check(id="motd_present", title="A login banner exists", claims=("banner",),
              controls=("ISO27001:2022 A.5.10",), probes=(shell("motd", "cat /etc/motd", ok_rc=(0, 1)),))

def evaluate(out, params):
    return result(Status.PASS if out["motd"].stdout else Status.FAIL, "motd checked", evidence=["motd"])
'''


def test_builtin_checks_are_found_with_their_docstrings():
    loaded = registry.load(plugins=False)
    assert {"password_hashing", "log_retention"} <= set(loaded.checks)
    assert loaded.errors == []
    assert "salted" in loaded.checks["password_hashing"].description


def test_checks_dir_loads_good_modules_and_reports_broken_ones(tmp_path):
    # Given a folder with a good check, a module that raises, one without evaluate, and a duplicate id
    (tmp_path / "motd.py").write_text(GOOD)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "noeval.py").write_text(textwrap.dedent('''
        from auditor.check import Check
        CHECK = Check(id="noeval", title="t", claims=(), controls=(), probes=())
    '''))
    (tmp_path / "dup.py").write_text(GOOD.replace("motd_present", "password_hashing"))
    # When the registry loads
    loaded = registry.load([tmp_path], plugins=False)
    # Then the good one is there and each broken one is named with its reason
    assert "motd_present" in loaded.checks
    reasons = {str(e).split(":")[0].rsplit("/", 1)[-1]: str(e) for e in loaded.errors}
    assert "boom at import" in reasons["broken.py"]
    assert "no evaluate" in reasons["noeval.py"]
    assert "already defined by auditor.builtin_checks.password_hashing" in reasons["dup.py"]
    assert loaded.checks["password_hashing"].source == "auditor.builtin_checks.password_hashing"


def test_cli_lists_checks_from_a_checks_dir(tmp_path, cli):
    (tmp_path / "motd.py").write_text(GOOD)
    result = cli("list", "--checks-dir", str(tmp_path), "--format", "json")
    assert result.rc == 0
    ids = [c["id"] for c in result.json()]
    assert ids == sorted(ids) and "motd_present" in ids and "log_retention" in ids
    params = {p["name"]: p for c in result.json() for p in c["params"] if c["id"] == "log_retention"}
    assert params["min_days"]["default"] == 60 and params["min_days"]["type"] == "int"


def test_checks_dir_loads_a_check_package_with_its_own_modules(tmp_path):
    # Given a check that outgrew one file: <id>/__init__.py importing a sibling module
    package = tmp_path / "motd_pkg"
    package.mkdir()
    (package / "_probes.py").write_text("SCRIPT = 'cat /etc/motd'\n")
    (package / "__init__.py").write_text(GOOD.replace('"cat /etc/motd"', "SCRIPT").replace(
        "from auditor.probes import shell", "from auditor.probes import shell\nfrom ._probes import SCRIPT"))
    # When the registry loads the folder
    loaded = registry.load([tmp_path], plugins=False)
    # Then the package is one check, with its docstring and its sibling's script
    assert loaded.errors == []
    check = loaded.checks["motd_present"]
    assert check.description == "A user's own check: the motd exists."
    assert check.probes[0].render({}) == "cat /etc/motd"
    assert check.source.endswith("motd_pkg/__init__.py")


def test_a_check_declared_outside_the_registry_judges_to_an_error_not_a_crash():
    # Given a declaration never loaded through the registry (no evaluate set)
    from auditor.check import Check, Outputs, Status
    check = Check(id="bare", title="t", claims=(), controls=(), probes=())
    # When it is judged
    outcome = check.judge(Outputs({}), {})
    # Then it is an error naming the reason
    assert outcome.status is Status.ERROR and "not loaded through the registry" in outcome.summary

"""The wheel carries every module, template and schema: a non-editable install must work."""

import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_contains_engine_checks_templates_and_schema(tmp_path):
    # Given a wheel built from the source tree, as `pip install .` builds it
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("auditor-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    # Then every package under auditor/ and checks/ is in it, with the data files
    expected = {str(p.relative_to(REPO)) for p in (REPO / "auditor").rglob("*.py")}
    expected |= {str(p.relative_to(REPO)) for p in (REPO / "checks").rglob("*.py")}
    expected |= {"auditor/report/templates/report.html.j2", "auditor/schema/report.schema.json"}
    expected |= {str(p.relative_to(REPO)) for p in (REPO / "auditor").rglob("*.j2")}
    # And the shipped claims sets, so that `auditor run --policy apifonica` works after pip install
    expected |= {str(p.relative_to(REPO)) for p in (REPO / "auditor/policy/sets").glob("*.yaml")}
    assert "auditor/policy/sets/apifonica.yaml" in expected
    assert expected <= names, sorted(expected - names)

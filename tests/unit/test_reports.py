"""A local run writes all three reports; JSON follows the committed schema, HTML escapes host
output, JUnit has one testcase per host × check."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

SCHEMA = json.loads((Path(__file__).parents[2] / "auditor/schema/report.schema.json").read_text())

HOSTILE = '''
"""Echoes hostile markup, as a compromised host could.

Its `<script>alert(4)</script>` code, *<img src=z onerror=alert(5)>* emphasis and
**<b>strong</b>** text stay text; so does a list:

- `a <code>` item
- *<iframe>*
"""
from auditor.check import Check, Param, Status, result
from auditor.probes import shell

CHECK = Check(id="hostile_echo", title="Echo <b>bold</b>", claims=("x",), controls=("A.1",),
              probes=(shell("echo", "printf '<script>alert(1)</script>\\\\n<img src=x onerror=alert(2)>'"),),
              params=(Param("targets", list, ["<i>a</i>", {"sni": "x"}], "shown as written"),))

def evaluate(out, params):
    text = out.require("echo").stdout
    return result(Status.FAIL, text, [text], ["echo"], echoed=text, by_scheme={"<u>md5</u>": 2})
'''


def hostile_workspace(tmp: Path) -> Path:
    """Two local hosts and the hostile check; returns the inventory (checks/ is beside it)."""
    (tmp / "checks").mkdir()
    (tmp / "checks" / "hostile.py").write_text(HOSTILE)
    inventory = tmp / "inv.yaml"
    inventory.write_text("hosts:\n  here:\n    transport: local\n  also-here:\n    transport: local\n")
    return inventory


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    from tests.conftest import run_cli, run_folder

    tmp = tmp_path_factory.mktemp("run")
    inventory = hostile_workspace(tmp)
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp / "out"), "--checks-dir",
                     str(tmp / "checks"), "--format", "json", "--baseline", "previous")
    run_dir = run_folder(tmp / "out")
    return result, run_dir


@pytest.fixture(scope="module")
def library_run(tmp_path_factory):
    """The same run through `auditor.audit()` in this process, for the tests that read its files."""
    from auditor import AuditRequest, audit
    from auditor.tracking.run import TrackingOptions

    tmp = tmp_path_factory.mktemp("library")
    inventory = hostile_workspace(tmp)
    outcome = audit(AuditRequest(inventory=inventory, output=tmp / "out", checks_dirs=(tmp / "checks",),
                                 tracking=TrackingOptions(history_file=tmp / "out" / "history.sqlite",
                                                          baseline="previous")))
    return outcome, outcome.run_dir


def test_json_on_stdout_equals_report_json_and_validates(local_run):
    result, run_dir = local_run
    # The hostile check fails, so the exit code says "a check failed"
    assert result.rc == 1, result.stderr
    on_disk = json.loads((run_dir / "report.json").read_text())
    assert result.json() == on_disk
    jsonschema.validate(on_disk, SCHEMA)
    assert on_disk["run"]["complete"] is True
    assert [h["name"] for h in on_disk["hosts"]] == ["here", "also-here"]


def test_every_evidence_reference_matches_its_file(library_run):
    import hashlib

    _, run_dir = library_run
    report = json.loads((run_dir / "report.json").read_text())
    refs = [e for h in report["hosts"] for r in h["results"] for e in r["evidence"]]
    assert refs, "results must cite evidence"
    for ref in refs:
        data = (run_dir / ref["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == ref["sha256"] and len(data) == ref["size"]


def test_html_escapes_host_output_and_loads_nothing_external(library_run):
    _, run_dir = library_run
    page = (run_dir / "report.html").read_text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>bold</b>" not in page
    # Parameters and measured values are shown as written (JSON), escaped like the rest
    assert "<i>a</i>" not in page and "<u>md5</u>" not in page
    assert 'targets=[&#34;&lt;i&gt;a&lt;/i&gt;&#34;, {&#34;sni&#34;: &#34;x&#34;}]' in page
    assert 'by_scheme={&#34;&lt;u&gt;md5&lt;/u&gt;&#34;: 2}' in page
    # Self-contained: no attribute or style loads anything (text may mention URLs, escaped)
    assert not re.search(r"""(?:src|href|action|data)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"(?:url\(|@import)", page, re.IGNORECASE)


def test_junit_has_a_testcase_per_host_and_check(library_run):
    _, run_dir = library_run
    report = json.loads((run_dir / "report.json").read_text())
    root = ET.parse(run_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(h["results"]) for h in report["hosts"])
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert ("here", "hostile_echo") in failed and ("also-here", "hostile_echo") in failed


def test_check_descriptions_render_their_markdown_and_stay_escaped(library_run):
    _, run_dir = library_run
    # Given the page's "What each check verifies", written from the checks' docstrings
    page = (run_dir / "report.html").read_text()
    section = page[page.index("<h2>What each check verifies</h2>"):page.index('<h2 id="custody">')]
    # Then code spans, emphasis and lists are HTML, with no Markdown left over
    assert "`" not in section
    assert "<code>watched_paths</code>" in section and "<em>notified</em>" in section
    assert "<li>AWS (DMI " in section
    # And hostile text inside each construct stays escaped text
    assert "<code>&lt;script&gt;alert(4)&lt;/script&gt;</code>" in section
    assert "<em>&lt;img src=z onerror=alert(5)&gt;</em>" in section
    assert "<strong>&lt;b&gt;strong&lt;/b&gt;</strong>" in section
    assert "<li><code>a &lt;code&gt;</code> item</li>" in section
    assert "<li><em>&lt;iframe&gt;</em></li>" in section
    assert "<script>alert(4)" not in page and "<img src=z" not in page and "<iframe>" not in page


def test_totals_sit_with_the_title_above_the_baseline_table(library_run):
    _, run_dir = library_run
    # Given a run compared with a baseline (there is none yet: the section still shows)
    page = (run_dir / "report.html").read_text()
    # Then the totals come right after the run line, before the baseline section
    title_end = page.index("</h1>")
    totals = page.index('<p class="totals">')
    assert title_end < totals < page.index('<h2 id="regressions">Against the baseline</h2>')
    assert page.index('<div class="banner">') > totals


def test_trend_squares_sit_on_their_label_line(library_run):
    _, run_dir = library_run
    # Given the page's style (a trend SVG is 35 px tall with its sparkline; checked by eye in
    # headless chromium: squares level with "Trend:", the sparkline hanging below)
    page = (run_dir / "report.html").read_text()
    # Then the SVG is aligned by its top, not by its bottom on the text baseline
    assert re.search(r"svg\.trend\s*\{\s*vertical-align:\s*text-top;", page)

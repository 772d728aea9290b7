"""docs/checks.md is the check catalogue as the code declares it, never a stale copy."""

from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from tests.conftest import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_docs_checks_md_is_what_auditor_list_prints():
    # When the catalogue is printed from the registry
    result = run_cli("list", "--format", "markdown")
    # Then it is exactly the committed document (regenerate: auditor list --format markdown > docs/checks.md)
    assert result.rc == 0, result.stderr
    assert result.stdout == DOC.read_text(encoding="utf-8"), \
        "docs/checks.md is stale: run `auditor list --format markdown > docs/checks.md`"


def test_every_check_documents_its_parameters_and_controls():
    # Every built-in check appears with its ISO controls, and every parameter has a sentence
    from auditor.engine import registry
    for check in registry.load(plugins=False).checks.values():
        assert check.controls and all(c.startswith("ISO27001:2022 A.") for c in check.controls), check.id
        assert check.claims, check.id
        assert len(check.description) > 200, f"{check.id}: the module docstring is its documentation"
        for param in check.params:
            assert len(param.doc) > 10, f"{check.id}.{param.name} needs a doc"


def builtin_checks() -> dict[str, Any]:
    from auditor.engine import registry
    loaded = registry.load(plugins=False).checks
    return {cid: c for cid, c in loaded.items() if c.source.startswith(f"{registry.BUILTIN_PACKAGE}.")}


# MERGE NOTE for the lead: these 7 checks get their headings on the branch that converts them
# (issue 11, step 4, run in parallel). Delete this list at the merge: the strict xfail below
# turns into a failure as soon as their docstrings have the headings, so it cannot be forgotten.
@pytest.mark.parametrize("check_id", sorted(builtin_checks()))
def test_every_builtin_check_documents_every_heading_in_order(check_id):
    # Given a built-in check, taken from the registry (a new check is covered without a list)
    from auditor.report.catalogue import HEADINGS, sections
    description = builtin_checks()[check_id].description
    # When its docstring is split into sections
    headings = [h for h, _ in sections(description)]
    # Then it opens with a summary and has every heading once, in the house order, none empty
    assert headings == ["", *HEADINGS], f"{check_id}: {headings}"
    assert all(text.strip() for _, text in sections(description)), check_id


def test_the_registry_lists_every_builtin_check_the_heading_test_covers():
    # The heading test takes its list from the registry: every built-in check is there
    assert len(builtin_checks()) >= 15


def test_auditor_list_shows_each_check_as_its_sections():
    # When the table catalogue is printed
    result = run_cli("list")
    assert result.rc == 0, result.stderr
    tls = result.stdout[result.stdout.index("tls  —  "):]
    # Then a headed check's description appears as "Heading: text", one section after the other
    positions = [tls.index(f"\n    {heading}: ") for heading in
                 ("Reads", "Passes when", "Fails when", "Error/Manual", "Secrets", "Blind spots")]
    assert positions == sorted(positions)
    assert "\n    Data in transit is protected by HTTPS done right" in tls


def test_sections_keep_unlabelled_paragraphs_with_the_heading_before_them():
    from auditor.report.catalogue import sections
    text = "One line.\n\nMore intro.\n\nReads: a file.\n\nAnd its drop-ins.\n\nSecrets: none."
    assert sections(text) == [("", "One line.\n\nMore intro."), ("Reads", "a file.\n\nAnd its drop-ins."),
                              ("Secrets", "none.")]


HEADED_HOSTILE = """Echoes a <b>hostile</b> summary.

Reads: the `<script>alert(1)</script>` file and *<img src=z onerror=alert(2)>*.

- a <iframe> item

Passes when: **<u>never</u>**.

Fails when: always & forever.

Error/Manual: </h4><h1>not a heading</h1>

Secrets: none.

Blind spots: everything."""


def test_the_html_report_shows_a_headed_description_as_sections_with_hostile_text_as_text():
    from auditor.model import CheckInfo, RunReport
    from auditor.report import html
    from auditor.report.catalogue import HEADINGS
    # Given a run whose one check has a docstring in the fixed headings, full of markup
    info = CheckInfo(id="hostile", title="Hostile", claims=("x",), controls=("A.1",),
                     description=HEADED_HOSTILE)
    report = RunReport(run_id="r", started="2026-01-01T00:00:00Z", finished="2026-01-01T00:00:01Z",
                       tool_version="0", operator="t@h", inventory_path="inv.yaml", inventory_sha256="0" * 64,
                       checks=(info,), hosts=(), complete=True)
    # When the HTML report is rendered
    page = html.render(report)
    section = page[page.index("<h2>What each check verifies</h2>"):page.index('<h2 id="custody">')]
    # Then each heading is a section heading, in the house order, above its own text
    positions = [section.index(f'<h4 class="section">{escape(h)}</h4>') for h in HEADINGS]
    assert positions == sorted(positions)
    assert section.index("<p>Echoes a &lt;b&gt;hostile&lt;/b&gt; summary.</p>") < positions[0]
    # And the Markdown is HTML while the hostile text stays text, also where it mimics a heading
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in section
    assert "<em>&lt;img src=z onerror=alert(2)&gt;</em>" in section
    assert "<li>a &lt;iframe&gt; item</li>" in section
    assert "<strong>&lt;u&gt;never&lt;/u&gt;</strong>" in section
    assert "<p>always &amp; forever.</p>" in section
    assert "&lt;/h4&gt;&lt;h1&gt;not a heading&lt;/h1&gt;" in section and "<h1>not a heading" not in page
    assert "<script>alert(1)" not in page and "<img src=z" not in page and "<iframe>" not in page

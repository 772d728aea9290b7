"""docs/checks.md is the check catalogue as the code declares it, never a stale copy."""

from pathlib import Path

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


# Checks whose docstrings are written in the fixed headings so far; the others still use
# free paragraphs (the catalogue shows those unchanged).
HEADED_CHECKS = ("backups",)


def test_headed_checks_document_every_heading_in_order():
    # Given the built-in checks converted to the fixed docstring headings
    from auditor.engine import registry
    from auditor.report.catalogue import HEADINGS, sections
    loaded = registry.load(plugins=False).checks
    for check_id in HEADED_CHECKS:
        # When the docstring is split into sections
        headings = [h for h, _ in sections(loaded[check_id].description)]
        # Then it opens with a summary and has every heading once, in the house order
        assert headings == ["", *HEADINGS], f"{check_id}: {headings}"


def test_sections_keep_unlabelled_paragraphs_with_the_heading_before_them():
    from auditor.report.catalogue import sections
    text = "One line.\n\nMore intro.\n\nReads: a file.\n\nAnd its drop-ins.\n\nSecrets: none."
    assert sections(text) == [("", "One line.\n\nMore intro."), ("Reads", "a file.\n\nAnd its drop-ins."),
                              ("Secrets", "none.")]

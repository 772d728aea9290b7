"""What a host prints reaches every report shown, never acted on: junit.xml stays well-formed XML
(parsed strictly), report.html shows control characters and bidi overrides as text, report.json is
standard JSON (no NaN, no raw C1 or bidi character) that reads back as the host's text, and the
console prints no escape sequence of the host's. The host output is real: a local host runs a
probe printing it (issue 16, class 6)."""

import dataclasses
import io
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from auditor.check import Status
from auditor.cli.run import print_quiet
from auditor.model import CheckResult, HostReport, RunReport
from auditor.report import console, html, json_report, junit
from auditor.report.visible import UNSAFE, one_line, visible

# ESC ]0;…BEL (set the window title), ESC [2J (clear the screen), C1 CSI U+009B, NUL, U+FFFE,
# RIGHT-TO-LEFT OVERRIDE U+202E, a lone surrogate's UTF-8 bytes (not UTF-8: decoded as \xNN), a CR
PRINTED = (r"title\033]0;pwned\007 clear\033[2J csi\302\2331m nul\000 nonchar\357\277\276 "
           r"bidi\342\200\256txt.exe surrogate\355\240\200 cr\rover\n")
HOSTILE = f'''
"""Echoes what a compromised host could print."""
from auditor.check import Check, Status, result
from auditor.probes import shell

CHECK = Check(id="hostile_bytes", title="Echo bytes", claims=("x",), controls=("A.1",),
              probes=(shell("echo", r"printf '{PRINTED}'"),))

def evaluate(out, params):
    text = out.require("echo").stdout
    return result(Status.FAIL, text, [text, "ok line"], ["echo"], echoed=text,
                  ratio=float("nan"), rate=float("inf"), nested={{"low": float("-inf")}})
'''
# What the host's text must look like wherever it is shown
SHOWN = ("\\x1b]0;pwned\\x07", "\\x1b[2J", "\\x9b1m", "nul\\x00", "nonchar\\ufffe", "bidi\\u202etxt.exe")
# Every raw character of the host's that must not reach a terminal, an XML parser or a browser
RAW = ("\x1b", "\x07", "\x9b", "\x00", "\ufffe", "\u202e", "\r")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    from auditor import AuditRequest, audit
    from auditor.tracking.run import TrackingOptions

    tmp = tmp_path_factory.mktemp("hostile-text")
    (tmp / "checks").mkdir()
    (tmp / "checks" / "hostile_bytes.py").write_text(HOSTILE)
    inventory = tmp / "inv.yaml"
    inventory.write_text("hosts:\n  here:\n    transport: local\n")
    outcome = audit(AuditRequest(inventory=inventory, output=tmp / "out", checks_dirs=(tmp / "checks",),
                                 checks=("hostile_bytes",), tracking=TrackingOptions(history_file=None)))
    return outcome


def _no_raw(text: str, where: str) -> None:
    found = sorted({repr(c) for c in RAW if c in text} | {repr(m.group()) for m in UNSAFE.finditer(text)})
    assert not found, f"{where} holds raw {', '.join(found)}"


def test_the_host_really_printed_the_hostile_characters(hostile_run):
    # Given the run's result for the hostile check
    result = hostile_run.report.hosts[0].results[0]
    # Then the summary holds them raw, so the reports below are tested against the real thing
    assert result.status is Status.FAIL
    for char in ("\x1b", "\x07", "\x9b", "\x00", "\ufffe", "\u202e", "\r"):
        assert char in result.summary, repr(char)
    assert "surrogate\\xed\\xa0\\x80" in result.summary  # invalid UTF-8 is already visible text


def test_junit_is_well_formed_xml_for_a_strict_parser(hostile_run):
    # Given junit.xml as the run wrote it
    data = (hostile_run.run_dir / "junit.xml").read_bytes()
    # When a strict XML parser reads it (and lxml too, when installed)
    root = ET.fromstring(data)
    try:
        from lxml import etree
    except ImportError:
        etree = None
    if etree is not None:
        etree.fromstring(data, etree.XMLParser(recover=False))
    # Then it parses, the failure carries the host's text shown as escapes, and nothing is raw
    failure = root.find(".//testcase/failure")
    assert failure is not None
    for shown in SHOWN:
        assert shown in failure.get("message", "") and shown in (failure.text or "")
    _no_raw(data.decode("utf-8"), "junit.xml")


def test_html_shows_control_characters_and_bidi_overrides_as_text(hostile_run):
    # Given report.html as the run wrote it
    page = (hostile_run.run_dir / "report.html").read_text(encoding="utf-8")
    # Then the host's text is there, every control and override shown as an escape, none raw
    for shown in SHOWN:
        assert shown in page, shown
    _no_raw(page, "report.html")


def test_report_json_is_standard_json_and_reads_back_as_the_hosts_text(hostile_run):
    # Given report.json as written and as printed on stdout (`--format json`)
    text = (hostile_run.run_dir / "report.json").read_text(encoding="utf-8")
    assert text == hostile_run.report_json

    def refuse(constant: str) -> None:
        raise AssertionError(f"report.json holds the non-standard constant {constant}")

    # When read by a parser that refuses NaN and Infinity
    data = json.loads(text, parse_constant=refuse)
    # Then the numbers that were not finite are null, and the text reads back exactly
    result = data["hosts"][0]["results"][0]
    assert result["values"]["ratio"] is None and result["values"]["rate"] is None
    assert result["values"]["nested"] == {"low": None}
    assert result["summary"] == hostile_run.report.hosts[0].results[0].summary
    # And the file itself carries no raw control or override character (JSON escapes instead)
    _no_raw(text, "report.json")


def test_the_console_shows_the_hosts_text_and_never_its_escape_sequences(hostile_run):
    # Given the run's report
    report = hostile_run.report
    # When the summary table and the --quiet lines are printed, with colour
    table, quiet = io.StringIO(), io.StringIO()
    console.summary(report, table, colour=True, width=100)
    print_quiet(report, quiet)
    # Then the host's text is shown as escapes, and no character of the host's acts on the terminal
    for out in (table.getvalue(), quiet.getvalue()):
        assert "\\x1b]0;pwned\\x07" in out and "bidi\\u202etxt.exe" in out
        without_our_colours = out.replace("\x1b[31m", "").replace("\x1b[0m", "")
        _no_raw(without_our_colours, "the console")
        assert len(out.splitlines()) == len(out.split("\n")) - 1  # one line per item: no forged line


LONE = "lone \ud800 and \udfff surrogates, \u2066isolate\u2069, \u2028separator"


def _report_with(text: str, duration_ms: float = 1.0) -> RunReport:
    result = CheckResult("c", "C", Status.ERROR, text, details=(text,), values={"v": text, "x": math.nan})
    host = HostReport("h", "127.0.0.1", "local", False, text, "protocol", {"os": text}, (result,),
                      duration_ms)
    return RunReport("r", "t", "t", "1", "me@here", "inv.yaml", "0" * 64, (), (host,), False)


def test_lone_surrogates_and_isolates_are_shown_and_every_writer_can_encode_them():
    # Given a report holding lone surrogates (as a hostile evidence pack re-judged could) and a
    # host whose duration is not a number (a hostile sub-pack's)
    report = _report_with(LONE, duration_ms=math.nan)
    # When each writer renders it
    documents = {"junit": junit.render(report), "html": html.render(report),
                 "json": json_report.render(report)}
    # Then each encodes as UTF-8 (a lone surrogate would not), and shows the characters as escapes
    for name, document in documents.items():
        document.encode("utf-8")
        _no_raw(document, name)
    assert "lone \\ud800 and \\udfff surrogates, \\u2066isolate\\u2069, \\u2028separator" in documents["html"]
    ET.fromstring(documents["junit"].encode("utf-8"))
    assert 'time="0.000"' in documents["junit"]
    data = json.loads(documents["json"])
    assert data["hosts"][0]["results"][0]["summary"] == LONE  # the \\u escapes read back as the text
    assert data["hosts"][0]["duration_ms"] is None and data["hosts"][0]["results"][0]["values"]["x"] is None


def test_visible_is_the_one_rule_and_keeps_ordinary_text():
    # Given ordinary text in several scripts, with tabs and line breaks
    ordinary = "zażółć\tgęślą\njaźń — naïve 日本語 ✓ <b>&</b>\r\n"
    # Then visible keeps it (a CRLF line end becomes LF) and one_line turns the breaks into blanks
    assert visible(ordinary) == ordinary.replace("\r\n", "\n")
    assert one_line(ordinary) == "zażółć gęślą jaźń — naïve 日本語 ✓ <b>&</b>  "
    # And every character it replaces gets an escape that names it
    assert visible("\x00\x1b\x7f\x9b\u202e\ud800\uffff\r") == "\\x00\\x1b\\x7f\\x9b\\u202e\\ud800\\uffff\\x0d"


def test_print_quiet_shows_a_hosts_error_without_its_escape_sequences():
    # Given an unreachable host whose error text carries an escape sequence
    report = dataclasses.replace(_report_with("\x1b[2J\x1b]0;pwned\x07gone"), complete=True)
    out = io.StringIO()
    # When --quiet prints it
    print_quiet(report, out)
    # Then the line shows the sequence as text
    assert "h: protocol: \\x1b[2J\\x1b]0;pwned\\x07gone" in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_every_report_writer_goes_through_visible():
    # Given the reporters' sources (the terminal, XML, HTML and JSON writers and the CLI printers)
    root = Path(__file__).parents[2] / "auditor"
    users = ["report/console.py", "report/junit.py", "report/html.py", "report/json_report.py",
             "cli/run.py", "cli/evidence.py", "cli/history.py", "cli/claims.py", "cli/main.py"]
    # Then each imports the one rule, and none keeps a control-character pattern of its own
    for name in users:
        source = (root / name).read_text()
        assert "from auditor.report.visible import" in source, name
        assert "\\x1f]" not in source and "\\x9f]" not in source, name


def test_verify_prints_a_file_name_from_the_pack_shown_not_acted_on(hostile_run, tmp_path):
    import shutil

    from tests.conftest import run_cli

    # Given a copy of the run folder with a file added whose name clears the screen and sets the title
    copy = tmp_path / "run"
    shutil.copytree(hostile_run.run_dir, copy)
    (copy / "evidence" / "here" / "x\x1b[2J\x1b]0;VERIFIED\x07.json").write_text("{}")
    # When it is verified
    done = run_cli("verify", str(copy), "--allow-unsigned")
    # Then the added file is named with its escapes as text, and none reaches the terminal
    assert done.rc != 0 and "NOT VERIFIED" in done.stdout
    assert "ADDED    evidence/here/x\\x1b[2J\\x1b]0;VERIFIED\\x07.json (not in the manifest)" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


def test_a_trend_value_that_is_not_finite_is_drawn_as_no_value():
    from auditor.model import TrendPoint
    from auditor.report import trend

    # Given three runs whose values are 2, infinity (a ratio of nothing) and NaN, then 4
    values = [2.0, math.inf, math.nan, 4.0]
    points = [TrendPoint(f"r{i}", "2025-01-01T02:00:00Z", Status.PASS, v) for i, v in enumerate(values)]
    # When drawn
    drawn = str(trend.svg(points, "ratio"))
    svg = ET.fromstring(drawn)
    # Then the sparkline joins only the finite values, and no coordinate or label says inf or nan
    line = svg.find("{http://www.w3.org/2000/svg}polyline")
    assert line is not None and len(line.get("points", "").split()) == 2
    assert "inf" not in drawn and "nan" not in drawn
    assert svg.get("aria-label", "").endswith("ratio: 2 → – → – → 4")


def test_the_spreadsheets_drop_what_visible_would_escape(hostile_run):
    # Given results.csv and controls.csv as the run wrote them (their CRLF line ends aside)
    for name in ("results.csv", "controls.csv"):
        text = (hostile_run.run_dir / name).read_text(encoding="utf-8").replace("\r\n", "\n")
        # Then no character of the host's that a terminal or a spreadsheet would act on is there
        _no_raw(text, name)
    # And the rest of the host's text is kept
    results = (hostile_run.run_dir / "results.csv").read_text(encoding="utf-8")
    assert "title]0;pwned clear[2J csi1m nul nonchar bidi" in results

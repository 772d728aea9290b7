"""report.html: self-contained (no network resources), autoescaped, printable. Control
characters and bidi overrides from a host are shown as `\x1b`-style text, never rendered
(`visible`, over the whole page)."""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from markupsafe import Markup, escape

from auditor.check import Finding, Status
from auditor.evidence.redact import mask_all
from auditor.model import RunReport
from auditor.policy import verdicts as claim_verdicts
from auditor.report import catalogue, findings, trend
from auditor.report.visible import visible

if TYPE_CHECKING:
    import jinja2


_JSON_SCALARS: dict[object, str] = {True: "true", False: "false", None: "null"}


def _plain(value: Any) -> str:
    """A parameter or measured value as people write it: strings bare, the rest as JSON."""
    if isinstance(value, str):
        return value
    # Most values are numbers, flags and None: their JSON without json.dumps' encoder per call
    # (10,000 calls at 100 hosts). 1 == True as a key, hence the exact type tests.
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool or value is None:
        return _JSON_SCALARS[value]
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


_SEVERITY_RANK = operator.attrgetter("severity.rank")


def _worst_first(findings: tuple[Finding, ...]) -> list[Finding]:
    """A result card's findings, worst severity first and in the order found within one (jinja's
    `sort(attribute=...)` did the same at ten times the cost: it was an eighth of the page's)."""
    return sorted(findings, key=_SEVERITY_RANK, reverse=True)


# The little Markdown the check docstrings use. Applied to text already escaped, so a `<` in a
# docstring stays text; inside a code span nothing else is converted (globs such as `*.rules`).
_CODE_SPAN = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"(?<![\w*])\*\*(?=\S)([^*]+?)(?<=\S)\*\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*/])\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?![\w*/])")


def _inline_markdown(text: str) -> str:
    parts = _CODE_SPAN.split(str(escape(text)))  # odd indexes: the code spans' contents
    return "".join(
        f"<code>{part}</code>" if index % 2 else
        _EMPHASIS.sub(r"<em>\1</em>", _STRONG.sub(r"<strong>\1</strong>", part))
        for index, part in enumerate(parts)
    )


def _markdown(text: str) -> Markup:
    """Paragraphs, `- ` lists, `code`, *emphasis* and **strong** as HTML; everything else escaped."""
    blocks = []
    for paragraph in text.strip().split("\n\n"):
        if paragraph.startswith("- "):
            items = paragraph[2:].split("\n- ")
            blocks.append("<ul>" + "".join(f"<li>{_inline_markdown(i)}</li>" for i in items) + "</ul>")
        else:
            blocks.append(f"<p>{_inline_markdown(paragraph)}</p>")
    return Markup("\n".join(blocks))  # noqa: S704 - built from escaped text and fixed tags only


def _description(text: str) -> Markup:
    """A check's docstring as its sections (catalogue.sections): the opening paragraphs, then
    a heading per labelled section ("Reads", "Passes when", ...) above its Markdown."""
    blocks = []
    for heading, body in catalogue.sections(text):
        if heading:
            blocks.append(f'<h4 class="section">{escape(heading)}</h4>')
        blocks.append(_markdown(body))
    return Markup("\n".join(blocks))  # noqa: S704 - escaped headings and _markdown's own Markup


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates' environment, made when the first page is: jinja2 is imported then, not by every
    command that imports the pipeline."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("auditor", "report/templates"),
        autoescape=True,  # host output is hostile input
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates ship with the package: no stat of each one per host rendered
    )
    env.filters["plain"] = _plain
    env.filters["masked"] = mask_all  # a claims file's parameters, masked as report.json has them
    env.filters["markdown"] = _markdown
    env.filters["description"] = _description
    env.filters["trend_svg"] = trend.svg
    env.filters["worst_first"] = _worst_first
    return env


def render(report: RunReport, verdicts: claim_verdicts.PolicyVerdicts | None = None,
           controls: list[claim_verdicts.ControlRow] | None = None) -> str:
    """The HTML report; the claim verdicts and controls matrix are judged here unless given."""
    return "".join(_pieces(report, verdicts, controls))


def write(report: RunReport, verdicts: claim_verdicts.PolicyVerdicts | None,
          controls: list[claim_verdicts.ControlRow] | None, out: TextIO) -> None:
    """`render`'s page written piece by piece: at 1,000 hosts the page at once held ~180 MB."""
    out.writelines(_pieces(report, verdicts, controls))


def _pieces(report: RunReport, verdicts: claim_verdicts.PolicyVerdicts | None,
            controls: list[claim_verdicts.ControlRow] | None) -> Iterator[str]:
    template = _environment().get_template("report.html.j2")
    check_ids = [c.id for c in report.checks]
    matrix = [
        (host, [next((r for r in host.results if r.check_id == cid), None) for cid in check_ids])
        for host in report.hosts
    ]
    policy_view = verdicts or claim_verdicts.judged(report)
    if controls is None:
        controls = claim_verdicts.controls_matrix(report, policy_view)
    pieces = template.generate(report=report, totals=report.totals(), matrix=matrix,
                               checks=report.checks, Status=Status, policy_view=policy_view,
                               controls=controls, findings=findings.fleet_findings(report),
                               trend_names={c.id: c.trend_values[0] for c in report.checks if c.trend_values})
    return (visible(chunk) for chunk in _chunks(pieces))  # host text is shown, never acted on


def _chunks(pieces: Iterator[str], size: int = 1 << 16) -> Iterator[str]:
    """The template's pieces (a few hundred thousand at 100 hosts, most a few characters long)
    joined into pieces of about `size` characters, so the page is made visible in few calls."""
    held: list[str] = []
    length = 0
    for piece in pieces:
        held.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(held)
            held, length = [], 0
    if held:
        yield "".join(held)

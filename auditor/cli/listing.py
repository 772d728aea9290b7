"""`auditor list`: the check catalogue (table, JSON, or the Markdown of docs/checks.md), or
the inventory's hosts."""

from __future__ import annotations

import argparse
import json
import re
import textwrap

from auditor.engine.registry import load_checks
from auditor.inputs import load_inventory
from auditor.report import catalogue
from auditor.report.visible import one_line

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # a plugin's docstring reaches the terminal


def _section_lines(description: str) -> list[str]:
    """A check's docstring as its sections: "Heading: text", a paragraph at a time, wrapped and
    indented under the check."""
    lines = []
    for heading, text in catalogue.sections(description):
        for index, paragraph in enumerate(text.split("\n\n")):
            flat = _CONTROL_CHARACTERS.sub("?", " ".join(paragraph.split()))
            label = f"{heading}: " if heading and index == 0 else ""
            lines += textwrap.wrap(label + flat, width=100, initial_indent="    ", subsequent_indent="      ",
                                   break_on_hyphens=False)
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    loaded = load_checks(args.checks_dir)
    if args.hosts:
        inv = load_inventory(args.inventory, loaded.checks, args.inventory_format)
        if args.format == "json":
            print(json.dumps([{"name": h.name, "address": h.address, "transport": h.transport,
                               "port": h.port, "user": h.user, "groups": list(h.groups)}
                              for h in inv.hosts], indent=2))
            return 0
        for h in inv.hosts:
            user = f"{h.user}@" if h.user else ""
            port = f":{h.port}" if h.port else ""
            target = "local" if h.transport == "local" else f"{user}{h.address}{port}"
            print(one_line(f"{h.name:<24} {target:<32} groups: {','.join(h.groups) or '-'}"))
        return 0
    checks = [loaded.checks[i] for i in sorted(loaded.checks)]
    if args.format == "markdown":
        print(catalogue.render(checks), end="")
        return 0
    if args.format == "json":
        print(json.dumps([{
            "id": c.id, "title": c.title, "claims": list(c.claims), "controls": list(c.controls),
            "params": [{"name": p.name, "type": p.type_name(), "default": p.default, "doc": p.doc}
                       for p in c.params],
            "description": c.description, "source": c.source,
        } for c in checks], indent=2))
        return 0
    for c in checks:
        print(f"{c.id}  —  {c.title}")
        print(f"    claims: {', '.join(c.claims)}")
        print(f"    controls: {', '.join(c.controls)}")
        print("\n".join(_section_lines(c.description)))
        for p in c.params:
            print(f"    param {p.name} ({p.type_name()}, default {p.default!r}): {p.doc}")
    return 0

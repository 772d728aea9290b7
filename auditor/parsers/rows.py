"""Tagged tab-separated probe lines: `printf 'kind\t…\n'` on the host, `rows()` here.

Probes print one fact per line, a tag first and its fields after it, separated by tabs.
`rows` splits them and checks each tag's arity in one place, so every check reports a line
it does not understand with the same "unexpected line from the X probe" error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# A tag's arity: the exact number of fields after the tag, or (at least, None) for "at least".
Arity = int | tuple[int, None]


class Row(NamedTuple):
    tag: str
    fields: tuple[str, ...]

    def rest(self, start: int) -> str:
        """Fields from `start` on, joined again (the last field may itself hold tabs)."""
        return "\t".join(self.fields[start:])


# Row's own constructor without NamedTuple's Python-level __new__ in between.
_new_row = tuple.__new__


class UnexpectedLine(ValueError):
    """A probe line whose tag is unknown or whose field count is wrong."""


def unexpected(probe: str, line: str) -> UnexpectedLine:
    return UnexpectedLine(f"unexpected line from the {probe} probe: {line[:80]!r}")


def rows(text: str, probe: str, arity: Mapping[str, Arity] | None = None, *,
         lenient: bool = False, untagged: int | None = None) -> list[Row]:
    """The probe's non-empty lines as rows. With `arity`, a line whose tag is not listed or
    whose field count differs raises UnexpectedLine naming the probe; `lenient` skips such
    lines instead (where the probe's own text may hold stray lines). With `untagged`, lines
    have no tag: each must have exactly that many fields (tag is "")."""
    if untagged is not None:
        return _untagged_rows(text, probe, untagged, lenient=lenient)
    found = []
    # Every line of every probe of every host passes here: one split and no call per line.
    for line in text.splitlines():
        if not line:
            continue
        tag, tab, rest = line.partition("\t")
        fields = tuple(rest.split("\t")) if tab else ()
        if arity is not None:
            want = arity.get(tag)
            if want is None or not (len(fields) == want if isinstance(want, int) else len(fields) >= want[0]):
                if lenient:
                    continue
                raise unexpected(probe, line)
        found.append(_new_row(Row, (tag, fields)))
    return found


def _untagged_rows(text: str, probe: str, count: int, *, lenient: bool) -> list[Row]:
    found = []
    for line in text.splitlines():
        if not line:
            continue
        fields = tuple(line.split("\t"))
        if len(fields) != count:
            if lenient:
                continue
            raise unexpected(probe, line)
        found.append(_new_row(Row, ("", fields)))
    return found

"""Text from a host, an input file or a pack, made safe to show: the one place that decides which
characters a terminal, an XML parser or a browser would act on instead of showing, and how each
is shown instead.

Replaced by their escape as text (ESC → `\\x1b`, RIGHT-TO-LEFT OVERRIDE → `\\u202e`): C0
controls but tab and line feed, DEL, C1 controls (U+009B is a CSI on many terminals), the bidi
controls that reorder what is shown (U+202A-202E, U+2066-2069, the marks U+200E, U+200F,
U+061C), the line and paragraph separators, lone surrogates, and U+FFFE/U+FFFF. Together that is
also everything XML 1.0 forbids even as a character reference, so a document passed through
`visible` whole is well-formed whatever a host sent. A CR before an LF is dropped (a Windows
line end); any other CR is shown, since on a terminal it would overwrite the line.
"""

from __future__ import annotations

import re

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                    "\ud800-\udfff\ufffe\uffff]")
_BLANKS = re.compile(r"[\t\n\r\x0b\x0c]")


def escape_of(char: str) -> str:
    """`\\x1b` for a character below U+0100, `\\u202e` above."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every unsafe character (see the module docstring) replaced by its escape;
    tabs and line breaks are kept."""
    return UNSAFE.sub(lambda match: escape_of(match.group()), text.replace("\r\n", "\n"))


def one_line(text: str) -> str:
    """`text` for one line of a terminal: each tab and line break becomes a blank (a
    line break in host output cannot start a line that looks like ours), the rest as `visible`."""
    return visible(_BLANKS.sub(" ", text))


def json_escaped(json_text: str) -> str:
    """JSON text with every unsafe character written as its `\\u` escape (the same string to a
    JSON reader; outside strings JSON is ASCII, so each such character is inside one)."""
    return UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)

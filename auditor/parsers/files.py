"""Several files in one probe output: the `dump_files` shell helper and its parser."""

from __future__ import annotations

import shlex

HEADER = "### auditor-file "
UNREADABLE = "### auditor-unreadable "


def dump_files_script(*paths: str, follow_includes: str | None = None) -> str:
    """Shell that prints each regular file under `paths` (files, or dirs one level deep).

    With `follow_includes` (a file), the targets of its `include` lines are dumped too.
    """
    quoted = " ".join(shlex.quote(p) for p in paths)
    lines = [
        # A link to /dev/null masks a file (systemd): it is listed, empty, never read.
        "masked() { [ \"$(readlink -f \"$1\")\" = /dev/null ]; }",
        f"emit() {{ if masked \"$1\"; then printf '\\n%s%s\\n' {shlex.quote(HEADER)} \"$1\"; "
        f"elif [ -r \"$1\" ]; then printf '\\n%s%s\\n' {shlex.quote(HEADER)} \"$1\"; cat -- \"$1\"; "
        f"else printf '\\n%s%s\\n' {shlex.quote(UNREADABLE)} \"$1\"; fi; }}",
        "dump() { for f in \"$@\"; do if [ -d \"$f\" ]; then for g in \"$f\"/* \"$f\"/.[!.]*; do "
        "if masked \"$g\" || [ -f \"$g\" ]; then emit \"$g\"; fi; done; "
        "elif [ -f \"$f\" ]; then emit \"$f\"; fi; done; }",
        f"dump {quoted}",
    ]
    if follow_includes:
        lines.append(
            f"dump $(awk '$1==\"include\" {{print $2}}' {shlex.quote(follow_includes)} 2>/dev/null)"
        )
    lines.append("exit 0")
    return "\n".join(lines)


def parse_dump(text: str) -> tuple[dict[str, str], list[str]]:
    """(path -> content, unreadable paths). The first copy of a path wins."""
    files: dict[str, str] = {}
    unreadable: list[str] = []
    current: str | None = None
    buffer: list[str] = []

    def flush() -> None:
        if current is not None and current not in files:
            files[current] = "\n".join(buffer).rstrip("\n") + "\n" if buffer else ""

    for line in text.split("\n"):
        if line.startswith(HEADER):
            flush()
            current, buffer = line[len(HEADER):], []
        elif line.startswith(UNREADABLE):
            flush()
            current, buffer = None, []
            unreadable.append(line[len(UNREADABLE):])
        elif current is not None:
            buffer.append(line)
    flush()
    return files, sorted(set(unreadable))

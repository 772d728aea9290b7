"""Several files in one probe output: the `dump_files` shell helper and its parser."""

from __future__ import annotations

import shlex

HEADER = "### auditor-file "
UNREADABLE = "### auditor-unreadable "


def dump_files_script(*paths: str, more_paths: str | None = None) -> str:
    """Shell that prints each regular file under `paths` (files, or dirs one level deep).

    `more_paths` is shell that prints further paths to dump, e.g. the targets of a
    configuration's include lines (globs expand on the host). A file is printed once,
    however many ways lead to it.
    """
    quoted = " ".join(shlex.quote(p) for p in paths)
    lines = [
        "__seen=' '",
        # A link to /dev/null masks a file (systemd): it is listed, empty, never read. Only a link
        # can be one: readlink(1) is forked for links alone, not for every file dumped.
        "masked() { [ -L \"$1\" ] && [ \"$(readlink -f \"$1\")\" = /dev/null ]; }",
        "emit() { case \"$__seen\" in *\" $1 \"*) return;; esac; __seen=\"$__seen$1 \"; "
        f"if masked \"$1\"; then printf '\\n%s%s\\n' {shlex.quote(HEADER)} \"$1\"; "
        f"elif [ -r \"$1\" ]; then printf '\\n%s%s\\n' {shlex.quote(HEADER)} \"$1\"; cat -- \"$1\"; "
        f"else printf '\\n%s%s\\n' {shlex.quote(UNREADABLE)} \"$1\"; fi; }}",
        "dump() { for f in \"$@\"; do if [ -d \"$f\" ]; then for g in \"$f\"/* \"$f\"/.[!.]*; do "
        "if masked \"$g\" || [ -f \"$g\" ]; then emit \"$g\"; fi; done; "
        "elif [ -f \"$f\" ]; then emit \"$f\"; fi; done; }",
        f"dump {quoted}",
    ]
    if more_paths:
        lines.append(f"dump $({more_paths})")
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

"""Several files in one probe output: the `dump_files` shell helper and its parser."""

from __future__ import annotations

import shlex

HEADER = "### auditor-file "
UNREADABLE = "### auditor-unreadable "


# Prints each path it is given (files, a link to /dev/null, anything else), the first time only:
# a header, then the file's lines; an unreadable one gets the UNREADABLE header alone. One
# process for every file of a dump. A last line without a newline gets one (parse_dump reads
# both alike); a masked file (a link to /dev/null) reads empty, so only its header is printed.
DUMP_AWK = r"""BEGIN {
  for (i = 1; i < ARGC; i++) {
    path = ARGV[i]; if (path in seen) continue; seen[path] = 1
    more = (getline line < path)
    if (more < 0) { printf "\n%s%s\n", "@UNREADABLE@", path; continue }
    printf "\n%s%s\n", "@HEADER@", path
    while (more > 0) { print line; more = (getline line < path) }
    close(path)
  }
}""".replace("@UNREADABLE@", UNREADABLE).replace("@HEADER@", HEADER)


def dump_files_script(*paths: str, more_paths: str | None = None) -> str:
    """Shell that prints each regular file under `paths` (files, or dirs one level deep).

    `more_paths` is shell that prints further paths to dump, e.g. the targets of a
    configuration's include lines (globs expand on the host). A file is printed once,
    however many ways lead to it. The shell only lists the paths (builtins: tests and
    globs); one awk reads them all.
    """
    quoted = " ".join(shlex.quote(p) for p in paths)
    lines = [
        # The paths are gathered as the positional parameters, in order, then handed to awk.
        "set --",
        # A link to /dev/null masks a file (systemd): it is listed, empty, never read.
        "for f in " + quoted + (f" $({more_paths})" if more_paths else "") + "; do",
        '  if [ -d "$f" ]; then for g in "$f"/* "$f"/.[!.]*; do',
        '    if [ -f "$g" ] || { [ -L "$g" ] && [ "$g" -ef /dev/null ]; }; then set -- "$@" "$g"; fi',
        '  done; elif [ -f "$f" ]; then set -- "$@" "$f"; fi',
        "done",
        f'[ "$#" -eq 0 ] || awk -- {shlex.quote(DUMP_AWK)} "$@"',
        "exit 0",
    ]
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

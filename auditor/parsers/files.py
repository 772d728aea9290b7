"""Several files in one probe output: the `dump_files` shell helper and its parser."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Includes:
    """Include lines that the dump's awk reads in the files it prints (instead of a second awk
    reading them first): `holds` is an awk condition on `path`, the file being printed, true
    for the files whose include lines count; `extract` is awk run on each of their lines
    (`line`) that calls inc(ARGUMENT) for each path or glob the line includes."""

    holds: str
    extract: str


# DUMP_AWK that also hands each include argument of the files `holds` names to its stderr.
_DUMP_INCLUDES_AWK = DUMP_AWK.replace(
    "BEGIN {", 'function inc(p) { print p > "/dev/stderr" }\nBEGIN {', 1).replace(
    "{ print line; more", "{ print line; if (@HOLDS@) { @EXTRACT@ }\n      more", 1)


def _gather(words: str, skip: str = "") -> list[str]:
    """Shell that sets the positional parameters to the files under `words` (files, or dirs one
    level deep), in order; with `skip`, not those on a line of the variable it names."""
    def add(var: str) -> str:
        return (f'case "$__nl${skip}" in *"$__nl${var}$__nl"*) ;; *) set -- "$@" "${var}" ;; esac' if skip
                else f'set -- "$@" "${var}"')
    return [
        "set --",
        # A link to /dev/null masks a file (systemd): it is listed, empty, never read.
        f"for f in {words}; do",
        '  if [ -d "$f" ]; then for g in "$f"/* "$f"/.[!.]*; do',
        f'    if [ -f "$g" ] || {{ [ -L "$g" ] && [ "$g" -ef /dev/null ]; }}; then {add("g")}; fi',
        f'  done; elif [ -f "$f" ]; then {add("f")}; fi',
        "done",
    ]


def dump_files_script(*paths: str, more_paths: str | None = None, includes: Includes | None = None) -> str:
    """Shell that prints each regular file under `paths` (files, or dirs one level deep).

    `more_paths` is shell that prints further paths to dump, e.g. the targets of a
    configuration's include lines (globs expand on the host). `includes` has the awk that
    prints the files find their include lines too; what they name and was not printed yet is
    printed by a second awk, only if there is any. A file is printed once, however many ways
    lead to it. The shell only lists the paths (builtins: tests and globs); one awk reads them all.
    """
    quoted = " ".join(shlex.quote(p) for p in paths)
    if includes is None:
        return "\n".join([
            *_gather(quoted + (f" $({more_paths})" if more_paths else "")),
            f'[ "$#" -eq 0 ] || awk -- {shlex.quote(DUMP_AWK)} "$@"',
            "exit 0",
        ])
    first = _DUMP_INCLUDES_AWK.replace("@HOLDS@", includes.holds).replace("@EXTRACT@", includes.extract)
    return "\n".join([
        *_gather(quoted),
        # The files go to the probe's stdout (fd 3), the include arguments to the shell.
        "exec 3>&1; __more=",
        f'[ "$#" -eq 0 ] || __more=$(awk -- {shlex.quote(first)} "$@" 2>&1 >&3)',
        '[ -n "$__more" ] || exit 0',
        "__nl='\n'; __done=; for f in \"$@\"; do __done=\"$__done$f$__nl\"; done",
        *_gather("$__more", skip="__done"),
        f'[ "$#" -eq 0 ] || awk -- {shlex.quote(DUMP_AWK)} "$@"',
        "exit 0",
    ])


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

"""A path a probe expects to be a regular file (a configuration, a log) that is something else.

Opening a named pipe (FIFO) or a terminal for reading blocks until a writer appears, which may
be never: the probe runs into its deadline, what it printed is lost, and the check says
`error`. Reading /dev/zero never ends. `[ -r ]` and `[ -e ]` are true for all of them, so a
probe asks `not_a_file PATH` (NOT_A_FILE_SH) before it opens a path it did not find with
`[ -f ]` (find -type f, a `-f` filter), and says what the path is instead of reading it.
A link to /dev/null (systemd's way of masking a file) is still read: it reads as empty.
"""

from __future__ import annotations

from typing import NamedTuple

# What probes print for such a path, where their rows are lines: `#not-a-file KIND PATH`.
NOT_A_FILE = "#not-a-file "

KINDS = {"fifo": "a named pipe (FIFO)", "device": "a device", "socket": "a socket",
         "directory": "a directory"}

# Shell defining `not_a_file PATH`: true when PATH exists (links followed) but is neither a
# regular file nor /dev/null; it then sets $kind to fifo, directory, socket or device (character
# or block). And `say_not_a_file PATH`: the same test, printing PATH's NOT_A_FILE line when true.
# Builtin tests only: no process.
NOT_A_FILE_SH = ('not_a_file() { kind=\n'
                 '  [ -e "$1" ] && [ ! -f "$1" ] && ! [ "$1" -ef /dev/null ] || return 1\n'
                 '  if [ -p "$1" ]; then kind=fifo; elif [ -d "$1" ]; then kind=directory\n'
                 '  elif [ -S "$1" ]; then kind=socket; else kind=device; fi; }\n'
                 f'say_not_a_file() {{ not_a_file "$1" && printf \'{NOT_A_FILE}%s %s\\n\' "$kind" "$1"; }}')


class NotAFile(NamedTuple):
    kind: str  # a key of KINDS
    path: str

    def __str__(self) -> str:
        """"/etc/login.defs is a named pipe (FIFO), not a regular file\""""
        return f"{self.path} is {KINDS.get(self.kind, self.kind)}, not a regular file"


def read_not_a_file(line: str) -> NotAFile | None:
    """The kind and path of a `#not-a-file KIND PATH` line; None for any other line."""
    if not line.startswith(NOT_A_FILE):
        return None
    kind, _, path = line[len(NOT_A_FILE):].partition(" ")
    return NotAFile(kind, path)

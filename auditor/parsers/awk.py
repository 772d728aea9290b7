"""Shell around probe awks that read files a busy host takes away while they read."""

from __future__ import annotations

# mawk (Debian's awk) and gawk end the whole program with status 2 when a read fails, where
# busybox awk's getline returns -1. Reading a /proc/<pid> file of a process that exits between
# awk's open and its read fails so (ESRCH): on a host that starts and ends processes all the
# time, one process list in a few hundred died that way, and three checks said `error`. An awk
# over such files therefore runs again, up to three times, quietly, its output held until a run
# ends well, so that a dead run's partial list never reaches the report; a fourth run, only
# when the others all failed, prints its output and its words as they come.
RERUN_ON_READ_ERROR = """__aw() {{
{command}
}}
__an=0
while __ao=$(__aw 2>/dev/null); __as=$?; [ "$__as" = 2 ] && [ "$__an" -lt 2 ]; do __an=$((__an + 1)); done
if [ "$__as" = 0 ]; then [ -z "$__ao" ] || printf '%s\\n' "$__ao"; else __aw; fi"""


def rerun_on_read_error(command: str) -> str:
    """Shell running `command` (an awk, or a pipeline ending in one, that reads /proc/<pid>
    files) as RERUN_ON_READ_ERROR says. Its trailing blank lines are not kept."""
    return RERUN_ON_READ_ERROR.format(command=command)


def without_comments(program: str) -> str:
    """An awk program without its comments, which would otherwise travel to every host: lines
    whose first non-blank character is `#`, and a line's tail from `  # ` (two blanks, a hash, a
    blank) where the text before holds no unclosed double quote. A `#` inside a string or a regex
    never follows two blanks in our programs; the tests run the programs as sent."""
    kept = []
    for line in program.split("\n"):
        if line.lstrip().startswith("#"):
            continue
        cut = line.find("  # ")
        while cut >= 0 and line[:cut].replace('\\"', "").count('"') % 2:  # inside a string
            cut = line.find("  # ", cut + 1)
        if cut >= 0:
            line = line[:cut].rstrip()
        kept.append(line)
    return "\n".join(kept)

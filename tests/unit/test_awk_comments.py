"""without_comments: an awk program's comments stay off the wire, its strings and regexes whole."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from auditor.parsers.awk import without_comments
from checks.passwords_not_logged import SCAN_AWK

AWKS = [[awk] for awk in ("mawk", "gawk") if shutil.which(awk)] + (
    [["busybox", "awk"]] if shutil.which("busybox") else [])

PROGRAM = r"""
# a comment on a line of its own
  # an indented one
/^#!/ { print "shebang  # not a comment"; next }  # a comment after code
$0 ~ "  # " { n++ }  # the pattern above is a string holding the marker
{ print "x\"  # still in the string" }
END { print n + 0 }
"""


@pytest.mark.parametrize("awk", AWKS, ids=lambda a: a[0])
def test_comments_go_and_the_program_does_what_it_did(awk):
    # Given a program whose strings and regexes hold hashes, with comments of both kinds
    stripped = without_comments(PROGRAM)
    # Then the comments are gone and every string and regex is whole
    for comment in ("on a line of its own", "indented", "after code", "pattern above"):
        assert comment not in stripped
    assert '"shebang  # not a comment"' in stripped and '"x\\"  # still in the string"' in stripped
    # And it prints what the program with its comments prints
    text = "#!/bin/sh\nplain line\na  # b\n"
    outputs = [subprocess.run([*awk, program], input=text, capture_output=True, text=True, check=True,
                              timeout=30).stdout for program in (PROGRAM, stripped)]
    assert outputs[0] == outputs[1] and outputs[0].endswith("1\n")


def test_the_scan_sent_to_hosts_holds_no_comment_line():
    # Given the passwords_not_logged scan as the batch sends it
    # Then no line of it is a comment
    assert not [line for line in SCAN_AWK.splitlines() if line.lstrip().startswith("#")]

"""`auditor completion bash|zsh|fish` and `auditor manpage`, both generated from the parser
(the completers themselves are in auditor.cli.completers).

Completion is argcomplete's: one source for bash, zsh and fish (shtab has no fish), and its
completers read the checks and the inventory named on the line being completed. Each TAB runs
`auditor` with argcomplete's variables set; `cli.main` answers before parsing. The completers
swallow every error: a half-typed line must never print a traceback into the shell.
"""

from __future__ import annotations

import argparse
import sys


def cmd_completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["auditor"], shell=args.shell))
    return 0


def cmd_manpage(args: argparse.Namespace) -> int:
    from argparse_manpage.manpage import Manpage

    from auditor.cli import parser as flags
    from auditor.defaults import __version__

    page = Manpage(flags.build())
    page.source, page.manual = f"auditor {__version__}", "auditor manual"
    sys.stdout.write(str(page))
    return 0

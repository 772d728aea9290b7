"""Shell completion (bash, zsh, fish) and the man page, generated from the parser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

BIN = Path(sys.executable).parent  # where `pip install -e .` put the `auditor` program


def bash_complete(line: str, cwd: Path) -> list[str]:
    """What bash offers for TAB at the end of `line`, through the script `auditor completion bash` prints."""
    script = run_cli("completion", "bash")
    assert script.rc == 0, script.stderr
    words = line.split(" ")
    program = f"""
source /dev/stdin <<'COMPLETION'
{script.stdout}
COMPLETION
complete -p auditor >/dev/null || exit 9
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9; COMP_CWORD={len(words) - 1}
COMP_WORDS=({" ".join(repr(w) for w in words)})
handler=$(complete -p auditor | sed -E 's/.* -F ([^ ]+) .*/\\1/')
"$handler" auditor {words[-1]!r} {words[-2]!r}
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [w.strip() for w in done.stdout.splitlines() if w.strip()]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yaml").write_text(
        "hosts:\n  web-01: {transport: local}\n  db-01: {transport: local}\n"
        "groups:\n  webservers: {hosts: [web-01]}\n")
    return tmp_path


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_subcommands_flags_check_ids_hosts_and_groups(folder):
    # Given the bash script sourced in a shell, in a folder with an inventory
    # When TAB is pressed after partial words
    # Then bash offers the subcommand, the flag, the check id, the host and the group
    assert bash_complete("auditor ru", folder) == ["run"]
    assert "--target" in bash_complete("auditor run --tar", folder)
    assert bash_complete("auditor run --check password_h", folder) == ["password_hashing"]
    assert bash_complete("auditor run --host web", folder) == ["web-01"]
    assert bash_complete("auditor run --group web", folder) == ["webservers"]
    assert "password_hashing" in bash_complete("auditor history --check pass", folder)


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef auditor"),
                                               ("fish", "complete --command auditor")])
def test_zsh_and_fish_scripts_are_generated(shell, marker):
    # Given the completion command, When asked for zsh or fish, Then it prints that shell's script
    result = run_cli("completion", shell)
    assert result.rc == 0, result.stderr
    assert marker in result.stdout


def test_the_man_page_lists_every_command_and_renders(tmp_path):
    # Given the man page the parser generates
    page = run_cli("manpage")
    assert page.rc == 0, page.stderr
    # Then it is roff with a section per command and the new flags (roff writes - as \\-)
    assert page.stdout.startswith(".TH AUDITOR")
    for command in ("run", "init", "schema", "completion", "claims extract", "history"):
        assert f".SH COMMAND \\fI\\,'auditor {command}'" in page.stdout, command
    for flag in ("--target", "--inventory-format", "--identity-file", "--force"):
        assert flag.replace("-", "\\-") in page.stdout, flag
    # And man (when installed) renders it without a warning
    if shutil.which("man"):
        path = tmp_path / "auditor.1"
        path.write_text(page.stdout)
        shown = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, check=False,
                               env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100"}, timeout=60)
        assert shown.returncode == 0 and "auditor" in shown.stdout, shown.stderr

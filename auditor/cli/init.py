"""`auditor init` (a starter inventory) and `auditor schema` (the JSON Schemas editors read)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from auditor.engine.registry import load_checks
from auditor.errors import UsageError, warn
from auditor.inputs import ansible, schema, starter


def _write_new(path: Path, text: str) -> bool:
    """Write a file that does not exist yet; False when it does (it is never overwritten)."""
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        return False
    except OSError as exc:
        raise UsageError(f"{path}: cannot write it: {exc.strerror or exc}") from None
    return True


def cmd_init(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise UsageError(f"{args.out} exists; auditor init never overwrites a file (name another with -o)")
    loaded = load_checks()
    if args.from_ansible is not None:
        inv = ansible.load(args.from_ansible, loaded.checks, warn=warn)
        text = starter.render(f"from the Ansible inventory {args.from_ansible}", ansible=inv)
    else:
        config = args.ssh_config or Path("~/.ssh/config").expanduser()
        names = starter.ssh_config_hosts(config)
        text = starter.render(f"from the Host entries of {config}" if names else "for this machine", names)
    if not _write_new(args.out, text):
        raise UsageError(f"{args.out} exists; auditor init never overwrites a file (name another with -o)")
    schema_file = args.out.parent / starter.SCHEMA_FILE
    wrote_schema = _write_new(schema_file, json.dumps(schema.schema("inventory", loaded.checks), indent=2)
                              + "\n")
    print(f"wrote {args.out}" + (f" and {schema_file}" if wrote_schema else ""), file=sys.stderr)
    print(f"next: review {args.out}, then `auditor run -i {args.out}`", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    loaded = load_checks(args.checks_dir)
    sys.stdout.write(json.dumps(schema.schema(args.kind, loaded.checks), indent=2) + "\n")
    return 0

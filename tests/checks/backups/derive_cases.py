"""Backups cases derived from a recorded one by damaging its output, the way a probe's
output cut at a line boundary would look. Run by record.sh (after the case it derives
from is recorded); writes a case only when the check's verdict matches what it expects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TESTS = _module(REPO / "tests" / "unit" / "test_check_cases.py", "test_check_cases")
RECORD = _module(REPO / "tests" / "checks" / "record.py", "record")


def _first_line_only(text: str) -> str:
    return text.splitlines(keepends=True)[0]


# (name, recorded case, how, damage to the artefacts stdout, expected status, summary)
DERIVED = [
    ("garbled_artefacts_cut_short", "pass_root_crontab_restic",
     "the artefacts probe's stdout cut after its first line (the host clock's `now` line), so the "
     "`path` line of /srv/backup is missing, as when the output is cut at a line boundary",
     _first_line_only, "error", "the artefacts probe printed nothing for /srv/backup"),
]


def main() -> int:
    failed = []
    for name, base, how, damage, status, summary in DERIVED:
        original = yaml.safe_load((HERE / f"{base}.yaml").read_text(encoding="utf-8"))
        outputs = {**original["outputs"]}
        outputs["artefacts"] = {**outputs["artefacts"], "stdout": damage(outputs["artefacts"]["stdout"])}
        case = {"source": f"Derived from {base} ({original['source']}): {how}.",
                "params": original["params"], "outputs": outputs,
                "expect": {"status": status, "summary_contains": [summary]}}
        TESTS.validate_case(case, f"backups/{name}")
        got = TESTS.run_case("backups", case)
        problems = TESTS.mismatches(case, got)
        print(f"backups/{name}: {got.status.value}: {got.summary}")
        if problems:
            print("NOT WRITTEN:\n  " + "\n  ".join(problems), file=sys.stderr)
            failed.append(name)
            continue
        (HERE / f"{name}.yaml").write_text(RECORD.dump_case(case), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs inside a private mount namespace (`unshare --mount --propagation private`): mounts a small
tmpfs as the output folder, makes two good runs, then audits again with only so much space left,
once per amount asked for, and writes what each attempt did as JSON. The tmpfs lives only as long
as this process: whatever happens here, nothing stays mounted on the host.

    python fulldisk.py SETTINGS.json RESULT.json

SETTINGS: {"mount": folder, "size": tmpfs size, "auditor": [argv...] (without --output),
"verify": [flags of `auditor verify`], "frees": [{"after": "nothing"|"evidence"|"reports"|"signature",
"plus": bytes, "release_when": [evidence folders]}, ...]}. An amount is measured on the good run:
e.g. {"after": "reports", "plus": 4096} leaves room for the evidence and the reports of a run like
it, and one page more; "release_when" gives all the space back once those folders exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPORTS = ("report.json", "junit.xml", "report.html", "controls.csv", "results.csv", "oscal.json")
PAGE = 4096


def on_disk(path: Path) -> int:
    return -(-path.stat().st_size // PAGE) * PAGE


def listing(folder: Path) -> dict[str, dict[str, object]]:
    """Every file and folder under `folder`: mode, size and SHA-256 (files)."""
    found: dict[str, dict[str, object]] = {}
    for path in sorted(folder.rglob("*")):
        entry: dict[str, object] = {"mode": path.stat().st_mode & 0o7777, "dir": path.is_dir()}
        if path.is_file():
            data = path.read_bytes()
            entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
        found[path.relative_to(folder).as_posix()] = entry
    return found


def leave_free(mount: Path, free: int) -> int:
    """Fill the tmpfs, then give back `free` bytes; returns what statvfs says is free."""
    filler = mount / "filler"
    filler.unlink(missing_ok=True)
    with filler.open("wb") as out:
        block = b"\0" * (1 << 16)
        try:
            while True:
                out.write(block)
                out.flush()
        except OSError:
            pass
    with filler.open("r+b") as out:
        out.truncate(max(0, filler.stat().st_size - free))
    stats = os.statvfs(mount)
    return stats.f_bavail * stats.f_frsize


def release_when(output: Path, before: set[str], folders: list[str] | None) -> None:
    """With `folders` (evidence folders of the new run): once they all exist, and a second more
    (their hosts' writes have failed by then), give the space back: the disk fills and frees
    in the middle of one run, as when another job deletes its files."""
    if not folders:
        return
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = [p for p in output.iterdir() if p.is_dir() and p.name not in before]
        if runs and all((runs[0] / "evidence" / name).is_dir() for name in folders):
            time.sleep(1.0)
            break
        time.sleep(0.02)
    (output.parent / "filler").unlink(missing_ok=True)


def main(settings_file: str, result_file: str) -> None:
    settings = json.loads(Path(settings_file).read_text())
    mount = Path(settings["mount"])
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={settings['size']},mode=0755", "tmpfs", str(mount)],
                   check=True)
    output = mount / "reports"
    command = [*settings["auditor"], "--output", str(output)]

    def audit() -> dict[str, object]:
        before = {p.name for p in output.iterdir()} if output.exists() else set()
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        made = sorted(p.name for p in output.iterdir() if p.name not in before and p.is_dir())
        return {"rc": done.returncode, "stderr": done.stderr, "run": made[0] if made else None}

    first = audit()
    good = audit()  # measured: like every attempt after it, it has a history (trends, a chain) to read
    run_dir = output / str(good["run"])
    evidence = sum(on_disk(p) for p in (run_dir / "evidence").rglob("*") if p.is_file())
    reports = sum(on_disk(run_dir / name) for name in REPORTS)
    signature = sum(on_disk(run_dir / name) for name in ("manifest.sig",) if (run_dir / name).exists())
    measured = {"nothing": 0, "evidence": evidence, "reports": evidence + reports,
                "signature": evidence + reports + signature}
    attempts = []
    for wanted in settings["frees"]:
        kept = listing(output)
        free = leave_free(mount, measured[wanted["after"]] + wanted["plus"])
        release = threading.Thread(target=release_when, args=(output, set(kept), wanted.get("release_when")),
                                   daemon=True)
        release.start()
        attempt = audit()
        release.join()
        (mount / "filler").unlink(missing_ok=True)
        after = listing(output)
        new = str(attempt["run"]) if attempt["run"] else None
        attempt.update(free=free, wanted=wanted,
                       files=listing(output / new) if new else {},
                       changed=sorted(k for k in kept if kept[k] != after.get(k)
                                      and not k.startswith("history.sqlite-")),
                       verify=None)
        if new and (output / new / "report.json").exists():
            report = json.loads((output / new / "report.json").read_text())
            attempt["report"] = {"complete": report["run"]["complete"],
                                 "errors": {h["name"]: h["error"] for h in report["hosts"]}}
        if new and (output / new / "manifest.json").exists():
            verify = [settings["auditor"][0], "verify", *settings.get("verify", []), str(output / new)]
            verified = subprocess.run(verify, capture_output=True, text=True, timeout=120)
            attempt["verify"] = verified.returncode
        if new:
            subprocess.run(["rm", "-rf", str(output / new)], check=True)  # room for the next attempt
        attempts.append(attempt)
    Path(result_file).write_text(json.dumps({"first": first, "good": good, "measured": measured,
                                             "attempts": attempts,
                                             "first_files": listing(run_dir)}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""What `auditor verify` costs on a pack archive, and how real packs compare with its bounds.

    python bench/pack_verify.py [--hosts 500] [--probes 30] [--bytes 4000]

Builds a run folder of `--hosts` × `--probes` evidence files of about `--bytes` each (JSON
records with realistic, partly repetitive output), packs it as tar.gz and zip with the tool's
own writer, then verifies each in a fresh interpreter and prints the wall time, the growth of
peak RSS, and the compression ratio (expanded : compressed) that the ratio bound
(auditor.evidence.archive.Limits.ratio) is measured against. No root, no network.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.evidence import archive, pack  # noqa: E402

# peak RSS as VmHWM: ru_maxrss survives exec, so a child would report this process's peak
CHILD = """
import re, sys, time
from pathlib import Path
from auditor.evidence import pack
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
before = peak()
started = time.monotonic()
assert pack.verify(pack.read(Path(sys.argv[1]))).intact
print(time.monotonic() - started, (peak() - before) // 1024)
"""


def build(run_dir: Path, hosts: int, probes: int, size: int) -> int:
    rng = random.Random(16)
    words = ["ok", "enabled", "PermitRootLogin", "no", "yes", "/var/log/auth.log", "sshd", "root", "0644"]
    total = 0
    for host in range(hosts):
        for probe in range(probes):
            lines = []
            while sum(len(line) for line in lines) < size:
                lines.append(" ".join(rng.choice(words) for _ in range(8)) + f" {rng.getrandbits(32):08x}")
            record = {"key": f"check{probe}.probe", "rc": 0, "stdout": "\n".join(lines), "stderr": ""}
            path = run_dir / "evidence" / f"host{host:04d}" / f"check{probe}.probe.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = json.dumps(record, sort_keys=True).encode()
            path.write_bytes(data)
            total += len(data)
    (run_dir / "report.json").write_text("{}")
    pack.write_manifest(run_dir, {"id": "bench", "hosts": []}, signer=None)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--bytes", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        expanded = build(run_dir, args.hosts, args.probes, args.bytes)
        print(f"pack: {args.hosts * args.probes} evidence files, {expanded / 2**20:.1f} MiB "
              f"(bounds: {archive.LIMITS.total_bytes >> 20} MiB, {archive.LIMITS.members} members, "
              f"ratio {archive.LIMITS.ratio}:1)")
        for as_zip, name in ((False, "pack.tar.gz"), (True, "pack.zip")):
            out = Path(tmp) / name
            pack.write_archive(run_dir, out, as_zip=as_zip, mtime=0)
            done = subprocess.run([sys.executable, "-c", CHILD, str(out)], capture_output=True, text=True,
                                  check=True, cwd=Path(__file__).resolve().parents[1])
            seconds, growth = done.stdout.split()
            on_disk = out.stat().st_size
            print(f"{name:12} {on_disk / 2**20:6.1f} MiB on disk, ratio {expanded / on_disk:5.1f}:1, "
                  f"verify {float(seconds):5.2f} s, RSS +{growth} MiB")


if __name__ == "__main__":
    main()

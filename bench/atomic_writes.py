"""What writing each file whole costs (auditor.evidence.atomic: temporary name, fsync, rename,
fchmod) against a plain `Path.write_bytes`, for evidence-sized files.

    python bench/atomic_writes.py [--files 2000] [--size 2600] [--folder /var/tmp]

A run writes about one evidence file per probe and host (a 32-host run of the full catalogue:
45 files per host, 2.6 KB on average) plus seven reports and the manifest. Prints the time per
file both ways, the median of 3 rounds, in a fresh folder under `--folder` (the disk the run
folder goes to is what counts: fsync on tmpfs is free, on a real disk it waits for the device).
Measured on the 2-core development machine (ext4 on a virtual disk, 2026-12, a loaded machine):
see the final report of issue 16's class 7 work for the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.evidence import atomic  # noqa: E402


def one_round(folder: Path, files: int, data: bytes, whole: bool) -> float:
    start = time.perf_counter()
    for i in range(files):
        path = folder / f"probe{i}.json"
        if whole:
            atomic.write_bytes(path, data)
        else:
            path.write_bytes(data)
    return (time.perf_counter() - start) / files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=2600)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    data = b"x" * args.size
    for whole in (False, True):
        times = []
        for _ in range(3):
            with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
                times.append(one_round(Path(tmp), args.files, data, whole))
        label = "atomic (tmp, fsync, rename)" if whole else "plain write_bytes"
        print(f"{label:30} {statistics.median(times) * 1e6:8.0f} µs per file "
              f"({args.files} files of {args.size} bytes in {args.folder})")


if __name__ == "__main__":
    main()

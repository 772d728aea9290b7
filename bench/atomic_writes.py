"""What writing a host's evidence files costs, three ways, in the auditor's own CPU and in wall time.

    python bench/atomic_writes.py [--hosts 60] [--files 45] [--size 2600] [--folder /var/tmp] [--threads 16]

    plain    Path.write_bytes: the floor (no mode, no refusal of an existing name, no durability)
    each     atomic.write_bytes per file: temporary name, fchmod, fsync, rename (reports still are
             written so; evidence was until issue 14, in groups of 16 sharing journal commits)
    create   atomic.create_all per host (final name, O_EXCL|O_NOFOLLOW, fchmod, no fsync) and one
             atomic.sync_filesystem (syncfs) at the end: what a run does now

A run writes one evidence file per probe and host (the full catalogue: 45 files a host, 2.6 KB
on average). Prints the median of 3 rounds, each in a fresh folder under `--folder`: the disk the
run folder goes to is what counts (fsync on tmpfs is free), and so is where on it: on the
development VM (ext4, 2026-12) making a new file cost ~30 µs of CPU in /var/tmp but ~130-250 µs in
/tmp, whatever the writer does (ext4 looks for a free inode near the parent folder).
Measured there with --threads 1, /var/tmp, load 5: each ~15-23 ms/host CPU (the machine ~230-350
ms/host, journal commits), create ~10-11 ms/host (the machine ~21-27).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.evidence import atomic  # noqa: E402

MODES = ("plain", "each", "create")


def one_round(folder: Path, mode: str, hosts: int, files: int, data: bytes,
              threads: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per host: `hosts` folders of `files` files, `threads` hosts at a time."""
    todo = list(range(hosts))
    lock = threading.Lock()

    def write() -> None:
        while True:
            with lock:
                if not todo:
                    return
                host = todo.pop()
            where = atomic.make_folder(folder / f"host{host}")
            names = [f"probe{i}.json" for i in range(files)]
            if mode == "create":
                atomic.create_all(where, [(name, data) for name in names])
            for name in names if mode != "create" else ():
                if mode == "each":
                    atomic.write_bytes(where / name, data)
                else:
                    (where / name).write_bytes(data)

    workers = [threading.Thread(target=write) for _ in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if mode == "create":
        atomic.sync_filesystem(folder, lambda: folder.rglob("*.json"))
    return (time.process_time() - cpu) * 1000 / hosts, (time.perf_counter() - wall) * 1000 / hosts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hosts", type=int, default=60)
    parser.add_argument("--files", type=int, default=45, help="evidence files a host")
    parser.add_argument("--size", type=int, default=2600)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--threads", type=int, default=16, help="hosts written in parallel (-j of a run)")
    args = parser.parse_args()
    data = b"x" * args.size
    rounds: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for _ in range(3):  # the modes side by side in one folder: where a folder lands changes the cost
        with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
            for mode in MODES:
                folder = atomic.make_folder(Path(tmp) / mode)
                rounds[mode].append(one_round(folder, mode, args.hosts, args.files, data, args.threads))
    for mode, found in rounds.items():
        cpu, wall = (statistics.median(r[i] for r in found) for i in (0, 1))
        print(f"{mode:7} {cpu:6.2f} ms CPU/host, {wall:6.2f} ms wall/host ({args.threads} writers, "
              f"{args.hosts} hosts x {args.files} files of {args.size} bytes in {args.folder})")


if __name__ == "__main__":
    main()

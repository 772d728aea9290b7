"""cProfile over every thread of a module run: `python bench/profile_threads.py OUT.prof -m MODULE ARGS...`.

`python -m cProfile` sees only the main thread, and `auditor run` audits each host on a
worker thread; this profiles each thread with its own profiler and writes one merged file.
Each profiler times its own thread's CPU (time.thread_time), not the wall clock: with 16
threads mostly waiting on sockets, and other work sharing the cores, wall time says how long
a thread waited, not what it cost.
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import sys
import threading
import time
from types import FrameType
from typing import Any

_profilers: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_in_thread(frame: FrameType, event: str, arg: Any) -> None:
    """The first profile event of a new thread: from here on its own profiler takes over."""
    profiler = cProfile.Profile(time.thread_time)
    with _lock:
        _profilers.append(profiler)
    profiler.enable()


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        print("usage: profile_threads.py OUT.prof -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    out, module = sys.argv[1], sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    threading.setprofile(_start_in_thread)
    main_profiler = cProfile.Profile(time.thread_time)
    code = 0
    main_profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        main_profiler.disable()
        stats = pstats.Stats(main_profiler)
        with _lock:
            for profiler in _profilers:
                profiler.create_stats()
                stats.add(profiler)
        stats.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())

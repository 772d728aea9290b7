"""What the redaction pass costs per megabyte of probe output, on text like a run's.

    python bench/redact.py [--repeat 5]

Builds about 4 MB of text shaped like what probes print (ls -l lines with inode numbers and
byte sizes, log lines with epoch-ms timestamps, hex digests, UUIDs, key=value config) with
no secret in it, and times the pass's rules (auditor.evidence.redact._redact, without its memory
of clean texts) over it: the median of `--repeat` runs,
and the part of that spent in the card-number rule. Also counts what the card rule masks
in that text (false positives: it holds no card number).

    python bench/redact.py --fleet RUN_DIR [--hosts 100]

The pass as a run pays it per host: every probe's stdout and stderr of RUN_DIR's first host (as
store.redact_outputs redacts them) and the texts of its results in report.json (the safety net of
store.redact_results: summary, details, values, findings), handed to `--hosts` hosts as copies
(new string objects, as each host's output is), CPU per host, median of `--repeat`. Twice: as
built (the pass remembers texts in which it masked nothing, so a fleet's repeated texts cost a
lookup) and with every text new to it (what a host whose every output differs costs).
Measured on the 2-core development machine (2026-12, a shared, loaded VM: +-10 %), the replay
run of 45 probe outputs and 45 results, 100 hosts:

    before (main da31f4c)            outputs 1.73-2.19 ms/host, results 2.18-2.87 ms/host
    after, every text new            outputs 1.35-1.51 ms/host, results 1.25-1.44 ms/host
    after, as built                  outputs 0.04 ms/host, results 0.17-0.22 ms/host

(the same store.redact_outputs/redact_results calls timed in interleaved runs, load 7-8 on 2 cores).

    python bench/redact.py --adversarial

Times the pass over the hostile inputs of tests/unit/test_redact.py (ADVERSARIAL: 1 MiB each, one
probe's cap, built from what each rule repeats) and prints the worst. Measured on the 2-core
development machine (2026-12):

    before (backtracking rules)      1 MiB "mysql mysql ...": > 20 s, stopped (160 KiB: 27.2 s);
                                     the same for curl, lftp, smbclient words and "a.a.a..." URL
                                     schemes (160 KiB of "curl ": 30.4 s; of "a.": > 40 s);
                                     1 MiB of card numbers 6.3 s (one re-slice per card)
    after (linear rules, one join)   every input under 0.7 s; worst "curl" + 1 MiB of " -u a"
                                     0.40-0.64 s (a shared, loaded machine); mysql words 0.16 s,
                                     card numbers 0.19-0.29 s
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.evidence import redact as redaction  # noqa: E402


def sample_text(lines: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        kind = i % 5
        if kind == 0:
            out.append(f"{rng.randrange(10**5, 10**9)} -rw-r--r-- 1 root root {rng.randrange(10**12)} "
                       f"Nov 21 10:00 /var/lib/app/file{i}.dat")
        elif kind == 1:
            out.append(f"{rng.randrange(1_600_000_000_000, 1_800_000_000_000)} level=info msg=done "
                       f"bytes={rng.randrange(10**10)} took_ms={rng.randrange(10**4)}")
        elif kind == 2:
            out.append(f"sha256:{rng.randbytes(32).hex()}  /usr/lib/x86_64-linux-gnu/lib{i}.so")
        elif kind == 3:
            out.append(f"id={uuid.UUID(int=rng.getrandbits(128), version=4)} size={rng.randrange(10**12)}")
        else:
            out.append(f"net.core.rmem_max = {rng.randrange(10**9)}\n"
                       f"vm.max_map_count = {rng.randrange(10**6)}")
    return "\n".join(out)


def timed(fn, text: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(text)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--adversarial", action="store_true", help="time the hostile inputs instead")
    parser.add_argument("--fleet", type=Path, metavar="RUN_DIR", help="time the pass per host")
    parser.add_argument("--hosts", type=int, default=100)
    args = parser.parse_args()
    if args.adversarial:
        adversarial(args.repeat)
        return
    if args.fleet:
        fleet(args.fleet, args.hosts, args.repeat)
        return
    text = sample_text(50_000)
    megabytes = len(text.encode()) / 1e6
    whole = timed(redaction._redact, text, args.repeat)  # the rules themselves, not the memory of clean texts
    cards = timed(lambda t: [m for m in redaction._CARD_CANDIDATE.finditer(t)
                             if redaction._is_card(m.group())], text, args.repeat)
    masked = sum(1 for m in redaction._CARD_CANDIDATE.finditer(text) if redaction._is_card(m.group()))
    print(f"{megabytes:.1f} MB of probe-like text: redact {whole * 1000:.0f} ms "
          f"({whole / megabytes * 1000:.0f} ms/MB), of which the card rule {cards * 1000:.0f} ms; "
          f"{masked} card-shaped number(s) masked (none planted)")


def fleet(run_dir: Path, hosts: int, repeat: int) -> None:
    import json

    from auditor.evidence import store

    host_dirs = sorted(p for p in (run_dir / store.EVIDENCE_DIR).iterdir() if p.is_dir())
    records = [json.loads(p.read_bytes()) for p in sorted(host_dirs[0].glob("*.json"))]
    outputs = [text for r in records for text in (r.get("stdout", ""), r.get("stderr", ""))]
    first = json.loads((run_dir / "report.json").read_bytes())["hosts"][0]["results"]
    results = [(r["summary"], tuple(r.get("details", ())), r.get("values", {}),
                tuple(f["text"] for f in r.get("findings", ()))) for r in first]

    def copies(value: object) -> object:  # a host's own objects: equal texts, not the same ones
        if isinstance(value, str):
            return "".join(list(value))
        if isinstance(value, list | tuple):
            return type(value)(copies(v) for v in value)
        if isinstance(value, dict):
            return {k: copies(v) for k, v in value.items()}
        return value

    fleet_outputs = [[copies(t) for t in outputs] for _ in range(hosts)]
    fleet_results = [[copies(r) for r in results] for _ in range(hosts)]

    def per_host(fresh: bool) -> tuple[float, float]:
        runs: list[tuple[float, float]] = []
        for _ in range(repeat):
            redaction._CLEAN = (redaction._CleanTexts(budget=0, largest=0) if fresh
                                else redaction._CleanTexts(budget=8 << 20, largest=256 << 10))
            started = time.thread_time()
            for texts in fleet_outputs:
                for text in texts:
                    redaction.redact(text)
            middle = time.thread_time()
            for held in fleet_results:
                redaction.redact_value(held)
            runs.append(((middle - started) / hosts, (time.thread_time() - middle) / hosts))
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    print(f"{len(outputs)} output texts and {len(results)} results per host, {hosts} hosts")
    for label, fresh in (("as built", False), ("every text new", True)):
        out_ms, res_ms = per_host(fresh)
        print(f"{label:15s} outputs {out_ms * 1000:.2f} ms/host, results {res_ms * 1000:.2f} ms/host")


def adversarial(repeat: int) -> None:
    from auditor.parsers.credentials import mask_credentials
    from tests.unit.test_redact import ADVERSARIAL

    times = {name: timed(redaction.redact, text, repeat) for name, text in ADVERSARIAL.items()}
    host_rules = {name: timed(mask_credentials, text, repeat) for name, text in ADVERSARIAL.items()}
    worst_host = max(host_rules, key=lambda name: host_rules[name])
    print(f"excerpt rules (as the probes' awk applies them), worst: {worst_host} "
          f"{host_rules[worst_host] * 1000:.0f} ms for 1 MiB")
    for name, seconds in sorted(times.items(), key=lambda item: -item[1]):
        print(f"{name:28s} {seconds * 1000:8.0f} ms")
    worst = max(times, key=lambda name: times[name])
    print(f"worst: {worst} {times[worst] * 1000:.0f} ms for 1 MiB")


if __name__ == "__main__":
    main()

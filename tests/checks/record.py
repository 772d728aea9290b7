#!/usr/bin/env python3
"""Record a check's probe outputs on this machine as a test case for its evaluate().

    python tests/checks/record.py CHECK_ID CASE_NAME \\
        --plant /etc/shadow=path/to/shadow --plant-dir /var/log=path/to/dir \\
        [--plant-symlink /etc/x.conf.d/a.conf=/dev/null] \\
        --source "what was planted and why" \\
        --expect-status fail --expect-summary md5crypt [--expect-value locked_accounts=3] \\
        [--param min_days=90] [--run-as nobody] [--oracle "logrotate -d /etc/logrotate.conf"] \\
        [--xfail "reason"]

The check's probes run through the real engine (plan.plan, runner.collect in batched mode
over the local transport, store.redact_outputs) inside a private mount namespace
(`unshare --mount --propagation private`), where each planted file or directory is
bind-mounted, read-only, over the real path. A planted path that does not exist on this
machine, and a planted symbolic link, get an overlay on the nearest existing parent
directory, whose writable layer is a temporary directory: the namespace sees the new path,
the machine never does. Nothing
is ever written to the machine's real files; the mounts vanish with the namespace.

Planted files keep their own mode and mtime (a bind mount shows the source inode), so
`touch -d '100 days ago' src` is how a planted log gets its age.

`--run-as USER` drops to that user (no supplementary groups) after the mounts and before
the engine runs, as an unprivileged login would.

The expectation is written by you, from what you planted. The recorder judges the
recorded outputs with the test suite's own code (tests/unit/test_check_cases.py) and
writes the case only if the verdict matches the expectation; with `--xfail REASON` (a
check bug, expectation kept correct) it writes it only if the verdict does NOT match.

Needs root (mount namespaces, bind mounts) and Linux.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TEST_MODULE = REPO / "tests" / "unit" / "test_check_cases.py"
INNER_FLAG = "--_inner"
TIMEOUT_S = 300.0


# --------------------------------------------------------------------------
# Inside the namespace
# --------------------------------------------------------------------------


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"record: {' '.join(command)} failed: {done.stderr.strip()}")


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _existing_ancestor(path: str) -> str:
    parent = os.path.dirname(path)
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    return parent


def _mount_plants(spec: dict[str, Any]) -> None:
    plants: list[dict[str, str]] = spec["plants"]
    work = Path(spec["workdir"])
    # Overlays first (outermost only), so later bind mounts land on top of them.
    roots: list[str] = []
    for plant in plants:
        if plant["kind"] == "symlink" or not os.path.lexists(plant["dest"]):
            roots.append(_existing_ancestor(plant["dest"]))
    roots = sorted({r for r in roots if not any(_within(r, o) for o in roots if o != r)})
    for index, root in enumerate(roots):
        if root == "/":
            raise SystemExit(f"record: refusing to overlay / (for {plants})")
        upper, scratch = work / f"upper{index}", work / f"scratch{index}"
        upper.mkdir()
        scratch.mkdir()
        _run("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={root},upperdir={upper},workdir={scratch}", root)
    for plant in sorted(plants, key=lambda p: p["dest"].count("/")):
        dest, src, kind = plant["dest"], plant["src"], plant["kind"]
        if kind == "symlink":  # made in an overlay's upper layer, like a missing path
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.lexists(dest):
                os.remove(dest)
            os.symlink(src, dest)
            continue
        if not os.path.lexists(dest):
            assert any(_within(dest, r) for r in roots)
            os.makedirs(os.path.dirname(dest), exist_ok=True)  # in the overlay's upper layer
            if kind == "dir":
                os.mkdir(dest)
            else:
                Path(dest).touch()
        elif (kind == "dir") != os.path.isdir(dest):
            raise SystemExit(f"record: {dest} is {'not ' if kind == 'dir' else ''}a directory here; "
                             f"use --plant{'-dir' if os.path.isdir(dest) else ''}")
        _run("mount", "--bind", src, dest)
        _run("mount", "-o", "remount,bind,ro", dest)


def _drop_privileges(user: str) -> None:
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.getuid() != entry.pw_uid or os.geteuid() != entry.pw_uid:
        raise SystemExit(f"record: could not become {user}")


def inner(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    # Never mount anything in the machine's own namespace.
    if os.readlink("/proc/self/ns/mnt") == spec["outer_namespace"]:
        raise SystemExit("record: not in a private mount namespace; refusing to mount")
    from auditor.engine import batch, plan, registry, runner
    from auditor.evidence import store
    from auditor.evidence.redact import redact
    from auditor.inventory import Host
    from auditor.transports.local import LocalTransport
    from auditor.transports.ssh import SshOptions

    loaded = registry.load()
    check = loaded.checks[spec["check_id"]]
    host = Host(name="recorder", address="localhost", transport="local",
                vars={check.id: spec["params"]})
    _mount_plants(spec)
    oracle = None
    if spec["oracle"]:
        said = subprocess.run(["/bin/sh", "-c", spec["oracle"]], capture_output=True, check=False,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT_S)
        oracle = redact(batch.decode(said.stdout + said.stderr))[0]
    if spec["run_as"]:
        _drop_privileges(spec["run_as"])
    probes, broken = plan.plan(host, [check])
    if broken:
        raise SystemExit(f"record: {broken[check.id]}")
    with runner.make_transport(host, SshOptions()) as transport:
        assert isinstance(transport, LocalTransport)
        raw = runner.collect(transport, probes, sudo=host.become == "sudo",
                             timeout=TIMEOUT_S, batched=True, cap=batch.DEFAULT_CAP)
    outputs, redactions = store.redact_outputs(raw)
    prefix = check.id + "."
    json.dump({
        "facts": plan.parse_facts(outputs.get(plan.FACTS_KEY)),
        "redactions": redactions,
        "oracle": oracle,
        "outputs": {
            key[len(prefix):]: {"stdout": out.stdout, "stderr": out.stderr, "rc": out.rc,
                                "truncated": out.truncated}
            for key, out in outputs.items() if key.startswith(prefix)
        },
    }, sys.stdout)


# --------------------------------------------------------------------------
# Outside: arguments, the namespace, the case file
# --------------------------------------------------------------------------


def _pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{what} must be KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check_id")
    parser.add_argument("case")
    parser.add_argument("--plant", action="append", default=[], metavar="PATH=FILE",
                        type=lambda t: _pair(t, "--plant"), help="bind FILE over PATH")
    parser.add_argument("--plant-dir", action="append", default=[], metavar="PATH=DIR",
                        type=lambda t: _pair(t, "--plant-dir"), help="bind DIR over PATH")
    parser.add_argument("--plant-symlink", action="append", default=[], metavar="PATH=TARGET",
                        type=lambda t: _pair(t, "--plant-symlink"),
                        help="make PATH a symbolic link to TARGET (e.g. /dev/null, to mask)")
    parser.add_argument("--source", required=True, help="what was planted, from what, and why")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=YAML",
                        type=lambda t: _pair(t, "--param"))
    parser.add_argument("--run-as", default=None, metavar="USER",
                        help="run the probes as this user (no supplementary groups)")
    parser.add_argument("--expect-status", required=True,
                        choices=["pass", "fail", "error", "skip", "manual"])
    parser.add_argument("--expect-summary", action="append", default=[], required=True,
                        metavar="TEXT", help="a substring the summary must contain (repeatable)")
    parser.add_argument("--expect-value", action="append", default=[], metavar="KEY=YAML",
                        type=lambda t: _pair(t, "--expect-value"))
    parser.add_argument("--oracle", default=None, metavar="SHELL",
                        help="a command run (as root) in the same namespace whose output shows the "
                        "correct verdict, e.g. 'logrotate -d /etc/logrotate.conf'; it goes into source")
    parser.add_argument("--xfail", default=None, metavar="REASON",
                        help="the check gets this case wrong (a bug): record it as a strict xfail")
    parser.add_argument("--out-dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _test_module() -> Any:
    spec = importlib.util.spec_from_file_location("test_check_cases", TEST_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Dumper(yaml.SafeDumper):
    def analyze_scalar(self, scalar: str) -> Any:
        # Tabs are plain content in a literal block, and probe outputs are full of them;
        # PyYAML would quote such text onto one escaped line. Whatever else forbids a block
        # (control characters, trailing spaces) still does, and dump_case checks the result.
        if "\n" not in scalar:
            return super().analyze_scalar(scalar)
        analysis = super().analyze_scalar(scalar.replace("\t", "x"))
        analysis.scalar = scalar
        return analysis


class _PlainDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text as a literal block; PyYAML falls back to quoting when it must.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_PlainDumper.add_representer(str, _str)


def dump_case(case: dict[str, Any]) -> str:
    for dumper in (_Dumper, _PlainDumper):
        text = yaml.dump(case, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100,
                         default_flow_style=None)
        if yaml.safe_load(text) == case:
            return text
    raise SystemExit("record: the YAML text does not load back to the recorded outputs")


def main(argv: list[str]) -> int:
    if argv[:1] == [INNER_FLAG]:
        inner(argv[1])
        return 0
    args = parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("record: needs root (unshare --mount, bind mounts)")
    tests = _test_module()
    check = tests.checks().get(args.check_id)
    if check is None:
        raise SystemExit(f"record: no check {args.check_id!r} (have: {sorted(tests.checks())})")
    params = {name: yaml.safe_load(value) for name, value in args.param}
    plants = []
    for kind, pairs in (("file", args.plant), ("dir", args.plant_dir), ("symlink", args.plant_symlink)):
        for dest, src in pairs:
            if not dest.startswith("/") or os.path.normpath(dest) != dest or dest == "/":
                raise SystemExit(f"record: {dest!r} must be an absolute, normalised path")
            if kind == "symlink":
                plants.append({"dest": dest, "src": src, "kind": kind})
                continue
            source = Path(src).resolve()
            if not (source.is_dir() if kind == "dir" else source.is_file()):
                raise SystemExit(f"record: {src} is not a {'directory' if kind == 'dir' else 'file'}")
            plants.append({"dest": dest, "src": str(source), "kind": kind})
    dests = [p["dest"] for p in plants]
    for plant in plants:
        for other in plants:
            if other is not plant and other["kind"] == "dir" and _within(plant["dest"], other["dest"]):
                raise SystemExit(f"record: {plant['dest']} is inside planted dir {other['dest']}: "
                                 "put it into that directory's source instead")
    if len(set(dests)) != len(dests):
        raise SystemExit("record: a path is planted twice")
    if args.run_as:
        pwd.getpwnam(args.run_as)

    with tempfile.TemporaryDirectory(prefix="auditor-record-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps({
            "check_id": args.check_id, "params": {**check.default_params(), **params},
            "plants": plants, "workdir": tmp, "run_as": args.run_as, "oracle": args.oracle,
            "outer_namespace": os.readlink("/proc/self/ns/mnt"),
        }))
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--",
             sys.executable, str(Path(__file__).resolve()), INNER_FLAG, str(spec_path)],
            capture_output=True, text=True, timeout=TIMEOUT_S + 60, check=False, cwd=REPO,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    if done.returncode != 0:
        raise SystemExit(f"record: the recording run failed (rc {done.returncode}):\n{done.stderr}")
    recorded = json.loads(done.stdout)
    facts = recorded["facts"]

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    planted = ", ".join(p["dest"] + {"dir": "/", "symlink": f" -> {p['src']}"}.get(p["kind"], "")
                        for p in plants) or "nothing"
    source = (f"{args.source.rstrip('.')}. Recorded {when} by tests/checks/record.py on "
              f"{facts.get('hostname', '?')} ({facts.get('os', '?')}, {facts.get('kernel', '?')} "
              f"{facts.get('arch', '')}) through the engine's batched local transport as "
              f"{facts.get('user', '?')} (uid {facts.get('uid', '?')}); planted by read-only bind "
              f"mount in a private mount namespace: {planted}; "
              f"{recorded['redactions']} value(s) redacted by the engine.")
    if args.oracle:
        said = " | ".join(line.strip() for line in recorded["oracle"].splitlines() if line.strip())
        print(f"oracle: {said}")
        if len(said) > 2000:
            said = said[:2000] + " …"
        source += f" In the same namespace, `{args.oracle}` said: {said}"
    outputs = {name: {k: v for k, v in out.items() if k != "truncated" or v}
               for name, out in recorded["outputs"].items()}
    expect: dict[str, Any] = {"status": args.expect_status, "summary_contains": args.expect_summary}
    if args.expect_value:
        expect["values"] = {key: yaml.safe_load(value) for key, value in args.expect_value}
    case: dict[str, Any] = {"source": source}
    if params:
        case["params"] = params
    case["outputs"] = outputs
    case["expect"] = expect
    if args.xfail:
        case["xfail"] = args.xfail

    tests.validate_case(case, f"{args.check_id}/{args.case}")
    got = tests.run_case(args.check_id, case)
    problems = tests.mismatches(case, got)
    print(f"{args.check_id}/{args.case}: {got.status.value}: {got.summary}")
    for detail in got.details:
        print(f"    {detail}")
    if problems and not args.xfail:
        print("NOT WRITTEN: the verdict differs from the expectation:\n  " + "\n  ".join(problems)
              + "\nFix the expectation, or pass --xfail REASON if the check is wrong.", file=sys.stderr)
        return 1
    if args.xfail and not problems:
        print("NOT WRITTEN: --xfail given but the check gets this case right.", file=sys.stderr)
        return 1
    target = args.out_dir / args.check_id / f"{args.case}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dump_case(case), encoding="utf-8")
    print(f"wrote {target.relative_to(REPO) if target.is_relative_to(REPO) else target}"
          + (f" (xfail: {'; '.join(problems[:-1])})" if args.xfail else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

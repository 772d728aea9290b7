"""The worker protocol on local hosts: shards, signed sub-packs and the merge give the run a single
process gives; a lost, untrusted or altered sub-pack leaves its hosts as errors, never missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor import AuditRequest, audit
from auditor.distributed import merge, shards, worker
from auditor.errors import InputError
from auditor.evidence import pack, signing, trust
from auditor.inventory import InventoryError
from auditor.inventory import load as load_inventory
from auditor.pipeline import load_checks, prepare
from tests.conftest import REPO, run_cli, run_folder
from tests.unit.test_pipeline import CHECK

TIME_FIELDS = ("collected_at", "expires_at", "duration_ms")  # when, not what, was observed


def workspace(tmp_path: Path, hosts: int = 5) -> Path:
    (tmp_path / "checks").mkdir(parents=True)
    (tmp_path / "checks" / "says_yes.py").write_text(CHECK)
    (tmp_path / "yes.txt").write_text("yes\n")
    (tmp_path / "no.txt").write_text("no\n")
    lines = [f"  h{i}: {{transport: local, segment: {'east' if i < 3 else 'west'}, "
             f"vars: {{says_yes: {{path: {tmp_path / ('yes.txt' if i % 2 else 'no.txt')}}}}}}}\n"
             for i in range(hosts)]
    (tmp_path / "inv.yaml").write_text("hosts:\n" + "".join(lines))
    return tmp_path


def request(work: Path, out: str) -> AuditRequest:
    return AuditRequest(inventory=work / "inv.yaml", checks_dirs=(work / "checks",), checks=("says_yes",),
                        output=work / out)


def observed(run_dir: Path) -> dict[str, Any]:
    """Every evidence record without the fields that say when it was observed."""
    found = {}
    for path in sorted((run_dir / "evidence").rglob("*.json")):
        record = json.loads(path.read_bytes())
        for name in TIME_FIELDS:
            record.pop(name, None)
        if record["probe"] == "_host.facts":
            lines = record["stdout"].splitlines()
            record["stdout"] = "\n".join(line for line in lines if not line.startswith("clock_utc="))
        found[path.relative_to(run_dir).as_posix()] = record
    return found


def verdicts(report: dict[str, Any]) -> list[Any]:
    return [(h["name"], h["reachable"], h["error"], [(r["check"], r["status"], r["summary"], r["details"],
                                                      r["values"], [e["path"] for e in r["evidence"]])
                                                     for r in h["results"]]) for h in report["hosts"]]


def sharded_run(work: Path, size: int, key: signing.Signer | None, drop: tuple[str, ...] = (),
                signers: trust.TrustStore | None = None, tamper: bool = False) -> Path:
    loaded = load_checks((work / "checks",))
    planned = prepare(request(work, f"coord{size}"), loaded, make_run_dir=False)
    plan, cut = shards.split(planned, size)
    subpacks = []
    for shard in cut:
        again = shards.read_shard(shard.to_json(), "shard")  # as a worker reads it
        folder = worker.run_shard(again, work / f"sub{size}", key, loaded, worker=f"w-{shard.shard_id}")
        if tamper:
            victim = next((folder / "evidence").rglob("says_yes.read.json"))
            victim.write_bytes(victim.read_bytes().replace(b"yes", b"yes!"))
        if shard.shard_id not in drop:
            subpacks.append(merge.SubPack(pack.read(folder), str(folder)))
    prepared = prepare(request(work, f"merged{size}"), loaded, started=planned.started, run_id=plan.run_id)
    return merge.merge(prepared, plan.shards, subpacks, signers, allow_unsigned=key is None).run_dir


@pytest.fixture
def key(tmp_path: Path) -> signing.Signer:
    return signing.Signer(signing.generate(tmp_path / "worker.pem", None))


def test_shards_and_single_process_give_the_same_run(tmp_path, key):
    # Given five local hosts in two segments and a trusted worker key
    work = workspace(tmp_path)
    signers = trust.TrustStore((trust.TrustedSigner(key.fingerprint, "worker", "test"),))
    single = audit(request(work, "single")).run_dir
    for size in (1, 2, 5):
        # When the run is cut into shards of `size`, each audited by a worker and merged
        merged = sharded_run(work, size, key, signers=signers)
        # Then verdicts and what every evidence record observed are the single run's
        assert verdicts(json.loads((merged / "report.json").read_text())) == \
            verdicts(json.loads((single / "report.json").read_text()))
        assert observed(merged) == observed(single)
        # And the merged evidence is the workers' bytes, as their signed manifests list them
        manifest = json.loads((merged / pack.MANIFEST).read_text())
        listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
        fates = manifest["run"]["shards"]
        assert {(f["status"], f["signer"]) for f in fates} == {("merged", key.fingerprint)}
        for fate in fates:
            assert fate["trust"].startswith("trusted")
            signed = json.loads((merged / "shards" / fate["id"] / pack.MANIFEST).read_text())
            for artefact in signed["artifacts"]:
                if artefact["path"].startswith("evidence/"):
                    assert listed[artefact["path"]] == artefact["sha256"]
        # And a shard never spans two segments
        assert all({int(h[1:]) < 3 for h in f["hosts"]} == {f["segment"] == "east"} for f in fates)


def test_a_lost_shard_leaves_its_hosts_not_reached(tmp_path):
    # Given shards of two hosts, one of which never comes back
    work = workspace(tmp_path)
    merged = sharded_run(work, 2, None, drop=("east-0002",))
    report = json.loads((merged / "report.json").read_text())
    by_host = {h["name"]: h for h in report["hosts"]}
    # Then its host is reported, as an error saying so, and the others are judged
    assert sorted(by_host) == ["h0", "h1", "h2", "h3", "h4"]
    assert by_host["h2"]["error"] == \
        "not reached (shard east-0002 lost: no worker of segment east returned it)"
    assert by_host["h2"]["results"][0]["status"] == "error"
    assert by_host["h1"]["results"][0]["status"] == "pass" and by_host["h0"]["results"][0]["status"] == "fail"
    fates = {f["id"]: f["status"] for f in json.loads((merged / pack.MANIFEST).read_text())["run"]["shards"]}
    assert fates == {"east-0001": "merged", "east-0002": "lost", "west-0001": "merged"}


def test_untrusted_or_altered_sub_packs_are_refused(tmp_path, key, capsys):
    # Given sub-packs signed by a key the coordinator does not trust
    work = workspace(tmp_path, hosts=2)
    stranger = trust.TrustStore((trust.TrustedSigner("SHA256:" + "A" * 43, "someone else", "test"),))
    merged = sharded_run(work, 2, key, signers=stranger)
    report = json.loads((merged / "report.json").read_text())
    # Then no host is judged from them, and each says why
    for host in report["hosts"]:
        assert host["error"].startswith("not reached (the sub-pack of shard east-0001 was refused: signed by "
                                        f"{key.fingerprint}, a key this coordinator does not trust")
    assert "not merged" in capsys.readouterr().err
    # And a sub-pack altered after signing is refused as not intact
    trusted = trust.TrustStore((trust.TrustedSigner(key.fingerprint, "worker", "test"),))
    altered = sharded_run(workspace(tmp_path / "again", hosts=2), 2, key, signers=trusted, tamper=True)
    errors = {h["error"] for h in json.loads((altered / "report.json").read_text())["hosts"]}
    assert len(errors) == 1 and "refused: not intact" in errors.pop()


def test_a_garbled_shard_is_one_clear_line():
    # Given shard documents with a mistake each
    good = {"format": shards.SHARD_FORMAT, "run_id": "r1", "shard": "s-1", "segment": "default",
            "options": {"batched": True, "jobs": 4, "accept_new_host_keys": False}, "signing_key": None,
            "hosts": [{"host": {"name": "a", "address": "x", "transport": "ssh", "port": "22"},
                       "checks": []}]}
    # Then each is refused naming the key
    with pytest.raises(InputError, match=r"shard.json: hosts\[0\]\.host\.port: expected int or null"):
        shards.read_shard(json.dumps(good), "shard.json")
    with pytest.raises(InputError, match="run_id: must be letters"):
        shards.read_shard(json.dumps({**good, "run_id": "../up", "hosts": []}), "shard.json")
    with pytest.raises(InputError, match="not JSON"):
        shards.read_shard("{", "shard.json")


def test_segments_come_from_the_host_its_groups_or_the_default(tmp_path):
    # Given hosts with a segment of their own, through a group, and none
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  a: {address: a}\n  b: {address: b, segment: dmz}\n  c: {address: c}\n"
                   "groups:\n  lan: {hosts: [c], segment: office-2}\n")
    hosts = {h.name: h.segment for h in load_inventory(inv, {}).hosts}
    # Then each is in its segment, "default" when none is named
    assert hosts == {"a": "default", "b": "dmz", "c": "office-2"}
    # And a bad name or two groups that disagree are one clear line each
    inv.write_text("hosts:\n  a: {address: a, segment: 'no spaces'}\n")
    with pytest.raises(InventoryError, match=r"inv.yaml:2: hosts.a.segment: a segment name is letters"):
        load_inventory(inv, {})
    inv.write_text("hosts:\n  a: {address: a}\ngroups:\n  x: {hosts: [a], segment: one}\n"
                   "  y: {hosts: [a], segment: two}\n")
    with pytest.raises(InventoryError, match=r"hosts.a.segment: its groups name different segments"):
        load_inventory(inv, {})


def test_the_command_line_splits_works_from_stdin_and_merges(tmp_path):
    # Given a workspace cut into shards by `auditor run --shards-out`
    work = workspace(tmp_path, hosts=3)
    common = ("-i", str(work / "inv.yaml"), "--checks-dir", str(work / "checks"), "--check", "says_yes")
    done = run_cli("run", *common, "--shards-out", str(work / "shards"), "--shard-size", "2", "--no-history")
    assert done.rc == 0, done.stderr
    assert not (REPO / "reports" / json.loads((work / "shards" / "plan.json").read_text())["run_id"]).exists()
    subpacks = []
    for shard in sorted((work / "shards").glob("*-*.json")):
        # When each shard goes to `auditor worker` on stdin, unsigned
        done = subprocess.run([sys.executable, "-m", "auditor", "worker", "-", "-o", str(work / "sub"),
                               "--checks-dir", str(work / "checks"), "--no-sign"], input=shard.read_text(),
                              capture_output=True, text=True, cwd=REPO, check=False)
        assert done.returncode == 0, done.stderr
        subpacks.append(done.stdout.strip())
    # Then `auditor merge` refuses them unsigned, and takes them with --allow-unsigned
    refused = run_cli("merge", "--plan", str(work / "shards" / "plan.json"), *subpacks, "-o", str(work / "a"),
                      "--format", "json", "--no-sign")
    assert {h["error"] for h in refused.json()["hosts"]} == {
        f"not reached (the sub-pack of shard {s} was refused: not signed (give the worker a signing key, "
        "or merge with --allow-unsigned))" for s in ("east-0001", "east-0002")}
    done = run_cli("merge", "--plan", str(work / "shards" / "plan.json"), *subpacks, "-o", str(work / "b"),
                   "--format", "json", "--allow-unsigned", "--no-sign")
    assert done.rc == 1, done.stderr  # h0 and h2 fail
    assert [(h["name"], h["results"][0]["status"]) for h in done.json()["hosts"]] == [
        ("h0", "fail"), ("h1", "pass"), ("h2", "fail")]
    assert run_folder(work / "b").name == json.loads((work / "shards" / "plan.json").read_text())["run_id"]

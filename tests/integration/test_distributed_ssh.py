"""The worker protocol against real sshd hosts: the same fleet in 1, 4 and 16 shards, each shard
audited by a worker into a signed sub-pack and merged, gives the verdicts and evidence of one
single-process run; a shard that never comes back leaves its hosts as not reached.

Two separate collections never give byte-identical evidence: each record says when it was
collected (`collected_at`, `expires_at`) and how long its probe took (`duration_ms`), and the
facts probe reads the host's clock. The comparison therefore leaves out exactly those, and
holds everything that describes what was observed. Within one run the merge is byte-exact: the
merged evidence files are the workers' signed bytes (their SHA-256s checked against the workers'
own manifests).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor import AuditRequest, audit
from auditor.distributed import merge, shards, worker
from auditor.evidence import pack, signing, trust
from auditor.pipeline import load_checks, prepare
from tests.integration import fleetrun
from tests.integration.sshhosts import HostSpec
from tests.unit.test_distributed import observed, verdicts

pytestmark = pytest.mark.integration
# Checks whose probes do not read the host's clock: log_retention's `now` line, say, differs
# between any two collections as the facts probe's clock does.
CHECKS = ("password_hashing", "ssh_hardening")
NAMES_PER_HOST = 4  # 4 sshd servers behind 16 inventory names, as bench/fleet.py does


@pytest.fixture(scope="module")
def fleet_inventory(sshd_fleet):
    with sshd_fleet("distributed") as (fleet, tmp):
        for name in ("alpha", "beta", "gamma", "delta"):
            method = "SHA512" if name < "c" else "MD5"  # some pass, some fail
            # Each in its own PID namespace, as a server is: ssh_hardening reads the host's sshd
            # processes, and other test hosts on this machine must not show up among them.
            fleet.start(HostSpec(name, pid_namespace=True,
                                 files={"/etc/login.defs": f"ENCRYPT_METHOD {method}\n"}))
        hosts = {f"{name}{i}": entry for name, entry in fleetrun.fleet_hosts(fleet).items()
                 for i in range(NAMES_PER_HOST)}
        yield fleetrun.write_inventory(tmp / "inventory.yaml", hosts), tmp


def request(inventory: Path, out: Path) -> AuditRequest:
    return AuditRequest(inventory=inventory, checks=CHECKS, output=out)


def sharded(inventory: Path, tmp: Path, size: int, key: signing.Signer, signers: trust.TrustStore,
            drop: str | None = None) -> Path:
    loaded = load_checks()
    planned = prepare(request(inventory, tmp / f"coordinator{size}"), loaded, make_run_dir=False)
    plan, cut = shards.split(planned, size)
    assert len(cut) == 16 // size
    subpacks = []
    for shard in cut:
        if shard.shard_id == drop:
            continue
        as_read = shards.read_shard(shard.to_json(), "shard")  # as a worker reads it
        folder = worker.run_shard(as_read, tmp / f"workers{size}", key, loaded,
                                  worker=f"worker-{shard.shard_id}")
        subpacks.append(merge.SubPack(pack.read(folder), str(folder)))
    prepared = prepare(request(inventory, tmp / f"merged{size}"), loaded, started=planned.started,
                       run_id=plan.run_id)
    return merge.merge(prepared, plan.shards, subpacks, signers).run_dir


def test_one_four_and_sixteen_shards_give_the_single_run(fleet_inventory, tmp_path):
    # Given 16 inventory hosts on real sshd servers, one single-process run, a trusted worker key
    inventory, _ = fleet_inventory
    single = audit(request(inventory, tmp_path / "single")).run_dir
    single_report = json.loads((single / "report.json").read_text())
    assert {h["error"] for h in single_report["hosts"]} == {None}  # every host was audited
    key = signing.Signer(signing.generate(tmp_path / "worker.pem", None))
    signers = trust.TrustStore((trust.TrustedSigner(key.fingerprint, "the workers", "test"),))
    for size in (16, 4, 1):
        # When the fleet is cut into 16 // size shards, each audited by a worker and merged
        merged = sharded(inventory, tmp_path, size, key, signers)
        # Then the verdicts and every evidence record's observations are the single run's
        report = json.loads((merged / "report.json").read_text())
        assert verdicts(report) == verdicts(single_report), size
        assert observed(merged) == observed(single), size
        # And the merged manifest lists every shard, merged, signed by the trusted worker key, and
        # each evidence file with the SHA-256 its worker signed
        manifest = json.loads((merged / pack.MANIFEST).read_text())
        listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
        assert len(manifest["run"]["shards"]) == 16 // size
        for fate in manifest["run"]["shards"]:
            assert (fate["status"], fate["signer"]) == ("merged", key.fingerprint)
            assert fate["trust"].startswith("trusted")
            signed = json.loads((merged / "shards" / fate["id"] / pack.MANIFEST).read_text())
            evidence = [a for a in signed["artifacts"] if a["path"].startswith("evidence/")]
            assert evidence and all(listed[a["path"]] == a["sha256"] for a in evidence)
        assert sorted(p for p in listed if p.startswith("evidence/")) == \
            sorted(p.relative_to(single).as_posix() for p in (single / "evidence").rglob("*.json"))
        assert pack.verify(pack.read(merged)).intact


def test_a_lost_shard_leaves_its_hosts_not_reached(fleet_inventory, tmp_path):
    # Given the fleet in 4 shards, one of which never comes back
    inventory, _ = fleet_inventory
    key = signing.Signer(signing.generate(tmp_path / "worker.pem", None))
    signers = trust.TrustStore((trust.TrustedSigner(key.fingerprint, "the workers", "test"),))
    merged = sharded(inventory, tmp_path, 4, key, signers, drop="default-0002")
    report = json.loads((merged / "report.json").read_text())
    # Then its four hosts are reported as not reached, and the other twelve are audited
    errors = {h["name"]: h["error"] for h in report["hosts"]}
    lost = {name for name, error in errors.items() if error}
    assert lost == {"beta0", "beta1", "beta2", "beta3"}
    assert {errors[name] for name in lost} == {
        "not reached (shard default-0002 lost: no worker of segment default returned it)"}
    assert all(r["status"] == "error" for h in report["hosts"] if h["name"] in lost for r in h["results"])
    assert len(report["hosts"]) == 16 and not any((merged / "evidence" / name).exists() for name in lost)

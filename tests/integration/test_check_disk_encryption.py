"""disk_encryption end to end through the CLI, on real sshd test hosts (private mount
namespaces of this machine, so they share its real disks).

Hosts:
  plain     -- nothing planted: the machine's own root file system, unencrypted here
  cloud     -- the same, with the inventory saying the provider encrypts every disk
               (provider_encrypted: ["*"]) -> manual
  fscrypt   -- an ext4 image (mkfs.ext4 -O encrypt) whose two top-level directories have
               fscrypt policies (e4crypt), loop-mounted read-only on /srv inside the host;
               exclude_mounts: ["/"] -> pass, recognising fscrypt
  partly    -- an image where one of three top-level directories is encrypted -> fail

The image hosts need loop devices, mkfs.ext4 and e4crypt; they skip with the reason when
those are missing. The machine's root must be unencrypted for `plain` to mean anything:
the test skips when it is not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.parsers import block_devices as bd
from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec

pytestmark = pytest.mark.integration

PASSPHRASE = "Fscrypt-Test-Passphrase-4e1b"  # the fscrypt key's passphrase: must never leave


def machine_root() -> bd.Mount:
    """This machine's / as the check sees it (its last mount there)."""
    text = subprocess.run(["sh", "-c", bd.MOUNTS_SCRIPT], capture_output=True, text=True, check=True).stdout
    return [m for m in bd.parse_mounts(text) if m.mountpoint == "/"][-1]


def root_is_encrypted() -> bool:
    script = f"{bd.LSBLK_SCRIPT}\n"
    lsblk = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False).stdout
    sysfs = subprocess.run(["sh", "-c", bd.SYSFS_SCRIPT], capture_output=True, text=True, check=True).stdout
    graph, _ = bd.device_graph(lsblk, sysfs)
    root = graph.by_majmin(machine_root().majmin)
    return root is None or any(any(d.is_crypt for d in chain) for chain in graph.chains(root.kname))


def fscrypt_problem() -> str | None:
    for tool in ("mkfs.ext4", "e4crypt", "losetup"):
        if shutil.which(tool) is None:
            return f"{tool} missing (e2fsprogs / util-linux)"
    if not os.path.exists("/dev/loop-control"):
        return "no loop devices on this machine"
    return None


def fscrypt_image(path: Path, encrypted: list[str], plain: list[str]) -> None:
    """An ext4 image with `encrypted` directories under fscrypt policies, made in a private
    mount namespace (nothing is mounted in the machine's own)."""
    subprocess.run(["truncate", "-s", "32M", str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "encrypt", str(path)], check=True)
    script = r"""
set -eu
img=$1; pass=$2; enc=$3; plain=$4; mnt=$(mktemp -d)
mount -o loop "$img" "$mnt"
for d in $enc; do
  mkdir "$mnt/$d"
  printf '%s\n' "$pass" | e4crypt add_key -S 0x5eedf00d5eedf00d "$mnt/$d" >/dev/null
  echo data >"$mnt/$d/file"
done
for d in $plain; do mkdir "$mnt/$d"; echo data >"$mnt/$d/file"; done
umount "$mnt"; rmdir "$mnt"
"""
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "_", str(path),
                    PASSPHRASE, " ".join(encrypted), " ".join(plain)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def run(sshd_fleet: FleetOpener) -> Iterator[tuple[dict[str, Any], Path]]:
    if root_is_encrypted():
        pytest.skip("this machine's root is encrypted (or unknown): the 'plain' host would not be plain")
    images = fscrypt_problem() is None
    with sshd_fleet("disk_encryption") as (fleet, tmp):
        fleet.start(HostSpec("plain"))
        fleet.start(HostSpec("cloud"))
        if images:
            fscrypt_image(tmp / "all.img", ["customers", "invoices"], [])
            fscrypt_image(tmp / "partly.img", ["customers"], ["exports"])
            for name, image in (("fscrypt", "all.img"), ("partly", "partly.img")):
                fleet.start(HostSpec(name, setup=(("mount", "-o", "loop,ro", str(tmp / image), "/srv"),)))
        hosts = fleet_hosts(fleet)
        hosts["cloud"]["vars"] = {"disk_encryption": {"provider_encrypted": ["*"]}}
        for name in ("fscrypt", "partly"):
            if name in hosts:
                hosts[name]["vars"] = {"disk_encryption": {"exclude_mounts": ["/"]}}
        done = audit(write_inventory(tmp / "inventory.yaml", hosts), tmp / "reports", "disk_encryption")
        assert done.result.rc in (1, 2, 3), done.result.stderr
        yield done.by_host, done.run_dir


def test_the_unencrypted_root_fails_naming_mount_and_device(run):
    # Given a host that sees this machine's root file system, which has no encryption layer
    verdicts, _ = run
    root = machine_root()
    got = verdicts["plain"]
    # When disk_encryption is judged through the CLI
    # Then it fails, naming the mount, its device and its type
    assert got["status"] == "fail", got
    assert f"/ on {root.source} ({root.fstype}) is not encrypted" in got["summary"]
    assert got["values"]["storage_unencrypted"] >= 1


def test_provider_encryption_is_manual_with_what_to_attach(run):
    # Given the same disks, with the inventory saying the provider encrypts them
    verdicts, _ = run
    got = verdicts["cloud"]
    # Then the verdict is manual and asks for the provider's setting
    assert got["status"] == "manual", got
    assert f"/ on {machine_root().source}" in got["summary"]
    assert "encryption by the cloud provider" in got["summary"]
    assert "attach the provider's volume-encryption setting" in got["summary"]


def test_an_fscrypt_data_mount_is_recognised(run):
    # Given a loop-mounted ext4 whose every top-level directory is fscrypt-encrypted on /srv
    if (problem := fscrypt_problem()) is not None:
        pytest.skip(problem)
    verdicts, _ = run
    got = verdicts["fscrypt"]
    # Then it passes, saying fscrypt encrypts it
    assert got["status"] == "pass", got
    assert "/srv on /dev/loop" in got["summary"]
    assert "fscrypt: all 2 top-level entries are encrypted directories (customers, invoices)" \
        in got["summary"]


def test_a_partly_encrypted_fscrypt_mount_fails(run):
    # Given a loop-mounted ext4 where exports/ is not encrypted
    if (problem := fscrypt_problem()) is not None:
        pytest.skip(problem)
    verdicts, _ = run
    got = verdicts["partly"]
    # Then it fails, naming the plain directory
    assert got["status"] == "fail", got
    assert "/srv on /dev/loop" in got["summary"] and "but not exports" in got["summary"]


def test_the_fscrypt_passphrase_never_reaches_the_run_folder(run):
    # Given the run folder of hosts whose images were keyed with a passphrase
    _, run_dir = run
    # Then the passphrase is nowhere in it
    files = assert_nowhere_in(run_dir, PASSPHRASE)
    assert any("evidence" in p.parts for p in files)

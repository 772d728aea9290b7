"""auditor.parsers.block_devices on real outputs: the recorded disk_encryption cases (this
VM: root ext4 on virtio vda, an ext4 image loop-mounted on /srv, a mount point with a space)
and, where a live comparison is possible, this machine's own lsblk and sysfs.

No dm-crypt device can be made on the machine these were recorded on (its kernel has no
device mapper), so the crypt layer is not covered by a recorded output here."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.parsers import block_devices as bd
from auditor.parsers.files import parse_dump

CASES = Path(__file__).resolve().parents[2] / "checks" / "disk_encryption"


def recorded(case: str, probe: str) -> str:
    data: dict[str, Any] = yaml.safe_load((CASES / f"{case}.yaml").read_text(encoding="utf-8"))
    return str(data["outputs"][probe]["stdout"])


def test_lsblk_json_gives_the_virtio_disk_with_its_bus():
    # Given lsblk -J as recorded on the VM
    graph = bd.parse_lsblk(recorded("fail_root_unencrypted", "lsblk"))
    # When the root disk is looked up by its device number
    vda = graph.by_majmin("254:0")
    # Then it is the virtio disk, top-level, and judged virtual
    assert vda is not None and vda.kname == "vda" and vda.type == "disk" and vda.parents == ()
    assert "virtio" in vda.subsystems
    assert bd.virtual_reason(vda) == "virtio disk"


def test_sysfs_links_a_loop_device_to_the_disk_holding_its_backing_file():
    # Given the sysfs probe recorded while an image on / was loop-mounted on /srv
    lsblk = recorded("pass_fscrypt_data_mount", "lsblk")
    sysfs = recorded("pass_fscrypt_data_mount", "sysfs")
    mounts = bd.parse_mounts(recorded("pass_fscrypt_data_mount", "mounts"))
    srv = next(m for m in mounts if m.mountpoint == "/srv")
    # When the device graph is built from both outputs and /srv's device is followed down
    graph, problems = bd.device_graph(lsblk, sysfs)
    loop = graph.by_majmin(srv.majmin)
    assert loop is not None and not problems
    chains = graph.chains(loop.kname)
    # Then the only chain goes from the loop device to vda, with no crypt layer on it
    assert [[d.kname for d in chain] for chain in chains] == [[loop.kname, "vda"]]
    assert loop.backing_path.endswith("all-encrypted.img")
    assert not any(d.is_crypt for d in chains[0])
    assert graph.source == "lsblk+sysfs"


def test_mountinfo_escapes_are_decoded_and_kinds_told_apart():
    # Given mountinfo recorded with an image mounted on '/srv/data set'
    mounts = bd.parse_mounts(recorded("garbled_odd_names", "mounts"))
    points = {m.mountpoint: m for m in mounts}
    # Then the space is decoded, and disk, virtual and bind mounts are told apart
    assert "/srv/data set" in points
    assert bd.mount_kind(points["/srv/data set"]) == "disk"
    assert bd.mount_kind(points["/"]) == "disk"
    assert bd.mount_kind(points["/proc"]) == "virtual"
    assert points["/run/netns"].root == "/run/netns"  # a bind mount of a directory of /
    assert bd.containing_mount("/srv/data set/x", mounts) is points["/srv/data set"]
    assert bd.containing_mount("/etc/passwd", mounts) is points["/"]


def test_crypttab_entries_with_comments_and_key_kinds():
    # Given the planted crypttab as the probe dumped it
    files, _ = parse_dump(recorded("fail_crypttab_but_no_crypt_device", "crypttab"))
    entries = bd.parse_crypttab(files["/etc/crypttab"])
    # Then the comment and blank lines are skipped and each key kind is recognised
    assert [e.name for e in entries] == ["cryptroot", "cryptswap", "cryptdata"]
    root, swap, data = entries
    assert not root.has_keyfile and root.options == "luks,discard"
    assert swap.random_key
    assert data.has_keyfile and data.keyfile == "/etc/keys/data.key"


def test_a_broken_output_is_an_error_not_an_empty_graph():
    # Given outputs that are not what the probes print
    with pytest.raises(ValueError):
        bd.parse_lsblk("lsblk: unknown column: PATH")
    with pytest.raises(ValueError):
        bd.parse_mounts("not a mountinfo line")
    # When neither source lists a device (sysfs hidden, as recorded)
    graph, problems = bd.device_graph(recorded("error_no_block_devices", "lsblk"),
                                      recorded("error_no_block_devices", "sysfs"))
    # Then the graph is empty and the reason is given
    assert not graph.devices and problems == ["neither lsblk nor sysfs lists any block device"]



def test_missing_lsblk_and_sysfs_is_a_named_problem(tmp_path):
    # Given a host with neither lsblk nor /sys/class/block (the sysfs probe run in an empty root)
    sysfs = subprocess.run(["unshare", "--mount", "--", "sh", "-c",
                            f"mount -t tmpfs none /sys && sh -c {shlex.quote(bd.SYSFS_SCRIPT)}"],
                           capture_output=True, text=True, check=False, timeout=30)
    if sysfs.returncode != 0:
        pytest.skip(f"cannot hide /sys here: {sysfs.stderr.strip()}")
    # When the device graph is built from both probes' outputs
    graph, problems = bd.device_graph("#absent\n", sysfs.stdout)
    # Then the reason names both missing sources
    assert sysfs.stdout == "#absent\n"
    assert not graph.devices
    assert problems == ["lsblk is not installed", "/sys/class/block is missing",
                        "lsblk and /sys/class/block both unavailable"]

@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("fault", ["read:error=ENODEV", "openat:error=ENOENT"])
def test_a_device_removed_as_the_sysfs_probe_reads_it_leaves_the_others(fault, tmp_path):
    # Given this machine's block devices, the first of which is removed as the probe reads its
    # maj:min (a volume detached, a snapshot dropped: the read fails with ENODEV, or the open
    # with ENOENT; strace makes the kernel's answer so)
    devices = sorted(os.listdir("/sys/class/block"))
    if len(devices) < 2:
        pytest.skip("fewer than two block devices here")
    gone = f"/sys/class/block/{devices[0]}/dev"
    shells = [[name] for name in ("dash", "bash") if shutil.which(name)]
    if box := shutil.which("busybox"):
        shells.append([box, "sh"])
    for shell in shells:
        # When the sysfs probe runs
        done = subprocess.run(["strace", "-f", "-qq", "-o", str(tmp_path / "strace"), "-P", gone,
                               "-e", f"trace={fault.split(':')[0]}", "-e", f"inject={fault}",
                               *shell, "-c", bd.SYSFS_SCRIPT],
                              capture_output=True, text=True, check=False, timeout=60)
        # Then it ends well and quietly, and the graph holds every other device, not that one
        said = [line for line in done.stderr.splitlines() if not line.startswith("strace: Requested path")]
        assert done.returncode == 0 and said == [], (shell, done.stderr)
        assert fault.split("=")[1] in (tmp_path / "strace").read_text(), shell  # the fault happened
        graph = bd.parse_sysfs(done.stdout)
        assert devices[0] not in graph.devices and set(devices[1:]) <= set(graph.devices), shell


def test_a_row_of_a_device_gone_in_an_older_probe_is_left_out():
    # Given the sysfs output of a probe that printed a removed device with no maj:min
    text = ("loop3\t\t/sys/devices/virtual/block/loop3\t\t\t\t\t\t0\t\t\n"
            "vda\t254:0\t/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda\t\t\t\t0x1af4\t\t1\t\t\n")
    # Then the graph holds the other device
    assert list(bd.parse_sysfs(text).devices) == ["vda"]


def test_device_numbers_decode_like_the_kernel():
    # Given this machine's real device number of / (st_dev) as stat prints it
    dev = os.stat("/").st_dev
    # Then the decoding matches os.major/os.minor
    assert bd.decode_dev_number(str(dev)) == f"{os.major(dev)}:{os.minor(dev)}"
    assert bd.decode_dev_number(f"b{os.major(dev):x}:{os.minor(dev):x}") == f"{os.major(dev)}:{os.minor(dev)}"
    assert bd.decode_dev_number("") == ""


def test_lsblk_and_sysfs_agree_on_this_machine():
    # Given this machine's own lsblk and sysfs, read by the probes' scripts
    if shutil.which("lsblk") is None:
        pytest.skip("lsblk is not installed")
    run = [subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
           for script in (bd.LSBLK_SCRIPT, bd.SYSFS_SCRIPT)]
    from_lsblk, from_sysfs = bd.parse_lsblk(run[0]), bd.parse_sysfs(run[1])
    # Then every device lsblk lists is in sysfs with the same number and the same parents
    assert from_lsblk.devices
    for kname, device in from_lsblk.devices.items():
        assert from_sysfs.devices[kname].majmin == device.majmin
        if device.type in ("part", "crypt", "lvm"):
            assert set(from_sysfs.devices[kname].parents) == set(device.parents)

"""Block devices and what is mounted on them: lsblk -J, sysfs, /proc/self/mountinfo,
/proc/swaps and /etc/crypttab.

The shell scripts that produce these outputs live here too (`LSBLK_SCRIPT`,
`SYSFS_SCRIPT`, `MOUNTS_SCRIPT`, `SWAPS_SCRIPT`), so every check that looks at disks reads
them the same way. The device graph links each block device to the devices it is built on
("parents": a partition's disk, a dm device's slaves, a loop device's backing file's
device), so a mount can be followed down to the hardware layer by layer.

The parts, each importing only those above it: `model` (devices, the graph, device
numbers, virtual disks), `lsblk`, `sysfs` (and merging the two), `mounts` (mounts, swaps,
crypttab). Every public name is importable from `auditor.parsers.block_devices`.
"""

from __future__ import annotations

from auditor.parsers.block_devices.lsblk import LSBLK_SCRIPT, parse_lsblk
from auditor.parsers.block_devices.model import BlockDevice, DeviceGraph, decode_dev_number, virtual_reason
from auditor.parsers.block_devices.mounts import (
    DEVICELESS_DISK_FS,
    MOUNTS_SCRIPT,
    NETWORK_FS,
    READ_ONLY_IMAGE_FS,
    SWAPS_SCRIPT,
    CrypttabEntry,
    Mount,
    Swap,
    containing_mount,
    iter_octal_lines,
    mount_kind,
    parse_crypttab,
    parse_mounts,
    parse_swaps,
    unescape_octal,
    zfs_properties,
)
from auditor.parsers.block_devices.sysfs import SYSFS_SCRIPT, device_graph, merge, parse_sysfs

__all__ = [
    "BlockDevice",
    "CrypttabEntry",
    "DEVICELESS_DISK_FS",
    "DeviceGraph",
    "LSBLK_SCRIPT",
    "MOUNTS_SCRIPT",
    "Mount",
    "NETWORK_FS",
    "READ_ONLY_IMAGE_FS",
    "SWAPS_SCRIPT",
    "SYSFS_SCRIPT",
    "Swap",
    "containing_mount",
    "decode_dev_number",
    "device_graph",
    "iter_octal_lines",
    "merge",
    "mount_kind",
    "parse_crypttab",
    "parse_lsblk",
    "parse_mounts",
    "parse_swaps",
    "parse_sysfs",
    "unescape_octal",
    "virtual_reason",
    "zfs_properties",
]

"""Block devices and the graph that links each to the devices it is built on; device
numbers as the probes print them; whether a top-level disk is virtual or physical.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BlockDevice:
    kname: str  # kernel name: sda2, dm-0, loop3, nvme0n1
    majmin: str = ""
    type: str = ""  # lsblk's: disk, part, crypt, lvm, raid1, loop, rom, ...
    path: str = ""  # /dev/mapper/root, /dev/sda2
    fstype: str = ""
    parents: tuple[str, ...] = ()  # knames of the devices this one is built on
    dm_uuid: str = ""  # CRYPT-LUKS2-<uuid>-<name>, LVM-..., as in /sys/block/dm-N/dm/uuid
    dm_name: str = ""
    sysfs_path: str = ""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    tran: str = ""  # sata, nvme, usb, sas, ...
    rotational: bool | None = None
    subsystems: str = ""  # block:scsi:virtio:pci
    backing_majmin: str = ""  # loop: the device of its backing file; zram: its writeback device
    backing_path: str = ""

    @property
    def is_crypt(self) -> bool:
        """A dm-crypt layer (LUKS1/2, plain, TrueCrypt/BitLocker via cryptsetup)."""
        return self.type == "crypt" or self.dm_uuid.startswith("CRYPT-")

    @property
    def crypt_kind(self) -> str:
        """LUKS2, LUKS1, PLAIN, ... from the dm uuid; 'dm-crypt' when only lsblk said so."""
        if self.dm_uuid.startswith("CRYPT-"):
            return self.dm_uuid.split("-")[1] or "dm-crypt"
        return "dm-crypt"

    @property
    def dev_path(self) -> str:
        return self.path or f"/dev/{self.kname}"

    def describe(self) -> str:
        return " ".join(part for part in (self.vendor, self.model) if part) or self.tran or self.type


@dataclass
class DeviceGraph:
    devices: dict[str, BlockDevice] = field(default_factory=dict)  # by kname
    source: str = ""  # which outputs it was built from, for the details

    def by_majmin(self, majmin: str) -> BlockDevice | None:
        return next((d for d in self.devices.values() if d.majmin == majmin), None)

    def by_path(self, path: str) -> BlockDevice | None:
        """The device behind a /dev path: /dev/sda2, /dev/mapper/<dm name>, /dev/dm-0."""
        for device in self.devices.values():
            if path in (device.path, f"/dev/{device.kname}") or (
                    device.dm_name and path == f"/dev/mapper/{device.dm_name}"):
                return device
        return None

    def chains(self, kname: str) -> list[list[BlockDevice]]:
        """Every path from `kname` down to a device with no parent (the hardware layer)."""
        found: list[list[BlockDevice]] = []

        def walk(name: str, trail: list[BlockDevice]) -> None:
            device = self.devices.get(name)
            if device is None or any(d.kname == name for d in trail):  # unknown, or a cycle
                if trail:
                    found.append(trail)
                return
            trail = [*trail, device]
            parents = list(device.parents)
            if device.backing_majmin:
                backing = self.by_majmin(device.backing_majmin)
                if backing is not None:
                    parents.append(backing.kname)
            if not parents:
                found.append(trail)
            for parent in parents:
                walk(parent, trail)

        walk(kname, [])
        return found

    def disks(self) -> list[BlockDevice]:
        """Top-level devices: built on nothing else (disks, loop devices, zram, ...)."""
        return [d for d in self.devices.values() if not d.parents]


# --------------------------------------------------------------------------
# Device numbers
# --------------------------------------------------------------------------


def decode_dev_number(text: str) -> str:
    """'b8:2' (hex major:minor of a device node) or '2049' (a decimal st_dev) -> '8:1'."""
    text = text.strip()
    if text.startswith("b"):
        major_hex, _, minor_hex = text[1:].partition(":")
        try:
            return f"{int(major_hex, 16)}:{int(minor_hex, 16)}"
        except ValueError:
            return ""
    if not text.isdigit():
        return ""
    dev = int(text)  # glibc's gnu_dev_major / gnu_dev_minor
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return f"{major}:{minor}"


# --------------------------------------------------------------------------
# Virtual or physical disks
# --------------------------------------------------------------------------


# Vendor/model strings of disks that a hypervisor or a cloud provides.
_VIRTUAL_VENDOR = re.compile(
    r"QEMU|VMware|VBOX|VirtualBox|Msft|Virtual|Xen|Amazon|Google|PersistentDisk|EphemeralDisk|"
    r"BHYVE|ORACLE BlockVolume|Nutanix|Red Hat|RHEL|Linode|DO_Volume|Hetzner|^0x1af4$|virtio",
    re.IGNORECASE)
# Devices that hold no platter or flash of their own.
_NOT_HARDWARE = ("loop*", "ram*", "zram*", "nbd*", "md*", "dm-*", "sr*", "rbd*", "drbd*", "mtdblock*",
                 "fd*")


def virtual_reason(device: BlockDevice) -> str | None:
    """Why a top-level disk is not physical hardware this host can read SMART data from;
    None when it looks physical."""
    name = device.kname
    if name.startswith("zram"):
        return "compressed RAM (zram)"
    if any(fnmatch.fnmatch(name, pattern) for pattern in _NOT_HARDWARE) or device.type in (
            "loop", "rom", "crypt", "lvm", "part"):
        return f"{device.type} device, no disk of its own"
    if name.startswith("vd") or "/virtio" in device.sysfs_path or "virtio" in device.subsystems:
        return "virtio disk"
    if name.startswith("xvd") or "/vbd-" in device.sysfs_path or "xen" in device.subsystems:
        return "Xen virtual disk"
    if device.sysfs_path.startswith("/sys/devices/virtual/"):
        return "virtual block device"
    found = _VIRTUAL_VENDOR.search(f"{device.vendor} {device.model}")
    if found:
        return f"virtual disk ({device.describe()})"
    return None

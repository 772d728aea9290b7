"""Block devices and what is mounted on them: lsblk -J, sysfs, /proc/self/mountinfo,
/proc/swaps and /etc/crypttab.

The shell scripts that produce these outputs live here too (`LSBLK_SCRIPT`,
`SYSFS_SCRIPT`, `MOUNTS_SCRIPT`, `SWAPS_SCRIPT`), so every check that looks at disks reads
them the same way. The device graph links each block device to the devices it is built on
("parents": a partition's disk, a dm device's slaves, a loop device's backing file's
device), so a mount can be followed down to the hardware layer by layer.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Newer columns first; util-linux before 2.33 lacks PATH and SUBSYSTEMS, so fall back.
LSBLK_SCRIPT = r"""
command -v lsblk >/dev/null 2>&1 || { echo '#absent'; exit 0; }
lsblk -J -b -o NAME,KNAME,PATH,MAJ:MIN,TYPE,FSTYPE,TRAN,ROTA,MODEL,VENDOR,SERIAL,SUBSYSTEMS 2>/dev/null \
  || lsblk -J -b -o NAME,KNAME,MAJ:MIN,TYPE,FSTYPE,TRAN,ROTA,MODEL,VENDOR,SERIAL
"""

# One tab-separated line per block device, read with the shell's `read` (no fork per file):
# kname, maj:min, resolved sysfs path, dm uuid, dm name, slaves, vendor, model, rotational,
# backing device (loop: the device holding the backing file, as decimal st_dev; zram:
# the writeback device, as hex major:minor after "b"), backing path. All world-readable.
SYSFS_SCRIPT = r"""
for d in /sys/class/block/*; do
  [ -r "$d/dev" ] || continue
  majmin=; uuid=; name=; vendor=; model=; rota=; bdev=; bpath=; slaves=
  read -r majmin <"$d/dev"
  real=$(readlink -f "$d")
  [ -r "$d/dm/uuid" ] && read -r uuid <"$d/dm/uuid"
  [ -r "$d/dm/name" ] && read -r name <"$d/dm/name"
  for s in "$d"/slaves/*; do [ -e "$s" ] && slaves="$slaves${slaves:+,}${s##*/}"; done
  [ -r "$d/device/vendor" ] && read -r vendor <"$d/device/vendor"
  [ -r "$d/device/model" ] && read -r model <"$d/device/model"
  [ -r "$d/queue/rotational" ] && read -r rota <"$d/queue/rotational"
  if [ -r "$d/loop/backing_file" ]; then
    read -r bpath <"$d/loop/backing_file"
    bdev=$(stat -c %d "$bpath" 2>/dev/null)
  elif [ -r "$d/backing_dev" ]; then
    read -r bpath <"$d/backing_dev"
    [ "$bpath" = none ] && bpath=
    [ -n "$bpath" ] && bdev=b$(stat -L -c %t:%T "$bpath" 2>/dev/null)
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${d##*/}" "$majmin" "$real" "$uuid" "$name" \
    "$slaves" "$vendor" "$model" "$rota" "$bdev" "$bpath"
done
exit 0
"""

# maj:min, root of the mount within its filesystem, mount point, fs type, source.
MOUNTS_SCRIPT = r"""
awk '{ for (i = 7; i <= NF && $i != "-"; i++) ;
       printf "%s\t%s\t%s\t%s\t%s\n", $3, $4, $5, $(i + 1), $(i + 2) }' /proc/self/mountinfo
"""

# Active swap areas: type, name, and the device: hex major:minor of a partition's device
# node, or the decimal st_dev of the file system holding a swap file.
SWAPS_SCRIPT = r"""
[ -r /proc/swaps ] || { echo '#absent'; exit 0; }
tail -n +2 /proc/swaps | while read -r name type rest; do
  if [ "$type" = partition ]; then dev=b$(stat -L -c %t:%T "$name" 2>/dev/null)
  else dev=$(stat -c %d "$name" 2>/dev/null); fi
  printf '%s\t%s\t%s\n' "$type" "$name" "$dev"
done
exit 0
"""

# File systems whose content is a read-only image, not data written on the host.
READ_ONLY_IMAGE_FS = ("squashfs", "iso9660", "udf", "erofs", "cramfs")
# File systems without a local block device that still hold data on local disks.
DEVICELESS_DISK_FS = ("zfs", "btrfs", "bcachefs")
# File systems whose data lives on another machine: judged there, not here.
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.glusterfs",
              "fuse.sshfs", "9p", "virtiofs", "afs", "lustre", "fuse.s3fs", "fuse.rclone")


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
# lsblk -J
# --------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("0", "1", 0, 1):
        return bool(int(value))
    return None


def parse_lsblk(text: str) -> DeviceGraph:
    """The tree printed by `lsblk -J` (children nested under the devices they are built on).

    Raises ValueError when the text is not lsblk's JSON.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"lsblk output is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("blockdevices"), list):
        raise ValueError("lsblk output has no 'blockdevices' list")
    graph = DeviceGraph(source="lsblk")

    def visit(node: Any, parent: str | None) -> None:
        if not isinstance(node, dict) or not _text(node.get("kname") or node.get("name")):
            raise ValueError(f"lsblk entry without a name: {str(node)[:80]}")
        kname = _text(node.get("kname") or node.get("name"))
        seen = graph.devices.get(kname)
        parents = (seen.parents if seen else ()) + ((parent,) if parent and (
            not seen or parent not in seen.parents) else ())
        graph.devices[kname] = BlockDevice(
            kname=kname,
            majmin=_text(node.get("maj:min")),
            type=_text(node.get("type")),
            path=_text(node.get("path")),
            fstype=_text(node.get("fstype")),
            parents=parents,
            vendor=_text(node.get("vendor")),
            model=_text(node.get("model")),
            serial=_text(node.get("serial")),
            tran=_text(node.get("tran")),
            rotational=_flag(node.get("rota")),
            subsystems=_text(node.get("subsystems")),
        )
        for child in node.get("children") or ():
            visit(child, kname)

    for top in data["blockdevices"]:
        visit(top, None)
    return graph


# --------------------------------------------------------------------------
# sysfs (SYSFS_SCRIPT)
# --------------------------------------------------------------------------

_DM_TYPES = {"CRYPT": "crypt", "LVM": "lvm", "mpath": "mpath", "part": "part"}


def _sysfs_type(kname: str, path: str, dm_uuid: str, is_partition: bool) -> str:
    if dm_uuid:
        return _DM_TYPES.get(dm_uuid.split("-", 1)[0], "dm")
    if is_partition:
        return "part"
    for prefix, kind in (("loop", "loop"), ("md", "raid"), ("sr", "rom")):
        if kname.startswith(prefix):
            return kind
    return "disk"


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


def parse_sysfs(text: str) -> DeviceGraph:
    """The lines of SYSFS_SCRIPT. Raises ValueError on a line that is not one."""
    graph = DeviceGraph(source="sysfs")
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 11 or not re.fullmatch(r"\d+:\d+", fields[1]):
            raise ValueError(f"unexpected line from the sysfs probe: {line[:80]!r}")
        rows.append(fields)
    knames = {fields[0] for fields in rows}
    for kname, majmin, path, uuid, name, slaves, vendor, model, rota, bdev, bpath in rows:
        # A partition's sysfs directory sits inside its disk's: .../block/sda/sda2
        parts = path.rstrip("/").split("/")
        is_partition = len(parts) >= 2 and parts[-2] in knames and parts[-2] != kname
        parents = tuple(s for s in slaves.split(",") if s) or ((parts[-2],) if is_partition else ())
        graph.devices[kname] = BlockDevice(
            kname=kname, majmin=majmin, type=_sysfs_type(kname, path, uuid, is_partition),
            dm_uuid=uuid, dm_name=name, parents=parents, sysfs_path=path, vendor=vendor.strip(),
            model=model.strip(), rotational=_flag(rota), backing_majmin=decode_dev_number(bdev),
            backing_path=bpath)
    return graph


def merge(primary: DeviceGraph, extra: DeviceGraph) -> DeviceGraph:
    """`primary` (lsblk) completed with what only `extra` (sysfs) knows: dm uuids and names,
    backing files, sysfs paths, and any device or parent link lsblk did not show."""
    merged = DeviceGraph(dict(primary.devices), "+".join(s for s in (primary.source, extra.source) if s))
    for kname, more in extra.devices.items():
        have = merged.devices.get(kname)
        if have is None:
            merged.devices[kname] = more
            continue
        merged.devices[kname] = replace(
            have,
            majmin=have.majmin or more.majmin,
            type=have.type or more.type,
            parents=have.parents + tuple(p for p in more.parents if p not in have.parents),
            dm_uuid=more.dm_uuid, dm_name=more.dm_name, sysfs_path=more.sysfs_path,
            vendor=have.vendor or more.vendor, model=have.model or more.model,
            rotational=have.rotational if have.rotational is not None else more.rotational,
            backing_majmin=more.backing_majmin, backing_path=more.backing_path,
        )
    return merged


def device_graph(lsblk_text: str | None, sysfs_text: str | None) -> tuple[DeviceGraph, list[str]]:
    """The best graph from whichever of the two outputs is usable, and what was not."""
    problems: list[str] = []
    graphs: list[DeviceGraph] = []
    for name, text, parse in (("lsblk", lsblk_text, parse_lsblk), ("sysfs", sysfs_text, parse_sysfs)):
        if text is None:
            continue
        if name == "lsblk" and text.strip() == "#absent":
            problems.append("lsblk is not installed")
            continue
        try:
            graphs.append(parse(text))
        except ValueError as exc:
            problems.append(str(exc))
    if not any(g.devices for g in graphs):
        return DeviceGraph(), problems + ["neither lsblk nor sysfs lists any block device"]
    graph = graphs[0]
    for other in graphs[1:]:
        graph = merge(graph, other)
    return graph, problems


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


# --------------------------------------------------------------------------
# Mounts, swaps, crypttab
# --------------------------------------------------------------------------


def unescape_octal(text: str) -> str:
    r"""Mount table escapes: '\040' is a space, '\011' a tab, '\134' a backslash."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


@dataclass(frozen=True)
class Mount:
    majmin: str
    root: str  # the directory of the file system mounted here ('/' unless a bind mount)
    mountpoint: str
    fstype: str
    source: str


def parse_mounts(text: str) -> list[Mount]:
    """The lines of MOUNTS_SCRIPT. Raises ValueError on a line that is not one."""
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 5 or not re.fullmatch(r"\d+:\d+", fields[0]):
            raise ValueError(f"unexpected line from the mounts probe: {line[:80]!r}")
        majmin, root, mountpoint, fstype, source = fields
        mounts.append(Mount(majmin, unescape_octal(root), unescape_octal(mountpoint), fstype,
                            unescape_octal(source)))
    return mounts


def mount_kind(mount: Mount) -> str:
    """'disk' (stored on a local block device), 'image' (read-only image), 'network', or
    'virtual' (proc, sysfs, tmpfs, overlay, cgroup, nsfs, fuse, ... : no disk of its own)."""
    if mount.fstype in READ_ONLY_IMAGE_FS:
        return "image"
    if mount.fstype in NETWORK_FS or mount.fstype.startswith("nfs"):
        return "network"
    if mount.fstype in DEVICELESS_DISK_FS:
        return "disk"
    return "disk" if not mount.majmin.startswith("0:") else "virtual"


def containing_mount(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount that holds `path`: the longest mount point that is a prefix of it (the last
    one mounted there wins, as in the kernel)."""
    best: Mount | None = None
    for mount in mounts:
        point = mount.mountpoint.rstrip("/")
        holds = path == mount.mountpoint or path.startswith(point + "/") or mount.mountpoint == "/"
        if holds and (best is None or len(mount.mountpoint) >= len(best.mountpoint)):
            best = mount
    return best


@dataclass(frozen=True)
class Swap:
    type: str  # partition or file
    name: str
    majmin: str  # the partition's device, or the file system holding the file ("" if unknown)


def parse_swaps(text: str) -> list[Swap]:
    """The lines of SWAPS_SCRIPT ('#absent' when /proc/swaps is unreadable: no swaps)."""
    swaps = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"unexpected line from the swaps probe: {line[:80]!r}")
        swaps.append(Swap(fields[0], unescape_octal(fields[1]), decode_dev_number(fields[2])))
    return swaps


@dataclass(frozen=True)
class CrypttabEntry:
    name: str
    device: str
    keyfile: str  # "none" or "-" when a passphrase is asked for
    options: str
    line: int

    @property
    def has_keyfile(self) -> bool:
        return self.keyfile not in ("", "none", "-")

    @property
    def random_key(self) -> bool:
        """Swap or tmp volumes keyed afresh at each boot: nothing survives a power-off."""
        return self.keyfile in ("/dev/urandom", "/dev/random", "/dev/hw_random")


def parse_crypttab(text: str) -> list[CrypttabEntry]:
    """crypttab(5): name, device, key file, options; '#' comments; missing fields empty."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        fields += [""] * (4 - len(fields))
        entries.append(CrypttabEntry(fields[0], fields[1], fields[2] or "none", fields[3], number))
    return entries


def iter_octal_lines(text: str) -> Iterator[list[str]]:
    """Tab-separated lines with mount-table escapes decoded in every field."""
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield [unescape_octal(f) for f in line.split("\t")]


def zfs_properties(text: str) -> dict[str, Mapping[str, str]]:
    """`zfs get -H -o name,property,value ...` -> {dataset: {property: value}}."""
    found: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3:
            found.setdefault(fields[0], {})[fields[1]] = fields[2]
    return dict(found)

"""What is mounted and how it is judged: /proc/self/mountinfo (MOUNTS_SCRIPT), the kind of a
mount (disk, image, network, virtual), /proc/swaps (SWAPS_SCRIPT), /etc/crypttab, and the
tab-separated helpers for zfs properties and octal-escaped fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from auditor.parsers.block_devices.model import decode_dev_number

# maj:min, root of the mount within its filesystem, mount point, fs type, source.
MOUNTS_SCRIPT = r"""
awk '{ for (i = 7; i <= NF && $i != "-"; i++) ;
       printf "%s\t%s\t%s\t%s\t%s\n", $3, $4, $5, $(i + 1), $(i + 2) }' /proc/self/mountinfo
"""

# Active swap areas: type, name, and the device: hex major:minor of a partition's device
# node, or the decimal st_dev of the file system holding a swap file. The shell reads the table
# itself, past its header line (no `tail`).
SWAPS_SCRIPT = r"""
[ -r /proc/swaps ] || { echo '#absent'; exit 0; }
{
  read -r header
  while read -r name type rest; do
    if [ "$type" = partition ]; then dev=b$(stat -L -c %t:%T "$name" 2>/dev/null)
    else dev=$(stat -c %d "$name" 2>/dev/null); fi
    printf '%s\t%s\t%s\n' "$type" "$name" "$dev"
  done
} </proc/swaps
exit 0
"""

# File systems whose content is a read-only image, not data written on the host.
READ_ONLY_IMAGE_FS = ("squashfs", "iso9660", "udf", "erofs", "cramfs")
# File systems without a local block device that still hold data on local disks.
DEVICELESS_DISK_FS = ("zfs", "btrfs", "bcachefs")
# File systems whose data lives on another machine: judged there, not here.
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.glusterfs",
              "fuse.sshfs", "9p", "virtiofs", "afs", "lustre", "fuse.s3fs", "fuse.rclone")


def unescape_octal(text: str) -> str:
    r"""Mount table escapes: '\040' is a space, '\011' a tab, '\134' a backslash."""
    if "\\" not in text:  # nearly every field: no re.sub
        return text
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

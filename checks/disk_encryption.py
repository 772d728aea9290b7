"""Every disk that holds data is encrypted: the root and data file systems, and swap.

Reads: /proc/self/mountinfo (what is mounted, from which device), /proc/swaps, the block
device graph (`lsblk -J`, completed from sysfs: /sys/class/block/*/slaves, dm/uuid, a
loop device's backing file), /etc/crypttab, ZFS's `encryption` property and, on ext4 and
f2fs, the fscrypt flag ('E' in `lsattr -d`) of each top-level entry of the file system.
Judged: every mounted file system stored on a local block device (plus ZFS and btrfs,
which have no single device number) and every active swap area. Pseudo and RAM file
systems (proc, sysfs, tmpfs, devtmpfs, cgroup, nsfs, overlay, fuse, ...: device number
0:N) have no disk of their own and are not judged; an overlay's upper directory is judged
with the file system that holds it. Read-only images (squashfs snaps, iso9660, udf,
erofs, cramfs) hold no data written on the host. Network file systems (nfs, cifs, ceph,
9p, virtiofs, ...) are listed but judged on their servers. Bind mounts of one file
system are judged once, under its first mount point; `exclude_mounts` leaves a file
system out wherever it is mounted. crypttab entries are listed; a root volume unlocked by
a key file is noted, and flagged when that key file sits on an unencrypted file system of
the same disk.

Passes when: every file system and swap judged is encrypted: every path from its device
down to the hardware goes through a dm-crypt layer (LUKS1/LUKS2/plain: lsblk TYPE crypt,
dm uuid CRYPT-...), its ZFS dataset has `encryption` other than off, or every top-level
entry of an ext4/f2fs file system (except lost+found and symbolic links) is an
fscrypt-encrypted directory. zram swap is compressed RAM and passes (unless it writes back
to a device, which is then judged). Swap files are judged with the file system that holds
them.

Fails when: anything else, naming the mount and the device: "/ on /dev/vda (ext4) is not
encrypted" (and, for fscrypt used on part of a file system, which entries it leaves out).

Error/Manual: `error` when the mount table or the block devices cannot be read, or when a
file system's protection cannot be told: its device is not among the block devices, ZFS
cannot be asked, or a top-level entry's flag cannot be read by lsattr (a FIFO, socket or
device file, or a directory the probe may not open) and no readable entry is
unencrypted ("could not read the encryption flag of ..."), or there are more top-level
entries than can be judged. Disks that a cloud provider encrypts cannot be seen as
encrypted from inside the guest: list them in `provider_encrypted` (disk names or globs:
`vda`, `/dev/nvme0n1`, `xvd*`, `*`); an unencrypted mount whose disks are all listed
there is `manual`, and the report asks for the provider's volume-encryption setting
(console screenshot or API output naming the volume id; the disk serial, which on AWS
NVMe is the volume id, is quoted). `skip` when no file system is stored on a local disk
(a container).

Secrets: none: device, mount and file names, crypttab's unlock method (a key file's path,
never its content) and ZFS key status only.

Blind spots: hardware self-encrypting drives (SED/Opal) look unencrypted and need
`provider_encrypted` plus evidence; only the first device of a multi-device btrfs is
known; fscrypt is judged at the top level of a file system only (a file created later
outside the encrypted directories is not seen until the next run); ZFS needs the `zfs`
tool on the host; eCryptfs and other stacked file systems are not recognised.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers import block_devices as bd
from auditor.parsers.files import dump_files_script, parse_dump
from auditor.parsers.rows import rows
from auditor.probes import shell

CRYPTTAB = "/etc/crypttab"
FSCRYPT_FS = ("ext4", "f2fs", "ubifs")
MAX_TOP_ENTRIES = 200

# `top_entries MOUNT`: the lsattr flags of each top-level entry of MOUNT, one line each ('L'
# for a symbolic link, '?' when lsattr could not read it), at most one more entry than judged
# (shows the list was cut; counted in entries, not lines: a name may hold a newline, and no
# `head` runs). One lsattr for them all: it prints the entries in the order given and
# skips those it cannot read, so its lines are matched to the entries in step (a name that
# holds a newline is asked alone; `attrs` passes lsattr the others but links). One lsattr per
# entry cost a fork each (~20 ms a host).
TOP_ENTRIES = r"""
nl='
'
attrs() {
  for e; do shift; [ -L "$e" ] && continue; case $e in *"$nl"*) continue ;; esac; set -- "$@" "$e"; done
  [ $# -eq 0 ] || lsattr -d -- "$@" 2>/dev/null
}
top_entries() {
  m=$1
  case $m in /) p= ;; *) p=$m ;; esac
  set --
  for e in "$p"/* "$p"/.[!.]* "$p"/..?*; do
    [ -L "$e" ] || [ -e "$e" ] || continue
    [ $# -lt LIMIT ] || break
    set -- "$@" "$e"
  done
  attrs "$@" | {
    line=; have=
    for e; do
      if [ -L "$e" ]; then f=L
      else case $e in
        *"$nl"*) f=$(lsattr -d -- "$e" 2>/dev/null) && f=${f%% *} || f='?' ;;
        *) [ -n "$have" ] || { IFS= read -r line && have=1; }
           if [ -n "$have" ] && [ "${line#* }" = "$e" ]; then f=${line%% *}; have=; else f='?'; fi ;;
      esac; fi
      printf '%s\t%s\t%s\n' "$m" "$f" "${e##*/}"
    done
  }
}
""".replace("LIMIT", str(MAX_TOP_ENTRIES + 1))

# For each ext4/f2fs/ubifs file system mounted at its root (each mount point once, in mountinfo's
# order): its top-level entries' flags.
FSCRYPT_SCRIPT = r"""
command -v lsattr >/dev/null 2>&1 || { echo '#no-lsattr'; exit 0; }
""" + TOP_ENTRIES + r"""
awk '{ for (i = 7; i <= NF && $i != "-"; i++) ;
       if ($4 == "/" && ($(i + 1) == "ext4" || $(i + 1) == "f2fs" || $(i + 1) == "ubifs") && !seen[$5]++)
         print $5 }' \
  /proc/self/mountinfo | while IFS= read -r m; do top_entries "$(printf '%b' "$m")"; done
exit 0
"""

ZFS_SCRIPT = r"""
command -v zfs >/dev/null 2>&1 || { echo '#absent'; exit 0; }
zfs get -H -o name,property,value encryption,keystatus -t filesystem,volume
"""

CHECK = Check(
    id="disk_encryption",
    trend_values=("storage_unencrypted",),
    title="Disks holding data are encrypted (root, data mounts, swap)",
    claims=("disk-encryption", "encryption-and-access-control"),
    controls=("ISO27001:2022 A.8.24", "ISO27001:2022 A.7.10"),
    params=(
        Param("provider_encrypted", list, [],
              "disks (names or globs: vda, /dev/nvme0n1, xvd*, *) that the cloud provider encrypts; "
              "unencrypted mounts on them are manual, with the provider's setting to attach"),
        Param("exclude_mounts", list, [],
              "glob patterns of mount points the promise does not cover (e.g. /mnt/scratch)"),
    ),
    probes=(
        shell("mounts", bd.MOUNTS_SCRIPT),
        shell("swaps", bd.SWAPS_SCRIPT),
        shell("lsblk", bd.LSBLK_SCRIPT),
        shell("sysfs", bd.SYSFS_SCRIPT),
        shell("crypttab", dump_files_script(CRYPTTAB)),
        shell("fscrypt", FSCRYPT_SCRIPT, root=True),  # root: data directories are often 0700
        shell("zfs", ZFS_SCRIPT),
    ),
)

ENCRYPTED, PROVIDER, PLAIN, UNKNOWN = "encrypted", "provider", "unencrypted", "unknown"


@dataclass(frozen=True)
class Protection:
    state: str  # ENCRYPTED, PROVIDER, PLAIN or UNKNOWN
    how: str  # what encrypts it, or why it is not / cannot be judged
    disks: tuple[str, ...] = ()  # the hardware layer under it


def _disk_matches(disk: bd.BlockDevice, patterns: list[str]) -> bool:
    names = (disk.kname, disk.dev_path, f"/dev/{disk.kname}")
    return any(fnmatch.fnmatch(name, str(p)) for p in patterns for name in names)


def _judge_device(graph: bd.DeviceGraph, device: bd.BlockDevice, provider: list[str]) -> Protection:
    """Encrypted when every chain from the device to the hardware has a dm-crypt layer."""
    chains = graph.chains(device.kname)
    disks = tuple(dict.fromkeys(chain[-1].kname for chain in chains))
    crypt_layers = []
    uncovered = []
    provider_disks = []
    for chain in chains:
        crypt = next((d for d in chain if d.is_crypt), None)
        if crypt is not None:
            crypt_layers.append(crypt)
        elif chain[-1].kname == "zram0" or chain[-1].kname.startswith("zram"):
            crypt_layers.append(chain[-1])  # RAM; a writeback device would be in the chain
        elif _disk_matches(chain[-1], provider):
            provider_disks.append(chain[-1])
        else:
            uncovered.append(chain)
    if uncovered:
        return Protection(PLAIN, "no encryption layer between it and " + ", ".join(
            dict.fromkeys(c[-1].dev_path for c in uncovered)), disks)
    if provider_disks:
        ids = ", ".join(dict.fromkeys(
            d.dev_path + (f" (serial {d.serial})" if d.serial else "") for d in provider_disks))
        return Protection(PROVIDER, f"encryption by the cloud provider, per inventory: {ids}", disks)
    how = ", ".join(dict.fromkeys(
        "compressed RAM (zram)" if d.kname.startswith("zram") and not d.is_crypt
        else f"{d.crypt_kind} (dm-crypt) {d.dm_name or d.kname}" for d in crypt_layers))
    return Protection(ENCRYPTED, how, disks)


class TopEntry(NamedTuple):
    flags: str  # lsattr's flags, "L" for a symbolic link, "?" when lsattr could not read it
    name: str


def read_top_entries(text: str) -> dict[str, list[TopEntry]]:
    """The fscrypt probe's lines, by mount point ("#no-lsattr" and cut lines are skipped)."""
    found: dict[str, list[TopEntry]] = {}
    for row in rows(text, "fscrypt", untagged=3, lenient=True):  # an entry's name may hold a newline
        mountpoint, flags, name = (bd.unescape_octal(f) for f in row.fields)
        found.setdefault(mountpoint, []).append(TopEntry(flags, name))
    return found


def _fscrypt_verdict(entries: list[TopEntry], other_mounts: set[str]) -> Protection | None:
    """Encrypted by fscrypt when every top-level entry is an encrypted directory; None when
    fscrypt encrypts none of them and a readable entry shows it is not used here."""
    cut = len(entries) > MAX_TOP_ENTRIES
    judged = [(flags, name) for flags, name in entries[:MAX_TOP_ENTRIES]
              if name != "lost+found" and flags != "L" and name not in other_mounts]
    encrypted = [name for flags, name in judged if "E" in flags]
    unread = [name for flags, name in judged if flags == "?"]
    plain = [name for flags, name in judged if "E" not in flags and flags != "?"]
    if not encrypted and (plain or not unread):
        return None
    if unread and not plain:
        more = f" and {len(unread) - 5} more" if len(unread) > 5 else ""
        return Protection(UNKNOWN, f"could not read the encryption flag of {', '.join(unread[:5])}{more} "
                       "(lsattr -d failed: a FIFO, socket or device, or a directory the probe may not "
                       f"open); {len(encrypted)} other top-level entr(ies) are fscrypt-encrypted")
    if plain:
        more = f" and {len(plain) - 5} more" if len(plain) > 5 else ""
        return Protection(PLAIN, f"fscrypt encrypts {len(encrypted)} top-level director(ies) "
                       f"({', '.join(encrypted[:3])}) but not {', '.join(plain[:5])}{more}")
    if cut:
        return Protection(UNKNOWN, f"the first {len(encrypted)} top-level entries are fscrypt-encrypted, "
                       f"but there are more than {MAX_TOP_ENTRIES}: too many to judge them all")
    return Protection(ENCRYPTED, f"fscrypt: all {len(encrypted)} top-level entries are encrypted "
                   f"directories ({', '.join(encrypted[:5])})")


def _filesystem_key(mount: bd.Mount) -> str:
    """Names one file system: its device number, or its source where that is anonymous."""
    return mount.source if mount.fstype == "zfs" or mount.majmin.startswith("0:") else mount.majmin


@dataclass(frozen=True)
class Storage:
    """What the probes say about the host's storage, and the inventory's provider-encrypted disks."""

    graph: bd.DeviceGraph
    mounts: list[bd.Mount]
    top_entries: dict[str, list[TopEntry]]
    zfs: dict[str, Mapping[str, str]]
    zfs_text: str
    provider: list[str]

    def mount(self, mount: bd.Mount) -> Protection:
        if mount.fstype == "zfs":
            props = self.zfs.get(mount.source)
            if props is None:
                absent = self.zfs_text.startswith("#absent") or not self.zfs_text
                why = "zfs is not installed" if absent else "dataset not listed by zfs get"
                return Protection(UNKNOWN, f"cannot read its ZFS encryption: {why}")
            if props.get("encryption", "off") not in ("off", "-", ""):
                return Protection(ENCRYPTED, f"ZFS native encryption {props['encryption']}, "
                                  f"key {props.get('keystatus', 'unknown')}")
            return Protection(PLAIN, "ZFS dataset with encryption=off")
        device = self.device(mount)
        if device is None:
            return Protection(UNKNOWN, f"device {mount.majmin} ({mount.source}) is not among the block "
                              "devices")
        verdict = _judge_device(self.graph, device, self.provider)
        if verdict.state != ENCRYPTED and mount.fstype in FSCRYPT_FS and mount.root == "/":
            under = {m.mountpoint.rsplit("/", 1)[-1] for m in self.mounts if m.mountpoint != mount.mountpoint
                     and m.mountpoint.rsplit("/", 1)[0] == mount.mountpoint.rstrip("/")}
            fscrypt = _fscrypt_verdict(self.top_entries.get(mount.mountpoint, []), under)
            if fscrypt is not None and (fscrypt.state == ENCRYPTED or verdict.state == PLAIN
                                        or fscrypt.state == UNKNOWN):
                verdict = Protection(fscrypt.state, fscrypt.how, verdict.disks)
        return verdict

    def device(self, mount: bd.Mount) -> bd.BlockDevice | None:
        if mount.fstype == "zfs":
            return None
        return (self.graph.by_majmin(mount.majmin) if not mount.majmin.startswith("0:") else None) or \
            self.graph.by_path(mount.source)

    def swap(self, swap: bd.Swap) -> Protection:
        if swap.type == "partition":
            device = self.graph.by_majmin(swap.majmin) if swap.majmin else self.graph.by_path(swap.name)
            if device is None:
                return Protection(UNKNOWN, f"device {swap.majmin or swap.name} is not among the block "
                                  "devices")
            return _judge_device(self.graph, device, self.provider)
        holder = bd.containing_mount(swap.name, self.mounts)
        device = self.graph.by_majmin(swap.majmin) if swap.majmin else None
        if device is None and holder is not None:
            device = self.graph.by_majmin(holder.majmin) or self.graph.by_path(holder.source)
        if device is None:
            return Protection(UNKNOWN, "the device holding the swap file is unknown")
        return _judge_device(self.graph, device, self.provider)


def judge_mounts(storage: Storage, excluded: list[str], findings: Findings) -> list[tuple[str, Protection]]:
    """(label, protection) of every file system on a local disk, once each; notes the others."""
    judged: list[tuple[str, Protection]] = []
    seen: set[str] = set()
    # Excluding a mount point excludes its file system, wherever else it is bind-mounted.
    excluded_filesystems = {_filesystem_key(m) for m in storage.mounts
                            if any(fnmatch.fnmatch(m.mountpoint, g) for g in excluded)}
    for mount in storage.mounts:
        kind = bd.mount_kind(mount)
        key = _filesystem_key(mount)
        if kind == "network":
            findings.note(f"not judged: {mount.mountpoint} ({mount.fstype} from {mount.source}): on another "
                          "machine, judged there")
        elif kind == "disk" and key in excluded_filesystems:
            findings.note(f"not judged: {mount.mountpoint} ({mount.source}): excluded by exclude_mounts")
        elif kind == "disk" and key not in seen:  # else a bind mount, or the same file system mounted twice
            seen.add(key)
            device = storage.device(mount)
            shown = mount.source if mount.source.startswith("/") or device is None else device.dev_path
            judged.append((f"{mount.mountpoint} on {shown} ({mount.fstype})", storage.mount(mount)))
    return judged


def evaluate(out: Outputs, params: Params) -> Result:
    evidence = ["mounts", "swaps", "lsblk", "sysfs", "crypttab", "fscrypt", "zfs"]
    try:
        mounts = bd.parse_mounts(out.require("mounts").stdout)
        swaps = bd.parse_swaps(out.require("swaps").stdout)
    except ValueError as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    lsblk, sysfs = out["lsblk"], out.require("sysfs")
    graph, graph_problems = bd.device_graph(lsblk.stdout if lsblk.ok else None, sysfs.stdout)
    if not lsblk.ok:
        graph_problems.insert(0, lsblk.failure_reason())
    if not graph.devices:
        return result(Status.ERROR, "could not read the block devices: " + "; ".join(graph_problems),
                      graph_problems, evidence)
    crypttab = bd.parse_crypttab(parse_dump(out.require("crypttab").stdout)[0].get(CRYPTTAB, ""))
    fscrypt_text = out.require("fscrypt").stdout
    zfs_text = out["zfs"].stdout if out["zfs"].ok else ""
    storage = Storage(graph, mounts, read_top_entries(fscrypt_text), bd.zfs_properties(zfs_text), zfs_text,
                      [str(p) for p in params["provider_encrypted"]])

    findings = Findings()
    findings.note(f"block devices read from {graph.source}")
    for problem in graph_problems:
        findings.note(f"note: {problem}")
    if fscrypt_text.startswith("#no-lsattr"):
        findings.note("lsattr is not installed: fscrypt-encrypted directories cannot be seen")
    judged = judge_mounts(storage, [str(p) for p in params["exclude_mounts"]], findings)
    judged += [(f"swap {swap.name} ({swap.type})", storage.swap(swap)) for swap in swaps]
    for note in _crypttab_notes(crypttab, graph, mounts):
        findings.note(note)
    found_as = {PLAIN: findings.fail, UNKNOWN: findings.unknown, PROVIDER: findings.manual,
                ENCRYPTED: findings.note}
    for what, protection in judged:
        found_as[protection.state](f"{what}: {'NOT ENCRYPTED: ' if protection.state == PLAIN else ''}"
                                   f"{protection.how}")

    by_state = {state: [(w, v) for w, v in judged if v.state == state] for state in found_as}
    values = {"storage_checked": len(judged), "storage_unencrypted": len(by_state[PLAIN]),
              "storage_unknown": len(by_state[UNKNOWN]), "storage_provider": len(by_state[PROVIDER]),
              "swaps": len(swaps), "crypttab_entries": len(crypttab)}
    status = findings.status() if judged else Status.SKIP
    # The summary keeps its own grammar ("/ on /dev/vda (ext4) is not encrypted", "and 2 more").
    return result(status, _summary(status, by_state, judged), findings.details(), evidence, **values)


def _summary(status: Status, by_state: dict[str, list[tuple[str, Protection]]],
             judged: list[tuple[str, Protection]]) -> str:
    def listed(items: list[tuple[str, Protection]]) -> str:
        return "; ".join(w for w, _ in items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")

    if status is Status.FAIL:
        plain = by_state[PLAIN]
        # The usual reason (no encryption layer at all) goes without saying; a partial one not.
        reasons = [f" ({v.how})" for _, v in plain[:3] if v.how.startswith("fscrypt")]
        return f"{listed(plain)} {'is' if len(plain) == 1 else 'are'} not encrypted" + "".join(reasons)
    if status is Status.ERROR:
        unknown = by_state[UNKNOWN]
        return (f"could not tell whether {listed(unknown)} {'is' if len(unknown) == 1 else 'are'} encrypted: "
                f"{unknown[0][1].how}")
    if status is Status.SKIP:
        return ("no file system here is stored on a local disk (a container?): audit the machine that holds "
                "the disks")
    if status is Status.MANUAL:
        manual = by_state[PROVIDER]
        disks = ", ".join(dict.fromkeys(d for _, v in manual for d in v.disks))
        return (f"{listed(manual)} rel{'ies' if len(manual) == 1 else 'y'} on encryption by the cloud "
                f"provider ({disks}): attach the provider's volume-encryption setting for each volume "
                "(console screenshot or API output, e.g. `aws ec2 describe-volumes`, showing the volume id "
                "and that it is encrypted)")
    return (f"every file system and swap area on a disk is encrypted ({len(judged)}): "
            + "; ".join(f"{w.split(' (')[0]}: {v.how}" for w, v in judged[:3])
            + (" …" if len(judged) > 3 else ""))


def _crypttab_notes(entries: list[bd.CrypttabEntry], graph: bd.DeviceGraph,
                    mounts: list[bd.Mount]) -> list[str]:
    """crypttab entries, and whether the root volume's key file sits unencrypted on its disk."""
    notes = []
    root = next((m for m in reversed(mounts) if m.mountpoint == "/"), None)
    root_device = graph.by_majmin(root.majmin) if root else None
    root_chains = graph.chains(root_device.kname) if root_device else []
    root_crypt = {d.dm_name or d.kname for chain in root_chains for d in chain if d.is_crypt}
    root_disks = {chain[-1].kname for chain in root_chains}
    for entry in entries:
        key = ("a random key at each boot" if entry.random_key else f"key file {entry.keyfile}"
               if entry.has_keyfile else "a passphrase")
        notes.append(f"crypttab line {entry.line}: {entry.name} from {entry.device}, unlocked with {key}"
                     + (f" ({entry.options})" if entry.options else ""))
        if entry.name not in root_crypt or not entry.has_keyfile or entry.random_key:
            continue
        holder = bd.containing_mount(entry.keyfile, mounts)
        holder_device = graph.by_majmin(holder.majmin) if holder else None
        if holder_device is None:
            notes.append(f"the root volume {entry.name} is unlocked by key file {entry.keyfile}: keep "
                         "it (and any initramfs that embeds it) off unencrypted storage")
            continue
        chains = graph.chains(holder_device.kname)
        holder_encrypted = all(any(d.is_crypt for d in chain) for chain in chains)
        same_disk = bool({c[-1].kname for c in chains} & root_disks)
        if not holder_encrypted and same_disk:
            notes.append(f"the root volume {entry.name} is unlocked by key file {entry.keyfile}, which "
                         f"sits on unencrypted {holder.mountpoint if holder else '?'} of the same disk")
        else:
            notes.append(f"the root volume {entry.name} is unlocked by key file {entry.keyfile} "
                         f"on {holder.mountpoint if holder else '?'}")
    return notes

"""/sys/class/block read by SYSFS_SCRIPT into a device graph (dm uuids and names, slaves,
loop and zram backing devices), and the best graph from lsblk completed with sysfs.
"""

from __future__ import annotations

import re
from dataclasses import replace

from auditor.parsers.block_devices.lsblk import _flag, parse_lsblk
from auditor.parsers.block_devices.model import BlockDevice, DeviceGraph, decode_dev_number

# One tab-separated line per block device, read with the shell's `read` and `cd -P` (no fork per file
# or device): kname, maj:min, resolved sysfs path, dm uuid, dm name, slaves, vendor, model, rotational,
# backing device (loop: the device holding the backing file, as decimal st_dev; zram:
# the writeback device, as hex major:minor after "b"), backing path. All world-readable.
# Devices come and go while the loop runs (volumes attached and detached, LVM snapshots of a
# backup, loop devices): one removed before its `dev` is read is not listed, and a read of one
# removed later fails quietly (ENOENT or ENODEV), its field left empty.
SYSFS_SCRIPT = r"""
[ -d /sys/class/block ] || { echo '#absent'; exit 0; }  # no sysfs mounted (a container, a chroot)
for d in /sys/class/block/*; do
  majmin=; uuid=; name=; vendor=; model=; rota=; bdev=; bpath=; slaves=
  { read -r majmin <"$d/dev"; } 2>/dev/null; [ -n "$majmin" ] || continue
  real=; cd -P "$d" 2>/dev/null && real=$PWD
  { [ -r "$d/dm/uuid" ] && read -r uuid <"$d/dm/uuid"
    [ -r "$d/dm/name" ] && read -r name <"$d/dm/name"; } 2>/dev/null
  for s in "$d"/slaves/*; do [ -e "$s" ] && slaves="$slaves${slaves:+,}${s##*/}"; done
  { [ -r "$d/device/vendor" ] && read -r vendor <"$d/device/vendor"
    [ -r "$d/device/model" ] && read -r model <"$d/device/model"
    [ -r "$d/queue/rotational" ] && read -r rota <"$d/queue/rotational"; } 2>/dev/null
  if [ -r "$d/loop/backing_file" ]; then
    { read -r bpath <"$d/loop/backing_file"; } 2>/dev/null
    bdev=$(stat -c %d "$bpath" 2>/dev/null)
  elif [ -r "$d/backing_dev" ]; then
    { read -r bpath <"$d/backing_dev"; } 2>/dev/null
    [ "$bpath" = none ] && bpath=
    [ -n "$bpath" ] && bdev=b$(stat -L -c %t:%T "$bpath" 2>/dev/null)
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${d##*/}" "$majmin" "$real" "$uuid" "$name" \
    "$slaves" "$vendor" "$model" "$rota" "$bdev" "$bpath"
done
exit 0
"""


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


def parse_sysfs(text: str) -> DeviceGraph:
    """The lines of SYSFS_SCRIPT. Raises ValueError on a line that is not one. A row without
    maj:min, a device removed as the probe read it (probes before the script skipped such
    devices printed them so), is left out."""
    graph = DeviceGraph(source="sysfs")
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) == 11 and not fields[1]:
            continue
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


# --------------------------------------------------------------------------
# lsblk completed with sysfs
# --------------------------------------------------------------------------


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
        if text.strip() == "#absent":
            problems.append("lsblk is not installed" if name == "lsblk" else "/sys/class/block is missing")
            continue
        try:
            graphs.append(parse(text))
        except ValueError as exc:
            problems.append(str(exc))
    if not graphs and lsblk_text is not None and sysfs_text is not None:
        return DeviceGraph(), problems + ["lsblk and /sys/class/block both unavailable"]
    if not any(g.devices for g in graphs):
        return DeviceGraph(), problems + ["neither lsblk nor sysfs lists any block device"]
    graph = graphs[0]
    for other in graphs[1:]:
        graph = merge(graph, other)
    return graph, problems

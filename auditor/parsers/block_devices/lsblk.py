"""`lsblk -J` (LSBLK_SCRIPT, with a fallback for util-linux before 2.33) read into a device
graph.
"""

from __future__ import annotations

import json
from typing import Any

from auditor.parsers.block_devices.model import BlockDevice, DeviceGraph

# Newer columns first; util-linux before 2.33 lacks PATH and SUBSYSTEMS, so fall back.
LSBLK_SCRIPT = r"""
command -v lsblk >/dev/null 2>&1 || { echo '#absent'; exit 0; }
lsblk -J -b -o NAME,KNAME,PATH,MAJ:MIN,TYPE,FSTYPE,TRAN,ROTA,MODEL,VENDOR,SERIAL,SUBSYSTEMS 2>/dev/null \
  || lsblk -J -b -o NAME,KNAME,MAJ:MIN,TYPE,FSTYPE,TRAN,ROTA,MODEL,VENDOR,SERIAL
"""


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

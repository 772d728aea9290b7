"""Where an audit's hosts come from: auditor's inventory.yaml, an Ansible inventory, or -t targets
on the command line. Every source builds the same `auditor.inventory.Inventory` records."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from auditor import inventory
from auditor.check import Check
from auditor.errors import UsageError, warn
from auditor.inputs import ansible, targets
from auditor.yamlfile import read_utf8

FORMATS = ("auto", "auditor", "ansible")


def load_inventory(path: Path, checks: Mapping[str, Check], fmt: str = "auto",
                   given: targets.Targets | None = None) -> inventory.Inventory:
    """The hosts to audit: -t targets when given, else the inventory file in its format
    (auto: Ansible's INI, or YAML whose top level is groups, else auditor's own)."""
    if given is not None:
        return targets.inventory(given)
    if fmt not in FORMATS:
        raise UsageError(f"--inventory-format {fmt}: expected one of {', '.join(FORMATS)}")
    if fmt == "auto" and not path.is_dir():
        _, text = read_utf8(path, "file not found; pass one with -i/--inventory, name hosts with "
                            "-t ssh://user@host, or write a starter with `auditor init`",
                            inventory.InventoryError)
        fmt = "ansible" if ansible.looks_like_ansible(path, text) else "auditor"
    if fmt == "ansible" or path.is_dir():
        return ansible.load(path, checks, warn=warn)
    return inventory.load(path, checks)

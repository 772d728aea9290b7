"""The commented starter inventory `auditor init` writes: the hosts of ~/.ssh/config (Host
entries without wildcards) or of an Ansible inventory, else the local machine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from auditor.inventory import Inventory

SCHEMA_FILE = "inventory.schema.json"

_HEADER = """\
# yaml-language-server: $schema={schema}
# auditor inventory: which hosts to audit, how to reach them, and the parameters of the checks.
# Written by `auditor init` {origin}. Review it, then: auditor run
# Every key: README.md, "Inventory". Editors check this file against {schema}
# (`auditor schema inventory > {schema}` writes it again after an upgrade).

defaults:
  # user: audit                          # an unprivileged audit user on every host
  # become: sudo                         # probes that need root run through `sudo -n`
  # identity_file: ~/.ssh/audit_ed25519
  # known_hosts: ~/.ssh/known_hosts      # host keys are checked strictly
  vars:                                  # check parameters, per check id (`auditor list`)
    log_retention:
      min_days: 60                       # what your privacy policy promises

"""


def ssh_config_hosts(path: Path) -> list[str]:
    """The Host aliases of an ssh config that name one host (no *, ?, !)."""
    names: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return names
    for line in lines:
        words = line.strip().split()
        if len(words) > 1 and words[0].lower() == "host":
            for name in words[1:]:
                if not any(c in name for c in "*?!") and not name.startswith("-") and name not in names:
                    names.append(name)
    return names


def render(origin: str, ssh_hosts: Sequence[str] = (), ansible: Inventory | None = None) -> str:
    """The starter's text; its hosts from an Ansible inventory, ssh config aliases, or the local machine."""
    hosts: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    note = ""
    if ansible is not None:
        for host in ansible.hosts:
            entry: dict[str, Any] = {"transport": "local"} if host.transport == "local" else {
                "address": host.address}
            for key in ("port", "user", "identity_file", "become"):
                if getattr(host, key) is not None:
                    entry[key] = getattr(host, key)
            if host.vars:
                entry["vars"] = {k: dict(v) for k, v in host.vars.items()}
            hosts[host.name] = entry
        groups = {name: {"hosts": list(members)} for name, members in ansible.groups.items() if members}
    elif ssh_hosts:
        # The alias is the address: HostName, User, Port, IdentityFile and ProxyJump come from the ssh config
        hosts = {name: {"address": name} for name in ssh_hosts}
        note = "# Each address is a Host alias of your ssh config, which supplies HostName, User, Port,\n" \
               "# IdentityFile and ProxyJump.\n"
    else:
        hosts = {"this-machine": {"transport": "local"}}
        note = "# No ssh config hosts were found: this audits the machine auditor runs on. Add servers as\n" \
               "#   web1: {address: web1.example.com, user: audit, become: sudo}\n"
    text = _HEADER.format(schema=SCHEMA_FILE, origin=origin) + note
    text += yaml.safe_dump({"hosts": hosts}, sort_keys=False, allow_unicode=True, default_flow_style=False)
    if groups:
        text += "\n" + yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True)
    else:
        text += "\n# groups:\n#   web: {hosts: [web1, web2], vars: {tls: {min_days_valid: 21}}}\n"
    return text

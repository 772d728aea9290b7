"""Ansible inventories (`-i hosts.ini`, `-i inventory.yml`) as auditor inventories.

When `ansible-inventory` is on the PATH its `--list` output is read, so dynamic inventories,
plugins, vaulted variables and variable precedence work exactly as in Ansible. Without it the
static INI and YAML formats are read here, with the group_vars/ and host_vars/ folders beside
the file; not supported then: inventory scripts and plugins (`plugin:`), `!vault` values,
Jinja2 templates in values, inventory folders and several `-i`.

    ansible_host, ansible_port, ansible_user  -> address, port, user
    ansible_ssh_private_key_file               -> identity_file
    ansible_become (with become_method sudo)   -> become: sudo
    ansible_connection: local                  -> transport: local
    auditor_vars: {check_id: {param: value}}   -> the host's check parameters (auditor/params.py)

A host's groups are every group it belongs to, directly or through children, except `all`
and `ungrouped`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from auditor import yamlfile
from auditor.check import Check
from auditor.inputs.ansible_files import (
    NOT_SUPPORTED,
    AnsibleInventoryError,
    Tree,
    _boolean,
    _Static,
    expand,
    read_static,
)
from auditor.inventory import Host, Inventory
from auditor.params import NOT_A_CHECK_IN_VARS, per_check, typed_params

# Every public name this module had before it was split, for its callers.
__all__ = [
    "AUDITOR_VARS", "AnsibleInventoryError", "LIST_TIMEOUT_S", "NOT_SUPPORTED", "PROGRAM", "Tree",
    "USED_VARIABLES", "expand", "load", "looks_like_ansible", "read_static",
    "run_ansible_inventory", "to_inventory",
]


AUDITOR_VARS = "auditor_vars"
# The variables auditor reads; only these are ever decrypted
USED_VARIABLES = {"ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user",
                  "ansible_ssh_user", "ansible_ssh_private_key_file", "ansible_private_key_file",
                  "ansible_become", "ansible_sudo", "ansible_become_method", "ansible_connection",
                  AUDITOR_VARS}
PROGRAM = "ansible-inventory"
LIST_TIMEOUT_S = 120.0  # a dynamic inventory may ask a cloud API; a hung one must not hang the audit

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def looks_like_ansible(path: Path, text: str) -> bool:
    """An INI inventory, or YAML whose top level is groups (`all:`) rather than auditor's `hosts:`."""
    if path.suffix in (".ini", ".cfg") or path.is_dir():
        return True
    if path.suffix not in (".yml", ".yaml", ".json"):
        return bool(re.search(r"^\s*\[[^\]]+\]\s*$", text, re.M))  # an INI section header
    try:
        data = yamlfile.load12(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "hosts" not in data and any(
        isinstance(v, dict) and {"hosts", "children", "vars"} & set(v) for v in data.values()
    ) or (isinstance(data, dict) and "plugin" in data)


def load(path: Path, checks: Mapping[str, Check], program: str | None = None,
         warn: Any = None) -> Inventory:
    """Read an Ansible inventory: through ansible-inventory when found, else the static formats."""
    program = program or shutil.which(PROGRAM)
    if program:
        tree, digest = run_ansible_inventory(path, program)
    else:
        if warn is not None:
            warn(f"{PROGRAM} not found: reading {path} as a static INI/YAML inventory; {NOT_SUPPORTED}")
        tree, digest = read_static(path)
    return to_inventory(path, tree, digest, checks)


def run_ansible_inventory(path: Path, program: str) -> tuple[Tree, str]:
    """`ansible-inventory -i PATH --list`, as Ansible itself sees the inventory."""
    try:
        done = subprocess.run([program, "-i", str(path), "--list"], capture_output=True, text=True,
                              timeout=LIST_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
                                   "PYTHONWARNINGS": "ignore"})
    except subprocess.TimeoutExpired:
        raise AnsibleInventoryError(path, None, "", f"{program} --list did not finish in "
                                    f"{LIST_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise AnsibleInventoryError(path, None, "", f"cannot run {program}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "Warning" not in ln]
        reason = next((ln for ln in lines if "ERROR" in ln), lines[0] if lines else f"exit {done.returncode}")
        raise AnsibleInventoryError(path, None, "", f"{PROGRAM} refused it: {reason.strip()}")
    try:
        listed = json.loads(done.stdout)
    except ValueError:
        raise AnsibleInventoryError(path, None, "", f"{PROGRAM} --list printed no JSON") from None
    tree = Tree()
    hostvars = listed.get("_meta", {}).get("hostvars", {})
    vault = _Vault(path, Path(program).with_name("ansible-vault"))
    for host, variables in hostvars.items():
        for key in USED_VARIABLES & set(variables):  # only what auditor reads: never a password
            variables[key] = vault.open(variables[key], f"hosts.{host}.{key}")
    for group, body in listed.items():
        if group == "_meta" or not isinstance(body, dict):
            continue
        tree.group_hosts[group] = list(body.get("hosts", []))
        tree.children[group] = list(body.get("children", []))
        for host in tree.group_hosts[group]:
            tree.hosts.setdefault(host, dict(hostvars.get(host, {})))
    return tree, hashlib.sha256(done.stdout.encode()).hexdigest()


class _Vault:
    """Inline `!vault` values, which `ansible-inventory --list` prints still encrypted
    ({"__ansible_vault": ...}), opened by `ansible-vault decrypt` with Ansible's own password
    sources (ANSIBLE_VAULT_PASSWORD_FILE, ansible.cfg's vault_identity_list, ...)."""

    def __init__(self, path: Path, program: Path) -> None:
        self.path, self.program = path, program
        self.opened: dict[str, str] = {}

    def open(self, value: Any, where: str) -> Any:
        if isinstance(value, dict) and set(value) == {"__ansible_vault"}:
            return self._decrypt(str(value["__ansible_vault"]), where)
        if isinstance(value, dict):
            return {k: self.open(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.open(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def _decrypt(self, ciphertext: str, where: str) -> str:
        if ciphertext not in self.opened:
            program = str(self.program) if self.program.exists() else shutil.which("ansible-vault")
            if program is None:
                raise AnsibleInventoryError(self.path, None, where, "a vaulted value, and no ansible-vault "
                                            "on the PATH to open it")
            try:
                done = subprocess.run([program, "decrypt", "--output", "-"], input=ciphertext,
                                      capture_output=True, text=True, timeout=LIST_TIMEOUT_S, check=False,
                                      env={**os.environ, "PYTHONWARNINGS": "ignore"})
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise AnsibleInventoryError(self.path, None, where,
                                            f"cannot run ansible-vault: {exc}") from None
            if done.returncode != 0:
                reason = next((ln for ln in done.stderr.splitlines() if "ERROR" in ln), "it failed")
                raise AnsibleInventoryError(self.path, None, where, f"cannot open the vaulted value "
                                            f"({reason.strip()}); give the vault password as Ansible "
                                            "takes it, e.g. ANSIBLE_VAULT_PASSWORD_FILE")
            self.opened[ciphertext] = done.stdout
        return self.opened[ciphertext]


def to_inventory(path: Path, tree: Tree, digest: str, checks: Mapping[str, Check]) -> Inventory:
    """The Ansible hosts as auditor's Host records; auditor_vars through the one parameter validator."""
    named = sorted({*tree.group_hosts, *tree.children} - {"all", "ungrouped"})
    groups = {g: tuple(tree.members(g)) for g in named}
    hosts = []
    for name, variables in tree.hosts.items():
        where = f"hosts.{name}"
        for what, value in (("host name", name), ("ansible_host", variables.get("ansible_host")),
                            ("ansible_user", variables.get("ansible_user"))):
            # Names reach ssh's config lookup, terminals and file names
            if isinstance(value, str) and (value.startswith("-") or _UNSAFE.search(value)):
                raise AnsibleInventoryError(path, None, where, f"the {what} {value!r} starts with '-' or "
                                            "holds a control character; use letters, digits, dots and dashes")

        def get(*keys: str, variables: Mapping[str, Any] = variables) -> Any:
            return next((variables[k] for k in keys if variables.get(k) not in (None, "")), None)

        connection = str(get("ansible_connection") or "ssh")
        if connection not in ("ssh", "paramiko", "smart", "local"):
            raise AnsibleInventoryError(path, None, f"{where}.ansible_connection", f"{connection!r} is not "
                                        "supported; auditor reaches hosts over ssh or local")
        become = get("ansible_become", "ansible_sudo")
        becomes = become is not None and _boolean(become, f"{where}.ansible_become", path)
        method = str(get("ansible_become_method") or "sudo")
        if becomes and method != "sudo":
            raise AnsibleInventoryError(path, None, f"{where}.ansible_become_method",
                                        f"{method!r} is not supported; auditor becomes root with sudo")
        port = get("ansible_port", "ansible_ssh_port")
        try:
            port = int(port) if port is not None else None
        except (TypeError, ValueError):
            raise AnsibleInventoryError(path, None, f"{where}.ansible_port",
                                        f"expected an integer, got {port!r}") from None
        if port is not None and not 0 < port < 65536:
            raise AnsibleInventoryError(path, None, f"{where}.ansible_port", "must be between 1 and 65535")
        local = connection == "local"
        hosts.append(Host(
            name=name,
            address=str(get("ansible_host", "ansible_ssh_host") or ("localhost" if local else name)),
            transport="local" if local else "ssh",
            port=port,
            user=_text(get("ansible_user", "ansible_ssh_user")),
            identity_file=_text(get("ansible_ssh_private_key_file", "ansible_private_key_file")),
            become="sudo" if becomes else None,
            groups=tuple(g for g, members in groups.items() if name in members),
            vars=_auditor_vars(path, variables.get(AUDITOR_VARS), f"{where}.{AUDITOR_VARS}", checks),
        ))
    if not hosts:
        raise AnsibleInventoryError(path, None, "", "names no host")
    return Inventory(path, digest, tuple(hosts), groups)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _auditor_vars(path: Path, value: Any, where: str,
                  checks: Mapping[str, Check]) -> dict[str, dict[str, Any]]:
    """auditor_vars as checked parameters: the value becomes YAML nodes for auditor/params.py."""
    if value is None:
        return {}
    loader = _Static(path)
    node = yaml.representer.SafeRepresenter().represent_data(value)
    return {check.id: typed_params(check, value_node, key, loader)
            for check, value_node, key in per_check(loader, checks, node, where, NOT_A_CHECK_IN_VARS)}

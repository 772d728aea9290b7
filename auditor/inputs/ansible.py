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
import itertools
import json
import os
import re
import shutil
import string
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor import yamlfile
from auditor.check import Check
from auditor.inventory import Host, Inventory, InventoryError
from auditor.params import NOT_A_CHECK_IN_VARS, per_check, typed_params

AUDITOR_VARS = "auditor_vars"
# The variables auditor reads; only these are ever decrypted
USED_VARIABLES = {"ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user",
                  "ansible_ssh_user", "ansible_ssh_private_key_file", "ansible_private_key_file",
                  "ansible_become", "ansible_sudo", "ansible_become_method", "ansible_connection",
                  AUDITOR_VARS}
PROGRAM = "ansible-inventory"
LIST_TIMEOUT_S = 120.0  # a dynamic inventory may ask a cloud API; a hung one must not hang the audit
NOT_SUPPORTED = ("inventory scripts and plugins, !vault values, Jinja2 templates in values and "
                 "inventory folders need ansible-inventory on the PATH (pip install ansible-core)")
_TRUE = {"true", "yes", "on", "1", "y", "t"}  # Ansible's boolean(): its own files, its own rules
_FALSE = {"false", "no", "off", "0", "n", "f", ""}
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\]")
_GROUP_KEYS = ("hosts", "children", "vars")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SECTION = re.compile(r"^\[([^\]:]+)(?::(vars|children|hosts))?\]$")


class AnsibleInventoryError(InventoryError):
    """A mistake in an Ansible inventory, or ansible-inventory refusing it."""


@dataclass
class Tree:
    """An Ansible inventory as groups, memberships and variables, however it was read."""

    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> its merged variables
    group_hosts: dict[str, list[str]] = field(default_factory=dict)  # direct members
    children: dict[str, list[str]] = field(default_factory=dict)

    def members(self, group: str, seen: frozenset[str] = frozenset()) -> list[str]:
        """Hosts of a group, directly or through its children (a cycle is cut)."""
        found = list(self.group_hosts.get(group, []))
        for child in self.children.get(group, []):
            if child not in seen:
                found += [h for h in self.members(child, seen | {group}) if h not in found]
        return found


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


def read_static(path: Path) -> tuple[Tree, str]:
    """The static INI or YAML formats and group_vars/, host_vars/ beside the file, merged as
    Ansible does: all < parent groups < child groups (by depth, then name) < the host;
    within each, the inventory file < the *_vars folder."""
    if path.is_dir():
        raise AnsibleInventoryError(path, None, "", f"an inventory folder: {NOT_SUPPORTED}")
    data, text = yamlfile.read_utf8(path, "file not found; pass one with -i/--inventory",
                                    AnsibleInventoryError)
    reader = _Static(path)
    if path.suffix in (".yml", ".yaml", ".json"):
        reader.yaml(text)
    else:
        reader.ini(text)
    tree = reader.tree
    tree.group_hosts.setdefault("all", [])
    under_all = tree.children.setdefault("all", [])  # every group no other group holds
    under_all += [g for g in tree.group_hosts if g != "all" and g not in under_all
                  and not any(g in kids for kids in tree.children.values())]
    ungrouped = [h for h in tree.hosts if not any(h in m for g, m in tree.group_hosts.items() if g != "all")]
    tree.group_hosts["ungrouped"] = ungrouped + [h for h in tree.group_hosts.get("ungrouped", [])
                                                 if h not in ungrouped]
    depth = _depths(tree)
    digest = hashlib.sha256(data)
    for host in tree.hosts:
        merged: dict[str, Any] = {}
        own = sorted((g for g in tree.group_hosts if host in tree.members(g)),
                     key=lambda g: (depth.get(g, 0), g))
        for group in own:  # Ansible's order: every group's vars in the file, then group_vars/
            merged.update(reader.group_vars.get(group, {}))
        for group in own:
            merged.update(_folder_vars(path.parent / "group_vars", group, digest))
        merged.update(tree.hosts[host])
        merged.update(_folder_vars(path.parent / "host_vars", host, digest))
        tree.hosts[host] = merged
    return tree, digest.hexdigest()


def _depths(tree: Tree) -> dict[str, int]:
    depth = {"all": 0}
    frontier = ["all"]
    while frontier:
        group = frontier.pop()
        for child in tree.children.get(group, []):
            if depth.get(child, -1) < depth[group] + 1 and depth[group] < len(tree.children) + 1:
                depth[child] = depth[group] + 1
                frontier.append(child)
    return depth


def _folder_vars(folder: Path, name: str, digest: Any) -> dict[str, Any]:
    """group_vars/NAME(.yml|.yaml|.json) or the files of group_vars/NAME/, in name order."""
    files = [folder / f"{name}{ext}" for ext in ("", ".yml", ".yaml", ".json")]
    files = [f for f in files if f.is_file()]
    if (folder / name).is_dir():
        files += sorted(p for p in (folder / name).iterdir()
                        if p.is_file() and p.suffix in (".yml", ".yaml", ".json", ""))
    merged: dict[str, Any] = {}
    for file in files:
        data, text = yamlfile.read_utf8(file, error=AnsibleInventoryError)
        digest.update(data)
        value = _Static(file).value(text)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise AnsibleInventoryError(file, None, "", "expected a mapping of variables")
        merged.update(value)
    return merged


class _Static(yamlfile.Loader):
    error_type = AnsibleInventoryError

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.tree = Tree()
        self.group_vars: dict[str, dict[str, Any]] = {}

    def value(self, text: str) -> Any:
        node = self.compose(text)
        if node is None:
            return None
        if "!vault" in text:
            raise self.error(node, "", f"holds a !vault value; {NOT_SUPPORTED}")
        return self.plain(node)

    def add_host(self, group: str, name: str, variables: Mapping[str, Any]) -> None:
        self.tree.hosts.setdefault(name, {}).update(variables)
        members = self.tree.group_hosts.setdefault(group, [])
        if name not in members:
            members.append(name)

    def yaml(self, text: str) -> None:
        data = self.value(text)
        if not isinstance(data, dict):
            raise AnsibleInventoryError(self.path, None, "", "expected groups at the top level (all:)")
        if "plugin" in data:
            raise AnsibleInventoryError(self.path, None, "plugin", f"an inventory plugin; {NOT_SUPPORTED}")
        for group, body in data.items():
            self.yaml_group(str(group), body or {}, str(group))

    def yaml_group(self, group: str, body: Any, where: str) -> None:
        if not isinstance(body, dict):
            raise AnsibleInventoryError(self.path, None, where, "expected a mapping of hosts, children, vars")
        self.tree.group_hosts.setdefault(group, [])
        for key in body:
            if key not in _GROUP_KEYS:
                raise AnsibleInventoryError(self.path, None, f"{where}.{key}", "unknown key; expected "
                                            "hosts, children, vars" + yamlfile.suggest(str(key), _GROUP_KEYS))
        for pattern, variables in (body.get("hosts") or {}).items():
            for name in expand(str(pattern), self.path):
                self.add_host(group, name, variables or {})
        self.group_vars.setdefault(group, {}).update(body.get("vars") or {})
        for child, child_body in (body.get("children") or {}).items():
            kids = self.tree.children.setdefault(group, [])
            if child not in kids:
                kids.append(str(child))
            self.yaml_group(str(child), child_body or {}, f"{where}.children.{child}")

    def ini(self, text: str) -> None:
        group, kind = "ungrouped", "hosts"
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            section = _SECTION.match(line)
            if section:
                group, kind = section.group(1).strip(), section.group(2) or "hosts"
                self.tree.group_hosts.setdefault(group, [])
                continue
            if kind == "children":
                kids = self.tree.children.setdefault(group, [])
                if line not in kids:
                    kids.append(line)
                self.tree.group_hosts.setdefault(line, [])
            elif kind == "vars":
                name, sep, value = line.partition("=")
                if not sep:
                    raise AnsibleInventoryError(self.path, number, f"[{group}:vars]", "expected key=value")
                self.group_vars.setdefault(group, {})[name.strip()] = value.strip()  # strings, as in Ansible
            else:
                pattern, *pairs = _split_ini(line, self.path, number)
                variables = {}
                for pair in pairs:
                    name, sep, value = pair.partition("=")
                    if not sep:
                        raise AnsibleInventoryError(self.path, number, pattern,
                                                    f"expected key=value, got {pair!r}")
                    variables[name] = _ini_literal(value)
                for host in expand(pattern, self.path, number):
                    self.add_host(group, host, variables)


def _split_ini(line: str, path: Path, number: int) -> list[str]:
    import shlex

    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise AnsibleInventoryError(path, number, "", f"cannot split the line: {exc}") from None


def _ini_literal(value: str) -> Any:
    """A value on an INI host line, read as Ansible does: a Python literal where it is one."""
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def expand(pattern: str, path: Path, line: int | None = None) -> Iterator[str]:
    """`web[01:03].example.com` -> web01..web03 (Ansible's numeric and letter ranges, with a step)."""
    found = _RANGE.search(pattern)
    if not found:
        yield pattern
        return
    start, end, step = found.group(1), found.group(2), int(found.group(3) or 1)
    head, tail = pattern[:found.start()], pattern[found.end():]
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        items = [str(n).zfill(width) for n in range(int(start), int(end) + 1, step)]
    elif len(start) == len(end) == 1 and start in string.ascii_letters and end in string.ascii_letters:
        items = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    else:
        raise AnsibleInventoryError(path, line, pattern, "a host range is [01:09] or [a:f]")
    if len(items) > 100_000:
        raise AnsibleInventoryError(path, line, pattern, "a host range of more than 100000 hosts")
    for item, rest in itertools.product(items, [tail]):
        yield from expand(head + item + rest, path, line)


def _boolean(value: Any, where: str, path: Path) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in _TRUE:
        return True
    if str(value).strip().lower() in _FALSE:
        return False
    raise AnsibleInventoryError(path, None, where, f"expected a boolean, got {value!r}")


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

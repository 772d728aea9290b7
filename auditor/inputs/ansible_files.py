"""Ansible inventory files read without ansible-inventory: static INI and YAML, with the
group_vars/ and host_vars/ folders beside them, into the Tree both readers produce.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor import yamlfile
from auditor.inventory import InventoryError

NOT_SUPPORTED = ("inventory scripts and plugins, !vault values, Jinja2 templates in values and "
                 "inventory folders need ansible-inventory on the PATH (pip install ansible-core)")
_TRUE = {"true", "yes", "on", "1", "y", "t"}  # Ansible's boolean(): its own files, its own rules
_FALSE = {"false", "no", "off", "0", "n", "f", ""}
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\]")
_GROUP_KEYS = ("hosts", "children", "vars")

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

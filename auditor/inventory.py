"""Inventory: which hosts to audit, how to reach them, and the parameters of each check.

Loaded from YAML node by node so that every error names the file, the line and the key:

    inventory.yaml:14: hosts.web1.port: expected an integer, got 'twenty-two'

Variables (`vars`) are keyed by check id and hold that check's parameters; they merge
defaults < groups (in file order) < host, so the most specific setting wins.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor import yamlfile
from auditor.check import Check
from auditor.errors import InputError
from auditor.params import NOT_A_CHECK_IN_VARS, per_check, typed_params
from auditor.yamlfile import read_utf8

TRANSPORTS = ("ssh", "local")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # names reach terminals, CSV cells, file names
BECOME_METHODS = ("sudo",)


class InventoryError(InputError):
    """A mistake in the inventory, phrased for the person who made it."""


@dataclass(frozen=True)
class PolicyRef:
    """The inventory's `policy:` key: a shipped set's name or a claims file's path, or a claims block.

    auditor.policy.claims reads it (and names its mistakes); the inventory only keeps it.
    """

    name: str | None  # `policy: apifonica` or `policy: ../claims.yaml`, as written
    line: int
    inline: yamlfile.Block | None = None  # anything else: an inline claims block, read later


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    transport: str = "ssh"
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    become: str | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    line: int | None = None

    def params_for(self, check: Check) -> dict[str, Any]:
        return {**check.default_params(), **self.vars.get(check.id, {})}


@dataclass(frozen=True)
class Inventory:
    path: Path
    sha256: str
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]]
    policy: PolicyRef | None = None  # the `policy:` key; auditor.policy.claims reads it

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def select(self, hosts: Iterable[str] = (), groups: Iterable[str] = ()) -> list[Host]:
        """Hosts named by --host or belonging to --group; all hosts when neither is given."""
        wanted_hosts, wanted_groups = list(hosts), list(groups)
        for name in wanted_hosts:
            if self.host(name) is None:
                raise InventoryError(self.path, None, "", f"no host named {name!r} "
                                     f"(hosts: {', '.join(h.name for h in self.hosts)})")
        for name in wanted_groups:
            if name not in self.groups:
                raise InventoryError(self.path, None, "", f"no group named {name!r} "
                                     f"(groups: {', '.join(self.groups) or 'none'})")
        if not wanted_hosts and not wanted_groups:
            return list(self.hosts)
        return [
            h for h in self.hosts
            if h.name in wanted_hosts or any(g in wanted_groups for g in h.groups)
        ]


# Connection settings a host, a group's defaults or `defaults` may carry, with their types.
_CONNECTION_KEYS: dict[str, tuple[type, ...]] = {
    "address": (str,),
    "transport": (str,),
    "port": (int,),
    "user": (str,),
    "identity_file": (str,),
    "known_hosts": (str,),
    "become": (str,),
    "connect_timeout": (int, float),
    "command_timeout": (int, float),
}


class Loader(yamlfile.Loader):
    """Reads an inventory; every error is an InventoryError naming the file, the line and the key."""

    error_type = InventoryError

    def __init__(self, path: Path, checks: Mapping[str, Check]) -> None:
        super().__init__(path)
        self.checks = checks

    def connection(
        self, node: yaml.Node, key: str, allowed: set[str]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        settings: dict[str, Any] = {}
        vars_: dict[str, dict[str, Any]] = {}
        for name, key_node, value_node in self.mapping(node, key):
            where = f"{key}.{name}"
            if name == "vars":
                vars_ = self.vars(value_node, where)
            elif name in allowed:
                settings[name] = self.scalar(value_node, where, _CONNECTION_KEYS[name])
                if name == "identity_file" and not Path(settings[name]).expanduser().is_file():
                    raise self.error(value_node, where, f"{settings[name]} is not a file; give the path "
                                     "of the private key to log in with")
            else:
                raise self.error(key_node, where, f"unknown key; expected one of: "
                                 f"{', '.join(sorted(allowed | {'vars'}))}")
        if "transport" in settings and settings["transport"] not in TRANSPORTS:
            raise self.error(node, f"{key}.transport", f"must be one of {', '.join(TRANSPORTS)}")
        if "become" in settings and settings["become"] not in BECOME_METHODS:
            raise self.error(node, f"{key}.become", f"must be one of {', '.join(BECOME_METHODS)}")
        if "port" in settings and not 0 < settings["port"] < 65536:
            raise self.error(node, f"{key}.port", "must be between 1 and 65535")
        return settings, vars_

    def vars(self, node: yaml.Node, key: str) -> dict[str, dict[str, Any]]:
        return {check.id: typed_params(check, value_node, where, self)
                for check, value_node, where in per_check(self, self.checks, node, key, NOT_A_CHECK_IN_VARS)}

    def load(self, text: str) -> Inventory:
        root = self.compose(text)
        if root is None:
            raise InventoryError(self.path, None, "", "the inventory is empty; it needs a 'hosts:' mapping")
        sections = {name: value for name, _, value in self.mapping(root, "")}
        for name, key_node, _ in self.mapping(root, ""):
            if name not in ("defaults", "hosts", "groups", "policy"):
                raise self.error(key_node, name,
                                 "unknown top-level key; expected defaults, hosts, groups, policy")
        if "hosts" not in sections:
            raise InventoryError(self.path, None, "hosts", "missing; list at least one host")

        default_keys = set(_CONNECTION_KEYS) - {"address"}
        defaults: dict[str, Any] = {}
        default_vars: dict[str, dict[str, Any]] = {}
        if "defaults" in sections:
            defaults, default_vars = self.connection(sections["defaults"], "defaults", default_keys)

        raw_hosts: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], int]] = {}
        for name, key_node, value_node in self.mapping(sections["hosts"], "hosts"):
            if _CONTROL_CHARACTERS.search(name):
                raise self.error(key_node, "hosts", f"the host name {name!r} holds a control character; "
                                 "use letters, digits, dots and dashes")
            if yamlfile.is_null(value_node):
                value_node = yamlfile.empty_mapping(key_node)
            settings, host_vars = self.connection(value_node, f"hosts.{name}", set(_CONNECTION_KEYS))
            raw_hosts[name] = (settings, host_vars, key_node.start_mark.line + 1)
        if not raw_hosts:
            raise self.error(sections["hosts"], "hosts", "is empty; list at least one host")

        groups: dict[str, tuple[str, ...]] = {}
        group_vars: dict[str, dict[str, dict[str, Any]]] = {}
        for gname, _, gvalue_node in self.mapping(sections.get("groups") or yamlfile.empty_mapping(),
                                                  "groups"):
            members: list[str] = []
            for name, key_node, value_node in self.mapping(gvalue_node, f"groups.{gname}"):
                where = f"groups.{gname}.{name}"
                if name == "hosts":
                    members = self.scalar(value_node, where, (list,))
                    for member in members:
                        if member not in raw_hosts:
                            raise self.error(value_node, where,
                                             f"names unknown host {member!r}; define it under hosts:")
                elif name == "vars":
                    group_vars[gname] = self.vars(value_node, where)
                else:
                    raise self.error(key_node, where, "unknown key; expected hosts, vars")
            groups[gname] = tuple(members)

        hosts = []
        for name, (settings, host_vars, line) in raw_hosts.items():
            merged = {**defaults, **settings}
            transport = merged.get("transport", "ssh")
            if transport == "ssh" and "address" not in merged:
                raise InventoryError(self.path, line, f"hosts.{name}.address",
                                     "missing; an ssh host needs an address (IP or DNS name)")
            member_of = tuple(g for g, members in groups.items() if name in members)
            vars_: dict[str, dict[str, Any]] = {}
            for layer in (default_vars, *(group_vars.get(g, {}) for g in member_of), host_vars):
                for check_id, params in layer.items():
                    vars_[check_id] = {**vars_.get(check_id, {}), **params}
            hosts.append(Host(
                name=name,
                address=merged.get("address", "localhost" if transport == "local" else ""),
                transport=transport,
                port=merged.get("port"),
                user=merged.get("user"),
                identity_file=merged.get("identity_file"),
                known_hosts=merged.get("known_hosts"),
                become=merged.get("become"),
                connect_timeout=float(merged.get("connect_timeout", 10)),
                command_timeout=float(merged.get("command_timeout", 300)),
                groups=member_of,
                vars=vars_,
                line=line,
            ))
        sha = hashlib.sha256(text.encode()).hexdigest()
        return Inventory(self.path, sha, tuple(hosts), groups, self.policy_ref(sections.get("policy")))

    def policy_ref(self, node: yaml.Node | None) -> PolicyRef | None:
        if node is None:
            return None
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str" and node.value.strip():
            return PolicyRef(node.value, line)
        return PolicyRef(None, line, yamlfile.Block(self.path, node))  # claims.from_inventory judges it


def load(path: Path, checks: Mapping[str, Check]) -> Inventory:
    _, text = read_utf8(path, "file not found; pass one with -i/--inventory", InventoryError)
    return Loader(path, checks).load(text)

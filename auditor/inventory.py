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

from auditor.check import Check, Param
from auditor.errors import InputError

TRANSPORTS = ("ssh", "local")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # names reach terminals, CSV cells, file names
BECOME_METHODS = ("sudo",)


class InventoryError(InputError):
    """A mistake in the inventory, phrased for the person who made it."""

    def __init__(self, path: Path | str, line: int | None, key: str, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


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
    policy_node: yaml.Node | None = None  # the `policy:` key as written; auditor.policy.claims reads it

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
_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a mapping"}


class Loader:
    """Reads YAML node by node so that every error names the file, the line and the key."""

    def __init__(self, path: Path, checks: Mapping[str, Check]) -> None:
        self.path = path
        self.checks = checks

    def error(self, node: yaml.Node | None, key: str, message: str) -> InventoryError:
        line = node.start_mark.line + 1 if node is not None else None
        return InventoryError(self.path, line, key, message)

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.ScalarNode, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key, "expected a mapping (key: value lines)")
        items = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            if name in seen:
                raise self.error(key_node, f"{key}.{name}".lstrip("."), "appears twice")
            seen.add(name)
            items.append((name, key_node, value_node))
        return items

    def scalar(self, node: yaml.Node, key: str, types: tuple[type, ...]) -> Any:
        value = self.plain(node, key)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            want = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)
            if value is None:
                raise self.error(node, key, f"is empty; expected {want}")
            raise self.error(node, key, f"expected {want}, got {value!r}")
        return value

    def plain(self, node: yaml.Node, key: str = "") -> Any:
        """The node's Python value: None for an empty value, lists, dicts, dates as YAML types them."""
        try:
            # Constructing the node itself: re-serialising an empty scalar gives text YAML cannot parse back
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise self.error(node, key, f"cannot read the value: {exc.problem}") from None

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
        result: dict[str, dict[str, Any]] = {}
        for check_id, key_node, value_node in self.mapping(node, key):
            where = f"{key}.{check_id}"
            check = self.checks.get(check_id)
            if check is None:
                raise self.error(key_node, where, "not a check id; vars hold parameters per check "
                                 f"(checks: {', '.join(sorted(self.checks))})")
            result[check_id] = self.params(check, value_node, where)
        return result

    def params(self, check: Check, node: yaml.Node, key: str) -> dict[str, Any]:
        """One check's parameters (inventory vars, a policy claim's checks), typed as declared."""
        params: dict[str, Any] = {}
        for name, pkey_node, pvalue_node in self.mapping(node, key):
            param = check.param(name)
            if param is None:
                known = ", ".join(p.name for p in check.params) or "none"
                raise self.error(pkey_node, f"{key}.{name}",
                                 f"unknown parameter of {check.id} (parameters: {known})")
            types: tuple[type, ...] = (int, float) if param.type is float else (param.type,)
            value = self.scalar(pvalue_node, f"{key}.{name}", types)
            if param.minimum is not None and value < param.minimum:
                raise self.error(pvalue_node, f"{key}.{name}",
                                 f"must be at least {param.minimum}, got {value!r}")
            if param.type is list:
                self.list_items(pvalue_node, f"{key}.{name}", param)
            params[name] = value
        return params

    def list_items(self, node: yaml.Node, key: str, param: Param) -> None:
        """Items of a list parameter: plain values, or mappings of `param.item_keys`."""
        assert isinstance(node, yaml.SequenceNode)
        for index, item in enumerate(node.value):
            where = f"{key}[{index}]"
            if not isinstance(item, yaml.MappingNode):
                value = self.plain(item)
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    raise self.error(item, where, "expected a plain value"
                                     + (" or a mapping" if param.item_keys else ""))
                continue
            if not param.item_keys:
                raise self.error(item, where, "expected a plain value, not a mapping")
            seen: set[str] = set()
            for name, key_node, value_node in self.mapping(item, where):
                if name not in param.item_keys:
                    raise self.error(key_node, f"{where}.{name}",
                                     f"unknown key; expected one of: {', '.join(param.item_keys)}")
                wanted = param.item_types.get(name)
                value = self.scalar(value_node, f"{where}.{name}",
                                    (wanted,) if wanted else (str, int, float, bool))
                choices = param.item_choices.get(name)
                if choices and value not in choices:
                    raise self.error(value_node, f"{where}.{name}",
                                     f"must be one of {', '.join(choices)}, got {value!r}")
                seen.add(name)
            missing = [k for k in param.required_item_keys if k not in seen]
            if missing:
                raise self.error(item, where, f"missing {', '.join(missing)}")

    def compose(self, text: str) -> yaml.Node | None:
        """The YAML node tree, keeping line numbers; a syntax error names its line."""
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other controls)
            where = text.count("\n", 0, exc.position) + 1
            raise InventoryError(self.path, where, "", f"holds the character {chr(exc.character)!r}, which "
                                 "YAML does not allow; remove it (or write it as an escape in a quoted "
                                 "string)") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context_mark", None)
            if context is not None and context.line + 1 != line:
                problem += f" (in what starts on line {context.line + 1})"
            raise InventoryError(self.path, line, "", f"not valid YAML: {problem}") from None

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
            if value_node.tag.endswith(":null"):
                value_node = yaml.MappingNode("tag:yaml.org,2002:map", [], start_mark=key_node.start_mark)
            settings, host_vars = self.connection(value_node, f"hosts.{name}", set(_CONNECTION_KEYS))
            raw_hosts[name] = (settings, host_vars, key_node.start_mark.line + 1)
        if not raw_hosts:
            raise self.error(sections["hosts"], "hosts", "is empty; list at least one host")

        groups: dict[str, tuple[str, ...]] = {}
        group_vars: dict[str, dict[str, dict[str, Any]]] = {}
        for gname, _, gvalue_node in self.mapping(sections.get("groups") or
                                                           yaml.MappingNode("tag:yaml.org,2002:map", []),
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
        return Inventory(self.path, sha, tuple(hosts), groups, sections.get("policy"))


def read_utf8(path: Path, missing: str = "file not found") -> tuple[bytes, str]:
    """A YAML file's bytes and text; a byte that is not UTF-8 is named with its line and the remedy."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InventoryError(path, None, "", missing) from None
    except OSError as exc:
        raise InventoryError(path, None, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(path, line, "", f"byte 0x{data[exc.start]:02x} is not UTF-8 text; save the file "
                             "as UTF-8 (e.g. `iconv -f latin1 -t utf-8 old.yaml > new.yaml`)") from None


def load(path: Path, checks: Mapping[str, Check]) -> Inventory:
    _, text = read_utf8(path, "file not found; pass one with -i/--inventory")
    return Loader(path, checks).load(text)

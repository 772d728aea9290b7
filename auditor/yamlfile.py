"""Reading a YAML input file node by node, so that every mistake names the file, the line and the key.

    inventory.yaml:14: hosts.web1.port: expected an integer, got 'twenty-two'

Inventories, claims files and waivers files all read through a `Loader`; each names the error
it raises (`InventoryError`, `ClaimsError`, `WaiversError`, all `InputError`s).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from auditor.errors import InputError

TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              list: "a list", dict: "a mapping"}


def empty_mapping(node: yaml.Node | None = None) -> yaml.MappingNode:
    """A `{}` node (for a key written with no value), placed where `node` is."""
    return yaml.MappingNode("tag:yaml.org,2002:map", [], start_mark=node.start_mark if node else None)


def is_null(node: yaml.Node) -> bool:
    return str(node.tag).endswith(":null")


def read_utf8(path: Path, missing: str = "file not found",
              error: type[InputError] = InputError) -> tuple[bytes, str]:
    """A YAML file's bytes and text; a byte that is not UTF-8 is named with its line and the remedy."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(path, None, "", missing) from None
    except OSError as exc:
        raise error(path, None, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(path, line, "", f"byte 0x{data[exc.start]:02x} is not UTF-8 text; save the file "
                    "as UTF-8 (e.g. `iconv -f latin1 -t utf-8 old.yaml > new.yaml`)") from None


class Loader:
    """Reads one file's YAML node by node; every error is a `self.error_type` naming file, line and key."""

    error_type: ClassVar[type[InputError]] = InputError

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, key: str, message: str) -> InputError:
        line = node.start_mark.line + 1 if node is not None and node.start_mark is not None else None
        return self.error_type(self.path, line, key, message)

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.ScalarNode, yaml.Node]]:
        """A mapping's (name, key node, value node) in file order; a name written twice is refused."""
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
        """The node's value when it is one of `types` (true/false is no integer); else an error."""
        value = self.plain(node, key)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            want = " or ".join(TYPE_WORDS.get(t, t.__name__) for t in types)
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

    def compose(self, text: str) -> yaml.Node | None:
        """The YAML node tree, keeping line numbers; a syntax error names its line."""
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other controls)
            where = text.count("\n", 0, exc.position) + 1
            raise self.error_type(self.path, where, "", f"holds the character {chr(exc.character)!r}, "
                                  "which YAML does not allow; remove it (or write it as an escape in a "
                                  "quoted string)") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context_mark", None)
            if context is not None and context.line + 1 != line:
                problem += f" (in what starts on line {context.line + 1})"
            raise self.error_type(self.path, line, "", f"not valid YAML: {problem}") from None

    def read(self, missing: str = "file not found") -> tuple[bytes, yaml.Node | None]:
        """The file's bytes and node tree (None when it holds no YAML document)."""
        data, text = read_utf8(self.path, missing, self.error_type)
        return data, self.compose(text)


@dataclass(frozen=True)
class Block:
    """A part of one file that another reader reads later (an inventory's inline claims block)."""

    path: Path
    node: yaml.Node

    def sha256(self) -> str:
        return hashlib.sha256(yaml.serialize(self.node).encode()).hexdigest()

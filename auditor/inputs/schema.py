"""JSON Schemas of the files people write (inventory, claims, waivers), generated from the same
declarations the readers use: each check's `Param`s, the inventory's connection keys, the
claims and waivers keys. Editors that speak the YAML language server complete and check a file
that starts with

    # yaml-language-server: $schema=inventory.schema.json

The readers stay the judges (file:line: key: what to do); a schema is the editor's early warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor import inventory
from auditor.check import Check, Param

KINDS = ("inventory", "claims", "waivers")
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
_PLAIN = {"type": ["string", "number"]}


def param_schema(param: Param) -> dict[str, Any]:
    """One parameter as the validator in auditor/params.py accepts it."""
    schema: dict[str, Any] = {"description": param.doc} if param.doc else {}
    schema["type"] = ["integer", "number"] if param.type is float else _JSON_TYPES.get(param.type, "string")
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.type is list:
        item: dict[str, Any] = dict(_PLAIN)
        if param.item_keys:
            mapping = {
                "type": "object",
                "additionalProperties": False,
                "required": list(param.required_item_keys),
                "properties": {key: _item_key(param, key) for key in param.item_keys},
            }
            item = {"anyOf": [dict(_PLAIN), mapping]}
        schema["items"] = item
    return schema


def _item_key(param: Param, key: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _JSON_TYPES[param.item_types[key]]} if key in param.item_types else {
        "type": ["string", "number", "boolean"]}
    if key in param.item_choices:
        schema["enum"] = list(param.item_choices[key])
    return schema


def check_params(checks: Mapping[str, Check]) -> dict[str, Any]:
    """`{check_id: {param: value}}`, as inventory vars and a claim's checks: hold them."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            check.id: {
                "description": check.title,
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {p.name: param_schema(p) for p in check.params},
            }
            for check in sorted(checks.values(), key=lambda c: c.id)
        },
    }


def _connection(keys: set[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key in sorted(keys):
        types = inventory.CONNECTION_KEYS[key]
        properties[key] = {"type": sorted({_JSON_TYPES[t] for t in types})}
    properties["transport"] = {"enum": list(inventory.TRANSPORTS)}
    properties["become"] = {"enum": list(inventory.BECOME_METHODS)}
    properties["port"] = {"type": "integer", "minimum": 1, "maximum": 65535}
    properties = {k: v for k, v in properties.items() if k in keys}
    properties["vars"] = {"$ref": "#/$defs/vars"}
    return {"type": ["object", "null"], "additionalProperties": False, "properties": properties}


def claims_schema(checks: Mapping[str, Check], inline: bool = False) -> dict[str, Any]:
    from auditor.policy import claims  # the claims keys live with their reader

    claim = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "quote"],
        "properties": {
            "id": {"type": "string", "pattern": claims.KEBAB.pattern},
            "quote": {"type": "string", "minLength": 1},
            "gloss": {"type": "string"}, "source": {"type": "string"}, "manual": {"type": "string"},
            "checks": {"$ref": "#/$defs/vars"},
            "applies_to": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "controls": {"type": "array", "items": {"type": "string"}},
        },
    }
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["policy", "claims"],
        "properties": {
            "format": {"const": claims.FORMAT},
            "policy": {
                "type": "object", "additionalProperties": False, "required": ["id", "title"],
                "properties": {"id": {"type": "string", "pattern": claims.KEBAB.pattern},
                               "title": {"type": "string", "minLength": 1},
                               "document": {"type": "string"},
                               "language": {"type": "string", "pattern": claims.LANGUAGE_TAG.pattern}},
            },
            "claims": {"type": "array", "minItems": 1, "items": claim},
        },
    }
    if not inline:
        schema = {"$schema": _DRAFT, "title": "auditor claims file", **schema,
                  "$defs": {"vars": check_params(checks)}}
    return schema


def inventory_schema(checks: Mapping[str, Check]) -> dict[str, Any]:
    keys = set(inventory.CONNECTION_KEYS)
    return {
        "$schema": _DRAFT,
        "title": "auditor inventory",
        "type": "object",
        "additionalProperties": False,
        "required": ["hosts"],
        "properties": {
            "defaults": _connection(keys - {"address"}),
            "hosts": {"type": "object", "minProperties": 1, "additionalProperties": _connection(keys)},
            "groups": {"type": ["object", "null"], "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {"hosts": {"type": "array", "items": {"type": "string"}},
                               "vars": {"$ref": "#/$defs/vars"}}}},
            "policy": {"anyOf": [{"type": "string", "minLength": 1}, claims_schema(checks, inline=True)]},
        },
        "$defs": {"vars": check_params(checks)},
    }


def waivers_schema(checks: Mapping[str, Check]) -> dict[str, Any]:
    hosts = {"type": "string", "minLength": 1}
    return {
        "$schema": _DRAFT,
        "title": "auditor waivers file",
        "type": "object",
        "additionalProperties": False,
        "required": ["waivers"],
        "properties": {"waivers": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["check", "hosts", "justification", "approver", "expires"],
            "properties": {
                "check": {"enum": sorted(checks)},
                "hosts": {"anyOf": [hosts, {"type": "array", "minItems": 1, "items": hosts}]},
                "justification": {"type": "string", "minLength": 1},
                "approver": {"type": "string", "minLength": 1},
                "expires": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "run": {"type": "boolean"},
            },
        }}},
    }


def schema(kind: str, checks: Mapping[str, Check]) -> dict[str, Any]:
    return {"inventory": inventory_schema, "claims": claims_schema, "waivers": waivers_schema}[kind](checks)

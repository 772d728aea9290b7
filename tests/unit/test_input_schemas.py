"""`auditor schema inventory|claims|waivers`: JSON Schemas generated from the declarations the
readers use; the shipped inventory, claims sets and the README's examples validate against them,
and a mistake the reader refuses is refused by the schema too."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from auditor import yamlfile
from auditor.check import Param
from auditor.engine import registry
from auditor.inputs import schema
from tests.conftest import REPO, run_cli

CHECKS = registry.load().checks


def generated(kind: str) -> dict:
    result = run_cli("schema", kind)
    assert result.rc == 0, result.stderr
    found = result.json()
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def readme_blocks(top_key: str) -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if re.search(rf"^{top_key}:", b, re.M)]


def test_the_shipped_inventory_and_the_readme_inventory_validate():
    # Given the inventory schema
    validator = jsonschema.Draft202012Validator(generated("inventory"))
    # When the shipped inventory.yaml and the README's inventory examples are validated
    documents = [(REPO / "inventory.yaml").read_text(encoding="utf-8"), *readme_blocks("hosts")]
    assert len(documents) >= 2
    # Then none has an error
    for text in documents:
        assert not list(validator.iter_errors(yamlfile.load12(text))), text


def test_every_shipped_claims_set_and_the_readme_claims_validate():
    validator = jsonschema.Draft202012Validator(generated("claims"))
    paths = sorted((REPO / "auditor/policy/sets").glob("*.yaml"))
    documents = [p.read_text(encoding="utf-8") for p in paths] + readme_blocks("claims")
    assert len(paths) >= 5
    for text in documents:
        errors = [e.message for e in validator.iter_errors(yamlfile.load12(text))]
        assert not errors, errors[:3]


def test_the_readme_waivers_validate():
    validator = jsonschema.Draft202012Validator(generated("waivers"))
    blocks = readme_blocks("waivers")
    assert blocks
    for text in blocks:
        assert not list(validator.iter_errors(yamlfile.load12(text)))


@pytest.mark.parametrize(("text", "kind"), [
    ("hosts:\n  web1: {address: w, prot: 22}\n", "inventory"),
    ("hosts:\n  web1: {transport: local, vars: {log_retention: {min_days: 0}}}\n", "inventory"),
    ("hosts:\n  web1: {transport: local, vars: {nosuch: {}}}\n", "inventory"),
    ("hosts:\n  web1: {address: w, become: yes}\n", "inventory"),
    ("waivers:\n  - {check: nosuch, hosts: [a], justification: j, approver: a, expires: 2026-01-01}\n",
     "waivers"),
])
def test_what_the_reader_refuses_the_schema_refuses(text, kind):
    # Given a file with a mistake the reader refuses (unknown key, below minimum, unknown check, 1.1 bool)
    validator = jsonschema.Draft202012Validator(generated(kind))
    # When validated, Then the schema reports it too (the editor warns before the run does)
    assert list(validator.iter_errors(yamlfile.load12(text)))


def test_each_parameter_type_maps_to_the_json_type_the_validator_accepts():
    # Given parameters of every declared kind
    item = Param("sources", list, [], "where", item_keys=("kind", "path"), required_item_keys=("kind",),
                 item_types={"path": str}, item_choices={"kind": ("file", "db")})
    # When turned into schemas
    # Then numbers keep their minimum, floats take integers, lists take plain or mapping items
    assert schema.param_schema(Param("days", int, 1, "d", minimum=1)) == {
        "description": "d", "type": "integer", "minimum": 1}
    assert schema.param_schema(Param("ratio", float, 0.5, ""))["type"] == ["integer", "number"]
    assert schema.param_schema(Param("on", bool, True, ""))["type"] == "boolean"
    mapping = schema.param_schema(item)["items"]["anyOf"][1]
    assert mapping["required"] == ["kind"] and mapping["properties"]["kind"]["enum"] == ["file", "db"]
    # And every built-in check's parameters appear in the inventory schema's vars
    vars_ = schema.inventory_schema(CHECKS)["$defs"]["vars"]["properties"]
    assert set(vars_) == set(CHECKS)
    for check in CHECKS.values():
        assert set(vars_[check.id]["properties"]) == {p.name for p in check.params}
    json.dumps(schema.schema("claims", CHECKS))  # serialisable as printed

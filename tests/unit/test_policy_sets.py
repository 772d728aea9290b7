"""Every shipped claims set (auditor/policy/sets/*.yaml) loads against the real check registry.

Loading is the full validation: known check ids, known parameters of the right types, no two
claims giving one check different values for the same hosts, Annex A controls that exist.
"""

from __future__ import annotations

import pytest

from auditor import inventory
from auditor.check import Check
from auditor.engine import registry
from auditor.policy import claims

CHECKS: dict[str, Check] = registry.load().checks
SHIPPED = claims.shipped()


def test_the_five_seed_policies_ship():
    assert set(SHIPPED) == {"apifonica", "cloudpbx", "voipstudio", "vipower", "host-tracker"}


@pytest.mark.parametrize("set_id", sorted(SHIPPED))
def test_a_shipped_set_loads_and_every_claim_is_checked_or_has_a_manual_note(set_id, tmp_path):
    # Given a shipped set, When it is loaded against the checks this auditor has
    loaded = claims.load(SHIPPED[set_id], CHECKS)
    # Then it is the set its file name says, quoting the Polish document
    assert loaded.id == set_id and loaded.language == "pl" and loaded.document.endswith(".txt")
    # And every claim has its quote and an English gloss, and is checked or carries a manual note
    assert all(c.quote.strip() and c.gloss.strip() for c in loaded.claims)
    assert loaded.warnings == ()
    assert all(c.checks or c.manual for c in loaded.claims)
    # And it plans on a one-host inventory with no conflict between claims
    inv_path = tmp_path / "inv.yaml"
    inv_path.write_text("hosts:\n  here: {transport: local}\n")
    inv = inventory.load(inv_path, CHECKS)
    plan = claims.plan(loaded, inv, inv.hosts, CHECKS)
    assert {c.id for c in plan.checks} == {check_id for c in loaded.claims for check_id in c.checks}

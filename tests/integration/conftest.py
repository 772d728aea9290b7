"""The one opening of every end-to-end test, as a fixture: skip unless real sshd test hosts can run
here, make a fresh folder, and open a fleet in it that is closed when the block ends (also when a
fixture or test fails inside it):

    @pytest.fixture(scope="module")
    def run(sshd_fleet: FleetOpener) -> AuditRun:
        with sshd_fleet("backups", namespaces=True) as (fleet, tmp):
            fleet.start(HostSpec(...))
            return audit_fleet(fleet, tmp, "backups")
"""

from __future__ import annotations

import pytest

from tests.integration.fleetrun import FleetOpener, fleet_opener
from tests.integration.sshhosts import require_sshd_support


@pytest.fixture(scope="module")
def sshd_fleet(tmp_path_factory: pytest.TempPathFactory) -> FleetOpener:
    """Skips every test that uses it unless sshd test hosts can run here; module-scoped, so that
    module-scoped fixtures can use it (function-scoped ones can too)."""
    require_sshd_support()
    return fleet_opener(tmp_path_factory.mktemp)

"""The nginx test servers' ports: one NginxSites asks for two per site at once."""

from __future__ import annotations

from tests.integration.tlsservers import free_ports


def test_the_ports_asked_for_at_once_are_distinct_and_free():
    # Given 50 draws of 64 ports (one at a time, about 1 draw in 7 of this size had a pair)
    for _ in range(50):
        ports = free_ports(64)
        # Then no two are the same
        assert len(set(ports)) == 64
    assert free_ports(0) == []

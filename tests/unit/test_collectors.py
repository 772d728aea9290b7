"""Probes run from the auditor (collectors) go through the same engine as shell probes."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace

import pytest

from auditor import collectors
from auditor.check import Check, Outputs, Param, Params, Status, result
from auditor.collectors import CollectorContext
from auditor.engine import registry, runner
from auditor.inventory import Host
from auditor.probes import network, shell

SEEN: list[CollectorContext] = []


def echo_collector(context: CollectorContext) -> str:
    SEEN.append(context)
    return json.dumps({"host": context.host_name, "address": context.address,
                       "targets": context.params["targets"]})


def broken_collector(context: CollectorContext) -> str:
    raise ConnectionError("no route to 192.0.2.1")


def evaluate(out: Outputs, params: Params):
    seen = json.loads(out.require("outside").stdout)
    inside = out.require("inside").stdout.strip()
    return result(Status.PASS, f"{inside} / {seen['host']} / {seen['targets']}",
                  evidence=["outside", "inside"])


@pytest.fixture
def check(monkeypatch):
    monkeypatch.setitem(collectors.COLLECTORS, "echo", f"{__name__}:echo_collector")
    monkeypatch.setitem(collectors.COLLECTORS, "broken", f"{__name__}:broken_collector")
    SEEN.clear()
    return Check(id="mixed", title="shell and collector", claims=(), controls=(),
                 probes=(shell("inside", "echo from-the-host"), network("outside", "echo")),
                 params=(Param("targets", list, ["a"], "where to look"),), evaluate=evaluate)


def test_a_collector_probe_runs_beside_the_batch_and_is_stored_as_evidence(check, tmp_path):
    # Given a check with one shell probe and one collector probe, on a local host
    host = Host(name="here", address="127.0.0.1", transport="local", vars={"mixed": {"targets": ["b", "c"]}})
    # When the host is audited
    report = runner.audit_host(host, [check], tmp_path, runner.RunOptions())
    # Then evaluate saw both outputs, the collector got the host's address and parameters
    outcome = report.results[0]
    assert outcome.status is Status.PASS, outcome
    assert outcome.summary == "from-the-host / here / ['b', 'c']"
    assert [(c.address, dict(c.params)) for c in SEEN] == [("127.0.0.1", {"targets": ["b", "c"]})]
    # And the collector's output is evidence like any probe's, marked as run from the auditor
    refs = {e.probe: e for e in outcome.evidence}
    stored = json.loads((tmp_path / refs["mixed.outside"].path).read_text())
    assert stored["site"] == "auditor" and stored["rc"] == 0
    assert "collector 'echo'" in stored["command"]
    assert json.loads((tmp_path / refs["mixed.inside"].path).read_text())["site"] == "host"


def test_a_failing_collector_makes_the_check_an_error_not_a_crash(check, tmp_path):
    # Given the collector raises (as a network failure would)

    failing = replace(check, probes=(shell("inside", "echo x"), network("outside", "broken")))
    host = Host(name="here", address="127.0.0.1", transport="local")
    # When the host is audited
    report = runner.audit_host(host, [failing], tmp_path, runner.RunOptions())
    # Then the check is an error quoting the collector's reason, and the host is still reachable
    outcome = report.results[0]
    assert outcome.status is Status.ERROR
    assert "collector broken failed: ConnectionError: no route to 192.0.2.1" in outcome.summary
    assert report.reachable


def test_the_registry_refuses_a_check_naming_an_unknown_collector(tmp_path):
    # Given a plug-in check whose network probe names a collector the engine does not have
    (tmp_path / "bad.py").write_text(textwrap.dedent('''
        """A check with a typo in its collector."""
        from auditor.check import Check, Status, result
        from auditor.probes import network
        CHECK = Check(id="typo", title="t", claims=(), controls=(), probes=(network("x", "tsl"),))
        def evaluate(out, params):
            return result(Status.PASS, "never")
    '''))
    # When the registry loads it
    loaded = registry.load([tmp_path], plugins=False)
    # Then it is named with the reason and not loaded
    assert "typo" not in loaded.checks
    assert any("names no known collector ('tsl'" in str(e) for e in loaded.errors), loaded.errors

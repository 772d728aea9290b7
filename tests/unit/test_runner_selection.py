"""The runner narrows checks per host on request, and no check may waive itself."""

from pathlib import Path

from auditor import inventory
from auditor.check import Status
from auditor.engine import registry, runner

CHECKS = '''
"""Echoes a word on the host, then returns the status the module is named after."""
from auditor.check import Check, Status, result
from auditor.probes import shell

CHECK = Check(id="{name}", title="{name}", claims=("x",), controls=("A.1",),
              probes=(shell("word", "echo {name}"),))

def evaluate(out, params):
    return result(Status("{status}"), out.require("word").stdout.strip(), evidence=["word"])
'''


def load(tmp_path: Path) -> tuple[registry.Registry, list[inventory.Host]]:
    checks_dir = tmp_path / "checks"
    checks_dir.mkdir()
    for name, status in (("says_pass", "pass"), ("says_waived", "waived")):
        (checks_dir / f"{name}.py").write_text(CHECKS.replace("{name}", name).replace("{status}", status))
    loaded = registry.load([checks_dir])
    inv_file = tmp_path / "inv.yaml"
    inv_file.write_text("hosts:\n  one: {transport: local}\n  two: {transport: local}\n")
    return loaded, inventory.load(inv_file, loaded.checks).hosts


def test_checks_for_runs_only_the_checks_chosen_for_each_host(tmp_path):
    # Given two local hosts and a choice that gives host "two" one check fewer
    loaded, hosts = load(tmp_path)
    every = [loaded.checks["says_pass"], loaded.checks["says_waived"]]
    (tmp_path / "run").mkdir()

    # When the runner is told to narrow the checks per host
    reports, complete = runner.run(hosts, every, tmp_path / "run", runner.RunOptions(),
                                   checks_for=lambda h: every if h.name == "one" else every[:1])

    # Then each host has exactly its own checks, and host two's evidence holds no probe of the other
    assert complete
    assert [[r.check_id for r in h.results] for h in reports] == [["says_pass", "says_waived"], ["says_pass"]]
    assert list((tmp_path / "run" / "evidence" / "one").glob("says_waived.*"))
    assert not list((tmp_path / "run" / "evidence" / "two").glob("says_waived.*"))


def test_a_check_that_returns_waived_is_an_error(tmp_path):
    # Given a check whose evaluate() claims the result is waived
    loaded, hosts = load(tmp_path)
    (tmp_path / "run").mkdir()

    # When it runs
    reports, _ = runner.run(hosts[:1], [loaded.checks["says_waived"]], tmp_path / "run", runner.RunOptions())

    # Then the result is an error naming the misuse: only an approved waiver may waive
    result = reports[0].results[0]
    assert result.status is Status.ERROR
    assert "only a waiver may set" in result.summary

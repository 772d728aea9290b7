"""One family of user-facing errors (auditor/errors.py) and the kinds of host error (HostErrorKind)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from auditor import errors, inventory
from auditor.evidence import pack, signing
from auditor.policy import claims
from auditor.tracking import diff, history, notify, run, schedule, waivers
from auditor.transports import HostErrorKind
from auditor.transports.base import AuthenticationFailed, CommandTimeout, HostKeyError, HostUnreachable


@pytest.mark.parametrize(("error", "base"), [
    (inventory.InventoryError, errors.InputError),
    (claims.ClaimsError, errors.InputError),
    (waivers.WaiversError, errors.InputError),
    (pack.PackError, errors.InputError),
    (signing.SigningError, errors.InputError),
    (history.HistoryError, errors.InputError),
    (diff.DiffError, errors.InputError),
    (notify.NotifyError, errors.UsageError),
    (schedule.UnitError, errors.UsageError),
    (run.TrackingUsageError, errors.UsageError),
])
def test_every_user_facing_error_is_an_auditor_error_of_its_branch(error, base):
    # Given an error the command line prints as `auditor: error: ...` (exit 2)
    # Then it is an AuditorError: an input-file mistake or a usage mistake, never both
    assert issubclass(error, base) and issubclass(error, errors.AuditorError)
    other = errors.UsageError if base is errors.InputError else errors.InputError
    assert not issubclass(error, other)


def test_an_input_error_names_file_line_and_key():
    # Given the parts of an input mistake, When they are put together, Then they read file:line: key: message
    assert str(errors.InputError("inv.yaml", 14, "hosts.web1.port", "expected an integer")) == (
        "inv.yaml:14: hosts.web1.port: expected an integer")
    assert str(errors.InputError("inv.yaml", None, "hosts", "missing")) == "inv.yaml: hosts: missing"
    assert str(errors.InputError("inv.yaml", 3, "", "not valid YAML")) == "inv.yaml:3: not valid YAML"
    # And one argument is a whole message that names its own subject
    whole = pack.PackError("/tmp/x.tar.gz: not an evidence pack")
    assert str(whole) == "/tmp/x.tar.gz: not an evidence pack" and whole.path == "" and whole.line is None
    located = inventory.InventoryError("inv.yaml", 2, "hosts", "is empty")
    assert (located.path, located.line, located.key, located.message) == ("inv.yaml", 2, "hosts", "is empty")


def test_a_claims_or_waivers_mistake_is_not_an_inventory_error():
    assert not issubclass(claims.ClaimsError, inventory.InventoryError)
    assert not issubclass(waivers.WaiversError, inventory.InventoryError)


def test_the_yaml_reader_does_not_import_the_inventory():
    # Given a fresh interpreter, When auditor.yamlfile and auditor.params are imported,
    # Then the inventory is not (InventoryError builds on them, not the other way round)
    code = ("import sys, auditor.yamlfile, auditor.params, auditor.errors; "
            "print('auditor.inventory' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_host_error_kinds_keep_the_report_strings():
    # Given every kind a host error may have, Then report.json writes the strings it always wrote
    assert {k.value for k in HostErrorKind} == {"transport", "unreachable", "host-key", "authentication",
                                                "timeout", "internal", "interrupted",
                                                "key-file", "protocol", "output-limit"}
    assert json.dumps({"error_kind": HostErrorKind.HOST_KEY}) == '{"error_kind": "host-key"}'
    assert f"{HostErrorKind.TIMEOUT}" == "timeout" and HostErrorKind("unreachable") == "unreachable"
    # And each transport error carries its kind; only those before login mean the host was not reached
    kinds = [e.kind for e in (HostUnreachable, HostKeyError, AuthenticationFailed, CommandTimeout)]
    assert kinds == ["unreachable", "host-key", "authentication", "timeout"]
    assert all(isinstance(kind, HostErrorKind) for kind in kinds)
    assert {k for k in HostErrorKind if k.before_login} == {
        HostErrorKind.UNREACHABLE, HostErrorKind.HOST_KEY, HostErrorKind.AUTHENTICATION,
        HostErrorKind.KEY_FILE}

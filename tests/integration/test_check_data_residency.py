"""data_residency end to end: real sshd hosts whose cloud metadata service is a real HTTP server.

Each host is an OpenSSH server in network, mount and PID namespaces of its own
(sshhosts). Inside, 169.254.169.254 is a local address (on the host's own loopback, set
up by the harness's `setup`), and tests/checks/data_residency/metadata_server.py answers
there in the provider's documented format (AWS IMDSv2 with its token, Hetzner's metadata
YAML); /sys/class is replaced by planted DMI strings naming the provider. A host of its
own without any service plays bare metal. Nothing leaves the namespaces: a host has no
route but its veth to the test machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import data_residency
from tests.integration.fleetrun import assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import HostSpec, Service, require_namespace_support

pytestmark = pytest.mark.integration
SERVER = Path(__file__).resolve().parents[1] / "checks" / "data_residency" / "metadata_server.py"
METADATA_ADDRESS = ("ip", "addr", "add", "169.254.169.254/32", "dev", "lo")


def cloud_host(name: str, provider: str, location: str, vendor: str, product: str) -> HostSpec:
    dmi = {"/sys/class/dmi/id/sys_vendor": f"{vendor}\n", "/sys/class/dmi/id/product_name": f"{product}\n"}
    services = (Service("metadata", (sys.executable, str(SERVER), provider, location), ready_port=80),) \
        if provider else ()
    return HostSpec(name, files=dict(dmi), replace_dirs=("/sys/class",), network_namespace=True,
                    pid_namespace=True, setup=(METADATA_ADDRESS,), services=services)


@pytest.fixture(scope="module")
def run(tmp_path_factory, sshd_fleet):
    tmp = tmp_path_factory.mktemp("run")
    with sshd_fleet("fleet", namespaces=True) as (fleet, _):
        aws_eu = fleet.start(cloud_host("res-aws-eu", "aws", "eu-central-1", "Amazon EC2", "m5.large"))
        fleet.start(cloud_host("res-aws-us", "aws", "us-east-1", "Amazon EC2", "t3.micro"))
        fleet.start(cloud_host("res-hetzner", "hetzner", "fsn1-dc14", "Hetzner", "vServer"))
        fleet.start(cloud_host("res-bare", "", "", "Dell Inc.", "PowerEdge R640"))
        hosts = fleet_hosts(fleet)
        hosts["res-aws-eu"]["vars"] = {"data_residency": {"region": "eu-central-1"}}
        # The same hosts under more names: a declared region the metadata contradicts, a
        # bare-metal host with a declared region, and one whose declared region is outside.
        for name, same_as, region in (("res-aws-eu-declared-paris", "res-aws-eu", "fr-par"),
                                      ("res-bare-declared", "res-bare", "Frankfurt"),
                                      ("res-bare-declared-us", "res-bare", "us-west-2")):
            hosts[name] = {**hosts[same_as], "vars": {"data_residency": {"region": region}}}
        done = audit(write_inventory(tmp / "inventory.yaml", hosts), tmp / "reports", "data_residency")
        token_log = (aws_eu.log_path.parent / "metadata.log").read_text()
    return done.result, done.by_host, done.run_dir, token_log


def test_aws_imdsv2_region_in_the_eea_agreeing_with_the_declared_one_passes(run):
    # Given an EC2-looking host whose IMDSv2 says eu-central-1, declared eu-central-1
    _, by_host, _, _ = run
    # When the check runs over SSH
    aws = by_host["res-aws-eu"]
    # Then it passes, naming region and country
    assert aws["status"] == "pass", aws
    assert aws["summary"] == ("AWS region eu-central-1 is in Germany (DE), within the EEA, "
                              "as the inventory declares ('eu-central-1')")
    assert aws["values"]["country"] == "DE" and aws["values"]["cloud"] == "aws"


def test_hetzner_metadata_yaml_passes(run):
    hetzner = run[1]["res-hetzner"]
    assert hetzner["status"] == "pass", hetzner
    assert hetzner["summary"] == "Hetzner Cloud region fsn1-dc14 is in Germany (DE), within the EEA"


def test_a_region_outside_the_eea_fails(run):
    # Given an EC2-looking host in us-east-1
    result, by_host, _, _ = run
    us = by_host["res-aws-us"]
    # Then the check fails, and so does the run
    assert us["status"] == "fail", us
    assert us["summary"] == "AWS region us-east-1 is in the United States (US), outside the EEA"
    assert result.rc == 1


def test_metadata_contradicting_the_declared_region_fails(run):
    paris = run[1]["res-aws-eu-declared-paris"]
    assert paris["status"] == "fail", paris
    assert paris["summary"] == ("AWS region eu-central-1 is in Germany (DE), but the inventory declares "
                                "'fr-par' (France (FR))")


def test_bare_metal_is_manual_and_says_what_to_attach(run):
    # Given a host whose DMI names no cloud and that runs no metadata service
    _, by_host, _, _ = run
    # Then nothing is asked, and the verdict asks for the contract, quoting a declared region
    bare, declared = by_host["res-bare"], by_host["res-bare-declared"]
    assert bare["status"] == "manual", bare
    assert "attach the hosting contract or data-processing agreement naming the data-centre location" \
        in bare["summary"]
    assert declared["status"] == "manual", declared
    assert "the inventory declares 'Frankfurt' (Germany (DE))" in declared["summary"]
    outside = by_host["res-bare-declared-us"]
    assert outside["status"] == "fail", outside
    assert outside["summary"] == ("the declared region 'us-west-2' is in the United States (US), "
                                  "outside the EEA")


def test_the_imds_token_never_leaves_the_host(run):
    # Given the tokens the AWS stand-in issued during the run
    _, _, run_dir, token_log = run
    tokens = [line.split()[-1] for line in token_log.splitlines() if line.startswith("issued token ")]
    assert tokens
    # Then none is in any file of the run folder
    assert_nowhere_in(run_dir, *tokens)


# --------------------------------------------------------------------------
# The IMDSv2 token never appears on a command line (visible to every local user in /proc)
# --------------------------------------------------------------------------

NAMESPACE_SCRIPT = r"""
set -eu
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
mount -t tmpfs -o mode=755 tmpfs /sys/class
mkdir -p /sys/class/dmi/id
printf 'Amazon EC2\n' >/sys/class/dmi/id/sys_vendor
printf 'm5.large\n' >/sys/class/dmi/id/product_name
"$PYTHON" "$SERVER" aws eu-central-1 2>"$WORK/server.log" &
server=$!
trap 'kill $server' EXIT
for _ in $(seq 50); do
  "$PYTHON" -c 'import socket; socket.create_connection(("169.254.169.254", 80), 0.2)' 2>/dev/null && break
  sleep 0.1
done
PATH=$WORK/bin sh "$WORK/probe.sh" >"$WORK/probe.out"
"""


def test_the_imds_token_is_never_on_curls_command_line(tmp_path):
    # Given an AWS IMDSv2 stand-in in a network namespace of the test's own, DMI strings of an
    # EC2 instance, and a PATH without wget where curl is a wrapper that writes its arguments
    # to a file, then runs the real curl (wget cannot take headers from a pipe: the docstring
    # says so)
    require_namespace_support()
    client = "curl"
    real = shutil.which(client)
    if real is None:
        pytest.skip(f"{client} is not installed")
    other = "wget" if client == "curl" else "curl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for tool in Path(directory).iterdir():
            if tool.name not in (client, other) and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    spy = bin_dir / client
    spy.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >>"{tmp_path}/argv.log"\nexec {real} "$@"\n')
    spy.chmod(0o755)
    probe = data_residency.CHECK.probes[0]
    (tmp_path / "probe.sh").write_text(probe.render(data_residency.CHECK.default_params()))
    # When the check's probe runs there
    env = {**os.environ, "WORK": str(tmp_path), "PYTHON": sys.executable, "SERVER": str(SERVER)}
    namespaces = ["unshare", "--net", "--mount", "--propagation", "private"]
    done = subprocess.run([*namespaces, "sh", "-c", NAMESPACE_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    stdout = (tmp_path / "probe.out").read_text()
    # Then the token was issued and used (IMDSv2 answers nothing without it) ...
    assert f"client\t{client}" in stdout and "metadata\tregion\teu-central-1" in stdout, stdout
    tokens = [line.split()[-1] for line in (tmp_path / "server.log").read_text().splitlines()
              if line.startswith("issued token ")]
    assert tokens
    # ... and no command line the client ran with held it
    argv = (tmp_path / "argv.log").read_text()
    assert "169.254.169.254/latest/meta-data/placement/region" in argv
    assert all(token not in argv for token in tokens), argv

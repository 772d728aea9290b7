# shellcheck shell=bash
# Sourced by tests/checks/record_all.sh (uses $ONLY, $W, FAILED). Every case runs in a
# network namespace of its own (unshare --net: only a loopback, so nothing can reach this
# machine's network or a real metadata service) where 169.254.169.254 is a local address
# served by metadata_server.py in the provider's documented format, and in a mount
# namespace where /sys/class is a tmpfs holding the DMI strings of that provider's VMs.

RESIDENCY_SERVER=$(pwd)/tests/checks/data_residency/metadata_server.py
cat >"$W/residency-inner.sh" <<'INNER'
set -eu
provider=$1 location=$2 vendor=$3 product=$4; shift 4
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
mount -t tmpfs -o mode=755 tmpfs /sys/class
if [ -n "$vendor" ]; then
  mkdir -p /sys/class/dmi/id
  printf '%s\n' "$vendor" >/sys/class/dmi/id/sys_vendor
  printf '%s\n' "$product" >/sys/class/dmi/id/product_name
fi
pid=
if [ "$provider" != none ]; then
  python3 "$RESIDENCY_SERVER" "$provider" "$location" 2>/dev/null &
  pid=$!
  for _ in $(seq 50); do
    python3 -c 'import socket; socket.create_connection(("169.254.169.254", 80), 0.2).close()' 2>/dev/null && break
    sleep 0.1
  done
fi
rc=0
python3 tests/checks/record.py "$@" || rc=$?
[ -z "$pid" ] || kill "$pid"
exit $rc
INNER

# residency PROVIDER LOCATION VENDOR PRODUCT CASE RECORD-ARGS...: PROVIDER none runs no
# metadata service; an empty VENDOR plants no DMI strings at all.
residency() {
  local case=$5
  # shellcheck disable=SC2053
  [[ $case == $ONLY ]] || return 0
  echo "=== data_residency/$case"
  RESIDENCY_SERVER=$RESIDENCY_SERVER unshare --net --mount --propagation private -- \
    sh "$W/residency-inner.sh" "$1" "$2" "$3" "$4" data_residency "$case" "${@:6}" || FAILED+=("data_residency/$case")
}
NS="in a network namespace of its own (loopback only) where 169.254.169.254 is local"

residency aws eu-central-1 "Amazon EC2" "m5.large" pass_residency_aws_imdsv2 \
  --param region=eu-central-1 \
  --source "DMI sys_vendor 'Amazon EC2', product 'm5.large' (a Nitro instance's strings); $NS and served by metadata_server.py as AWS IMDSv2 (token from PUT /latest/api/token required) for region eu-central-1; declared region eu-central-1" \
  --expect-status pass --expect-summary "AWS region eu-central-1 is in Germany (DE), within the EEA, as the inventory declares ('eu-central-1')" \
  --expect-value country=DE --expect-value metadata_region=eu-central-1

residency hetzner fsn1-dc14 "Hetzner" "vServer" pass_residency_hetzner_yaml \
  --source "DMI sys_vendor 'Hetzner', product 'vServer' (Hetzner Cloud's strings); $NS and served as Hetzner's /hetzner/v1/metadata YAML document with availability-zone fsn1-dc14; no region declared" \
  --expect-status pass --expect-summary "Hetzner Cloud region fsn1-dc14 is in Germany (DE), within the EEA" \
  --expect-value cloud=hetzner

residency gcp europe-west4-b "Google" "Google Compute Engine" pass_residency_gcp_zone \
  --param region=NL \
  --source "DMI sys_vendor 'Google', product 'Google Compute Engine'; $NS and served as GCE's /computeMetadata/v1/instance/zone (Metadata-Flavor: Google required) answering projects/123456789012/zones/europe-west4-b; declared region NL" \
  --expect-status pass --expect-summary "Google Cloud region europe-west4-b is in the Netherlands (NL), within the EEA"

residency azure germanywestcentral "Microsoft Corporation" "Virtual Machine" pass_residency_azure_allowed_list \
  --param 'allowed_regions=[DE, AT]' \
  --source "DMI sys_vendor 'Microsoft Corporation', product 'Virtual Machine'; $NS and served as Azure IMDS compute/location (Metadata: true required) answering germanywestcentral; allowed_regions [DE, AT]" \
  --expect-status pass --expect-summary "Azure region germanywestcentral is in Germany (DE), within AT, DE"

residency aws us-east-1 "Amazon EC2" "t3.micro" fail_residency_aws_us_east \
  --source "DMI 'Amazon EC2' / 't3.micro'; $NS and served as AWS IMDSv2 for region us-east-1; no region declared" \
  --expect-status fail --expect-summary "AWS region us-east-1 is in the United States (US), outside the EEA" \
  --expect-value country=US

residency hetzner hel1-dc2 "Hetzner" "vServer" fail_residency_contradicts_declared \
  --param region=Frankfurt \
  --source "DMI 'Hetzner' / 'vServer'; $NS and served as Hetzner's metadata YAML with availability-zone hel1-dc2 (Helsinki); the inventory declares Frankfurt" \
  --expect-status fail --expect-summary "Hetzner Cloud region hel1-dc2 is in Finland (FI), but the inventory declares 'Frankfurt' (Germany (DE))"

residency none - "Dell Inc." "PowerEdge R640" fail_residency_declared_outside \
  --param region=us-east-1 \
  --source "DMI 'Dell Inc.' / 'PowerEdge R640' (bare metal: no metadata service is asked), $NS with nothing listening; the inventory declares us-east-1" \
  --expect-status fail --expect-summary "the declared region 'us-east-1' is in the United States (US), outside the EEA"

residency none - "Dell Inc." "PowerEdge R640" manual_residency_bare_metal \
  --source "DMI 'Dell Inc.' / 'PowerEdge R640' (bare metal), $NS with nothing listening; no region declared" \
  --expect-status manual --expect-summary "DMI names no cloud this check knows, so no metadata service was asked" \
  --expect-summary "attach the hosting contract or data-processing agreement"

residency none - "" "" manual_residency_declared_attestation \
  --param region=Frankfurt \
  --source "No /sys/class/dmi at all (as in a container), $NS with nothing listening; the inventory declares Frankfurt" \
  --expect-status manual --expect-summary "the inventory declares 'Frankfurt' (Germany (DE)): attach the hosting contract"

residency none - "Amazon EC2" "m5.large" manual_residency_metadata_unanswered \
  --source "DMI 'Amazon EC2' / 'm5.large', $NS but no metadata service listening (connection refused), as when IMDS is disabled on the instance" \
  --expect-status manual --expect-summary "AWS's metadata service did not answer with the region (client exit 7)"

residency openstack nova "OpenStack Foundation" "OpenStack Nova" manual_residency_openstack_nova \
  --source "DMI 'OpenStack Foundation' / 'OpenStack Nova'; $NS and served as OpenStack's meta_data.json with availability_zone nova (the default zone name, which names no place)" \
  --expect-status manual --expect-summary "OpenStack's metadata names availability zone 'nova', which names no place"

residency aws eu-central-1 "Amazon EC2" "m5.large" manual_residency_metadata_disabled \
  --param metadata=false --param region=DE \
  --source "As pass_residency_aws_imdsv2 (AWS IMDSv2 for eu-central-1 listening), judged with metadata=false and region DE: the service is not asked" \
  --expect-status manual --expect-summary "the metadata service was not asked (metadata: false); the inventory declares 'DE'"

residency none - "Dell Inc." "PowerEdge R640" error_residency_unknown_declared_region \
  --param region=mars-north-1 \
  --source "Bare-metal DMI as in manual_residency_bare_metal, the inventory declaring a region the table does not know (mars-north-1)" \
  --expect-status error --expect-summary "the declared region 'mars-north-1' is not in the table of cloud regions; set vars.data_residency.region"

residency aws 'eu-central-1 <b>x</b>' "Amazon EC2" "m5.large" garbled_residency_region_with_markup \
  --source "DMI 'Amazon EC2'; $NS and served as AWS IMDSv2 answering the region with markup after it ('eu-central-1 <b>x</b>'): the probe keeps only [A-Za-z0-9._-], and the result names no region in the table" \
  --expect-status error --expect-summary "AWS metadata: region 'eu-central-1bxb' is not in the table of cloud regions"

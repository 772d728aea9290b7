"""Data is stored only in the allowed regions (by default: the European Economic Area).

Reads: on the host, the DMI vendor strings (/sys/class/dmi/id: sys_vendor, product_name,
bios_vendor, bios_version, chassis_asset_tag) that name the cloud a virtual machine runs
in, and — only when they name one and `metadata` is true — asks that cloud's instance
metadata service at 169.254.169.254 for the machine's location, with curl (or GNU wget),
a 1 s connect and 2 s overall timeout (wget: 2 s per step, at most 3 s in all where
timeout(1) exists), never through a proxy:

- AWS (DMI "Amazon EC2", or a BIOS version naming amazon): an IMDSv2 token (PUT
  /latest/api/token; IMDSv1 if that is refused), then /latest/meta-data/placement/region.
  The token stays in a shell variable and reaches curl through stdin, never its command
  line (wget, used only where curl is missing, cannot read headers from a pipe: there the
  token is on wget's command line, visible in /proc for at most 3 s; any local user may
  ask IMDS for a token of their own anyway, unless a firewall rule reserves it for root).
  It never leaves the host.
- Google Cloud ("Google"): /computeMetadata/v1/instance/zone with `Metadata-Flavor: Google`.
- Azure ("Microsoft Corporation" / "Virtual Machine", or Azure's chassis asset tag):
  /metadata/instance/compute/location with `Metadata: true`.
- Hetzner Cloud ("Hetzner"): the /hetzner/v1/metadata YAML document's availability-zone.
- DigitalOcean ("DigitalOcean"): /metadata/v1/region.
- OpenStack, OVHcloud ("OpenStack Foundation", "OpenStack Nova", "OVH"):
  /openstack/latest/meta_data.json's availability_zone.

On a machine whose DMI names no cloud (bare metal, a hypervisor of your own, a container
without /sys/class/dmi) nothing is asked of the network.

Passes when: the metadata service names a region in an allowed country, and, when `region`
is declared, in the same country. Regions are mapped to countries by a table in this module
(AWS, Google Cloud, Azure, Hetzner, OVHcloud, DigitalOcean and Scaleway region ids, a few
data-centre cities); an ISO 3166 alpha-2 code (`UK` and `EL` are read as GB and GR) or a
country's English name (`Germany`) is taken as is. `region` is the location the inventory
declares, e.g. `eu-central-1`, `DE`, `fsn1`, `Frankfurt`; `allowed_regions` the countries
(codes, names, region names compared by country, or `EEA` / `EU` for all their states)
where data may be; the default is the 30 EEA states.

Fails when: the metadata region, or the declared region, is in a country outside
`allowed_regions`; or the metadata contradicts the declared region.

Error/Manual: `manual` when nothing on the host shows the location (no cloud named in DMI,
no answer from the metadata service, `metadata: false`, an OpenStack zone such as `nova`
that names no place): attach the hosting contract or data-processing agreement naming the
data-centre location; a declared `region` is quoted in the summary as the attestation to
back. `error` for a declared region, an allowed region or a metadata region that the table
does not know (set `region` to the country's ISO code, e.g. `DE`; correct the
`allowed_regions` entry), or an empty `allowed_regions`.

Secrets: only the DMI strings, which cloud was recognised, and the region or zone name
leave the host (AWS's token never does: see Reads).

Blind spots: this shows where the machine runs, not where its data goes (backups,
replicas, object storage, third-party processors and support access need their own
evidence); a cloud whose DMI strings this table does not know is `manual`; Scaleway's
metadata service (169.254.42.42) is not asked; an OpenStack provider that names its zones
freely may need `region` declared instead; Hyper-V outside Azure shows Azure's DMI strings,
so there the probe waits for the metadata service (at most about 2 s) and ends `manual`.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from auditor.check import Check, Findings, Outputs, Param, Params, Result, Status, result
from auditor.parsers.rows import rows
from auditor.probes import shell

IMDS = "http://169.254.169.254"
EEA = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
       "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO")
COUNTRY_NAMES = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "HR": "Croatia", "CY": "Cyprus",
    "CZ": "Czechia", "DK": "Denmark", "EE": "Estonia", "FI": "Finland", "FR": "France", "DE": "Germany",
    "GR": "Greece", "HU": "Hungary", "IE": "Ireland", "IT": "Italy", "LV": "Latvia", "LT": "Lithuania",
    "LU": "Luxembourg", "MT": "Malta", "NL": "the Netherlands", "PL": "Poland", "PT": "Portugal",
    "RO": "Romania", "SK": "Slovakia", "SI": "Slovenia", "ES": "Spain", "SE": "Sweden", "IS": "Iceland",
    "LI": "Liechtenstein", "NO": "Norway", "GB": "the United Kingdom", "CH": "Switzerland",
    "US": "the United States", "CA": "Canada", "BR": "Brazil", "CL": "Chile", "MX": "Mexico",
    "JP": "Japan", "KR": "South Korea", "SG": "Singapore", "HK": "Hong Kong", "TW": "Taiwan",
    "IN": "India", "ID": "Indonesia", "AU": "Australia", "NZ": "New Zealand", "ZA": "South Africa",
    "IL": "Israel", "AE": "the United Arab Emirates", "BH": "Bahrain", "QA": "Qatar", "SA": "Saudi Arabia",
    "CN": "China", "TR": "Turkey", "UA": "Ukraine", "RS": "Serbia",
}
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
# Country names as written in allowed_regions or region ("Germany", "the Netherlands", "netherlands").
_COUNTRIES_BY_NAME = {name.lower().removeprefix("the "): code for code, name in COUNTRY_NAMES.items()}
# Groups of countries allowed_regions may name instead of listing them.
EU = tuple(c for c in EEA if c not in ("IS", "LI", "NO"))
COUNTRY_GROUPS = {"EEA": EEA, "EU": EU}

# Region ids (lower case, without the availability-zone suffix) -> ISO 3166 alpha-2.
_REGIONS_BY_COUNTRY = {
    # AWS
    "US": "us-east-1 us-east-2 us-west-1 us-west-2 us-gov-east-1 us-gov-west-1 "
          # Google Cloud
          "us-central1 us-east1 us-east4 us-east5 us-south1 us-west1 us-west2 us-west3 us-west4 "
          # Azure
          "eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus "
          # Hetzner, DigitalOcean (digits stripped), cities
          "ash hil nyc sfo ashburn virginia",
    "DE": "eu-central-1 europe-west3 europe-west10 germanywestcentral germanynorth fsn1 nbg1 fra lim "
          "frankfurt falkenstein nuremberg nurnberg nürnberg berlin",
    "CH": "eu-central-2 europe-west6 switzerlandnorth switzerlandwest zurich geneva",
    "IE": "eu-west-1 northeurope dublin",
    "GB": "eu-west-2 europe-west2 uksouth ukwest lon eri london",
    "FR": "eu-west-3 europe-west9 francecentral francesouth gra sbg rbx par eu-west-par fr-par "
          "paris gravelines strasbourg roubaix",
    "IT": "eu-south-1 europe-west8 europe-west12 italynorth eu-south-mil milan",
    "ES": "eu-south-2 europe-southwest1 spaincentral madrid",
    "SE": "eu-north-1 swedencentral swedensouth stockholm",
    "BE": "europe-west1",
    "NL": "europe-west4 westeurope ams nl-ams amsterdam",
    "FI": "europe-north1 hel1 helsinki",
    "PL": "europe-central2 polandcentral waw pl-waw warsaw warszawa",
    "NO": "norwayeast norwaywest oslo",
    "CA": "ca-central-1 ca-west-1 northamerica-northeast1 northamerica-northeast2 canadacentral canadaeast "
          "bhs tor",
    "BR": "sa-east-1 southamerica-east1 brazilsouth",
    "CL": "southamerica-west1",
    "JP": "ap-northeast-1 ap-northeast-3 asia-northeast1 asia-northeast2 japaneast japanwest",
    "KR": "ap-northeast-2 asia-northeast3 koreacentral",
    "SG": "ap-southeast-1 asia-southeast1 southeastasia sin sgp",
    "HK": "ap-east-1 asia-east2 eastasia",
    "TW": "asia-east1",
    "IN": "ap-south-1 ap-south-2 asia-south1 asia-south2 centralindia blr",
    "ID": "ap-southeast-3 asia-southeast2",
    "AU": "ap-southeast-2 ap-southeast-4 australia-southeast1 australia-southeast2 australiaeast syd",
    "ZA": "af-south-1 africa-south1 southafricanorth",
    "IL": "il-central-1 me-west1 israelcentral",
    "AE": "me-central-1 uaenorth",
    "BH": "me-south-1",
    "QA": "me-central1 qatarcentral",
}
REGIONS: dict[str, str] = {r: c for c, names in _REGIONS_BY_COUNTRY.items() for r in names.split()}
# OpenStack's default availability zone: it names no place.
PLACELESS_ZONES = frozenset({"nova"})
PROVIDERS = {"aws": "AWS", "gcp": "Google Cloud", "azure": "Azure", "hetzner": "Hetzner Cloud",
             "digitalocean": "DigitalOcean", "openstack": "OpenStack"}

_DMI_SCRIPT = r"""export LC_ALL=C
dmi=/sys/class/dmi/id; v=; p=; bv=; tag=
for f in sys_vendor product_name bios_vendor bios_version chassis_asset_tag; do
  [ -r "$dmi/$f" ] || continue
  val=$(head -c 200 "$dmi/$f" 2>/dev/null | tr -d '\t\r\n')
  printf 'dmi\t%s\t%s\n' "$f" "$val"
  case $f in
    sys_vendor) v=$val ;; product_name) p=$val ;; bios_version) bv=$val ;; chassis_asset_tag) tag=$val ;;
  esac
done
cloud=
case "$v|$p|$bv|$tag" in
  "Amazon EC2"*|*amazon*) cloud=aws ;;
  Google*) cloud=gcp ;;
  "Microsoft Corporation|Virtual Machine"*|*"|7783-7084-3265-9085-8269-3286-77") cloud=azure ;;
  Hetzner*) cloud=hetzner ;;
  DigitalOcean*) cloud=digitalocean ;;
  "OpenStack Foundation"*|*"|OpenStack Nova"*|*"|OpenStack Compute"*|OVH*) cloud=openstack ;;
esac
printf 'cloud\t%s\n' "${cloud:-none}"
"""

_METADATA_SCRIPT = r"""[ -n "$cloud" ] || exit 0
if command -v curl >/dev/null 2>&1; then client=curl
elif command -v wget >/dev/null 2>&1; then client=wget
else printf 'client\tnone\n'; exit 0; fi
printf 'client\t%s\n' "$client"
# wget's -T bounds each step (DNS, connect, read), not the whole request: bound it with timeout(1).
to=; if command -v timeout >/dev/null 2>&1; then to='timeout 3'; fi
# fetch URL [HEADER] / put URL HEADER: the body on stdout; 1 s to connect, 2 s in all, no proxy.
# curl reads fetch's header (AWS's token is in it) from stdin as a config line, not from its
# command line, which every local user can read in /proc. wget cannot read a config from a
# pipe, so there the header is an argument (see the docstring).
fetch() {
  if [ $client = curl ] && [ -n "${2:-}" ]; then
    printf 'header = "%s"\n' "$2" | curl -fsS --noproxy '*' --connect-timeout 1 -m 2 -K - "$1"
  elif [ $client = curl ]; then curl -fsS --noproxy '*' --connect-timeout 1 -m 2 "$1"
  else $to wget -q -O - -T 2 -t 1 --no-proxy ${2:+--header="$2"} "$1"; fi
}
put() {
  if [ $client = curl ]; then curl -fsS --noproxy '*' --connect-timeout 1 -m 2 -X PUT -H "$2" "$1"
  else $to wget -q -O - -T 2 -t 1 --no-proxy --method=PUT --header="$2" "$1"; fi
}
clean() { head -c 200 | tr -d '\r' | head -n 1 | tr -cd 'A-Za-z0-9._-'; }
say() {  # say FIELD VALUE RC
  if [ "$3" = 0 ] && [ -n "$2" ]; then printf 'metadata\t%s\t%s\n' "$1" "$2"
  else printf 'unanswered\t%s\t%s\n' "$1" "$3"; fi
}
case $cloud in
  aws)
    token=$(put IMDS/latest/api/token 'X-aws-ec2-metadata-token-ttl-seconds: 60' 2>/dev/null) || token=
    got=$(fetch IMDS/latest/meta-data/placement/region \
      ${token:+"X-aws-ec2-metadata-token: $token"} 2>/dev/null)
    rc=$?; say region "$(printf '%s' "$got" | clean)" $rc ;;
  gcp)
    got=$(fetch IMDS/computeMetadata/v1/instance/zone 'Metadata-Flavor: Google' 2>/dev/null)
    rc=$?; say zone "$(printf '%s' "${got##*/}" | clean)" $rc ;;
  azure)
    got=$(fetch 'IMDS/metadata/instance/compute/location?api-version=2021-02-01&format=text' \
      'Metadata: true' 2>/dev/null)
    rc=$?; say location "$(printf '%s' "$got" | clean)" $rc ;;
  hetzner)
    got=$(fetch IMDS/hetzner/v1/metadata 2>/dev/null)
    rc=$?; say availability-zone \
      "$(printf '%s\n' "$got" | sed -n 's/^availability-zone:[[:space:]]*//p' | clean)" $rc ;;
  digitalocean)
    got=$(fetch IMDS/metadata/v1/region 2>/dev/null)
    rc=$?; say region "$(printf '%s' "$got" | clean)" $rc ;;
  openstack)
    got=$(fetch IMDS/openstack/latest/meta_data.json 2>/dev/null)
    rc=$?; say availability_zone "$(printf '%s' "$got" | tr ',{}' '\n\n\n' \
      | sed -n 's/^[[:space:]]*"availability_zone"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' \
      | clean)" $rc ;;
esac
""".replace("IMDS", IMDS)


def _script(params: Params) -> str:
    if not params["metadata"]:
        return _DMI_SCRIPT + "printf 'metadata_disabled\\n'\n"
    return _DMI_SCRIPT + "[ \"$cloud\" != none ] || cloud=\n" + _METADATA_SCRIPT


CHECK = Check(
    id="data_residency",
    title="Data is stored only in the allowed regions (the EEA)",
    claims=("data-in-eea",),
    controls=("ISO27001:2022 A.5.34", "ISO27001:2022 A.8.10"),
    params=(
        Param("region", str, "", "where the inventory declares the host's data is stored: a country "
              "code (DE), a cloud region (eu-central-1, fsn1, westeurope) or a city (Frankfurt); empty: "
              "undeclared"),
        Param("allowed_regions", list, list(EEA), "countries (ISO 3166 alpha-2 codes, country names, "
              "region names, or EEA / EU) where data may be stored; default: the 30 EEA states"),
        Param("metadata", bool, True, "ask the cloud's instance metadata service (169.254.169.254, 2 s "
              "timeout) when DMI names a known cloud"),
    ),
    probes=(shell("location", _script),),
)


def country_of(name: str) -> str | None:
    """The ISO 3166 alpha-2 country of a country code, cloud region or zone id, or city; None if unknown."""
    key = name.strip().lower().replace("_", "-")
    if key.removeprefix("the ") in _COUNTRIES_BY_NAME:
        return _COUNTRIES_BY_NAME[key.removeprefix("the ")]
    if len(key) == 2 and key.isalpha():
        code = COUNTRY_ALIASES.get(key.upper(), key.upper())
        return code if code in COUNTRY_NAMES else None
    candidates = [
        key,
        re.sub(r"(?<=\d)[a-z]$", "", key),  # AWS zone: eu-central-1a
        re.sub(r"-[a-z]$", "", key),  # Google Cloud zone: europe-west3-a
        re.sub(r"-dc\d+$", "", key),  # Hetzner: fsn1-dc14
        re.sub(r"-\d+$", "", key),  # Scaleway zone: fr-par-1
        re.sub(r"\d+$", "", key),  # OVHcloud GRA11, DigitalOcean fra1
    ]
    return next((REGIONS[c] for c in candidates if c in REGIONS), None)


def _country_text(code: str) -> str:
    return f"{COUNTRY_NAMES.get(code, code)} ({code})"


def _allowed_text(allowed: set[str]) -> str:
    named = [f"the {name}" for name, members in COUNTRY_GROUPS.items() if allowed == set(members)]
    return named[0] if named else ", ".join(sorted(allowed))


def _unknown(what: str, name: str) -> str:
    return (f"{what} {name!r} is not in the table of cloud regions; set vars.data_residency.region to the "
            "country's ISO 3166 code (e.g. DE) and quote the provider's region in the evidence")


def allowed_countries(entries: list[Any]) -> set[str]:
    """The countries `allowed_regions` names; ValueError naming an entry no table knows, or an empty list."""
    if not entries:
        raise ValueError("allowed_regions is empty, so no place would be allowed: list the countries where "
                         "data may be stored (ISO codes such as DE, EEA or EU), or leave it out for the EEA")
    allowed: set[str] = set()
    for entry in entries:
        country = country_of(str(entry))
        group = COUNTRY_GROUPS.get(str(entry).strip().upper(), (country,) if country else ())
        if not group:
            raise ValueError(f"allowed_regions: {str(entry)!r} is neither a country (an ISO 3166 code such "
                             "as DE, or a name such as Germany), EEA or EU, nor a cloud region in the table; "
                             "correct that entry in vars.data_residency.allowed_regions")
        allowed.update(group)
    return allowed


class Location(NamedTuple):
    """What the location probe printed."""

    dmi: dict[str, str]  # DMI field -> vendor string
    cloud: str  # the cloud DMI names ("aws", ...), or "none"
    client: str  # "curl", "wget", "none", or "" when the metadata service was not to be asked
    metadata: tuple[str, str] | None  # (field, region or zone) the metadata service answered
    unanswered: tuple[str, str] | None  # (field, the client's exit code) when it did not
    metadata_disabled: bool


LOCATION_ROWS = {"dmi": 2, "cloud": 1, "client": 1, "metadata": 2, "unanswered": 2, "metadata_disabled": 0}


def read_location(text: str) -> Location:
    """The location probe's rows; ValueError when a line or the cloud line is missing or wrong."""
    found = rows(text, "location", LOCATION_ROWS)
    facts = {row.tag: row.fields for row in found if row.tag != "dmi"}
    if "cloud" not in facts:
        raise ValueError("the location probe did not say which cloud it found (cut short?)")
    metadata, unanswered = facts.get("metadata"), facts.get("unanswered")
    return Location(
        dmi={row.fields[0]: row.fields[1] for row in found if row.tag == "dmi"},
        cloud=facts["cloud"][0],
        client=facts["client"][0] if "client" in facts else "",
        metadata=(metadata[0], metadata[1]) if metadata else None,
        unanswered=(unanswered[0], unanswered[1]) if unanswered else None,
        metadata_disabled="metadata_disabled" in facts,
    )


def _not_asked(location: Location, provider: str) -> str:
    """Why the metadata service gave no region; "" when it was asked and answered."""
    if location.metadata_disabled:
        return "the metadata service was not asked (metadata: false)"
    if not provider:
        return "DMI names no cloud this check knows, so no metadata service was asked"
    if location.client == "none":
        return f"{provider}: neither curl nor wget is installed to ask the metadata service"
    if location.unanswered:
        field, rc = location.unanswered
        return f"{provider}'s metadata service did not answer with the {field} (client exit {rc})"
    return ""


def evaluate(out: Outputs, params: Params) -> Result:
    try:
        allowed = allowed_countries(list(params["allowed_regions"]))
    except ValueError as exc:
        return result(Status.ERROR, str(exc))
    declared = str(params["region"]).strip()
    declared_country = country_of(declared) if declared else None
    if declared and declared_country is None:
        return result(Status.ERROR, _unknown("the declared region", declared))

    evidence = ["location"]
    try:
        location = read_location(out.require("location").stdout)
    except ValueError as exc:
        return result(Status.ERROR, str(exc), evidence=evidence)
    findings = Findings()
    for field, vendor in sorted(location.dmi.items()):
        findings.note(f"DMI {field}: {vendor}")
    if not location.dmi:
        findings.note("no DMI strings readable (/sys/class/dmi/id)")
    provider = PROVIDERS.get(location.cloud, "")
    values: dict[str, Any] = {"cloud": location.cloud if provider else None, "metadata_region": None,
                              "country": None, "declared_region": declared or None}
    where_ok = _allowed_text(allowed)

    why_not = _not_asked(location, provider)
    if not why_not:
        if location.metadata is None:
            findings.unknown(f"{provider}: the location probe gave no metadata answer (cut short?)")
            return findings.result(evidence=evidence, ok_summary="", **values)
        field, region = location.metadata
        values["metadata_region"] = region
        findings.note(f"{provider} metadata {field}: {region}")
        country = country_of(region)
        if region.lower() in PLACELESS_ZONES:
            why_not = f"{provider}'s metadata names availability zone {region!r}, which names no place"
        elif country is None:
            findings.unknown(f"{provider} metadata: " + _unknown("region", region))
            return findings.result(evidence=evidence, ok_summary="", **values)
        else:
            values["country"] = country
            located = f"{provider} region {region} is in {_country_text(country)}"
            if country not in allowed:
                findings.fail(f"{located}, outside {where_ok}")
            elif declared_country is not None and declared_country != country:
                findings.fail(f"{located}, but the inventory declares {declared!r} "
                              f"({_country_text(declared_country)})")
            agrees = f", as the inventory declares ({declared!r})" if declared else ""
            return findings.result(evidence=evidence, ok_summary=f"{located}, within {where_ok}{agrees}",
                                   **values)

    # Nothing on the host shows where it is: the declared region is what a person must back.
    findings.note(why_not)
    if declared_country is None:
        findings.manual(f"{why_not}; attach the hosting contract or data-processing agreement naming the "
                        "data-centre location, or declare it in vars.data_residency.region")
    elif declared_country not in allowed:
        findings.fail(f"the declared region {declared!r} is in {_country_text(declared_country)}, "
                      f"outside {where_ok}")
    else:
        findings.manual(f"{why_not}; the inventory declares {declared!r} "
                        f"({_country_text(declared_country)}): attach the hosting contract or "
                        "data-processing agreement naming that data-centre location")
    values["country"] = declared_country
    return findings.result(evidence=evidence, ok_summary="", **values)

"""A claims file's per-check parameters are masked in the report as a secret inventory parameter
is: a connection string's password in a claim's `checks:` never reaches report.json or report.html
(issue 16; the masking is evidence.redact's, the same recorded_params applies to the results)."""

import json

from auditor import AuditRequest, audit
from auditor.tracking.run import TrackingOptions

PASSWORD = "Pl4nted-Claims-Pw-93"  # noqa: S105 - planted to be searched for
TOKEN = "ghp_" + "Zq8" * 12  # a token-shaped value, in a URL's user info

CLAIMS = f"""format: 1
policy: {{id: shop, title: Shop privacy policy}}
claims:
  - id: salted-app-passwords
    quote: "Customer passwords are stored salted."
    checks:
      app_password_hashing:
        sources:
          - name: customers
            kind: postgres
            database: "host=127.0.0.1 port=9 dbname=shop user=auditor password={PASSWORD}"
            query: "SELECT password FROM users"
          - name: mirror
            kind: postgres
            database: "postgresql://auditor:{TOKEN}@127.0.0.1:9/shop"
            query: "SELECT password FROM users"
"""


def test_a_claims_files_secret_parameter_is_masked_in_every_report(tmp_path):
    # Given a claims file whose check parameters hold a connection string with a password, and one
    # with a token in the URL, audited on a local host (loopback, a closed port: no name is looked up)
    (tmp_path / "claims.yaml").write_text(CLAIMS)
    inventory = tmp_path / "inv.yaml"
    # (and an inventory setting the same parameter, so that the run warns the claim's value wins)
    inventory.write_text("hosts:\n  here:\n    transport: local\n    vars:\n      app_password_hashing:\n"
                         "        sources: [{name: inv, kind: sqlite, path: /no.db, query: SELECT 1}]\n")
    # When the run writes its reports
    outcome = audit(AuditRequest(inventory=inventory, output=tmp_path / "out",
                                 policy=str(tmp_path / "claims.yaml"),
                                 tracking=TrackingOptions(history_file=None)))
    # Then no report holds either secret, and the claims section still names the source, masked
    for name in ("report.json", "report.html", "junit.xml", "controls.csv", "results.csv", "manifest.json"):
        text = (outcome.run_dir / name).read_text(encoding="utf-8")
        assert PASSWORD not in text and TOKEN not in text, name
    policy = json.loads(outcome.report_json)["policy"]
    assert any("sets app_password_hashing.sources" in w for w in policy["warnings"])
    claim = policy["claims"][0]
    database = claim["checks"][0]["params"]["sources"][0]["database"]
    assert database.startswith("host=127.0.0.1 port=9 dbname=shop user=auditor password=")
    page = (outcome.run_dir / "report.html").read_text(encoding="utf-8")
    assert "host=127.0.0.1 port=9 dbname=shop" in page  # the card still shows the parameter, masked

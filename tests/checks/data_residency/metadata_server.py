#!/usr/bin/env python3
"""A stand-in for a cloud's instance metadata service, for tests and case recording only.

    python3 metadata_server.py PROVIDER LOCATION [PORT]

Serves on 0.0.0.0:PORT (default 80) what PROVIDER's service at 169.254.169.254 answers,
in its documented format, for an instance in LOCATION; run it inside a network namespace
where 169.254.169.254 is a local address. It enforces what the real services enforce:
AWS IMDSv2 answers only with a token from `PUT /latest/api/token` (and that PUT only with a
TTL header), Google only with `Metadata-Flavor: Google`, Azure only with `Metadata: true`.
"""

from __future__ import annotations

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROVIDER, LOCATION = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 80
TOKENS: set[str] = set()


def hetzner_document() -> str:
    # The shape of https://docs.hetzner.cloud/#server-metadata (GET /hetzner/v1/metadata).
    return (f"availability-zone: {LOCATION}\nhostname: shop-db-1\ninstance-id: 42424242\n"
            "local-ipv4: ''\npublic-ipv4: 192.0.2.10\nregion: eu-central\n"
            "public-keys:\n- ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test@example\n"
            "vendor_data: \"#cloud-config\\nruncmd: []\\n\"\n")


def openstack_document() -> str:
    # The shape of OpenStack's meta_data.json (OVHcloud Public Cloud serves the same).
    return json.dumps({"uuid": "6e2f6f55-0d4b-4a5b-9a6a-8a8d6c9f0e11", "availability_zone": LOCATION,
                       "hostname": "shop-db-1.novalocal", "launch_index": 0, "project_id": "0a1b2c3d",
                       "name": "shop-db-1", "meta": {}, "devices": []})


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- BaseHTTPRequestHandler's name
        sys.stderr.write(f"{self.command} {self.path} -> {format % args}\n")

    def reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        if PROVIDER == "aws" and self.path == "/latest/api/token":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "Missing TTL header")
            token = secrets.token_urlsafe(40)
            TOKENS.add(token)
            # Logged so that a test can assert that no report or evidence file carries it.
            sys.stderr.write(f"issued token {token}\n")
            return self.reply(200, token)
        return self.reply(405, "Method Not Allowed")

    def do_GET(self) -> None:  # noqa: C901 -- one branch per provider
        path = self.path
        if PROVIDER == "aws":
            if self.headers.get("X-aws-ec2-metadata-token") not in TOKENS:
                return self.reply(401, "Unauthorized")
            if path == "/latest/meta-data/placement/region":
                return self.reply(200, LOCATION)
        elif PROVIDER == "gcp":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, "Missing Metadata-Flavor:Google header.")
            if path == "/computeMetadata/v1/instance/zone":
                return self.reply(200, f"projects/123456789012/zones/{LOCATION}",
                                  "application/text")
        elif PROVIDER == "azure":
            if self.headers.get("Metadata") != "true":
                error = {"error": "Bad request. Required metadata header not specified"}
                return self.reply(400, json.dumps(error), "application/json")
            if path.startswith("/metadata/instance/compute/location?"):
                return self.reply(200, LOCATION)
        elif PROVIDER == "hetzner" and path == "/hetzner/v1/metadata":
            return self.reply(200, hetzner_document(), "text/yaml")
        elif PROVIDER == "digitalocean" and path == "/metadata/v1/region":
            return self.reply(200, LOCATION)
        elif PROVIDER == "openstack" and path == "/openstack/latest/meta_data.json":
            return self.reply(200, openstack_document(), "application/json")
        return self.reply(404, "Not Found")


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()  # noqa: S104 -- inside a test namespace

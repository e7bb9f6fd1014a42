"""Small contracts written inline, for tests that need a particular shape."""

from __future__ import annotations

import textwrap
from pathlib import Path

from frontdoor.demo.documents import join, service, team

__all__ = ["EDGE", "TEAMS", "environment", "service", "write"]

TEAMS = join(
    team("app-a", "app"), team("app-b", "app"), team("edge-team", "platform"), team("delivery", "delivery")
)

EDGE = """
apiVersion: frontdoor/v1
kind: Edge
metadata: {name: edge, owner: edge-team}
spec:
  entrypoints:
    - name: main
      listen: "127.0.0.1:8080"
      hosts: ["*"]
      services: ["*"]
  identity:
    providers:
      - {name: idp, issuer: "http://127.0.0.1:9400/", audiences: [api]}
  rate_limits: {default: {requests: 10, per: 1s}}
  observability: {access_log: {}, metrics: {}, tracing: {propagate: w3c}}
  admin: {listen: "127.0.0.1:9901", operators: [edge-team], token: "env:ADMIN_TOKEN"}
"""


def environment(name: str, services: list[str], production: bool = False) -> str:
    upstreams = "\n".join(f'    {s}: ["http://127.0.0.1:{9100 + i}"]' for i, s in enumerate(services))
    return f"""
apiVersion: frontdoor/v1
kind: Environment
metadata: {{name: {name}, owner: delivery}}
spec:
  production: {str(production).lower()}
  upstreams:
{upstreams}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root

"""Small contract documents written in code: the teams and services that benchmarks, tests and
examples of one-off contracts need, without each of them repeating the YAML."""

from __future__ import annotations

import textwrap


def team(name: str, role: str) -> str:
    """A Team document whose on-call is ``pager:NAME``."""
    return f"""apiVersion: frontdoor/v1
kind: Team
metadata: {{name: {name}}}
spec: {{role: {role}, oncall: {{primary: "pager:{name}"}}}}
"""


def service(name: str, owner: str, routes: str, exposure: str = "public", readiness: str = "/readyz") -> str:
    """A Service document; ``routes`` is the YAML list of its routes."""
    body = textwrap.indent(textwrap.dedent(routes).strip(), "    ")
    return f"""apiVersion: frontdoor/v1
kind: Service
metadata: {{name: {name}, owner: {owner}}}
spec:
  exposure: {exposure}
  health: {{readiness: {readiness}}}
  routes:
{body}
"""


def join(*documents: str) -> str:
    """Several documents as one multi-document YAML text."""
    return "---\n".join(documents)

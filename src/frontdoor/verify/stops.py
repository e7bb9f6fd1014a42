"""The stops in force, read from the edge's admin API (``GET /admin/routes``), so that a stopped route
is expected to answer 503 naming its owner rather than reported as drift. Read-only: verify never
stops or starts anything."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from frontdoor.errors import FrontdoorError
from frontdoor.verify.client import USER_AGENT, Pacer


def read_admin_token(file: str) -> str:
    token = Path(file).read_text().strip()
    if not token:
        raise FrontdoorError(f"--admin-token-file {file} holds no token")
    return token


def stopped_routes(
    admin_url: str, token: str, pacer: Pacer, tls: ssl.SSLContext, timeout: float
) -> frozenset[str]:
    """The ids (``service.index``) of the routes stopped now, a service's stop included."""
    pacer.take()
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    try:
        with httpx.Client(verify=tls, timeout=timeout, trust_env=False) as client:
            response = client.get(admin_url.rstrip("/") + "/admin/routes", headers=headers)
    except httpx.HTTPError as exc:
        raise FrontdoorError(f"{admin_url}: the admin API cannot be reached ({exc})") from None
    if response.status_code != 200:
        raise FrontdoorError(
            f"{admin_url}/admin/routes answered {response.status_code}: check the admin token"
        )
    try:
        routes = response.json()["routes"]
        return frozenset(str(r["id"]) for r in routes if r.get("stopped"))
    except (ValueError, KeyError, TypeError):
        raise FrontdoorError(f"{admin_url}/admin/routes: not frontdoor's admin API") from None

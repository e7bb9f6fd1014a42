"""The admin API: what an operator may see and do, answered on the admin listener only.

Open without a token: ``/`` (the dashboard page, which asks for the token) with its
``/dashboard.js`` and ``/dashboard.css``, ``/healthz``, ``/readyz``,
the Edge's ``metrics.path`` and ``/admin/openapi.json``. Everything else under ``/admin/`` needs
``Authorization: Bearer <the Edge's admin token>`` (compared in constant time) and answers 401 without.
Every write (stop, start, reload) is appended to the audit log with the operator and client address.
A stop or start may wait on the stop store (Redis): ``handle`` then answers with an awaitable Reply.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

from frontdoor.http.messages import phrase
from frontdoor.http.probes import PROBES, probe
from frontdoor.observe import metrics
from frontdoor.observe.audit import utc_now
from frontdoor.observe.control import Operations
from frontdoor.observe.dashboard import ASSETS, CSP, asset
from frontdoor.observe.exposition import exposition
from frontdoor.observe.openapi import openapi_document
from frontdoor.observe.traffic import WINDOWS, Stat, summary
from frontdoor.policy.killswitch import route_key, service_key
from frontdoor.policy.stops import Stop, StoreUnavailable
from frontdoor.protection.limitedclients import WINDOW_S

#: the one identity the single admin token stands for, recorded in the audit log
OPERATOR = "admin"
MAX_REASON = 500
TOP_LIMITED = 10  # clients /admin/limited lists
_KILL = re.compile(r"^/admin/(services|routes)/([^/]+)/(stop|start)$")
_CHALLENGE = (("www-authenticate", 'Bearer realm="frontdoor-admin"'),)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(data, indent=1).encode("utf-8"), headers=headers)


def error(status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return json_reply(status, {"status": status, "error": phrase(status), "reason": reason}, headers)


class BadRequest(Exception):
    pass


class AdminApi:
    def __init__(self, ops: Operations[Any], ready: Callable[[], bool]) -> None:
        self.ops = ops
        self.ready = ready

    def handle(
        self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes, client: str
    ) -> Reply | Awaitable[Reply]:
        path, _, query = target.partition("?")
        reading = method in ("GET", "HEAD")
        if path in PROBES or path in ASSETS or path == "/admin/openapi.json" or path == self._metrics_path():
            if not reading:
                return error(405, "this resource answers GET", (("allow", "GET, HEAD"),))
            return self._open(path)
        if not path.startswith("/admin/"):
            return error(404, "no such admin endpoint")
        if not self._authorized(headers):
            return error(401, "the admin API needs Authorization: Bearer <admin token>", _CHALLENGE)
        try:
            return self._admin(method, path, query, body, client)
        except BadRequest as exc:
            return error(400, str(exc))

    # --- open resources ------------------------------------------------------------------------------

    def _metrics_path(self) -> str | None:
        view = self.ops.view
        observability = view.plan.edge.spec.observability if view else None
        return observability.metrics.path if observability and observability.metrics else None

    def _open(self, path: str) -> Reply:
        answered = probe(path, self.ready())
        if answered is not None:
            return Reply(*answered)
        if path in ASSETS:
            return Reply(
                200,
                asset(path),
                ASSETS[path][1],
                (
                    ("content-security-policy", CSP),
                    ("x-content-type-options", "nosniff"),
                    ("referrer-policy", "no-referrer"),
                ),
            )
        if path == "/admin/openapi.json":
            return json_reply(200, openapi_document())
        return Reply(200, exposition(self.ops.run_dir), "text/plain; version=0.0.4; charset=utf-8")

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        view = self.ops.view
        token = view.admin_token if view else None
        if token is None:
            return False
        for name, value in headers:
            if name.lower() == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return hmac.compare_digest(given.strip(), token)
        return False

    # --- the authenticated API -----------------------------------------------------------------------

    def _admin(
        self, method: str, path: str, query: str, body: bytes, client: str
    ) -> Reply | Awaitable[Reply]:
        reads: dict[str, Callable[[dict[str, list[str]]], Reply]] = {
            "/admin/routes": self._routes,
            "/admin/traffic": self._traffic,
            "/admin/history": self._history,
            "/admin/limited": self._limited,
            "/admin/verdict": self._verdict,
            "/admin/audit": self._audit,
        }
        read = reads.get(path)
        if read is not None:
            if method not in ("GET", "HEAD"):
                return error(405, "this resource answers GET", (("allow", "GET, HEAD"),))
            return read(parse_qs(query, keep_blank_values=True))
        kill = _KILL.match(path)
        if kill is None and path != "/admin/reload":
            return error(404, "no such admin endpoint")
        if method != "POST":
            return error(405, "this resource answers POST", (("allow", "POST"),))
        if kill is None:
            return self._reload(body, client)
        kind, target, action = kill.groups()
        return self._switch("service" if kind == "services" else "route", target, action, body, client)

    def _routes(self, _query: dict[str, list[str]]) -> Reply:
        ops = self.ops
        view = ops.view
        assert view is not None
        ops.stops.refresh()
        stops = ops.stops.stops
        routes = []
        for route in view.routes:
            planned = view.by_id[route["id"]]
            stop = stops.get(service_key(planned.service)) or stops.get(route_key(planned))
            routes.append(route | {"stopped": asdict(stop) if stop else None})
        return json_reply(
            200,
            {
                "environment": view.environment,
                "platform_team": view.plan.platform_team,
                "operators": view.operators,
                "contract_hash": view.hash,
                "routes": routes,
                "stops": [asdict(s) for s in stops.values()],
            },
        )

    def _traffic(self, query: dict[str, list[str]]) -> Reply:
        window = _int_param(query, "window", 60)
        if window not in WINDOWS:
            raise BadRequest(f"window must be one of {', '.join(map(str, WINDOWS))} (seconds)")
        view = self.ops.view
        assert view is not None
        merged = metrics.deployment(self.ops.run_dir)
        table = merged.windows.get(window, {})
        known = {(r["id"], r["path"], r["service"], r["owner"]) for r in view.routes}
        rows = [
            summary(key, table.get(key) or Stat(), window)
            for key in dict.fromkeys((r["id"], r["path"], r["service"], r["owner"]) for r in view.routes)
        ]
        # traffic of routes the current contract no longer has, and requests no route matched (owned by
        # the platform team: the gateway answered them); with the owner's on-call, as routes have
        rows += [
            summary(key, stat, window) | {"oncall": view.oncall.get(key[3])}
            for key, stat in table.items()
            if key not in known
        ]
        return json_reply(200, {"window_s": window, "workers": merged.workers, "routes": rows})

    def _history(self, _query: dict[str, list[str]]) -> Reply:
        return json_reply(200, metrics.recorder().history.json())

    def _limited(self, _query: dict[str, list[str]]) -> Reply:
        """The clients refused most by a rate limit over the last minute, every worker's counts added."""
        view = self.ops.view
        assert view is not None
        merged = metrics.deployment(self.ops.run_dir)
        top = sorted(merged.limited.items(), key=lambda item: (-item[1], item[0]))[:TOP_LIMITED]
        clients = [
            {"service": s, "owner": view.services.get(s), "kind": k, "client": c, "count": n}
            for (s, k, c), n in top
        ]
        return json_reply(200, {"window_s": WINDOW_S, "workers": merged.workers, "clients": clients})

    def _verdict(self, _query: dict[str, list[str]]) -> Reply:
        ops = self.ops
        view = ops.view
        assert view is not None
        return json_reply(
            200,
            {
                "environment": view.environment,
                "contract_hash": view.hash,
                "loaded_at": view.loaded_at,
                "verdict": view.verdict,
                "last_reload": ops.last_reload.json() if ops.last_reload else None,
            },
        )

    def _audit(self, query: dict[str, list[str]]) -> Reply:
        limit = _int_param(query, "limit", 100)
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000")
        return json_reply(200, {"records": self.ops.audit.read(limit)})

    def _reload(self, body: bytes, client: str) -> Reply:
        reason = ""
        if body.strip():
            reason = _reason(_json_object(body), required=False)
        result = self.ops.reload_everywhere("admin")
        outcome = "ok" if result.ok else f"refused: {result.error}"
        self.ops.audit.append(OPERATOR, client, "reload", "contract", reason, outcome)
        return json_reply(200 if result.ok else 422, result.json())

    def _switch(
        self, kind: str, target: str, action: str, body: bytes, client: str
    ) -> Reply | Awaitable[Reply]:
        ops = self.ops
        view = ops.view
        assert view is not None
        if kind == "service":
            owner = view.services.get(target)
            if owner is None:
                return error(404, f"no service {target} is exposed in environment {view.environment}")
            key = service_key(target)
        else:
            route = view.by_id.get(target)
            if route is None:
                return error(404, f"no route {target} in environment {view.environment} (see /admin/routes)")
            owner = route.owner
            key = route_key(route)
        reason = _reason(_json_object(body), required=True)
        stop = Stop(kind, target, key, owner, reason, utc_now(), f"{OPERATOR}@{client}")
        return self._write(action, stop, client)

    async def _write(self, action: str, stop: Stop, client: str) -> Reply:
        """The stop or start in the deployment's store, then the audit record; 503 if the store refused."""
        ops = self.ops
        subject = f"{stop.kind}:{stop.target}"
        try:
            if action == "stop":
                await ops.stops.stop(stop)
            else:
                removed = await ops.stops.start(stop.key)
        except StoreUnavailable as exc:
            ops.audit.append(OPERATOR, client, action, subject, stop.reason, f"refused: {exc}")
            return error(503, f"{exc}; nothing changed, try again", (("retry-after", "1"),))
        if action == "stop":
            ops.audit.append(OPERATOR, client, "stop", subject, stop.reason, "ok")
            return json_reply(200, {"stopped": asdict(stop)})
        result = "ok" if removed else "was not stopped"
        ops.audit.append(OPERATOR, client, "start", subject, stop.reason, result)
        return json_reply(200, {"started": subject, "was_stopped": removed is not None})


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest('the body must be JSON: {"reason": "..."}') from None
    if not isinstance(data, dict):
        raise BadRequest('the body must be a JSON object: {"reason": "..."}')
    return data


def _reason(data: dict[str, Any], required: bool) -> str:
    reason = data.get("reason")
    if reason is None and not required:
        return ""
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest('a reason is required: {"reason": "why, for the audit log and the clients"}')
    if len(reason) > MAX_REASON:
        raise BadRequest(f"the reason is longer than {MAX_REASON} characters")
    if any(ord(c) < 32 for c in reason):
        raise BadRequest("the reason has control characters")
    return reason.strip()

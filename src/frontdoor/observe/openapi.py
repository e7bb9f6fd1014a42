"""The OpenAPI 3 description of the admin API, served at /admin/openapi.json."""

from __future__ import annotations

from typing import Any

from frontdoor import __version__

_ERROR = {"$ref": "#/components/responses/Error"}
#: a reason: some text that is not only spaces, without control characters (adminapi._reason)
_REASON = {
    "type": "string",
    "minLength": 1,
    "maxLength": 500,
    "pattern": "^[^\\u0000-\\u001f]*[^\\s\\u0000-\\u001f][^\\u0000-\\u001f]*$",
}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_REASON_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["reason"],
                "properties": {"reason": _REASON},
            }
        }
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(*required: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


_STOP = _object(
    "kind",
    "target",
    "owner",
    "reason",
    "at",
    "by",
    kind={"type": "string", "enum": ["service", "route"]},
    target={"type": "string"},
    key={"type": "string"},
    owner={"type": "string"},
    reason={"type": "string"},
    at={"type": "string"},
    by={"type": "string"},
)


def _switch(kind: str, action: str) -> dict[str, Any]:
    name = "name" if kind == "services" else "id"
    ok = (
        _json("stopped", _object("stopped", stopped={"$ref": "#/components/schemas/Stop"}))
        if action == "stop"
        else _json(
            "started",
            _object("started", "was_stopped", started={"type": "string"}, was_stopped={"type": "boolean"}),
        )
    )
    return {
        "post": {
            "summary": f"{action} a {kind[:-1]}"
            + (": it answers 503 naming its owner and the reason" if action == "stop" else ""),
            "operationId": f"{action}_{kind[:-1]}",
            "security": [{"bearer": []}],
            "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": _REASON_BODY,
            # 503: the stop store (the state directory or Redis) did not take the write; nothing changed
            "responses": {"200": ok, "400": _ERROR, "401": _UNAUTHORIZED, "404": _ERROR, "503": _ERROR},
        }
    }


def _read(
    summary: str, op: str, schema: dict[str, Any], parameters: list[Any] | None = None
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(summary, schema), "401": _UNAUTHORIZED}
    if parameters:
        responses["400"] = _ERROR
    return {
        "get": {
            "summary": summary,
            "operationId": op,
            "security": [{"bearer": []}],
            "parameters": parameters or [],
            "responses": responses,
        }
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "frontdoor admin API",
            "version": __version__,
            "description": "Served on the admin listener only. Every write is recorded in the audit log.",
        },
        "paths": {
            "/admin/routes": _read(
                "the route table with owners, on-call and stops",
                "routes",
                _object(
                    "environment",
                    "routes",
                    "stops",
                    environment={"type": "string"},
                    platform_team={"type": "string"},
                    operators={"type": "array"},
                    contract_hash={"type": "string"},
                    routes={"type": "array", "items": _object("id", "path", "service", "owner")},
                    stops={"type": "array", "items": {"$ref": "#/components/schemas/Stop"}},
                ),
            ),
            "/admin/history": _read(
                "the deployment's last 15 minutes per route in 5-second steps: requests, 5xx, denials"
                " (in all and by kind), p99",
                "history",
                _object(
                    "step_s",
                    "times",
                    "deny_kinds",
                    "routes",
                    step_s={"type": "integer"},
                    times={"type": "array", "items": {"type": "number"}},
                    deny_kinds={"type": "array", "items": {"type": "string"}},
                    routes={
                        "type": "array",
                        "items": _object(
                            "route",
                            "service",
                            "owner",
                            "requests",
                            "errors",
                            "denied",
                            "denied_by_kind",
                            "p99_ms",
                            denied_by_kind={
                                "type": "object",
                                "additionalProperties": {"type": "array", "items": {"type": "integer"}},
                            },
                        ),
                    },
                ),
            ),
            "/admin/limited": _read(
                "the clients a rate limit refused most over the last minute (every worker's counts added):"
                " the API client's name, the token's subject or the client's address, as the limit counts"
                " by; never a credential",
                "limited",
                _object(
                    "window_s",
                    "clients",
                    window_s={"type": "integer"},
                    workers={"type": "integer"},
                    clients={
                        "type": "array",
                        "maxItems": 10,
                        "items": _object(
                            "service",
                            "owner",
                            "kind",
                            "client",
                            "count",
                            service={"type": "string"},
                            owner={"type": "string", "nullable": True},
                            kind={"type": "string", "enum": ["api_client", "subject", "address"]},
                            client={"type": "string"},
                            count={"type": "integer", "minimum": 1},
                        ),
                    },
                ),
            ),
            "/admin/traffic": _read(
                "per route: requests/s, error ratio, p50/p99, top deny reasons over a window",
                "traffic",
                _object(
                    "window_s",
                    "routes",
                    window_s={"type": "integer"},
                    workers={"type": "integer"},
                    routes={
                        "type": "array",
                        "items": _object("route", "service", "owner", "requests", "rps"),
                    },
                ),
                [
                    {
                        "name": "window",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "enum": [10, 60, 300]},
                    }
                ],
            ),
            "/admin/verdict": _read(
                "the check verdict of the contract being served, and the last reload's result",
                "verdict",
                _object(
                    "environment",
                    "verdict",
                    "last_reload",
                    environment={"type": "string"},
                    contract_hash={"type": "string"},
                    verdict={"type": "object"},
                    last_reload={"type": "object", "nullable": True},
                ),
            ),
            "/admin/audit": _read(
                "the newest audit records (stop, start, reload), oldest first",
                "audit",
                _object("records", records={"type": "array", "items": {"type": "object"}}),
                [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }
                ],
            ),
            "/admin/services/{name}/stop": _switch("services", "stop"),
            "/admin/services/{name}/start": _switch("services", "start"),
            "/admin/routes/{id}/stop": _switch("routes", "stop"),
            "/admin/routes/{id}/start": _switch("routes", "start"),
            "/admin/reload": {
                "post": {
                    "summary": "reload the contract in every worker; an invalid one changes nothing",
                    "operationId": "reload",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _object(reason=_REASON)}},
                    },
                    "responses": {
                        "200": _json("reloaded", {"$ref": "#/components/schemas/Reload"}),
                        "400": _ERROR,
                        "401": _UNAUTHORIZED,
                        "422": _json("the new contract is invalid", {"$ref": "#/components/schemas/Reload"}),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _object(
                    "status",
                    "error",
                    "reason",
                    status={"type": "integer"},
                    error={"type": "string"},
                    reason={"type": "string"},
                ),
                "Stop": _STOP,
                "Reload": _object(
                    "ok",
                    "trigger",
                    "at",
                    ok={"type": "boolean"},
                    trigger={"type": "string"},
                    at={"type": "string"},
                    hash={"type": "string", "nullable": True},
                    error={"type": "string", "nullable": True},
                ),
            },
            "responses": {
                "Error": _json("a refused request", {"$ref": "#/components/schemas/Error"}),
                "Unauthorized": _json("no or a wrong admin token", {"$ref": "#/components/schemas/Error"}),
            },
        },
    }
